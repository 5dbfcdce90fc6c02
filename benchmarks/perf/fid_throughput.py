"""FID speed, measured in one run on identical images (issue: FID paths and image metrics).

1. Inception feature throughput (images/s) on the same uint8 images at the evaluation size:
   - factorbench's extractor (frozen TorchScript, channels-last) through the ``direct`` path,
   - the same TorchScript unoptimised (the canonical network as shipped),
   - torch-fidelity's own ``FeatureExtractorInceptionV3`` pipeline. Its weights cannot be
     downloaded here, so it runs with stand-in random weights of the same shapes (speed does
     not depend on the values); its features are therefore not compared.
   The optimised features are compared with the unoptimised network's (max |Δ|).
2. The statistics cache: the same FID (fake images vs a dataset reference) computed twice
   with an empty cache; the second run reads the reference statistics from disk.

Run: ``python benchmarks/perf/fid_throughput.py [--n 96] [--batch-size 16] [--size 32]``.
Ratios are from one run; absolute times depend on the machine.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from unittest import mock

import torch


def throughput(fn, batches, warmup) -> float:
    fn(warmup)
    start = time.perf_counter()
    for b in batches:
        fn(b)
    elapsed = time.perf_counter() - start
    return sum(len(b) for b in batches) / elapsed


def torch_fidelity_extractor():
    from torch_fidelity import feature_extractor_inceptionv3 as tf_inception

    with mock.patch.object(tf_inception, "load_state_dict_from_url", lambda *a, **k: None), \
            mock.patch.object(tf_inception.FeatureExtractorInceptionV3, "load_state_dict", lambda self, sd: None):
        return tf_inception.FeatureExtractorInceptionV3("inception-v3-compat", ["2048"]).eval()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=96, help="images per pipeline / per FID side")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--size", type=int, default=32, help="evaluation size (digits-rgb is 32x32)")
    args = parser.parse_args()
    os.environ["FACTORBENCH_CACHE"] = tempfile.mkdtemp(prefix="fid-bench-cache-")

    from factorbench.metrics.fid import compute_fid, prepare_batch
    from factorbench.metrics.image_sources import Images, dataset_images
    from factorbench.metrics.inception import get_extractor

    images = dataset_images("digits-rgb", "test", n=args.n).data
    batches = [images[i:i + args.batch_size] for i in range(0, args.n, args.batch_size)]
    warmup = images[: args.batch_size]
    ours, plain, theirs = get_extractor("cpu", True), get_extractor("cpu", False), torch_fidelity_extractor()

    def run_ours(b):
        return ours(prepare_batch(b, "direct", args.size, None, 0))

    def run_plain(b):
        return plain(prepare_batch(b, "direct", args.size, None, 0))

    def run_theirs(b):
        with torch.no_grad():
            return theirs(b)

    rates = {"factorbench (frozen, channels-last)": throughput(run_ours, batches, warmup),
             "canonical TorchScript, unoptimised": throughput(run_plain, batches, warmup),
             "torch-fidelity FeatureExtractorInceptionV3 (stand-in weights)": throughput(run_theirs, batches, warmup)}
    diff = max(float((run_ours(b)[0] - run_plain(b)[0]).abs().max()) for b in batches[:2])

    g = torch.Generator().manual_seed(0)
    fake = Images(images.float() / 255 * 0.9 + 0.05 + torch.rand(images.shape, generator=g) * 0.01, {"kind": "bench"})
    real = dataset_images("digits-rgb", "test", n=args.n)
    timings = []
    for _ in range(2):
        start = time.perf_counter()
        record, _, _ = compute_fid(fake, real, "saved", args.size, args.batch_size)
        timings.append((time.perf_counter() - start, record["protocol"]["real"]["stats_cache"], record["value"]))

    base = rates["torch-fidelity FeatureExtractorInceptionV3 (stand-in weights)"]
    print(f"threads: {torch.get_num_threads()}, images: {args.n} digits-rgb at {args.size}x{args.size}, "
          f"batch {args.batch_size}\n")
    print("| pipeline | images/s | vs torch-fidelity |\n|---|---|---|")
    for name, rate in rates.items():
        print(f"| {name} | {rate:.2f} | {rate / base:.2f}x |")
    print(f"\nmax |features(optimised) - features(unoptimised)| = {diff:.2e}\n")
    print("| FID run (saved mode, fake vs dataset reference) | seconds | reference stats | FID |\n|---|---|---|---|")
    for i, (sec, cache, value) in enumerate(timings):
        print(f"| {'first' if i == 0 else 'second'} | {sec:.1f} | {cache} | {value:.4f} |")
    print(f"\nspeed-up of the second FID from the statistics cache: {timings[0][0] / timings[1][0]:.2f}x")


if __name__ == "__main__":
    main()
