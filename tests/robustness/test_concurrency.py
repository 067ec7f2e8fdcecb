"""Probes: two processes creating one new cost database at once (item 7)."""

from __future__ import annotations

import multiprocessing as mp
from pathlib import Path

import pytest


def _open(path: str, barrier, results) -> None:
    from nascost.collect import open_for_campaign
    from nascost.errors import NascostError

    barrier.wait()
    try:
        with open_for_campaign(path, "toy") as db:
            results.put(("ok", db.space))
    except NascostError as exc:
        results.put(("error", str(exc)))


@pytest.mark.skipif("fork" not in mp.get_all_start_methods(), reason="needs fork")
def test_two_processes_creating_one_database_both_succeed(tmp_path: Path) -> None:
    ctx = mp.get_context("fork")
    outcomes = []
    for i in range(12):
        path = str(tmp_path / f"race-{i}.db")
        barrier, results = ctx.Barrier(2), ctx.Queue()
        procs = [ctx.Process(target=_open, args=(path, barrier, results)) for _ in range(2)]
        for p in procs:
            p.start()
        for p in procs:
            p.join(60)
        outcomes += [results.get(timeout=10) for _ in procs]
    assert outcomes == [("ok", "toy")] * 24, [o for o in outcomes if o[0] != "ok"][:3]


def test_a_duplicate_row_names_a_concurrent_writer(cost_db: Path) -> None:
    import json

    from nascost.data import CostDatabase
    from nascost.errors import NascostError
    from nascost.records import Architecture, Measurement

    with CostDatabase(cost_db) as db:
        row = next(db.rows())
        group = db.groups()[0]
        arch = Architecture(space="toy", spec=json.loads(row["arch"]))
        m = Measurement.from_samples([1.0, 1.0], unit=group.unit, device=group.device, batch_size=group.batch_size)
        with pytest.raises(NascostError, match="another process writing"):
            db.add(arch, json.loads(row["encoding"]), m, measurer=group.measurer, setting=group.setting)
