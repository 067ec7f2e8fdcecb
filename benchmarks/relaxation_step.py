"""Search-step time per relaxation, same run: softmax (DARTS), dirichlet (DrNAS), gumbel (GDAS).

One nb201 supernet at the NAS-Bench-201 benchmark protocol's scale (C=8, 5 cells per stage,
16x16 input, batch 64), one stream of batches; steps rotate through the relaxations, so
machine-load drift hits each alike. A step is what ``nascost search`` does per batch: the
first-order architecture step and the weight step (no cost term: it costs the same under
every relaxation). GDAS's relaxation computes one operation per edge, the others all five.

    .venv/bin/python benchmarks/relaxation_step.py [--steps 20] [--layers 5] [--threads 1]

Prints one JSON line: the median step time per relaxation and its ratio to the softmax's.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time

import torch
from torch import nn
from torch.nn import functional as F

from nascost import plugins
from nascost.architect import Architect


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=20, help="steps per relaxation")
    ap.add_argument("--C", type=int, default=8)
    ap.add_argument("--layers", type=int, default=5)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--input-size", type=int, default=16)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--relaxations", default="softmax,dirichlet,gumbel")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    relaxations = args.relaxations.split(",")

    dataset = plugins.get_dataset("synthetic", {"input_size": args.input_size, "size": 2048})
    loader = torch.utils.data.DataLoader(dataset.load("train"), batch_size=args.batch_size, shuffle=True,
                                         drop_last=True)
    batches = _cycle(loader)
    net = plugins.get_space("nb201").supernet(C=args.C, layers=args.layers, num_classes=dataset.num_classes,
                                              in_channels=dataset.in_channels)
    w_opt = torch.optim.SGD(net.weight_parameters(), lr=0.025, momentum=0.9, nesterov=True, weight_decay=5e-4)
    architect = Architect(net, w_opt, arch_learning_rate=3e-3)

    def step(relaxation: str) -> float:
        net.relaxation, net.temperature = relaxation, 1.0
        (xt, yt), (xv, yv) = next(batches), next(batches)
        t0 = time.perf_counter()
        architect.step(xt, yt, xv, yv, 0.025, None)
        w_opt.zero_grad()
        F.cross_entropy(net(xt), yt).backward()
        nn.utils.clip_grad_norm_(net.weight_parameters(), 5.0)
        w_opt.step()
        return time.perf_counter() - t0

    for r in relaxations:  # warm-up
        step(r)
    times: dict[str, list[float]] = {r: [] for r in relaxations}
    for _ in range(args.steps):
        for r in relaxations:
            times[r].append(step(r))
    median = {r: statistics.median(t) for r, t in times.items()}
    print(json.dumps({
        "space": "nb201", "C": args.C, "layers": args.layers, "batch_size": args.batch_size,
        "input_size": args.input_size, "threads": args.threads, "steps": args.steps,
        "median_step_s": median, "ratio_to_softmax": {r: median[r] / median["softmax"] for r in relaxations}
        if "softmax" in median else None,
        "machine": f"{platform.processor() or platform.machine()}, torch {torch.__version__}",
    }))


def _cycle(loader):
    while True:
        yield from loader


if __name__ == "__main__":
    main()
