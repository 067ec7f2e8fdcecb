"""Transfer between devices (docs/benchmarks.md, issue 18): NAS-Bench-201's public tables, and DARTS campaigns.

``nb201``: leave one device out: for each device of the table, the sources are all other
devices except other batch sizes of the same GPU (``titanx_1`` is no source
for ``titanx_32``); the target gets 5 / 10 / 20 / 50 / 100 rows. HELP's protocol
(Lee et al., NeurIPS 2021, ``loader.py``): rows are in benchmark index order;
target rows are drawn at random from the central 80% (by the target's latency)
of architectures 0-899, the test set is the central 80% of architectures
900-1099 (160 cells); Spearman and Kendall tau on the test set, mean over 5
seeds. ``--plan`` adds the rows chosen by ``nascost collect --plan transfer``
(D-optimal in the sources' predictions, test cells excluded) instead of random ones.

``darts``: the repository's 5,000-row paired CPU campaign (``data/darts-cpu-paired-c8l5s16``,
C=8, 5 cells, 16x16) as the source; the target is the ``imagenet`` setting (C=48, 14 cells,
224x224) on the same CPU: target rows drawn from its 2,000 training rows
(``darts-cpu-paired-imagenet-q`` and ``-more``), scored on its precise test campaign (150
architectures, 60 paired runs); beside an LPM fitted from scratch on 2,000 target rows. Both
campaigns were measured with the paper's normal-cell encoding: the space gets ``cells="normal"``.

Usage::

    .venv/bin/python benchmarks/transfer.py nb201 --table ../shared/data/nb201/latency.csv.gz \\
        [--rows 5,10,20,50,100] [--seeds 5] [--methods mixture,embedding,ridge,finetune] [--plan] \\
        [--devices pixel3,gold_6240] [--json results.json]
    .venv/bin/python benchmarks/transfer.py darts [--rows 10,50] [--seeds 5] [--plan]

Prints markdown tables (nb201: per row count the mean over devices; at 10 rows every
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
    sub = ap.add_subparsers(dest="what", required=True)
    nb = sub.add_parser("nb201", help="leave one device out on a NAS-Bench-201 latency table")
    nb.add_argument("--table", required=True)
    nb.add_argument("--rows", default="5,10,20,50,100")
    nb.add_argument("--devices", help="targets (default: every column)")
    da = sub.add_parser("darts", help="the 5,000-row cifar-small campaign to the imagenet setting")
    da.add_argument("--rows", default="10,50")
    da.add_argument("--data", default=str(Path(__file__).resolve().parents[1] / "data"))
    for p in (nb, da):
        p.add_argument("--seeds", type=int, default=5)
        p.add_argument("--methods", default="mixture,embedding,ridge,finetune")
        p.add_argument("--plan", action="store_true", help="also the D-optimal plan's rows at each row count")
        p.add_argument("--cache", help="NASCOST_HOME for cached source models (default: a temporary directory)")
        p.add_argument("--json", help="write every figure to this file")
    args = ap.parse_args()
    os.environ["NASCOST_HOME"] = args.cache or tempfile.mkdtemp(prefix="nascost-transfer-")
    torch.set_num_threads(1)
    if args.what == "darts":
        darts(args)
        return

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


def darts(args: argparse.Namespace) -> None:
    """The DARTS space: from the cifar-small campaign to the imagenet setting on the same CPU."""
    from nascost import plugins
    from nascost.data import import_csv
    from nascost.fit import load_data
    from nascost.transfer import load_sources, plan_architectures

    paper = {"cells": "normal"}  # data/ was measured with the paper's normal-cell encoding
    space = plugins.get_space("darts", paper)
    work = Path(tempfile.mkdtemp(prefix="nascost-darts-transfer-"))
    data = Path(args.data)
    import_csv(data / "darts-cpu-paired-c8l5s16.csv.gz", work / "src.db", space_options=paper)
    for name in ("darts-cpu-paired-imagenet-q.csv.gz", "darts-cpu-paired-imagenet-q-more.csv.gz"):
        import_csv(data / name, work / "target.db", space_options=paper)
    test_campaign = "20261128T074243-6600da"
    everything = load_data(work / "target.db", space="darts")
    test = load_data(work / "target.db", space="darts", campaign=test_campaign)
    test_keys = set(test.keys)
    train_idx = np.array([i for i, k in enumerate(everything.keys) if k not in test_keys])
    x_all = space.encode(everything.archs).to(torch.float32)
    y_all = everything.values
    xt, yt = space.encode(test.archs).to(torch.float32), test.values
    t0 = time.perf_counter()
    sources = load_sources(str(work / "src.db"), space)
    print(f"# source: {sources[0].name}, {len(sources[0].y)} rows; target: {len(train_idx)} training rows, "
          f"{len(test)} test rows (campaign {test_campaign})", file=sys.stderr)
    rows = [int(r) for r in args.rows.split(",")]
    table: list[tuple[str, int, float, float]] = []

    def score(pred: np.ndarray) -> tuple[float, float]:
        return float(stats.spearmanr(pred, yt).statistic), float(stats.kendalltau(pred, yt).statistic)

    for k in rows:
        picks = [np.random.default_rng(seed).choice(train_idx, k, replace=False) for seed in range(args.seeds)]
        variants = [("random", picks)]
        if args.plan:
            # the plan among the architectures the target campaign measured
            cand = {everything.keys[i]: i for i in train_idx}
            planned = plan_architectures(space, sources, k, candidates=[everything.archs[i] for i in train_idx])
            variants.append(("plan", [np.array([cand[a.key()] for a in planned])]))
        for method in [*args.methods.split(","), "ridge-scratch"]:
            for kind, pick_list in variants:
                res = []
                for pick in pick_list:
                    if method == "ridge-scratch":
                        pred = ridge_scratch(x_all[pick].numpy(), y_all[pick], xt.numpy())
                    else:
                        model = plugins.get_predictor("transfer", {"method": method})
                        model.fit(x_all[pick], torch.as_tensor(y_all[pick]), sources=sources, space=space)
                        with torch.no_grad():
                            pred = model.predict(xt).numpy()
                    res.append(score(pred))
                if res:
                    table.append((f"{method}/{kind}", k, float(np.mean([r[0] for r in res])),
                                  float(np.mean([r[1] for r in res]))))
    lpm_rows = min(2000, len(train_idx))
    lpm = plugins.get_predictor("lpm")
    pick = np.random.default_rng(0).choice(train_idx, lpm_rows, replace=False)
    lpm.fit(x_all[pick], torch.as_tensor(y_all[pick]), space=space)
    with torch.no_grad():
        table.append(("lpm from scratch", lpm_rows, *score(lpm.predict(xt).numpy())))
    print(f"# {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    print("\n| method | target rows | Spearman | Kendall tau |\n|---|---|---|---|")
    for name, k, rho, tau in table:
        print(f"| {name} | {k} | {rho:.3f} | {tau:.3f} |")
    if args.json:
        Path(args.json).write_text(json.dumps(table, indent=1))


if __name__ == "__main__":
    main()
