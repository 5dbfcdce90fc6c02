"""Benchmarks (SPEC §5): TOML specs, the runner, the results store, tables, regression."""
