"""Peak RSS of a pcdarts search step at batch 64 on CPU (the reference supernet: C=16, 8 cells, 32x32).

Runs a few full search steps (architecture step with the straight-through LPM term, then the
weight step) and reports the process's peak resident set size (``ru_maxrss``) before the
first step (model and data loaded) and after the steps.

    .venv/bin/python benchmarks/search_memory.py [--space pcdarts] [--batch-size 64] [--steps 2] \
        [--order first]

Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import resource
import time

import torch
from torch.nn import functional as F

from nascost import plugins
from nascost.architect import Architect
from nascost.penalty import CostTerm


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--space", default="pcdarts")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--C", type=int, default=16)
    ap.add_argument("--layers", type=int, default=8)
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--order", default="first", choices=["first", "second"])
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    space = plugins.get_space(args.space)
    net = space.supernet(C=args.C, layers=args.layers, num_classes=10, in_channels=3)
    lpm = plugins.get_predictor("lpm", {"epochs": 2})
    x = space.encode(space.sample_many(200, 0))
    lpm.fit(x, x.sum(1))
    term = CostTerm("cpu-lpm", lpm, lam=0.2, samples=20)
    w_opt = torch.optim.SGD(net.weight_parameters(), lr=0.1, momentum=0.9, weight_decay=3e-4)
    architect = Architect(net, w_opt, arch_learning_rate=6e-4, order=args.order)
    gen = torch.Generator().manual_seed(0)
    xb = torch.randn(args.batch_size, 3, 32, 32)
    yb = torch.randint(0, 10, (args.batch_size,))
    before = peak_mib()
    t0 = time.perf_counter()
    for _ in range(args.steps):
        architect.step(xb, yb, xb, yb, 0.1, lambda: term.penalty(term.estimate(net, gen)))
        w_opt.zero_grad()
        F.cross_entropy(net(xb), yb).backward()
        w_opt.step()
    print(json.dumps({
        "space": args.space, "C": args.C, "layers": args.layers, "batch_size": args.batch_size,
        "order": args.order, "steps": args.steps, "peak_rss_mib_before_steps": round(before, 1),
        "peak_rss_mib": round(peak_mib(), 1), "seconds_per_step": (time.perf_counter() - t0) / args.steps,
        "weights": sum(p.numel() for p in net.weight_parameters()),
    }))


if __name__ == "__main__":
    main()
