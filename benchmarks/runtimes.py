"""Runtimes (issue 19): does the runtime a network is deployed with change the costs, beyond noise?

Run on a quiet machine (the figures in docs/benchmarks.md came from these two):

    pip install -e '.[ort]'
    .venv/bin/python benchmarks/runtimes.py --runtimes cpu-timer-paired,ort-cpu-paired --setting cifar-small \
        --channels 8 --layers 5 --input-size 16 --n 300 --keep runs/rt-small
    .venv/bin/python benchmarks/runtimes.py --runtimes cpu-timer-paired,ort-cpu-paired --setting imagenet \
        --n 100 --keep runs/rt-imagenet

``--keep DIR`` keeps the databases, each campaign's summary and each lookup table there,
and a rerun reuses them (so a killed run resumes and a finished one only compares);
``--append`` adds the rows to docs/benchmarks.md.

For each runtime (default: cpu-timer-paired, ort-cpu-paired, torch-compile-paired) it runs two
campaigns over the same architectures (same seed, each in its own process and shuffled
order) and reports:

- throughput: architectures per hour and overhead (wall / time inside measure()), export
  and compile time included (they happen in prepare(), inside measure());
- repeatability: Kendall tau between the two campaigns of one runtime (the noise floor);
- rank agreement between runtimes (first campaign of each): is a runtime's ranking
  different beyond that noise floor?
- predictor agreement per runtime: ``nascost compare --predictors lpm,ridge,lut,flops``
  on the first campaign (lut built on that runtime; skipped with ``--no-compare``).

Hardware specificity between runtimes: ``benchmarks/runtime_specificity.py`` on the
databases this script keeps (``--keep DIR``): a search against each runtime's LPM, every
derived cell measured under both runtimes.
"""

from __future__ import annotations

import argparse
import itertools
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _report import append_section, machine_line
from scipy.stats import kendalltau

from nascost.data import CostDatabase


def nascost() -> list[str]:
    return [sys.executable, "-m", "nascost"]


def campaign(db: Path, measurer: str, a: argparse.Namespace) -> dict:
    """Run one campaign into ``db`` (its summary kept beside it: a rerun with ``--keep`` reuses both)."""
    kept = db.with_suffix(".campaign.json")
    if kept.is_file() and db.is_file():
        return json.loads(kept.read_text())
    cmd = [*nascost(), "collect", "--space", "darts", "--measurer", measurer, "--setting", a.setting,
           "--n", str(a.n), "--seed", str(a.seed), "--db", str(db), "--opt", f"threads={a.threads}",
           "--quiet", "--json"]
    for flag, value in (("--channels", a.channels), ("--layers", a.layers), ("--input-size", a.input_size),
                        ("--runs", a.runs)):
        if value is not None:
            cmd += [flag, str(value)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    kept.write_text(out)
    return json.loads(out)


def values(db: Path) -> dict[str, float]:
    with CostDatabase(db) as d:
        rows = d.query(space="darts", include_flagged=True)
    return dict(zip(rows.keys, rows.values, strict=True))


def tau(x: dict[str, float], y: dict[str, float]) -> tuple[float, int]:
    common = sorted(set(x) & set(y))
    t = kendalltau([x[k] for k in common], [y[k] for k in common]).statistic
    return float(t), len(common)


def compare(db: Path, measurer: str, a: argparse.Namespace) -> dict:
    lut = db.with_suffix(".lut.nascost")
    build = [*nascost(), "fit", "--predictor", "lut", "--space", "darts", "--setting", a.setting,
             "--measurer", measurer, "-o", str(lut)]
    for flag, value in (("--channels", a.channels), ("--layers", a.layers), ("--input-size", a.input_size)):
        if value is not None:
            build += [flag, str(value)]
    if not lut.is_file():  # kept from an earlier run (or built beside the campaigns)
        subprocess.run(build, check=True, capture_output=True, text=True)
    out = subprocess.run([*nascost(), "compare", "--db", str(db), "--predictors", "lpm,ridge,lut,flops",
                          "--lut", str(lut), "--json"], check=True, capture_output=True, text=True).stdout
    db.with_suffix(".compare.json").write_text(out)  # every metric, for a closer look
    return json.loads(out)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--runtimes", default="cpu-timer-paired,ort-cpu-paired,torch-compile-paired")
    p.add_argument("--setting", default="cifar-small")
    p.add_argument("--channels", type=int)
    p.add_argument("--layers", type=int)
    p.add_argument("--input-size", type=int)
    p.add_argument("--n", type=int, default=250)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--runs", type=int)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--no-compare", action="store_true", help="skip the predictor comparison")
    p.add_argument("--keep", type=Path, help="keep the databases in this directory")
    p.add_argument("--append", action="store_true", help="append the rows to docs/benchmarks.md")
    a = p.parse_args()
    runtimes = [r.strip() for r in a.runtimes.split(",") if r.strip()]
    work = a.keep or Path(tempfile.mkdtemp(prefix="nascost-runtimes-"))
    work.mkdir(parents=True, exist_ok=True)
    first: dict[str, dict[str, float]] = {}
    rows = []
    for rt in runtimes:
        s1 = campaign(work / f"{rt}-1.db", rt, a)
        s2 = campaign(work / f"{rt}-2.db", rt, a)
        v1, v2 = values(work / f"{rt}-1.db"), values(work / f"{rt}-2.db")
        first[rt] = v1
        rep, n = tau(v1, v2)
        preds = {} if a.no_compare else compare(work / f"{rt}-1.db", rt, a)
        rows.append((rt, n, float(np.median(list(v1.values()))), rep, s1["per_hour"], s1["overhead"], preds))
        taus = {k: round(v["kendall_tau"], 3) for k, v in preds.items() if v.get("kendall_tau") is not None}
        print(f"{rt}: {n} archs, median {np.median(list(v1.values())):.4g} ms, repeat tau {rep:.3f}, "
              f"{s1['per_hour']:.0f} arch/h, overhead {s1['overhead']:.2f}, predictor taus {taus}", flush=True)
        del s2
    between = {}
    for x, y in itertools.combinations(runtimes, 2):
        between[(x, y)], _ = tau(first[x], first[y])
        print(f"{x} vs {y}: tau {between[(x, y)]:.3f}")
    setting = f"{a.setting} C={a.channels} L={a.layers} {a.input_size}px" if a.channels else a.setting
    lines = [table_row(rt, setting, n, med, rep, ph, ov, preds) for rt, n, med, rep, ph, ov, preds in rows]
    print("\n" + HEADER + "\n" + "\n".join(lines))
    if a.append:  # rows of the table in "Runtimes (issue 19)"; the date and machine go in its prose
        for line in lines:
            append_section("Runtimes (issue 19)", HEADER, line)
        print(f"appended; the section's prose states the date and machine: {time.strftime('%Y-%m-%d')}, "
              f"{machine_line()}")


HEADER = ("| runtime | setting | n | median ms | repeat tau | arch/h | overhead | LPM tau / Spearman / MAPE "
          "| ridge tau | lut tau (MAPE) | FLOPs tau |")


def table_row(rt: str, setting: str, n: int, med: float, rep: float, per_hour: float, overhead: float,
              preds: dict) -> str:
    """One row of the docs' runtimes table (``-`` for a predictor not compared)."""
    def get(name: str, key: str, fmt: str, unit: str = "") -> str:
        v = preds.get(name, {}).get(key)
        return "-" if v is None else format(v, fmt) + unit

    lpm = f"{get('lpm', 'kendall_tau', '.3f')} / {get('lpm', 'spearman', '.3f')} / {get('lpm', 'mape', '.2f', '%')}"
    lut = f"{get('lut', 'kendall_tau', '.3f')} ({get('lut', 'mape', '.1f', '%')})"
    return (f"| {rt} | {setting} | {n} | {med:.4g} | {rep:.3f} | {per_hour:,.0f} | {overhead:.2f} | {lpm} | "
            f"{get('ridge', 'kendall_tau', '.3f')} | {lut} | {get('flops', 'kendall_tau', '.3f')} |")

if __name__ == "__main__":
    main()
