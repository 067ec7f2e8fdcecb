"""Hardware specificity between runtimes (issue 19): a search per runtime, every derived cell under every runtime.

The paper's CPU-vs-GPU claim, on one machine: is the cell a latency-aware search finds
for ONNX Runtime also the fast one under eager PyTorch, and the other way round? For each
campaign database given (one runtime each, the same setting, ``cells=both``) this fits
the LPM on its rows, runs one pcdarts search per lambda against it (lambda 0 once: it
does not see the cost), and measures every derived network under every runtime, paired,
on that runtime's predictor's anchor. It reports, per runtime, each cell's measured
latency relative to the lambda-0 cell's under the same runtime: a cell searched for one
runtime should gain most under that runtime.

    .venv/bin/python benchmarks/runtime_specificity.py \
        --db runs/rt-small/cpu-timer-paired-1.db --db runs/rt-small/ort-cpu-paired-1.db \
        --lambdas 0,0.2,0.5 --out runs/rt-specificity [--append]

The databases are those ``benchmarks/runtimes.py --keep DIR`` leaves. Every search and
measurement is kept in ``OUT`` (``search-*/``, ``cell-*.json``): a rerun resumes. On two
cores, ``--part 0/2`` and ``--part 1/2`` search side by side; the run without ``--part``
then measures alone.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from statistics import median
from typing import Any

from _report import append_section, machine_line

from nascost import plugins
from nascost.collect import measure_one
from nascost.data import CostDatabase
from nascost.fit import fit_from_database
from nascost.predict import load_predictor, save_predictor
from nascost.search import SearchConfig, run_search


def measurer_of(db: Path) -> str:
    with CostDatabase(db) as d:
        groups = d.groups()
    names = sorted({g.measurer for g in groups})
    if len(names) != 1:
        sys.exit(f"{db}: expected one measurer's rows, found {names}")
    return names[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", type=Path, action="append", required=True, help="a campaign database (one runtime)")
    ap.add_argument("--lambdas", default="0,0.2,0.5")
    ap.add_argument("--space", default="pcdarts")
    ap.add_argument("--dataset", default="digits")
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--arch-frozen-epochs", type=int, default=4)
    ap.add_argument("--channels", type=int, default=8)
    ap.add_argument("--layers", type=int, default=5)
    ap.add_argument("--runs", type=int, default=40, help="paired runs per measurement")
    ap.add_argument("--repeats", type=int, default=2, help="measurements per cell and runtime (median kept)")
    ap.add_argument("--trust-region", choices=["report", "penalty"], default="penalty")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path("runs/rt-specificity"))
    ap.add_argument("--part", type=lambda v: tuple(int(x) for x in v.split("/")), metavar="K/N",
                    help="run only every N-th search from the K-th, and measure nothing: N processes search "
                         "side by side, then one run without --part measures (timing wants a quiet machine)")
    ap.add_argument("--append", action="store_true", help="add the table to docs/benchmarks.md")
    a = ap.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    lambdas = [float(v) for v in a.lambdas.split(",") if v]
    cost_space = plugins.get_space("darts")
    space = plugins.get_space(a.space)

    runtimes: dict[str, dict[str, Any]] = {}
    for db in a.db:
        name = measurer_of(db)
        path = a.out / f"lpm-{name}.nascost"
        if not path.is_file():
            model, meta = fit_from_database(db, space=cost_space, predictor="lpm", seed=a.seed)
            save_predictor(model, path, meta)
        pred, meta = load_predictor(path, space=cost_space)
        runtimes[name] = {"path": path, "pred": pred, "meta": meta,
                          "timer": plugins.get_measurer(name, {"runs": a.runs})}
        print(f"{name}: LPM on {meta.n_train} rows, held-out MAPE {meta.metrics['mape']:.2f}%, "
              f"tau {meta.metrics['kendall_tau']:.3f}", flush=True)

    searches = [("-", 0.0)] + [(rt, lam) for rt in runtimes for lam in lambdas if lam > 0]
    cells: dict[str, Any] = {}
    for k, (target, lam) in enumerate(searches):
        label = f"{target}@{lam:g}"
        tag = f"{target if lam else 'any'}-{lam:g}"
        done = a.out / f"cell-{tag}.json"
        if done.is_file():
            row = json.loads(done.read_text())
        elif a.part is not None and k % a.part[1] != a.part[0]:
            continue  # another process's search
        else:
            cost = runtimes[target]["path"] if lam else next(iter(runtimes.values()))["path"]
            config = SearchConfig.build({
                "space": a.space, "dataset": a.dataset, "costs": [str(cost)], "lambda": lam,
                "cost_scale": "paper", "epochs": a.epochs, "C": a.channels, "layers": a.layers,
                "arch_frozen_epochs": a.arch_frozen_epochs, "seed": a.seed, "threads": 1,
                "measure_final": False, "trust_region": a.trust_region,
            })
            t0 = time.perf_counter()
            arch = run_search(config, a.out / f"search-{tag}", force=True, show_progress=False,
                              log=lambda m, lb=label: print(f"  {lb}: {m}", file=sys.stderr, flush=True)).architecture
            row = {"target": target, "lambda": lam, "normal": arch.spec["normal"], "reduce": arch.spec["reduce"],
                   "search_s": time.perf_counter() - t0, "measured": {}}
            done.write_text(json.dumps(row, indent=1))
        cells[label] = row
        if a.part is not None:
            continue  # searches only: measure in one process, on a quiet machine
        arch = space.validate({"normal": row["normal"], "reduce": row["reduce"]})
        for name, rt in runtimes.items():
            got = row["measured"].setdefault(name, [])
            while len(got) < a.repeats:
                space.clear_measurement_cache()  # a fresh network per measurement
                meta = rt["meta"]
                m, _ = measure_one(space, rt["timer"], arch, meta.setting, meta.batch_size or 1,
                                   anchor=meta.reference_latency)
                got.append(m.value)
                done.write_text(json.dumps(row, indent=1))
            row.setdefault("predicted", {})[name] = float(rt["pred"].predict(space.encode([arch])).reshape(-1)[0])
        done.write_text(json.dumps(row, indent=1))
        print(json.dumps({"search": label, **{k: row[k] for k in ("measured", "predicted")}}), flush=True)
    if a.part is not None:
        return

    base = cells["-@0"]["measured"]
    names = list(runtimes)
    header = ("| searched for | λ | " + " | ".join(f"{n} ms (vs λ 0)" for n in names)
              + " | predicted by its own cost |")
    lines = []
    for row in cells.values():
        parts = []
        for n in names:
            v, b = median(row["measured"][n]), median(base[n])
            parts.append(f"{v:.4g} ({100 * (v / b - 1):+.1f}%)")
        own = "-" if row["target"] == "-" else f"{row['predicted'][row['target']]:.4g}"
        lines.append(f"| {row['target'] if row['lambda'] else 'either (λ 0)'} | {row['lambda']:g} | "
                     + " | ".join(parts) + f" | {own} |")
    print("\n" + header + "\n|" + "---|" * (3 + len(names)) + "\n" + "\n".join(lines))
    if a.append:
        note = (f"{time.strftime('%Y-%m-%d')}, {machine_line()}; {a.space} on {a.dataset}, {a.epochs} epochs, "
                f"trust region {a.trust_region}, {a.runs} paired runs x {a.repeats}")
        for line in lines:
            append_section("Runtimes: hardware specificity (issue 19)", header + " date, machine, protocol |",
                           f"{line} {note} |")


if __name__ == "__main__":
    main()
