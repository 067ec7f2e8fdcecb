"""Overhead of the latency term: search-step time with lambda > 0 over lambda = 0, same run.

One pcdarts supernet, one stream of batches; steps alternate between lambda = 0 (no cost
term) and lambda > 0 (the paper's straight-through LPM term, M = 20), so machine-load drift
hits both equally. A step is what `nascost search` does per batch: the architecture step
(first order) and the weight step. The LPM has the paper's shape (112-256-64-1, sigmoid);
its weights are fitted briefly on random targets because the overhead does not depend on
its accuracy.

    .venv/bin/python benchmarks/search_overhead.py [--steps 20] [--C 8] [--layers 5] \
        [--batch-size 64] [--dataset imagefolder:../shared/data/cifar10-subset] [--threads 1]

Prints one JSON line: median step times and their ratio (target <= 1.05).
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
from nascost.penalty import CostTerm


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--space", default="pcdarts")
    ap.add_argument("--steps", type=int, default=20, help="steps per condition")
    ap.add_argument("--C", type=int, default=8)
    ap.add_argument("--layers", type=int, default=5)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--dataset", default="synthetic")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--lam", type=float, default=0.2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    space = plugins.get_space(args.space)
    opts = {"input_size": 32, "size": 2048} if args.dataset == "synthetic" else None
    dataset = plugins.get_dataset(args.dataset, opts)
    train = dataset.load("train", augment=True)
    loader = torch.utils.data.DataLoader(train, batch_size=args.batch_size, shuffle=True, drop_last=True)
    batches = iter(_cycle(loader))

    net = space.supernet(C=args.C, layers=args.layers, num_classes=dataset.num_classes, in_channels=dataset.in_channels)
    lpm = plugins.get_predictor("lpm", {"epochs": 5})
    x = space.encode(space.sample_many(400, 0))
    lpm.fit(x, x.sum(1) + torch.rand(len(x)))
    term = CostTerm("cpu-lpm", lpm, lam=args.lam, estimator="st", samples=20)
    w_opt = torch.optim.SGD(net.weight_parameters(), lr=0.025, momentum=0.9, weight_decay=3e-4)
    architect = Architect(net, w_opt, arch_learning_rate=6e-4)
    gen = torch.Generator().manual_seed(0)

    def cost_loss() -> torch.Tensor:
        return term.penalty(term.estimate(net, gen))

    def step(with_cost: bool) -> float:
        (xt, yt), (xv, yv) = next(batches), next(batches)
        t0 = time.perf_counter()
        architect.step(xt, yt, xv, yv, 0.025, cost_loss if with_cost else None)
        w_opt.zero_grad()
        F.cross_entropy(net(xt), yt).backward()
        nn.utils.clip_grad_norm_(net.weight_parameters(), 5.0)
        w_opt.step()
        return time.perf_counter() - t0

    step(False)
    step(True)  # warm-up both paths
    plain, costly, term_only = [], [], []
    for _ in range(args.steps):
        plain.append(step(False))
        costly.append(step(True))
        t0 = time.perf_counter()
        cost_loss().backward()
        term_only.append(time.perf_counter() - t0)
    ratio = statistics.median(costly) / statistics.median(plain)
    print(json.dumps({
        "space": args.space, "C": args.C, "layers": args.layers, "batch_size": args.batch_size,
        "dataset": args.dataset, "threads": args.threads, "steps": args.steps,
        "median_step_s_lambda0": statistics.median(plain), "median_step_s_lambda": statistics.median(costly),
        "ratio": ratio, "median_cost_term_s": statistics.median(term_only),
        "cost_term_share": statistics.median(term_only) / statistics.median(plain),
        "machine": f"{platform.processor() or platform.machine()}, torch {torch.__version__}",
    }))


def _cycle(loader):
    while True:
        yield from loader


if __name__ == "__main__":
    main()
