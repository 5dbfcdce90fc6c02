"""Inception speed-ups tried on CPU (issue 22, item 4), measured in one run on the same images.

The canonical FID network (TorchScript) as shipped, frozen and fed channels-last tensors
(factorbench's extractor), through ``torch.jit.optimize_for_inference``, and frozen under
``torch.autocast("cpu", dtype=torch.bfloat16)``. Prints images/s and the largest feature
difference from the network as shipped. A variant is adoptable only if its features stay
within 1e-4 of the canonical network's (FID's protocol): bf16 does not (about 1e-2
relative on this CPU), so the extractor stays fp32.

Run: ``python benchmarks/perf/inception_variants.py [--n 24] [--batch-size 8]``.
Ratios are from one run; absolute rates depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import time
import warnings

import torch

from factorbench.metrics.inception import verified_weights


def load():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.jit.load(str(verified_weights()), map_location="cpu").eval()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=24)
    parser.add_argument("--batch-size", type=int, default=8)
    args = parser.parse_args()
    torch.manual_seed(0)
    x = ((torch.rand(args.n, 3, 299, 299) * 255).round() - 128) / 128
    x = x.contiguous(memory_format=torch.channels_last)
    frozen = torch.jit.freeze(load())

    def bf16(batch):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return frozen(batch)

    variants = {"as shipped": load(), "frozen, channels-last (factorbench)": frozen,
                "optimize_for_inference": torch.jit.optimize_for_inference(load()), "frozen + bf16 autocast": bf16}
    results = {}
    for name, net in variants.items():
        with torch.inference_mode():
            net(x[: args.batch_size])  # warm-up
            start = time.perf_counter()
            feats = torch.cat([net(x[i:i + args.batch_size]).float() for i in range(0, args.n, args.batch_size)])
            results[name] = (args.n / (time.perf_counter() - start), feats)
    reference = results["as shipped"][1]
    print(f"{'variant':38s} | images/s | max |Δ feature| (relative)")
    for name, (rate, feats) in results.items():
        diff = float((feats - reference).abs().max())
        print(f"{name:38s} | {rate:8.2f} | {diff:.2e} ({diff / float(reference.abs().max()):.1e})")
    print(f"torch threads: {torch.get_num_threads()}")


if __name__ == "__main__":
    main()
