"""How long building one evaluation network takes (it happens for every measured architecture).

Usage: ``python benchmarks/build_time.py [--setting imagenet] [-n 20] [--pooled 200] [--append]``

Two ways to build, interleaved in one run so that load affects both alike:

- ``space.build`` (training and counting): ``n`` seeded random architectures;
  median wall-clock and CPU time per build, and the share of it spent drawing
  the initial weights (re-running every conv and linear layer's ``reset_parameters``);
- ``space.build_for_measurement`` (campaigns): the first ``pooled`` seeded
  architectures in campaign order, each built from the space's module pool;
  the median CPU time over the second half (steady state), the mean over all
  of them (what a campaign of that many pays, pool warm-up included), and the
  first build's.

The cost of an empty ``nn.Module()`` is printed as a yardstick of how fast
this machine runs Python. CPU time is less sensitive to other processes on a
shared machine; quote both with the machine's load.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import time
import timeit

import torch
from _report import append_section, machine_line
from torch import nn

from nascost import plugins


def reinit(model: nn.Module) -> None:
    for m in model.modules():
        if isinstance(m, nn.modules.conv._ConvNd | nn.Linear):
            m.reset_parameters()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--space", default="darts")
    parser.add_argument("--setting", default="imagenet")
    parser.add_argument("-n", type=int, default=20, help="architectures built with space.build")
    parser.add_argument("--pooled", type=int, default=200, help="architectures built for measurement")
    parser.add_argument("--append", action="store_true", help="add a row to docs/benchmarks.md")
    args = parser.parse_args()
    torch.set_num_threads(1)
    space = plugins.get_space(args.space)
    setting = space.setting(args.setting)
    archs = space.sample_many(max(args.n, args.pooled) + 2, 0)
    for arch in archs[:2]:  # warm-up: imports, allocator
        space.build(arch, setting)
    wall, cpu, init, pooled = [], [], [], []
    for i, arch in enumerate(archs[2:]):
        if i < args.pooled:
            c0 = time.process_time()
            space.build_for_measurement(arch, setting)
            pooled.append(time.process_time() - c0)
        if i < args.n:
            w0, c0 = time.perf_counter(), time.process_time()
            model = space.build(arch, setting)
            wall.append(time.perf_counter() - w0)
            cpu.append(time.process_time() - c0)
            i0 = time.process_time()
            reinit(model)
            init.append(time.process_time() - i0)
    module_us = min(timeit.repeat(nn.Module, number=2000, repeat=3)) / 2000 * 1e6
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    steady = statistics.median(pooled[len(pooled) // 2:]) * 1e3
    mean_pooled = statistics.fmean(pooled) * 1e3
    print(
        f"space={args.space} setting={setting.label()} n={args.n} pooled={args.pooled} cpus={os.cpu_count()} "
        f"load1={load:.1f} nn.Module()={module_us:.1f} us"
    )
    print(
        f"build: median {statistics.median(wall) * 1e3:.1f} ms wall, "
        f"{statistics.median(cpu) * 1e3:.1f} ms CPU, of which initial weights "
        f"{statistics.median(init) * 1e3:.1f} ms CPU"
    )
    print(
        f"build_for_measurement: steady-state median {steady:.1f} ms CPU, mean over {len(pooled)} "
        f"{mean_pooled:.1f} ms CPU, first {pooled[0] * 1e3:.1f} ms CPU"
    )
    if args.append:
        append_section(
            "Building evaluation networks (issue 3: an `imagenet` network \"well under 100 ms\")",
            "| date | machine | load (1 min) | wall ms | CPU ms | of which initial weights, CPU ms | note |",
            f"| {dt.date.today()} | {machine_line()} | {load:.1f} | {statistics.median(wall) * 1e3:.1f} | "
            f"{statistics.median(cpu) * 1e3:.1f} | {statistics.median(init) * 1e3:.1f} | "
            f"build_for_measurement (module pool): **{steady:.1f} ms CPU** steady state, {mean_pooled:.1f} ms "
            f"mean over the first {len(pooled)} architectures, {pooled[0] * 1e3:.1f} ms the first; "
            f"nn.Module() {module_us:.1f} us |",
        )


if __name__ == "__main__":
    main()
