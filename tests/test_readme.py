"""The README's first two commands are the contract with a new user; keep them true."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def readme_commands():
    lines = (ROOT / "README.md").read_text().splitlines()
    start = lines.index("```bash")
    return lines[start + 1], lines[start + 2]


def test_ci_runs_exactly_the_readme_test_command():
    _, test_cmd = readme_commands()
    assert "pytest" in test_cmd
    assert test_cmd in (ROOT / ".ci" / "run").read_text().splitlines()


def test_readme_main_command_names_a_shipped_benchmark_and_preset():
    from factorbench.bench.spec import load_spec

    main_cmd, _ = readme_commands()
    words = main_cmd.split()
    spec = load_spec(words[words.index("run") + 1])
    assert words[words.index("--preset") + 1] in spec.presets
