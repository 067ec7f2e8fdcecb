"""Repeatability: measure the same architectures in two independent campaigns and compare.

    nice -n 10 .venv/bin/python benchmarks/repeatability.py --setting cifar-small \
        --channels 8 --layers 5 --input-size 16 --n 200 --append

Two campaigns with the same seed (so the same architectures, each in its own
shuffled order) write two databases; the script reports Kendall's tau between
the two sets of medians and the median relative difference |a - b| / a.
Targets (issue 4): tau >= 0.9 and median relative difference <= 3%. These two
figures are also the noise floor predictors are compared with.

Each campaign runs in its own process (``nascost collect``), so the second one
shares no warm caches with the first.

``--cells`` is the DARTS space's ``cells`` option (``--space-opt cells=...``). The
default, ``normal``, is the paper's encoding (the reduction cell fixed to
DARTS_V2's), with which docs/benchmarks.md's figures and the campaigns in data/
were measured, so ``--against`` such a database finds the same architectures;
``both`` also samples the reduction cell, as the space does by default.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from _report import append_section, machine_line
from scipy.stats import kendalltau

from nascost.data import CostDatabase

CELLS_HELP = ("the DARTS encoding's cells (--space-opt cells=...) [normal: the paper's, a fixed reduction cell, "
              "as docs/benchmarks.md's figures and data/ were measured]")


def campaign(db: Path, a: argparse.Namespace) -> None:
    cmd = [str(Path(sys.executable).with_name("nascost"))]
    cmd += ["collect", "--space", "darts", "--space-opt", f"cells={a.cells}", "--measurer", a.measurer,
            "--setting", a.setting, "--n", str(a.n), "--seed", str(a.seed), "--db", str(db),
            "--opt", f"threads={a.threads}"]
    for flag, value in (("--channels", a.channels), ("--layers", a.layers), ("--input-size", a.input_size),
                        ("--runs", a.runs), ("--warmup", a.warmup), ("--passes", a.passes)):
        if value is not None:
            cmd += [flag, str(value)]
    for opt in a.opt:
        cmd += ["--opt", opt]
    subprocess.run(cmd, check=True)


def anchor(db: CostDatabase) -> float:
    (group,) = db.groups()
    return db.references(group)[0][1]


def compare(db1: Path, db2: Path, include_flagged: bool, paired: bool) -> tuple[float, float, int]:
    with CostDatabase(db1) as d1, CostDatabase(db2) as d2:
        x = d1.query(space="darts", include_flagged=include_flagged)
        y = d2.query(space="darts", include_flagged=include_flagged)
        # Paired campaigns scale their ratios by their own anchor (the reference's
        # latency when each campaign started); compare the ratios themselves.
        ax = anchor(d1) if paired else 1.0
        ay = anchor(d2) if paired else 1.0
    vy = dict(zip(y.keys, y.values / ay, strict=True))
    common = [(v / ax, vy[k]) for k, v in zip(x.keys, x.values, strict=True) if k in vy]
    a = np.array([c[0] for c in common])
    b = np.array([c[1] for c in common])
    tau = float(kendalltau(a, b).statistic)
    rel = float(np.median(np.abs(a - b) / a))
    return tau, rel, len(common)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--setting", default="cifar-small")
    p.add_argument("--measurer", default="cpu-timer", help="cpu-timer or cpu-timer-paired")
    p.add_argument("--channels", type=int)
    p.add_argument("--layers", type=int)
    p.add_argument("--input-size", type=int)
    p.add_argument("--runs", type=int, help="timed runs per architecture (default: the measurer's)")
    p.add_argument("--warmup", type=int, help="warm-up runs (default: the measurer's)")
    p.add_argument("--passes", type=int, help="visits per architecture (nascost collect --passes; default 1)")
    p.add_argument("--opt", action="append", default=[], metavar="KEY=VALUE",
                   help="measurer option, as for nascost collect (repeatable), e.g. max_retries=0")
    p.add_argument("--n", type=int, default=200)
    p.add_argument("--seed", type=int, default=2000)
    p.add_argument("--cells", choices=["normal", "both"], default="normal", help=CELLS_HELP)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--keep", type=Path, help="directory to keep the two databases in")
    p.add_argument("--against", type=Path,
                   help="use this database (a campaign of the same seed and setting, n or more rows) as campaign A")
    p.add_argument("--append", action="store_true")
    p.add_argument("--note", default="")
    a = p.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        where = a.keep or Path(tmp)
        where.mkdir(parents=True, exist_ok=True)
        db1, db2 = where / "repeat-a.db", where / "repeat-b.db"
        if a.against:
            # Campaign A is an existing database of the same seed, setting and
            # measurer: the first n architectures of a seed are the same
            # whatever the campaign's size, so B re-measures n of A's.
            db1 = a.against
        else:
            campaign(db1, a)
        campaign(db2, a)
        paired = a.measurer.endswith("-paired")
        tau_all, rel_all, n_all = compare(db1, db2, include_flagged=True, paired=paired)
        tau, rel, n = compare(db1, db2, include_flagged=False, paired=paired)
    label = f"{a.measurer}, {a.setting}(C={a.channels},L={a.layers},{a.input_size})"
    if a.runs or a.warmup or a.opt:
        label += f", runs {a.runs}, warm-up {a.warmup}, {' '.join(a.opt)}"
    if a.passes:
        label += f", {a.passes} passes" + (f" (campaign A: {a.against.name})" if a.against else "")
    if a.cells != "normal":
        label += f", cells={a.cells}"
    print(f"all rows: n {n_all}, Kendall tau {tau_all:.3f}, median relative difference {rel_all:.2%}")
    print(f"without drift-flagged rows: n {n}, Kendall tau {tau:.3f}, median relative difference {rel:.2%}")
    if a.append:
        import datetime as dt

        append_section(
            "Measurement repeatability (two campaigns, same architectures)",
            "| date | machine | setting | n | Kendall tau | median rel. diff | n unflagged | tau unflagged | rel. diff unflagged | note |",
            f"| {dt.date.today()} | {machine_line()} | {label} | {n_all} | {tau_all:.3f} | {rel_all:.2%} | {n} | "
            f"{tau:.3f} | {rel:.2%} | {a.note} |",
        )


if __name__ == "__main__":
    main()
