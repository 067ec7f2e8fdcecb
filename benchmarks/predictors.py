"""Predictor benchmarks for docs/benchmarks.md (issue 5).

Usage (from the repository root)::

    # fit time of the default lpm on 5,000 architectures, predict time for 20 (synthetic data)
    .venv/bin/python benchmarks/predictors.py timing [--n 5000] [--threads 1]
    # fitted predictors on a known synthetic cost (additive + interactions + 1% noise)
    .venv/bin/python benchmarks/predictors.py synthetic --n 2000
    # every predictor on a real cost database: metrics, learning curve, plots
    .venv/bin/python benchmarks/predictors.py compare --db costs.db [--train-sizes 250,500,1000,2000] [--plot DIR] \
        [--campaign ID] [--exclude-noisy]
    # agreement of two measurement campaigns (noise floor) or two devices
    .venv/bin/python benchmarks/predictors.py agree --db a.db --db b.db

Timing uses synthetic but valid DARTS normal-cell encodings (two input edges
per node, one non-``none`` operation each): fit and predict time do not
depend on the targets. Prints JSON with the machine, date and figures.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from datetime import datetime, timezone

import numpy as np
import torch


def machine() -> dict:
    import os

    model = "unknown"
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "cpu": model,
        "cores": os.cpu_count(),
        "load_avg_1m": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
    }


def darts_like(n: int, seed: int = 0) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    edges = [(node, i) for node in range(2, 6) for i in range(node)]
    x = np.zeros((n, 112), np.float32)
    for k in range(n):
        for node in range(2, 6):
            for i in rng.choice(node, 2, replace=False):
                x[k, edges.index((node, int(i))) * 8 + int(rng.integers(1, 8))] = 1
    return torch.from_numpy(x)


def timing(args: argparse.Namespace) -> dict:
    from nascost import plugins

    torch.set_num_threads(args.threads)
    x = darts_like(args.n)
    rng = np.random.default_rng(1)
    y = 10 + x @ torch.as_tensor(rng.uniform(0.1, 1, 112), dtype=torch.float32)
    lpm = plugins.get_predictor("lpm")  # the paper's defaults: 1000 epochs, batch 200
    wall, cpu = time.perf_counter(), time.process_time()
    lpm.fit(x, y)
    fit_wall, fit_cpu = time.perf_counter() - wall, time.process_time() - cpu
    x20 = darts_like(20, seed=7)
    soft = torch.full((20, 112), 8 / 112, requires_grad=True)
    out = {"machine": machine(), "n_train": args.n, "epochs": lpm.options.epochs,
           "fit_wall_s": fit_wall, "fit_cpu_s": fit_cpu}
    for label, fn in (
        ("predict20_no_grad", lambda: _nograd(lpm, x20)),
        ("predict20_with_grad", lambda: lpm.predict(soft).sum().backward()),
    ):
        for _ in range(50):
            fn()
        samples = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            fn()
            samples.append(time.perf_counter() - t0)
        out[label + "_ms_median"] = 1000 * statistics.median(samples)
        out[label + "_ms_p90"] = 1000 * float(np.percentile(samples, 90))
    return out


def _nograd(model, x):
    with torch.no_grad():
        return model.predict(x)


def synthetic(args: argparse.Namespace) -> dict:
    """Every fitted predictor on a known cost: additive per-operation costs plus 40 pairwise
    interactions and 1% multiplicative noise, on valid DARTS encodings (a sanity check of the
    learners where measurement noise does not hide everything; not a latency result)."""
    from nascost import plugins
    from nascost.predict import regression_metrics

    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    x = darts_like(args.n + 2000, seed=11)
    w = torch.as_tensor(rng.uniform(0.1, 1.0, 112), dtype=torch.float32)
    pairs = torch.as_tensor(rng.integers(0, 112, (40, 2)))
    y = 5 + x @ w + 0.3 * (x[:, pairs[:, 0]] * x[:, pairs[:, 1]]).sum(1)
    y = y * (1 + 0.01 * torch.as_tensor(rng.standard_normal(len(y)), dtype=torch.float32))
    train, test = slice(0, args.n), slice(args.n, args.n + 2000)
    out: dict = {"machine": machine(), "n_train": args.n, "n_test": 2000}
    for name in [n for n in args.predictors.split(",") if n]:
        cls = plugins.get("predictors", name)
        if not cls.requires_fit:
            continue
        model = plugins.get_predictor(name)
        t0 = time.process_time()
        model.fit(x[train], y[train])
        fit_cpu = time.process_time() - t0
        with torch.no_grad():
            pred = model.predict(x[test]).detach().numpy()
        out[name] = {**regression_metrics(y[test].numpy(), pred), "fit_cpu_s": fit_cpu}
    return out


def compare(args: argparse.Namespace) -> dict:
    from nascost import plugins
    from nascost.fit import compare_predictors, load_data, plot_comparison

    torch.set_num_threads(args.threads)
    data = load_data(args.db[0], space=args.space, setting=args.setting, measurer=args.measurer,
                     include_flagged=args.include_flagged, exclude_noisy=args.exclude_noisy, campaign=args.campaign)
    sizes = [int(s) for s in args.train_sizes.split(",")] if args.train_sizes else None
    names = [n for n in args.predictors.split(",") if n]
    space = plugins.get_space(data.space, data.space_options)  # the options the rows were collected with
    res = compare_predictors(data, names, space=space, train_sizes=sizes, seed=args.seed,
                             test_fraction=args.test_fraction)
    if args.plot:
        plot_comparison(res, args.plot)
    slim = {k: {kk: vv for kk, vv in v.items() if kk not in ("test_pred", "test_true")} for k, v in res.items()}
    return {"machine": machine(), "db": args.db[0], "rows": len(data), "setting": data.setting.label(),
            "device": data.device.label(), "results": slim}


def agree(args: argparse.Namespace) -> dict:
    from nascost.fit import compare_devices

    return {"machine": machine(), **compare_devices(args.db[0], args.db[1], space=args.space, setting=args.setting,
                                                    include_flagged=args.include_flagged)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("what", choices=["timing", "synthetic", "compare", "agree"])
    p.add_argument("--n", type=int, default=5000)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeats", type=int, default=1000)
    p.add_argument("--db", action="append", default=[])
    p.add_argument("--space", default="darts")
    p.add_argument("--setting")
    p.add_argument("--measurer")
    p.add_argument("--predictors", default="lpm,ridge,xgboost,gbrt,random-forest,flops,lut")
    p.add_argument("--train-sizes")
    p.add_argument("--test-fraction", type=float, default=0.2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--plot")
    p.add_argument("--include-flagged", action="store_true", help="use drift-flagged rows too")
    p.add_argument("--campaign", help="compare: only the rows of this campaign id")
    p.add_argument("--exclude-noisy", action="store_true", help="compare: leave out rows flagged noisy")
    args = p.parse_args()
    result = {"timing": timing, "synthetic": synthetic, "compare": compare, "agree": agree}[args.what](args)
    print(json.dumps(result, indent=2, default=str))


if __name__ == "__main__":
    main()
