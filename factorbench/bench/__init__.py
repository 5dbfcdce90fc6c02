"""Benchmarks (docs/protocols.md §5): TOML specs, the runner, the results store, tables, regression."""
