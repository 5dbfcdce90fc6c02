"""Start-up cost of the command line and of ``import factorbench`` (issue 17: lazy imports).

``factorbench --help`` (and each command's ``--help``) must answer without importing torch,
and ``import factorbench as fb`` must stay as cheap: the public API in
:mod:`factorbench.api` is imported only when one of its names is first used.

For each command this prints the median wall time over ``--repeats`` fresh interpreters and
whether torch / numpy ended up in ``sys.modules``; ``import torch`` alone is timed as the
yardstick. Run before and after a change, on the same machine, in one sitting:

    python benchmarks/perf/cli_startup.py [--repeats 5]

Absolute times depend on the machine and its load; compare rows of one run.

Measured (issue 17), before (the tree without ``factorbench.api``, PYTHONPATH at a copy of
it) and after, alternating twice in one sitting on a quiet 2-core machine, medians of 5:
``factorbench --help`` 0.093 / 0.073 s before, 0.071 / 0.067 s after; ``run fid --help``
0.078 / 0.074 s before, 0.072 / 0.070 s after; ``import factorbench as fb`` 0.026 s before,
0.025 / 0.022 s after; ``import torch`` alone 1.8-2.0 s in the same runs. No command
imports torch or numpy, before or after: the API adds no start-up cost beyond noise.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

PROBE = """
import sys
argv = {argv!r}
if argv is None:
    exec({code!r})
else:
    sys.argv = ["factorbench"] + argv
    from factorbench.cli import main
    try:
        main()
    except SystemExit:
        pass
sys.stderr.write("\\nMODULES " + str(int("torch" in sys.modules)) + str(int("numpy" in sys.modules)) + "\\n")
"""

CASES = [
    ("factorbench --help", ["--help"], None),
    ("factorbench run fid --help", ["run", "fid", "--help"], None),
    ("factorbench bench run --help", ["bench", "run", "--help"], None),
    ("import factorbench as fb", None, "import factorbench as fb; fb.__version__"),
    ("import torch (yardstick)", None, "import torch"),
]


def one_run(argv, code) -> tuple:
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", PROBE.format(argv=argv, code=code)], capture_output=True, text=True,
                          env=os.environ.copy())
    elapsed = time.perf_counter() - start
    flags = proc.stderr.rsplit("MODULES ", 1)[-1].strip()
    if proc.returncode != 0 or len(flags) != 2:
        raise SystemExit(f"probe failed ({proc.returncode}): {proc.stderr[-500:]}")
    return elapsed, flags[0] == "1", flags[1] == "1"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", action="store_true", help="Print a list of records instead of a table.")
    args = parser.parse_args()
    rows = []
    for label, argv, code in CASES:
        runs = [one_run(argv, code) for _ in range(args.repeats)]
        rows.append({"command": label, "median_s": statistics.median(r[0] for r in runs),
                     "imports_torch": runs[0][1], "imports_numpy": runs[0][2]})
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    print(f"| command | median s ({args.repeats} runs) | imports torch | imports numpy |")
    print("|---|---|---|---|")
    for r in rows:
        print(f"| {r['command']} | {r['median_s']:.3f} | {r['imports_torch']} | {r['imports_numpy']} |")


if __name__ == "__main__":
    main()
