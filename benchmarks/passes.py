"""Campaign passes: do P visits of R/P runs repeat better than one visit of R runs?

    .venv/bin/python benchmarks/passes.py --setting cifar-small --channels 8 --layers 5 \
        --input-size 16 --n 200 --seed 2026 --runs 20 --passes 2 --keep runs/passes --append

Four paired campaigns over the same architectures, interleaved so both arms see
the same hours of the machine: one pass of R runs (A), P passes of R/P runs (A),
then both again (B). Each arm's repeatability is Kendall tau and median relative
difference between its A and B; the same total number of timed runs per
architecture goes into both arms. The P-pass campaigns also report how much
their own visits disagree (``nascost data info``'s between-visit figure).
"""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
from pathlib import Path

from _report import append_section, machine_line
from repeatability import CELLS_HELP, campaign, compare

from nascost.data import database_info


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--setting", default="cifar-small")
    p.add_argument("--measurer", default="cpu-timer-paired")
    p.add_argument("--channels", type=int)
    p.add_argument("--layers", type=int)
    p.add_argument("--input-size", type=int)
    p.add_argument("--runs", type=int, default=20, help="timed runs per architecture in total, in each arm")
    p.add_argument("--passes", type=int, default=2, help="visits per architecture of the second arm")
    p.add_argument("--warmup", type=int)
    p.add_argument("--opt", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--n", type=int, default=200)
    p.add_argument("--seed", type=int, default=2026)
    p.add_argument("--cells", choices=["normal", "both"], default="normal", help=CELLS_HELP)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--keep", type=Path, help="directory to keep the four databases in")
    p.add_argument("--append", action="store_true")
    p.add_argument("--note", default="")
    a = p.parse_args()
    if a.passes < 2 or a.runs % a.passes:
        raise SystemExit("--passes must be at least 2 and divide --runs")

    arms = {
        f"1x{a.runs}": argparse.Namespace(**{**vars(a), "passes": None}),
        f"{a.passes}x{a.runs // a.passes}": argparse.Namespace(**{**vars(a), "runs": a.runs // a.passes}),
    }
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        where = a.keep or Path(tmp)
        where.mkdir(parents=True, exist_ok=True)
        for copy in ("a", "b"):
            for name, args in arms.items():
                campaign(where / f"{name}-{copy}.db", args)
        for name in arms:
            tau, rel, n = compare(where / f"{name}-a.db", where / f"{name}-b.db", include_flagged=True,
                                  paired=a.measurer.endswith("-paired"))
            visits = [database_info(where / f"{name}-{c}.db")["groups"][0]["noise"]["visits"] for c in "ab"]
            between = [v["between_visits"] for v in visits if v["between_visits"] is not None]
            results[name] = (tau, rel, n, between)
            within = f"; visits within a campaign differ by {', '.join(f'{b:.2%}' for b in between)}" if between else ""
            print(f"{name} (visits x runs): n {n}, Kendall tau {tau:.3f}, median relative difference {rel:.2%}{within}")
    if a.append:
        label = f"{a.measurer}, {a.setting}(C={a.channels},L={a.layers},{a.input_size}), seed {a.seed}"
        if a.cells != "normal":
            label += f", cells={a.cells}"
        for name, (tau, rel, n, between) in results.items():
            append_section(
                "Campaign passes: visits x runs at the same total",
                "| date | machine | setting | visits x runs | n | Kendall tau (A vs B) | median rel. diff | "
                "visit 1 vs 2 within a campaign | note |",
                f"| {dt.date.today()} | {machine_line()} | {label} | {name} | {n} | {tau:.3f} | {rel:.2%} | "
                f"{', '.join(f'{b:.2%}' for b in between) or '-'} | {a.note} |",
            )


if __name__ == "__main__":
    main()
