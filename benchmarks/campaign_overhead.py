"""Campaign overhead and throughput: wall time of a real campaign over its measuring time.

Run by hand (it times things; keep the machine quiet):

    nice -n 10 .venv/bin/python benchmarks/campaign_overhead.py --setting cifar-small \
        --channels 8 --layers 5 --input-size 16 --n 100 --append

Reports, for one campaign of N fresh DARTS architectures with ``cpu-timer``
(defaults: 5 warm-up + 20 timed runs, 1 thread, drift reference every 50):

- overhead = campaign wall time / time inside ``measure()`` (warm-up + timed
  runs + re-measurements): what sampling, building, encoding, storing, drift
  references and the progress bar add. Target <= 1.25.
- overhead_timed = campaign wall time / sum of the kept timed samples (the
  strictest reading: warm-up and re-measurement count as overhead too).
- throughput in architectures per hour (the paper: 100K per 24 h = 4,167/h on
  its E5-1620 CPU at batch 1 and 224x224).

``--append`` adds a dated row to docs/benchmarks.md. ``--cells`` is the DARTS space's
``cells`` option: ``normal`` (default), the paper's encoding with a fixed reduction cell, as
the table's rows were measured; ``both`` samples the reduction cell too (heavier networks on average).

``--estimate DB`` reads an existing paired campaign instead (one that was stopped,
so it printed no summary): wall time from its first to its last row, and the
forward-pass time from each row's raw medians (model and reference, timed and
warm-up runs); it prints the estimated overheads and the throughput.
"""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
from pathlib import Path

from _report import append_section, machine_line

from nascost import plugins
from nascost.collect import run_campaign


def estimate(db_path: Path) -> None:
    """Overhead and throughput of a stopped paired campaign, from its rows (see the module docstring)."""
    import json

    from nascost.data import CostDatabase

    with CostDatabase(db_path) as db:
        rows = sorted(((r["extra"], r["n"], r["measured_at"]) for r in db.rows()), key=lambda r: r[2])
    if not rows:
        raise SystemExit(f"{db_path} holds no measurements")
    timed = warm = 0.0
    for extra, n, _ in rows:
        e = json.loads(extra)
        if "paired" not in e:
            raise SystemExit("--estimate needs a paired campaign (rows with extra.paired raw medians)")
        pair_s = (e["paired"]["model_median_raw"] + e["paired"]["reference_median_raw"]) / 1000.0
        timed += n * pair_s
        warm += e.get("warmup", 0) * pair_s
    first, last = (dt.datetime.fromisoformat(rows[i][2]) for i in (0, -1))
    wall = (last - first).total_seconds()
    print(f"{len(rows)} rows, wall {wall:.0f} s ({first:%H:%M}-{last:%H:%M}), {3600 * len(rows) / wall:.0f} arch/h")
    print(f"estimated forward passes: timed {timed:.0f} s, warm-up {warm:.0f} s")
    print(f"overhead (wall / all forward passes) {wall / (timed + warm):.3f} | (wall / timed) {wall / timed:.3f}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--estimate", type=Path, metavar="DB", help="estimate from a stopped paired campaign instead")
    p.add_argument("--setting", default="cifar-small")
    p.add_argument("--channels", type=int)
    p.add_argument("--layers", type=int)
    p.add_argument("--input-size", type=int)
    p.add_argument("--n", type=int, default=100)
    p.add_argument("--seed", type=int, default=1000)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--runs", type=int, default=20)
    p.add_argument("--reference-every", type=int, default=50)
    p.add_argument("--cells", choices=["normal", "both"], default="normal",
                   help="the DARTS encoding's cells [normal: the paper's, as the documented rows were measured]")
    p.add_argument("--append", action="store_true", help="append the result to docs/benchmarks.md")
    p.add_argument("--note", default="", help="free text for the table (e.g. 'machine shared')")
    a = p.parse_args()
    if a.estimate:
        estimate(a.estimate)
        return

    space = plugins.get_space("darts", {"cells": a.cells})
    setting = space.setting(a.setting, channels=a.channels, layers=a.layers, input_size=a.input_size)
    measurer = plugins.get_measurer("cpu-timer", {"threads": a.threads, "runs": a.runs})
    with tempfile.TemporaryDirectory() as tmp:
        s = run_campaign(Path(tmp) / "bench.db", space=space, measurer=measurer, setting=setting, n=a.n,
                         seed=a.seed, reference_every=a.reference_every, progress=True)
    print(f"setting {setting.label()}, n {s.measured}")
    print(f"wall {s.wall_s:.1f} s | in measure() {s.measure_s:.1f} s | timed samples {s.timed_s:.1f} s | "
          f"references {s.reference_s:.1f} s")
    print(f"overhead (wall / measure) {s.overhead:.3f} | overhead (wall / timed samples) {s.overhead_timed:.3f}")
    print(f"throughput {s.per_hour:.0f} architectures/hour; noisy {s.noisy}; drift events {len(s.drift_events)}")
    if a.append:
        note = a.note if a.cells == "normal" else f"{a.note} (cells={a.cells})".strip()
        append_section(
            "Measurement campaigns: overhead and throughput",
            "| date | machine | setting | n | wall s | overhead (wall/measure) | overhead (wall/timed) | arch/h | noisy | drift events | note |",
            f"| {dt.date.today()} | {machine_line()} | {setting.label()} | {s.measured} | {s.wall_s:.0f} | "
            f"{s.overhead:.3f} | {s.overhead_timed:.3f} | {s.per_hour:.0f} | {s.noisy} | {len(s.drift_events)} | {note} |",
        )


if __name__ == "__main__":
    main()
