"""A new device from ten measurements, end to end (docs/benchmarks.md, issue 18).

From a device plugin's install to a transferred cost and a latency-aware search on it, with
the time of each step and the number of measurements on the new device. The new device is
the example plugin's board (``examples/nascost-example-board``: one thread, channels-last);
the source is this machine's 5,000-row paired CPU campaign in the repository
(``data/darts-cpu-paired-c8l5s16.csv.gz``, DARTS cells at C=8, 5 cells, 16x16). With
``--check N`` it also measures N random cells on the board (measurements the user would not
make) to say how well the transferred cost ranks them.

Usage (a fresh directory is used for everything; the plugin is pip-installed into it and put
on ``PYTHONPATH``, so the current environment is left as it was)::

    .venv/bin/python benchmarks/transfer_e2e.py [--rows 10] [--check 100] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SETTING = ["--setting", "cifar-small", "--channels", "8", "--layers", "5", "--input-size", "16"]
#: The source campaign was measured with the paper's normal-cell encoding; the board's rows, the
#: search and the check use it too (a transfer needs one encoding, a cost refuses other options).
PAPER = ["--space-opt", "cells=normal"]


def run(step: str, args: list[str], env: dict[str, str], log: list[dict]) -> str:
    t0 = time.perf_counter()
    out = subprocess.run(args, env=env, capture_output=True, text=True, cwd=env["WORK"])
    secs = time.perf_counter() - t0
    if out.returncode != 0:
        sys.exit(f"{step} failed ({out.returncode}): {out.stderr.strip()[-800:]}")
    log.append({"step": step, "seconds": round(secs, 1), "command": " ".join(a if " " not in a else repr(a) for a in args)})
    print(f"# {step}: {secs:.1f} s", file=sys.stderr, flush=True)
    return out.stdout


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=10)
    ap.add_argument("--check", type=int, default=0, help="measure this many random cells on the board to score the cost")
    ap.add_argument("--keep", help="work in this directory (default: a temporary one)")
    args = ap.parse_args()
    work = Path(args.keep or tempfile.mkdtemp(prefix="nascost-e2e-"))
    work.mkdir(parents=True, exist_ok=True)
    site = work / "site"  # the plugin goes here (on PYTHONPATH), so this environment stays as it was
    env = {**os.environ, "NASCOST_HOME": str(work / "home"), "WORK": str(work), "PYTHONPATH": str(site)}
    nascost = [sys.executable, "-m", "nascost"]
    log: list[dict] = []
    t_all = time.perf_counter()
    run("install the device plugin", [sys.executable, "-m", "pip", "install", "-q", "--no-deps",
                                      "--no-build-isolation", "--target", str(site),
                                      str(ROOT / "examples" / "nascost-example-board")], env, log)
    run("import the source campaign", [*nascost, "data", "import", str(ROOT / "data" / "darts-cpu-paired-c8l5s16.csv.gz"),
                                       *PAPER, "--db", "src.db"], env, log)
    run(f"measure {args.rows} planned cells on the board",
        [*nascost, "collect", "--plan", "transfer", "--transfer-from", "src.db", "--n", str(args.rows),
         "--space", "darts", *PAPER, "--measurer", "example-board", *SETTING, "--db", "board.db", "--quiet"], env, log)
    fit = run("fit the transferred cost", [*nascost, "fit", "--db", "board.db", "--transfer-from", "src.db",
                                           "--as-cost", "board-transfer", "--json"], env, log)
    report = json.loads(fit).get("transfer", {})
    run("search with it (pcdarts on digits, 4 epochs)",
        [*nascost, "search", "--space", "pcdarts", *PAPER, "--dataset", "digits", "--cost", "board-transfer",
         "--cost-scale", "paper", "--lambda", "0.2", "--channels", "8", "--layers", "5", "--epochs", "4",
         "--arch-frozen-epochs", "1", "--batch-size", "64", "--threads", "1", "--out", "runs/board", "--quiet"], env, log)
    summary = json.loads((work / "runs" / "board" / "summary.json").read_text())
    total = time.perf_counter() - t_all
    check = None
    if args.check:
        run(f"check: measure {args.check} random cells on the board",
            [*nascost, "collect", "--space", "darts", *PAPER, "--measurer", "example-board", *SETTING, "--n", str(args.check),
             "--seed", "77", "--db", "check.db", "--quiet"], env, log)
        code = ("import json,sys,torch; from scipy import stats; from nascost import plugins; "
                "from nascost.fit import load_data, fit_predictor; from nascost.cost import load_cost; "
                "sp=plugins.get_space('darts', {'cells': 'normal'}); d=load_data('check.db', space='darts'); "
                "p,_=load_cost('board-transfer', space=sp); x=sp.encode(d.archs); "
                "t=stats.spearmanr(p.predict(x).detach().numpy(), d.values).statistic; "
                "print(json.dumps({'transfer_spearman': float(t), 'rows': len(d)}))")
        check = json.loads(run("score the transferred cost on them", [sys.executable, "-c", code], env, log))
    measure_final = (summary.get("measured_cost") or {}).get("board-transfer", {})
    print("\n| step | seconds |\n|---|---|")
    for row in log:
        print(f"| {row['step']} | {row['seconds']} |")
    print(f"\nmeasurements on the new device: {args.rows} (plus 1 of the derived cell); wall {total:.0f} s "
          f"from install to the searched cell")
    print(f"fit: leave-one-out {report.get('leave_one_out')}, closest source {report.get('closest_source')}, "
          f"warnings {report.get('warnings')}")
    print(f"derived cell: predicted {summary['predicted_cost']['board-transfer']['value']:.4g} ms, measured "
          f"{measure_final.get('value', float('nan')):.4g} ms on the board")
    if check:
        print(f"check: Spearman {check['transfer_spearman']:.3f} of the transferred cost on {check['rows']} random cells")
    (work / "e2e.json").write_text(json.dumps({"steps": log, "total_s": total, "fit": report, "check": check,
                                               "summary": summary}, indent=1))


if __name__ == "__main__":
    main()
