"""Which statistic of paired timings repeats best? Evaluated on two finished campaigns.

    .venv/bin/python benchmarks/repeatability.py --measurer cpu-timer-paired --setting imagenet \
        --n 60 --seed 77 --runs 20 --warmup 2 --opt max_retries=0 --keep runs/est
    .venv/bin/python benchmarks/estimators.py runs/est/repeat-a.db runs/est/repeat-b.db --append
    .venv/bin/python benchmarks/estimators.py runs/passes.db      # one campaign of 2+ passes

A paired campaign keeps, per row, the raw model and reference times of every
run (``extra.paired.model_samples`` / ``reference_samples``). This script
recomputes each row's value with several statistics, in both campaigns, and
reports how well the two campaigns agree under each (Kendall tau, median
relative difference): the statistic with the higher agreement is the one with
less noise. It also reports the agreement of the median of per-run ratios over
the first k runs only, which shows how the noise falls with the number of runs.
Each campaign's values are divided by their median first, so the anchors (one
unpaired measurement each) do not enter.

Finally it splits the noise in two (``noise_split``): a per-run part, which
falls as 1/runs, measured by how the first and second half of the *same*
measurement disagree; and a per-measurement part that more runs cannot remove
(the machine's state during that architecture's few seconds, the model's
memory layout), measured by how much more two campaigns disagree than two
halves of one. From both and the spread of the architectures it predicts the
Kendall tau of two campaigns at other run counts (normal approximation,
tau = 2/pi * arcsin(rho)), which is what to read before paying for a campaign.

A campaign of two or more passes (``nascost collect --passes P``) holds two
visits of every architecture, so the same split comes out of that one
database: halves of one visit against the two visits (``visit_runs``). Its
per-visit part is what visits average down. At ``imagenet`` on the development
VM it matched the floor between two campaigns once each pass rebuilt the
paired reference network too (sd 0.0090 against 0.0075; with the reference
shared, 0.0026): docs/benchmarks.md, "Campaign passes".
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sqlite3
from collections.abc import Callable
from pathlib import Path

import numpy as np
from _report import append_section, machine_line
from scipy.stats import kendalltau, trim_mean

Runs = tuple[np.ndarray, np.ndarray]  # (model times, reference times), in run order


def raw_runs(db: Path) -> dict[str, Runs]:
    """Per architecture key, the raw per-run times of a paired campaign."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        out = {}
        for key, extra in conn.execute("SELECT arch_key, extra FROM measurements"):
            paired = json.loads(extra).get("paired") or {}
            if "model_samples" not in paired:
                raise SystemExit(f"{db}: rows without raw per-run times (collected before they were kept)")
            out[key] = (np.asarray(paired["model_samples"]), np.asarray(paired["reference_samples"]))
        return out
    finally:
        conn.close()


def visit_runs(db: Path) -> dict[str, list[Runs]]:
    """Per architecture key, the raw per-run times of each visit (a campaign of passes)."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        out = {}
        for key, extra_json in conn.execute("SELECT arch_key, extra FROM measurements"):
            extra = json.loads(extra_json)
            paired, visits = extra.get("paired") or {}, extra.get("visits") or []
            if "model_samples" not in paired or len(visits) < 2:
                continue
            m, r = np.asarray(paired["model_samples"]), np.asarray(paired["reference_samples"])
            ends = np.cumsum([v["n"] for v in visits])
            out[key] = [(m[e - v["n"]:e], r[e - v["n"]:e]) for v, e in zip(visits, ends, strict=True)]
        return out
    finally:
        conn.close()


def neighbour_ratios(m: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Each model time over the mean of the reference times just before and after it.

    The measurer alternates the order (even runs: model then reference; odd:
    reference then model), so the time line is M0 R0 R1 M1 M2 R2 R3 M3 ...
    """
    line: list[tuple[bool, float]] = []
    for i, (t, ref) in enumerate(zip(m, r, strict=True)):
        line += [(True, t), (False, ref)] if i % 2 == 0 else [(False, ref), (True, t)]
    refs = [j for j, (is_model, _) in enumerate(line) if not is_model]
    out = []
    for j, (is_model, t) in enumerate(line):
        if is_model:
            near = [line[k][1] for k in (max((k for k in refs if k < j), default=None),
                                         min((k for k in refs if k > j), default=None)) if k is not None]
            out.append(t / np.mean(near))
    return np.asarray(out)


STATISTICS: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "median of per-run ratios (nascost)": lambda m, r: float(np.median(m / r)),
    "mean of per-run ratios": lambda m, r: float(np.mean(m / r)),
    "25%-trimmed mean of per-run ratios": lambda m, r: float(trim_mean(m / r, 0.25)),
    "geometric mean of per-run ratios": lambda m, r: float(np.exp(np.mean(np.log(m / r)))),
    "median of neighbour ratios": lambda m, r: float(np.median(neighbour_ratios(m, r))),
    "sum(model) / sum(reference)": lambda m, r: float(m.sum() / r.sum()),
    "median(model) / median(reference)": lambda m, r: float(np.median(m) / np.median(r)),
    "min(model) / min(reference)": lambda m, r: float(m.min() / r.min()),
    "q25(model) / q25(reference)": lambda m, r: float(np.quantile(m, 0.25) / np.quantile(r, 0.25)),
    "median(model), unpaired": lambda m, r: float(np.median(m)),
    "min(model), unpaired": lambda m, r: float(m.min()),
}


def values(a: dict[str, Runs], b: dict[str, Runs], keys: list[str],
           stat: Callable[[np.ndarray, np.ndarray], float]) -> tuple[np.ndarray, np.ndarray]:
    x = np.array([stat(*a[k]) for k in keys])
    y = np.array([stat(*b[k]) for k in keys])
    return x / np.median(x), y / np.median(y)


def agreement(a: dict[str, Runs], b: dict[str, Runs], keys: list[str],
              stat: Callable[[np.ndarray, np.ndarray], float]) -> tuple[float, float]:
    x, y = values(a, b, keys, stat)
    return float(kendalltau(x, y).statistic), float(np.median(np.abs(x - y) / x))


def _log_sd(x: np.ndarray, y: np.ndarray) -> float:
    d = np.log(x) - np.log(y)
    return float(np.std(d - d.mean()))


def noise_split(a: dict[str, Runs], b: dict[str, Runs], keys: list[str], runs: int) -> dict[str, float]:
    """Variance of log latency, per run (``per_run``: one run's share, divided by the run count in
    a measurement) and per measurement (``per_measurement``: independent of the run count), and
    the spread of the architectures' true log latencies (``spread``, a variance).

    Halves of one measurement differ by 2 * per_run / (runs/2); the two campaigns' first halves by
    that plus 2 * per_measurement. Medians of halves, so both are estimated the same way.
    """
    half = runs // 2

    def med(x: Runs, s: slice) -> float:
        return float(np.median(x[0][s] / x[1][s]))

    within = [
        _log_sd(np.array([med(c[k], slice(0, half)) for k in keys]),
                np.array([med(c[k], slice(half, 2 * half)) for k in keys])) ** 2
        for c in (a, b)
    ]
    var_halves = float(np.mean(within))
    var_between = _log_sd(np.array([med(a[k], slice(0, half)) for k in keys]),
                          np.array([med(b[k], slice(0, half)) for k in keys])) ** 2
    per_run = var_halves * half / 2
    per_measurement = max((var_between - var_halves) / 2, 0.0)
    full = np.array([med(a[k], slice(0, runs)) for k in keys])
    spread = float(np.var(np.log(full))) - per_run / runs - per_measurement
    return {"per_run": per_run, "per_measurement": per_measurement, "spread": spread}


def floor_interval(a: dict[str, Runs], b: dict[str, Runs], keys: list[str], runs: int,
                   draws: int = 500, seed: int = 0) -> tuple[float, float]:
    """90% bootstrap interval (architectures resampled) of the per-measurement sd: the floor is a
    difference of two noisy variances, so say how well it is known."""
    gen = np.random.default_rng(seed)
    keys_arr = np.asarray(keys)
    sds = [np.sqrt(noise_split(a, b, list(gen.choice(keys_arr, len(keys))), runs)["per_measurement"])
           for _ in range(draws)]
    return float(np.percentile(sds, 5)), float(np.percentile(sds, 95))


def predicted_tau(split: dict[str, float], runs: float, visits: int = 1) -> float:
    """Kendall tau between two campaigns of ``visits`` visits of ``runs`` runs each per architecture
    (bivariate normal approximation; visits assumed to draw the per-measurement part afresh)."""
    noise = (split["per_run"] / runs + split["per_measurement"]) / visits
    rho = split["spread"] / (split["spread"] + noise)
    return float(2 / np.pi * np.arcsin(rho))


def forecast_line(split: dict[str, float]) -> str:
    """The forecast tau at the usual run counts, one line."""
    return ", ".join(f"{r} runs {predicted_tau(split, r):.3f}" for r in (20, 40, 60, 100, 200)) + (
        f", unlimited runs {predicted_tau(split, np.inf):.3f}")


def report_visits(db: Path, draws: int = 500) -> bool:
    """The noise split of one campaign from its first two visits; False when it has no visits."""
    visits = visit_runs(db)
    if len(visits) < 10:
        return False
    keys = sorted(visits)
    runs = min(len(v[0]) for k in keys for v in visits[k][:2])
    first = {k: visits[k][0] for k in keys}
    second = {k: visits[k][1] for k in keys}
    split = noise_split(first, second, keys, runs)
    x = np.array([np.median(first[k][0] / first[k][1]) for k in keys])
    y = np.array([np.median(second[k][0] / second[k][1]) for k in keys])
    print(f"{db}: {len(keys)} architectures with two visits of {runs} runs; visit 1 vs visit 2: "
          f"tau {kendalltau(x, y).statistic:.3f}, median rel. diff {np.median(np.abs(x - y) / x):.2%}, "
          f"sd log difference {np.std(np.log(x / y)):.4f}")
    lo, hi = floor_interval(first, second, keys, runs, draws)
    print(f"  noise of log latency: per run {np.sqrt(split['per_run']):.4f} (/sqrt(runs)), per visit "
          f"{np.sqrt(split['per_measurement']):.4f} (90% interval {lo:.4f}-{hi:.4f}); "
          f"spread {np.sqrt(max(split['spread'], 0)):.4f}")
    for total in (50, 100, 200):
        line = ", ".join(f"{v}x{total // v} {predicted_tau(split, total // v, v):.3f}" for v in (1, 2, 4))
        print(f"  forecast tau of two such campaigns at {total} runs per architecture (visits x runs): {line}")
    return True


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("db_a", type=Path)
    p.add_argument("db_b", type=Path, nargs="?",
                   help="a second campaign of the same architectures (omit: one campaign of 2+ passes)")
    p.add_argument("--append", action="store_true", help="add the results to docs/benchmarks.md")
    p.add_argument("--note", default="")
    p.add_argument("--spread", type=float, default=None, metavar="SD",
                   help="also forecast tau for architectures whose log latencies spread this much (sd, "
                        "as measured: noise included)")
    p.add_argument("--spread-runs", type=int, default=None, metavar="R",
                   help="the runs per architecture --spread was measured with (default: these campaigns')")
    args = p.parse_args()
    with_visits = [report_visits(db) for db in (args.db_a, args.db_b) if db is not None]
    if args.db_b is None:
        if not with_visits[0]:
            raise SystemExit(f"{args.db_a}: fewer than 10 rows with two visits of paired timing; give a second campaign to compare with")
        return
    a, b = raw_runs(args.db_a), raw_runs(args.db_b)
    keys = sorted(set(a) & set(b))
    if len(keys) < 10:
        raise SystemExit(f"only {len(keys)} architectures in both campaigns; need at least 10")
    runs = min(len(a[k][0]) for k in keys)
    rows = [(name, *agreement(a, b, keys, stat)) for name, stat in STATISTICS.items()]
    for name, tau, rel in rows:
        print(f"{name:38s} tau {tau:.3f}  median rel. diff {rel:.2%}")
    curve = []
    for k in sorted({*range(4, runs + 1, 4), runs}):
        first_k = lambda m, r, k=k: float(np.median((m / r)[:k]))  # noqa: E731
        tau, rel = agreement(a, b, keys, first_k)
        x, y = values(a, b, keys, first_k)
        curve.append((k, tau, rel))
        # sd of the log difference: sqrt(2) times one measurement's noise; spread: sd of log latency
        print(f"first {k:3d} runs: tau {tau:.3f}  median rel. diff {rel:.2%}  "
              f"sd log difference {np.std(np.log(x / y)):.4f}  spread {np.std(np.log(x)):.4f}")
    # Halves of a pooled row are its visits: with visits, the split printed first is the one to read.
    if not any(with_visits):
        split = noise_split(a, b, keys, runs)
        lo, hi = floor_interval(a, b, keys, runs)
        print(f"noise of log latency: per run {np.sqrt(split['per_run']):.4f} (/sqrt(runs)), per measurement "
              f"{np.sqrt(split['per_measurement']):.4f} (a floor; 90% interval {lo:.4f}-{hi:.4f}); "
              f"spread of the architectures "
              f"{np.sqrt(max(split['spread'], 0)):.4f}")
        print(f"predicted Kendall tau between two campaigns: {forecast_line(split)}")
        if args.spread:
            # the spread given is observed: take out the noise of its own run count
            spread_runs = args.spread_runs or runs
            other = dict(split, spread=args.spread**2 - split["per_run"] / spread_runs - split["per_measurement"])
            print(f"forecast for a spread of {args.spread}: {forecast_line(other)}")
    if args.append:
        today, machine = dt.date.today(), machine_line()
        title = "Paired timing: which statistic repeats best"
        header = "| date | machine | n archs | runs | statistic | Kendall tau | median rel. diff | note |"
        for name, tau, rel in rows:
            append_section(title, header,
                           f"| {today} | {machine} | {len(keys)} | {runs} | {name} | {tau:.3f} | {rel:.2%} | {args.note} |")
        for k, tau, rel in curve:
            append_section(title, header, f"| {today} | {machine} | {len(keys)} | {k} | median of per-run ratios, "
                           f"first {k} runs | {tau:.3f} | {rel:.2%} | {args.note} |")


if __name__ == "__main__":
    main()
