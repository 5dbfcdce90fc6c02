"""Fréchet distance: the D x D square-root route against the n x n features route (issue 22, item 4).

FID's time on a CPU was dominated not by Inception but by the 2048 x 2048 decompositions of
the Fréchet distance (~25 s per FID on 2 cores). With fewer images than dimensions the cross
term comes exactly from an n x n problem (factorbench/metrics/frechet.py). This script times
both routes on the same random 2048-d features and prints their values and relative gap.

Run: ``python benchmarks/perf/frechet_speed.py [--sizes 200,1000] [--dim 2048]``.
Ratios are from one run; absolute times depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from factorbench.metrics.frechet import feature_statistics, frechet_distance


def timed(fn):
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="200,1000", help="images per side, comma-separated")
    parser.add_argument("--dim", type=int, default=2048)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    mixing = rng.normal(size=(args.dim, args.dim)) / np.sqrt(args.dim)
    print(f"{'n per side':>10} | {'square roots (s)':>16} | {'features (s)':>12} | {'speed-up':>8} | relative gap")
    for n in (int(s) for s in args.sizes.split(",")):
        f1 = np.abs(rng.normal(size=(n, args.dim)) @ mixing)  # Inception-like: non-negative, correlated
        f2 = np.abs(rng.normal(size=(n, args.dim)) @ mixing * 1.1 + 0.05)
        (m1, s1), (m2, s2) = feature_statistics(f1), feature_statistics(f2)
        slow, t_slow = timed(lambda: frechet_distance(m1, s1, m2, s2))
        fast, t_fast = timed(lambda: frechet_distance(m1, s1, m2, s2, features1=f1, features2=f2))
        print(f"{n:>10} | {t_slow:>16.2f} | {t_fast:>12.3f} | {t_slow / t_fast:>7.0f}x | {abs(slow - fast) / slow:.1e}")


if __name__ == "__main__":
    main()
