"""How long building one evaluation network takes (it happens for every measured architecture).

Usage: ``python benchmarks/build_time.py [--setting imagenet] [-n 20] [--space darts]``

Builds ``n`` random architectures (seeded) with the fast default-distribution
init (the default) and with PyTorch's per-layer init, and prints the median
wall-clock and CPU time per build. CPU time is less sensitive to other
processes on a shared machine; quote both with the machine's load.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch

from nascost import plugins


def bench(space_name: str, setting_name: str, n: int, fast_init: bool) -> tuple[float, float]:
    space = plugins.get_space(space_name, {"fast_init": fast_init})
    setting = space.setting(setting_name)
    archs = space.sample_many(n + 2, 0)
    for arch in archs[:2]:  # warm-up: imports, allocator
        space.build(arch, setting)
    wall, cpu = [], []
    for arch in archs[2:]:
        w0, c0 = time.perf_counter(), time.process_time()
        space.build(arch, setting)
        wall.append(time.perf_counter() - w0)
        cpu.append(time.process_time() - c0)
    return statistics.median(wall) * 1e3, statistics.median(cpu) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--space", default="darts")
    parser.add_argument("--setting", default="imagenet")
    parser.add_argument("-n", type=int, default=20)
    args = parser.parse_args()
    torch.set_num_threads(1)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"space={args.space} setting={args.setting} n={args.n} cpus={os.cpu_count()} load1={load:.1f}")
    for fast in (True, False):
        wall, cpu = bench(args.space, args.setting, args.n, fast)
        print(f"fast_init={fast!s:5}  median build: {wall:6.1f} ms wall, {cpu:6.1f} ms CPU")


if __name__ == "__main__":
    main()
