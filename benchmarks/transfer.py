"""Transfer between devices on NAS-Bench-201's public latency tables (docs/benchmarks.md, issue 18).

Leave one device out: for each device of the table, the sources are all other
devices except other batch sizes of the same GPU (``titanx_1`` is no source
for ``titanx_32``); the target gets 5 / 10 / 20 / 50 / 100 rows. HELP's protocol
(Lee et al., NeurIPS 2021, ``loader.py``): rows are in benchmark index order;
target rows are drawn at random from the central 80% (by the target's latency)
of architectures 0-899, the test set is the central 80% of architectures
900-1099 (160 cells); Spearman and Kendall tau on the test set, mean over 5
seeds. ``--plan`` adds the rows chosen by ``nascost collect --plan transfer``
(D-optimal in the sources' predictions, test cells excluded) instead of random ones.

Usage::

    .venv/bin/python benchmarks/transfer.py --table ../shared/data/nb201/latency.csv.gz \\
        [--rows 5,10,20,50,100] [--seeds 5] [--methods mixture,embedding,ridge,finetune] [--plan] \\
        [--devices pixel3,gold_6240] [--json results.json]

Prints markdown tables (per row count the mean over devices; at 10 rows every
device). Source models are cached in ``--cache`` (default: a temporary
NASCOST_HOME), so each set of sources is fitted once for all methods.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from scipy import stats

PUBLISHED = {  # HELP, 10 target rows, Spearman (Lee et al., 2021, Table 2): devices held back from the shared table
    "help": {"titan_rtx_256": 0.987, "gold_6226": 0.989, "pixel2": 0.802, "raspi4": 0.890, "eyeriss": 0.940,
             "fpga": 0.985},
}


def family(device: str) -> str:
    head, _, tail = device.rpartition("_")
    return head if tail in ("1", "32", "64", "256") else device


def helps_split(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pool, test = np.arange(900), np.arange(900, 1100)
    pool = pool[np.argsort(y[pool], kind="stable")][90:810]
    test = test[np.argsort(y[test], kind="stable")][20:180]
    return pool, test


def ridge_scratch(x: np.ndarray, y: np.ndarray, xt: np.ndarray) -> np.ndarray:
    from sklearn.linear_model import RidgeCV

    m = RidgeCV(alphas=np.logspace(-3, 3, 13)).fit(x, np.log(y))
    return m.predict(xt)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--table", required=True)
    ap.add_argument("--rows", default="5,10,20,50,100")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--methods", default="mixture,embedding,ridge,finetune")
    ap.add_argument("--devices", help="targets (default: every column)")
    ap.add_argument("--plan", action="store_true", help="also the D-optimal plan's rows at each row count")
    ap.add_argument("--cache", help="NASCOST_HOME for cached source models (default: a temporary directory)")
    ap.add_argument("--json", help="write every figure to this file")
    args = ap.parse_args()
    os.environ["NASCOST_HOME"] = args.cache or tempfile.mkdtemp(prefix="nascost-transfer-")
    torch.set_num_threads(1)

    from nascost import plugins
    from nascost.tables import read_table
    from nascost.transfer import Source, plan_architectures

    space = plugins.get_space("nb201")
    t0 = time.perf_counter()
    table = read_table(args.table, space)
    x = space.encode(table.archs).to(torch.float32)
    devices = list(table.columns)
    targets = [d.strip() for d in args.devices.split(",")] if args.devices else devices
    rows_list = [int(r) for r in args.rows.split(",")]
    methods = [m.strip() for m in args.methods.split(",")]
    print(f"# {len(table)} cells, {len(devices)} devices, read in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    results: dict[str, dict] = {}
    for target in targets:
        y = table.columns[target]
        pool, test = helps_split(y)
        sources = [Source(name=d, x=x, y=torch.as_tensor(table.columns[d]), unit=table.unit)
                   for d in devices if family(d) != family(target)]
        res: dict[str, dict] = {}
        t1 = time.perf_counter()
        for k in rows_list:
            picks = [np.random.default_rng(seed).choice(pool, k, replace=False) for seed in range(args.seeds)]
            if args.plan:
                test_keys = {table.keys[i] for i in test}
                planned = plan_architectures(space, sources, k, exclude=test_keys)
                index = {a: i for i, a in enumerate(table.keys)}
                plan_pick = np.array([index[a.key()] for a in planned])
            for method in [*methods, "ridge-scratch"]:
                variants = [("random", picks)] + ([("plan", [plan_pick])] if args.plan else [])
                for kind, pick_list in variants:
                    rho, tau = [], []
                    for pick in pick_list:
                        if method == "ridge-scratch":
                            pred = ridge_scratch(x[pick].numpy(), y[pick], x[test].numpy())
                        else:
                            model = plugins.get_predictor("transfer", {"method": method})
                            model.fit(x[pick], torch.as_tensor(y[pick]), sources=sources, space=space)
                            with torch.no_grad():
                                pred = model.predict(x[test]).numpy()
                        rho.append(stats.spearmanr(pred, y[test]).statistic)
                        tau.append(stats.kendalltau(pred, y[test]).statistic)
                    res.setdefault(f"{method}/{kind}", {})[k] = {"spearman": float(np.mean(rho)),
                                                                "kendall_tau": float(np.mean(tau))}
        results[target] = res
        best = res.get("mixture/random", {}).get(10, {})
        print(f"# {target}: {time.perf_counter() - t1:.0f} s; mixture at 10 rows Spearman {best.get('spearman', float('nan')):.3f}",
              file=sys.stderr, flush=True)
    # --- tables ---
    names = list(next(iter(results.values())).keys())
    print("\n| method | rows | " + " | ".join(["mean Spearman", "min Spearman", "mean Kendall tau"]) + " |")
    print("|---|---|---|---|---|")
    for name in names:
        for k in rows_list:
            vals = [results[t][name][k]["spearman"] for t in targets]
            taus = [results[t][name][k]["kendall_tau"] for t in targets]
            worst = targets[int(np.argmin(vals))]
            print(f"| {name} | {k} | {np.mean(vals):.3f} | {min(vals):.3f} ({worst}) | {np.mean(taus):.3f} |")
    print("\n| device | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    for t in targets:
        print(f"| {t} | " + " | ".join(f"{results[t][n][10]['spearman']:.3f}" for n in names if 10 in results[t][n]) + " |")
    if args.json:
        Path(args.json).write_text(json.dumps({"targets": targets, "results": results, "published": PUBLISHED}, indent=1))


if __name__ == "__main__":
    main()
