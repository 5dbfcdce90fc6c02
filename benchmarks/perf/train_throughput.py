"""CPU training throughput, measured as ratios within one run (issue: speed, item 3).

All arms train the same model on the same data in the same order (the ``vae_beta_sweep``
ci VAE by default: latent 8, 8 base channels, digits-rgb 32x32, batch 32) on one torch
thread, the deterministic mode's count (factorbench/seeding.py), with
``torch.use_deterministic_algorithms(True)`` as the trainer sets it. Arms are interleaved
(A B C A B C ...) and each is timed by its *process CPU time* as well as wall time, so the
load of other processes on the machine mostly cancels from the ratios.

1. Trainer overhead: ``factorbench.train.train`` (loss log, checkpoint every epoch, RNG
   bookkeeping) against a bare PyTorch loop doing the same steps (goal: <= 5%).
2. bf16 autocast (``torch.autocast("cpu", dtype=torch.bfloat16)``) in the bare loop: steps/s
   against fp32 and how far the loss curve moves (mean and max |Δloss| / loss over the steps,
   and the final loss).
3. channels_last (model and batches) in the bare loop, fp32: steps/s and loss drift (which
   should be ~0: same math, another memory layout).
4. Concurrency: k = 2 bare-loop processes at once against one, each on 1 thread and each on
   2 threads (oversubscribed on a 2-core machine): wall time of the pair / wall time of one.

Run: ``python benchmarks/perf/train_throughput.py [--steps 96] [--repeats 3]``. Report the
machine's load (``uptime``) beside the numbers.
"""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List

import numpy as np
import torch

MODEL = {"latent_dim": 8, "base_channels": 8, "likelihood": "empirical", "beta": 1.0}
DATASET, N_TRAIN, BATCH = "digits-rgb", 1024, 32


def timed(fn):
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - wall, time.process_time() - cpu


def bare_loop(steps: int, autocast: bool = False, channels_last: bool = False) -> List[float]:
    """The trainer's steps without the trainer: same seeds, order, model and optimiser."""
    from factorbench.data import get_dataset
    from factorbench.models import build_model
    from factorbench.seeding import stage_seed
    from factorbench.train.trainer import epoch_order

    dataset = get_dataset(DATASET, "train", n=N_TRAIN, seed=0)
    torch.manual_seed(stage_seed(0, "train/init"))
    model = build_model("vae", MODEL, dataset.image_shape)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    opt = model.make_optimizers()["main"]
    torch.manual_seed(stage_seed(0, "train/noise"))
    per_epoch = len(dataset) // BATCH
    losses = []
    model.train()
    for step in range(steps):
        epoch, pos = divmod(step, per_epoch)
        order = epoch_order(0, epoch, len(dataset))
        batch = dataset.batch(order[pos * BATCH:(pos + 1) * BATCH])
        if channels_last:
            batch = {**batch, "image": batch["image"].contiguous(memory_format=torch.channels_last)}
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            loss = model.training_step(batch, "main")["loss"]
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    return losses


def trainer_run(steps: int, out: Path) -> List[float]:
    from factorbench.train import TrainRun, train
    from factorbench.train.config import TrainConfig

    epochs = steps // (N_TRAIN // BATCH)
    train(TrainRun("vae", dict(MODEL), DATASET, out, seed=0, train=TrainConfig(epochs=epochs, batch_size=BATCH),
                   dataset_n=N_TRAIN), progress=False)
    with (out / "losses.csv").open(newline="") as f:
        return [float(row["loss"]) for row in csv.DictReader(f)]


def drift(a: List[float], b: List[float]) -> Dict[str, float]:
    a, b = np.asarray(a), np.asarray(b)
    rel = np.abs(a - b) / np.abs(a)
    return {"mean_rel": float(rel.mean()), "max_rel": float(rel.max()), "final_a": float(a[-1]), "final_b": float(b[-1])}


def concurrent(k: int, threads: int, steps: int) -> float:
    """Wall seconds for k bare-loop processes started together, each on ``threads`` threads."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    code = (f"import torch; torch.set_num_threads({threads}); import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); "
            f"import train_throughput as t; t.bare_loop({steps})")
    start = time.perf_counter()
    procs = [subprocess.Popen([sys.executable, "-c", code], env=env) for _ in range(k)]
    for p in procs:
        if p.wait() != 0:
            raise SystemExit("a concurrent run failed")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=96, help="optimisation steps per arm (a multiple of 32)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-concurrency", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("FACTORBENCH_CACHE", tempfile.mkdtemp(prefix="train-bench-cache-"))
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)  # as the trainer's deterministic mode (it never unsets it)
    bare_loop(BATCH)  # warm-up: dataset generation and cache

    times: Dict[str, List[tuple]] = {k: [] for k in ("bare", "trainer", "bf16", "channels_last")}
    curves = {}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeats):
            for arm in times:
                if arm == "trainer":
                    fn = lambda: trainer_run(args.steps, Path(tmp) / f"run{r}")  # noqa: E731
                else:
                    fn = lambda: bare_loop(args.steps, autocast=arm == "bf16", channels_last=arm == "channels_last")  # noqa: E731,B023
                losses, wall, cpu = timed(fn)
                times[arm].append((wall, cpu))
                curves[arm] = losses
    best = {arm: (min(w for w, _ in t), min(c for _, c in t)) for arm, t in times.items()}
    print(f"load: {os.getloadavg()}; {args.steps} steps per arm, best of {args.repeats}, 1 torch thread")
    for arm, (wall, cpu) in best.items():
        print(f"  {arm:14s} wall {wall:7.2f}s  cpu {cpu:7.2f}s  {args.steps / cpu:6.1f} steps/cpu-s  "
              f"cpu ratio to bare {cpu / best['bare'][1]:.3f}")
    print(f"  trainer vs bare: losses identical: {curves['trainer'] == curves['bare']}")
    for arm in ("bf16", "channels_last"):
        d = drift(curves["bare"], curves[arm])
        print(f"  {arm} loss drift vs fp32: mean {d['mean_rel']:.2e}, max {d['max_rel']:.2e} relative; "
              f"final {d['final_a']:.5g} -> {d['final_b']:.5g}")
    if not args.skip_concurrency:
        for threads in (1, 2):
            one = concurrent(1, threads, args.steps)
            two = concurrent(2, threads, args.steps)
            print(f"  concurrency, {threads} thread(s) each: one run {one:.2f}s wall, two at once {two:.2f}s "
                  f"(x{two / one:.2f}; x1.0 with {2 * threads} free cores)")
        print("  (compare the one-run walls of the two thread settings too: on a busy machine, more threads "
              "than free cores stall)")


if __name__ == "__main__":
    main()
