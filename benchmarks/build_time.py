"""How long building one evaluation network takes (it happens for every measured architecture).

Usage: ``python benchmarks/build_time.py [--setting imagenet] [-n 20] [--space darts]``

Builds ``n`` random architectures (seeded) and prints the median wall-clock
and CPU time per build, the share of it spent drawing the initial weights
(re-running every conv and linear layer's ``reset_parameters``), and the cost
of an empty ``nn.Module()`` as a yardstick of how busy the machine is. CPU
time is less sensitive to other processes on a shared machine; quote both
with the machine's load.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import timeit

import torch
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
    parser.add_argument("-n", type=int, default=20)
    args = parser.parse_args()
    torch.set_num_threads(1)
    space = plugins.get_space(args.space)
    setting = space.setting(args.setting)
    archs = space.sample_many(args.n + 2, 0)
    for arch in archs[:2]:  # warm-up: imports, allocator
        space.build(arch, setting)
    wall, cpu, init = [], [], []
    for arch in archs[2:]:
        w0, c0 = time.perf_counter(), time.process_time()
        model = space.build(arch, setting)
        wall.append(time.perf_counter() - w0)
        cpu.append(time.process_time() - c0)
        i0 = time.process_time()
        reinit(model)
        init.append(time.process_time() - i0)
    module_us = min(timeit.repeat(nn.Module, number=2000, repeat=3)) / 2000 * 1e6
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"space={args.space} setting={setting.label()} n={args.n} cpus={os.cpu_count()} "
        f"load1={load:.1f} nn.Module()={module_us:.1f} us"
    )
    print(
        f"median build: {statistics.median(wall) * 1e3:.1f} ms wall, "
        f"{statistics.median(cpu) * 1e3:.1f} ms CPU, of which initial weights "
        f"{statistics.median(init) * 1e3:.1f} ms CPU"
    )


if __name__ == "__main__":
    main()
