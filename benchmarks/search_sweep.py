"""Lambda sweep and latency- vs FLOPs-aware search (the paper's Fig. 4 and Table 3), at CPU scale.

For each lambda (latency-aware, a ``cpu-lpm`` from the cost store or a predictor file) and
each eta (FLOPs-aware: the ``flops`` cost with the exact expectation estimator), it runs a
short pcdarts search, then measures the derived cell's latency with ``cpu-timer`` in the
latency predictor's setting (same batch size), counts its MACs there, and optionally trains
it briefly (``nascost train --preset quick``) for an accuracy. One JSON line per run, then a
Markdown table for docs/benchmarks.md.

    .venv/bin/python benchmarks/search_sweep.py --cost cpu-lpm --lambdas 0,0.1,0.2,0.4 \
        [--flops-etas 0.005,0.01] [--cost-scale paper] \
        [--dataset imagefolder:../shared/data/cifar10-subset] [--epochs 10] [--C 8] [--layers 5] \
        [--max-train-samples 5000] [--train-epochs 0] [--train-seeds 1] [--out runs/sweep] [--reuse]

Without a stored ``cpu-lpm`` add ``--calibrate 1000`` (each latency run then reuses the first
run's calibrated predictor). ``--space-opt KEY=VALUE`` gives the space options, as for
``nascost search``: a predictor fitted on the repository's data/ (the paper's normal-cell
encoding) needs ``--space-opt cells=normal``. Targets (docs/benchmarks.md): >= 20% lower
measured latency at the largest lambda whose accuracy stays within 1 point of lambda = 0;
at similar MACs the latency-aware cells are faster than the FLOPs-aware ones.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

import torch

from nascost import plugins
from nascost.cli.output import parse_kv
from nascost.collect import measure_one
from nascost.predict import read_metadata
from nascost.records import Architecture, Setting
from nascost.search import SearchConfig, run_search
from nascost.sweep import train_dir


def search(args: argparse.Namespace, out: Path, costs: list[str], lam: float, extra: dict[str, Any]) -> Architecture:
    """Run one search into ``out`` and return its derived architecture (with ``--reuse``, a
    search that finished there before is kept: its summary.json is written last)."""
    space = plugins.get_space(args.space, parse_kv(args.space_opt, "--space-opt") or None)
    if args.reuse and (out / "summary.json").is_file():
        done = json.loads((out / "config.json").read_text())
        if done["costs"][0].get("lambda") != lam or done["costs"][0]["name"] != Path(costs[0]).stem:
            raise SystemExit(f"{out} holds a search with another cost or lambda; use another --out")
        print(f"  reusing the search in {out}", file=sys.stderr)
        return space.resolve(str(out / "genotype.json"))
    data = {
        "space": args.space, "dataset": args.dataset, "costs": costs, "lambda": lam, "epochs": args.epochs,
        "C": args.C, "layers": args.layers, "batch_size": args.batch_size, "seed": args.seed,
        "threads": args.threads, "max_train_samples": args.max_train_samples,
        "arch_frozen_epochs": args.arch_frozen_epochs, "cost_scale": args.cost_scale,
        "arch_learning_rate": args.arch_lr, "learning_rate": args.lr,
        "dataset_options": parse_kv(args.data_opt, "--data-opt"),
        "space_options": parse_kv(args.space_opt, "--space-opt"), **extra,
    }
    data = {k: v for k, v in data.items() if v is not None}
    result = run_search(SearchConfig.build(data), out, force=True, show_progress=False,
                        log=lambda m: print(f"  {m}", file=sys.stderr))
    return result.architecture


def train(args: argparse.Namespace, genotype: Path, out: Path) -> list[float]:
    """Quick-train the derived cell once per seed, into the search directory ``out`` where
    ``nascost sweep`` puts trainings: one 3-epoch run's accuracy has a standard error of about
    a point on 2,000 test images, as large as the effect the target asks about."""
    accs: list[float] = []
    for seed in range(args.train_seeds if args.train_epochs > 0 else 0):
        run_dir = train_dir(out, seed)
        if args.reuse and (run_dir / "summary.json").is_file():
            summary = json.loads((run_dir / "summary.json").read_text())
            if summary.get("epochs") == args.train_epochs and summary.get("config", {}).get("seed") == seed:
                accs.append(summary["test_acc"])
                continue
        cmd = [str(Path(sys.executable).parent / "nascost"), "train", str(genotype), "--dataset", args.dataset,
               "--preset", "quick", "--epochs", str(args.train_epochs), "--seed", str(seed),
               "--out", str(run_dir), "--json"]
        cmd += [arg for item in args.data_opt for arg in ("--data-opt", item)]
        env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
        done = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env)
        if done.returncode != 0:
            print(f"  training (seed {seed}) failed: {done.stderr.strip()[-300:]}", file=sys.stderr)
            continue
        summary = json.loads(done.stdout)
        accs.append(summary.get("test_acc", summary.get("test_accuracy")))
    return accs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--space", default="pcdarts")
    ap.add_argument("--space-opt", action="append", default=[], metavar="KEY=VALUE",
                    help="space option, as for nascost search (repeatable), e.g. cells=normal")
    ap.add_argument("--cost", default="cpu-lpm", help="latency cost: a cost-store name or a predictor file")
    ap.add_argument("--measurer", default="cpu-timer",
                    help="measures the derived cells (use the predictor's: cpu-timer-paired for cpu-paired-lpm)")
    ap.add_argument("--runs", type=int, default=20, help="timed runs per derived cell (more: less noise)")
    ap.add_argument("--lambdas", default="0,0.1,0.2,0.4")
    ap.add_argument("--flops-etas", default="", help="FLOPs-aware runs (lambda per MAC on the chosen scale)")
    ap.add_argument("--cost-scale", default="paper", choices=["raw", "paper"])
    ap.add_argument("--calibrate", type=int, default=0)
    ap.add_argument("--dataset", default="digits")
    ap.add_argument("--data-opt", action="append", default=[], metavar="KEY=VALUE",
                    help="dataset option for search and training, e.g. input_size=16 (repeatable)")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--arch-frozen-epochs", type=int, default=2)
    ap.add_argument("--C", type=int, default=8)
    ap.add_argument("--layers", type=int, default=5)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--lr", type=float, help="weight learning rate (default: the space's)")
    ap.add_argument("--arch-lr", type=float, help="architecture learning rate (default: the space's)")
    ap.add_argument("--max-train-samples", type=int)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--train-epochs", type=int, default=0, help="quick training epochs (0: no training)")
    ap.add_argument("--train-seeds", type=int, default=1, help="training runs per derived cell (mean and spread)")
    ap.add_argument("--out", default="runs/sweep")
    ap.add_argument("--reuse", action="store_true",
                    help="keep the searches and trainings already finished in --out (add lambdas or seeds to a "
                         "sweep); every derived cell is measured again, all in this run")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    root = Path(args.out)
    space = plugins.get_space(args.space, parse_kv(args.space_opt, "--space-opt") or None)
    timer = plugins.get_measurer(args.measurer, {"runs": args.runs})
    rows: list[dict[str, Any]] = []
    latency_cost = args.cost
    runs = [("latency", float(v)) for v in args.lambdas.split(",") if v]
    runs += [("flops", float(v)) for v in args.flops_etas.split(",") if v]
    setting = batch = None
    for kind, lam in runs:
        out = root / f"{kind}-{lam:g}"
        extra: dict[str, Any] = {"measure_final": kind == "latency"}
        if kind == "latency":
            if args.calibrate and not Path(latency_cost).is_file():
                extra["calibrate"] = args.calibrate
            arch = search(args, out, [latency_cost], lam, extra)
            cal = out / "costs" / f"{args.cost}.nascost"
            if cal.is_file():
                latency_cost = str(cal)  # later runs reuse the calibrated predictor
            cfg = json.loads((out / "config.json").read_text())["costs"][0]
            setting = Setting(**cfg["setting"])
            batch = cfg.get("batch_size") or 1
        else:
            arch = search(args, out, ["flops"], lam, {**extra, "estimator": "expectation"})
        if setting is None:
            raise SystemExit("run at least one latency-aware search first (it fixes the measurement setting)")
        # paired timing: measure on the predictor's scale
        anchor = read_metadata(latency_cost).reference_latency if Path(latency_cost).is_file() else None
        m, _ = measure_one(space, timer, arch, setting, int(batch), anchor=anchor)
        counts = space.count(arch, setting)
        accs = train(args, out / "genotype.json", out)
        row = {"kind": kind, "lambda": lam, "latency_ms": m.value, "latency_iqr": m.iqr, "macs": counts["macs"],
               "params": counts["params"], "test_acc": statistics.fmean(accs) if accs else None,
               "test_acc_std": statistics.stdev(accs) if len(accs) > 1 else None, "test_accs": accs,
               "normal": arch.spec.get("normal")}
        rows.append(row)
        print(json.dumps(row), flush=True)
    print("\n| kind | lambda/eta | measured latency (ms) | MACs | params | test acc |\n|---|---|---|---|---|---|")
    for r in rows:
        acc = "" if r["test_acc"] is None else f"{r['test_acc']:.2f}"
        if r["test_acc_std"] is not None:
            acc += f" +- {r['test_acc_std']:.2f} ({len(r['test_accs'])} seeds)"
        print(f"| {r['kind']} | {r['lambda']:g} | {r['latency_ms']:.3f} | {r['macs']:,} | {r['params']:,} | {acc} |")


if __name__ == "__main__":
    main()
