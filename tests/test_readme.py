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


def python_examples(section: str = "## Use from Python"):
    """The ```python blocks of one README section, in order."""
    text = (ROOT / "README.md").read_text()
    body = text.split(section, 1)[1].split("\n## ", 1)[0]
    return [block.split("```", 1)[0] for block in body.split("```python\n")[1:]]


def test_readme_python_examples_run(capsys):
    """Every example of "Use from Python" runs, in order, in one namespace (as a reader would)."""
    blocks = python_examples()
    assert len(blocks) >= 5
    namespace = {"__name__": "readme_example"}
    for i, block in enumerate(blocks):
        exec(compile(block, f"README.md (Use from Python, example {i + 1})", "exec"), namespace)
    printed = capsys.readouterr().out.splitlines()
    assert len(printed) >= 8 and "fid" in printed[1] and "precision" in printed[1]
    assert printed[4] == "1.0"  # the AP of perfect boxes


def test_readme_findings_table_is_the_generated_one():
    """The README's findings table is `factorbench findings` over the committed CPU-preset
    records (results/cpu/records), not typed by hand."""
    from click.testing import CliRunner

    from factorbench.cli import main

    text = (ROOT / "README.md").read_text()
    marker = "<!-- findings: factorbench findings --preset quick --results results/cpu -->\n"
    shown = text.split(marker, 1)[1].split("\n<!-- /findings -->", 1)[0].strip()
    result = CliRunner().invoke(main, ["findings", "--preset", "quick", "--results", str(ROOT / "results" / "cpu"),
                                       "--quiet"])
    assert result.exit_code == 0, result.output
    assert shown == result.output.strip()
    assert "holds" in shown and shown.count("\n| ") >= 20
