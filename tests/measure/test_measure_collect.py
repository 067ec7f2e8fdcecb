"""Campaigns: resume, durability under SIGKILL, drift flagging, randomised order."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from nascost import plugins
from nascost.collect import run_campaign, sample_architectures
from nascost.data import CostDatabase
from nascost.errors import NascostError

from .fakes import CostModelMeasurer, ToySpace, UnavailableMeasurer

TESTS = Path(__file__).resolve().parents[1]


def _keys_in_order(db_path: Path) -> list[str]:
    conn = sqlite3.connect(db_path)
    try:
        return [r[0] for r in conn.execute("SELECT arch_key FROM measurements ORDER BY id")]
    finally:
        conn.close()


def test_campaign_measures_n_distinct_architectures_in_random_order(tmp_path: Path) -> None:
    space = ToySpace()
    s = run_campaign(tmp_path / "c.db", space=space, measurer=CostModelMeasurer(), setting="tiny", n=20,
                     seed=7, reference_every=0, progress=False)
    assert s.measured == 20 and s.already_present == 0 and s.group_count == 20
    sampled = [a.key() for a in sample_architectures(space, 20, 7)]
    stored = _keys_in_order(tmp_path / "c.db")
    assert sorted(stored) == sorted(sampled) and len(set(stored)) == 20
    assert stored != sampled  # measurement order is shuffled


def test_rerun_resumes_and_measures_nothing_twice(tmp_path: Path) -> None:
    space = ToySpace()
    kw = dict(space=space, setting="tiny", seed=3, reference_every=4, progress=False)
    first = run_campaign(tmp_path / "c.db", measurer=CostModelMeasurer(), n=10, **kw)
    assert first.measured == 10
    again = run_campaign(tmp_path / "c.db", measurer=CostModelMeasurer(), n=10, **kw)
    assert again.measured == 0 and again.already_present == 10
    more = run_campaign(tmp_path / "c.db", measurer=CostModelMeasurer(), n=16, **kw)
    assert more.measured == 6 and more.already_present == 10 and more.group_count == 16
    with CostDatabase(tmp_path / "c.db") as db:
        assert sorted(db.query(space="toy").keys) == sorted(a.key() for a in sample_architectures(space, 16, 3))


def test_campaign_survives_sigkill_and_resumes(tmp_path: Path) -> None:
    db = tmp_path / "c.db"
    script = textwrap.dedent(
        f"""
        import sys
        sys.path.insert(0, {str(TESTS)!r})
        from measure.fakes import CostModelMeasurer, ToySpace
        from nascost.collect import run_campaign
        run_campaign({str(db)!r}, space=ToySpace(), measurer=CostModelMeasurer(delay_s=0.05),
                     setting="tiny", n=40, seed=11, reference_every=5, progress=False)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        rows = 0
        while time.monotonic() < deadline and proc.poll() is None:
            if db.exists():
                try:
                    rows = len(_keys_in_order(db))
                except sqlite3.Error:
                    rows = 0
                if rows >= 5:
                    break
            time.sleep(0.02)
        assert proc.poll() is None, f"campaign ended before it could be killed: {proc.communicate()}"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()  # waits, and closes the pipes
    assert proc.returncode == -signal.SIGKILL
    before = _keys_in_order(db)
    assert 5 <= len(before) < 40
    with CostDatabase(db) as cdb:  # every committed row is whole
        for row in cdb.rows():
            assert json.loads(row["samples"]) and json.loads(row["arch"])["ops"]
    s = run_campaign(db, space=ToySpace(), measurer=CostModelMeasurer(), setting="tiny", n=40, seed=11,
                     reference_every=5, progress=False)
    after = _keys_in_order(db)
    assert s.already_present == len(before) and s.measured == 40 - len(before)
    assert after[: len(before)] == before and len(set(after)) == 40
    assert sorted(after) == sorted(a.key() for a in sample_architectures(ToySpace(), 40, 11))


def test_drift_is_reported_and_rows_since_the_last_reference_flagged(tmp_path: Path) -> None:
    # Calls: 1 discarded warm-up reference, 2 baseline, archs 1-5, ref, archs 6-10, ref (call 14),
    # then the machine gets 50% slower: archs 11-15, ref (drift), archs 16-20, ref (drift).
    meas = CostModelMeasurer(drift_after=14, drift_factor=1.5)
    s = run_campaign(tmp_path / "c.db", space=ToySpace(), measurer=meas, setting="tiny", n=20, seed=1,
                     reference_every=5, drift_threshold=0.05, progress=False)
    assert [e["after"] for e in s.drift_events] == [15, 20]
    assert all(e["drift"] == pytest.approx(0.5) for e in s.drift_events)
    assert s.flagged == 10
    order = _keys_in_order(tmp_path / "c.db")
    with CostDatabase(tmp_path / "c.db") as db:
        (g,) = db.groups()
        assert g.flagged == 10
        kept = db.query(space="toy")
        assert sorted(kept.keys) == sorted(order[:10])
        assert len(db.query(space="toy", include_flagged=True)) == 20
        assert len(db.references(g)) == 5


def test_small_changes_are_not_drift(tmp_path: Path) -> None:
    meas = CostModelMeasurer(drift_after=8, drift_factor=1.03)
    s = run_campaign(tmp_path / "c.db", space=ToySpace(), measurer=meas, setting="tiny", n=12, seed=1,
                     reference_every=4, drift_threshold=0.05, progress=False)
    assert s.drift_events == [] and s.flagged == 0


def test_bad_campaigns_write_nothing(tmp_path: Path) -> None:
    db = tmp_path / "c.db"
    with pytest.raises(NascostError, match="unavailable"):
        run_campaign(db, space=ToySpace(), measurer=UnavailableMeasurer(), setting="tiny", n=2, progress=False)
    with pytest.raises(NascostError, match="unknown setting"):
        run_campaign(db, space=ToySpace(), measurer=CostModelMeasurer(), setting="huge", n=2, progress=False)
    try:
        import ray  # noqa: F401
    except ImportError:
        with pytest.raises(NascostError, match=r"pip install 'nascost\[ray\]'"):
            run_campaign(db, space=ToySpace(), measurer=CostModelMeasurer(), setting="tiny", n=2,
                         executor="ray", progress=False)
    with pytest.raises(NascostError, match="unknown executor"):
        run_campaign(db, space=ToySpace(), measurer=CostModelMeasurer(), setting="tiny", n=2,
                     executor="dask", progress=False)
    assert not db.exists()


def test_real_cpu_timer_campaign_on_toy_networks(tmp_path: Path) -> None:
    meas = plugins.get_measurer("cpu-timer", {"runs": 3, "warmup": 1, "max_retries": 0})
    s = run_campaign(tmp_path / "c.db", space=ToySpace(), measurer=meas, setting="tiny", n=4, seed=0,
                     reference_every=2, progress=False)
    assert s.measured == 4 and s.measure_s > 0 and s.timed_s > 0 and s.wall_s >= s.measure_s
    with CostDatabase(tmp_path / "c.db") as db:
        data = db.query(space="toy", include_flagged=True)
        assert len(data) == 4 and (data.values > 0).all() and data.device.threads == 1
