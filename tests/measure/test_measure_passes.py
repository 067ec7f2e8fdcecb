"""Campaign passes: every architecture visited several times, the visits pooled in one row."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from nascost import plugins
from nascost.collect import run_campaign, sample_architectures
from nascost.data import CostDatabase, database_info
from nascost.errors import NascostError
from nascost.measure import CostMeasurer
from nascost.records import DeviceInfo, Measurement, pool_visits, visit_summary

from .fakes import FAKE_DEVICE, ToyPlugin, ToySpace

TESTS = Path(__file__).resolve().parents[1]


class VisitMeasurer(CostMeasurer):
    """Each architecture's k-th visit reads ``base * (1 + step * k)`` (k = 0, 1, ...), three samples.

    The base is the parameter count; the visit number is counted per network
    structure (``repr``), so the pooled rows can be checked exactly.
    """

    name = "visits"
    unit = "ms"

    def __init__(self, options: Any = None, step: float = 0.1, delay_s: float = 0.0) -> None:
        super().__init__(options)
        self.step, self.delay_s = step, delay_s
        self.seen: Counter[str] = Counter()
        self.order: list[str] = []

    def available(self) -> tuple[bool, str]:
        return True, ""

    def device_info(self) -> DeviceInfo:
        return FAKE_DEVICE

    def measure(self, model: nn.Module, example_input: torch.Tensor) -> Measurement:
        if self.delay_s:
            time.sleep(self.delay_s)
        key = repr(model)
        k = self.seen[key]
        self.seen[key] += 1
        self.order.append(key)
        base = 1.0 + sum(p.numel() for p in model.parameters())
        return Measurement.from_samples([base * (1 + self.step * k)] * 3, unit=self.unit,
                                        device=self.device_info(), batch_size=int(example_input.shape[0]))


def _m(samples: list[float], **kw: Any) -> Measurement:
    return Measurement.from_samples(samples, unit="ms", device=FAKE_DEVICE, batch_size=1, **kw)


def _visits(db_path: Path) -> dict[str, list[dict[str, Any]]]:
    with CostDatabase(db_path) as db:
        return {r["arch_key"]: json.loads(r["extra"]).get("visits", [None]) for r in db.rows()}


def test_pooling_keeps_every_sample_and_one_summary_per_visit() -> None:
    first, second = _m([10.0, 11.0, 12.0]), _m([14.0, 15.0, 16.0], noisy=True, attempts=3)
    pooled = pool_visits(first, second, previous_visit=visit_summary(first, campaign="a"),
                         new_visit=visit_summary(second, campaign="b"))
    assert pooled.samples == [10.0, 11.0, 12.0, 14.0, 15.0, 16.0] and pooled.n == 6
    assert pooled.median == pytest.approx(13.0) and pooled.attempts == 4
    assert [v["median"] for v in pooled.extra["visits"]] == [11.0, 15.0]
    assert [v["campaign"] for v in pooled.extra["visits"]] == ["a", "b"]
    assert pooled.noisy  # no threshold given: any noisy visit makes the row noisy
    # With the measurer's threshold the pooled samples decide: IQR/median = 3.5/13
    assert not pool_visits(first, second, previous_visit={}, new_visit={}, noisy_threshold=0.3).noisy
    assert pool_visits(first, second, previous_visit={}, new_visit={}, noisy_threshold=0.2).noisy
    third = pool_visits(pooled, _m([13.0]), previous_visit={}, new_visit=visit_summary(_m([13.0])))
    assert len(third.extra["visits"]) == 3 and third.n == 7  # a pooled row's own visit list is kept


def test_pooling_refuses_visits_that_do_not_belong_together() -> None:
    a = _m([1.0], extra={"paired": {"anchor": 2.0, "model_samples": [1.0], "reference_samples": [2.0]}})
    b = _m([1.2], extra={"paired": {"anchor": 3.0, "model_samples": [1.2], "reference_samples": [2.0]}})
    with pytest.raises(ValueError, match="anchors"):
        pool_visits(a, b, previous_visit={}, new_visit={})
    kept = pool_visits(a, b.model_copy(update={"extra": {"paired": {**b.extra["paired"], "anchor": 2.0}}}),
                       previous_visit={}, new_visit={})
    assert kept.extra["paired"]["model_samples"] == [1.0, 1.2]
    assert kept.extra["paired"]["model_median_raw"] == pytest.approx(1.1)
    stripped = a.model_copy(update={"extra": {"paired": {"anchor": 2.0}}})  # imported without raw times
    assert "model_samples" not in pool_visits(stripped, kept, previous_visit={}, new_visit={}).extra["paired"]
    with pytest.raises(ValueError, match="paired visit with an unpaired"):
        pool_visits(a, _m([1.0]), previous_visit={}, new_visit={})
    other = Measurement.from_samples([1.0], unit="ms", device=DeviceInfo(runtime="cpu", cpu_model="other"))
    with pytest.raises(ValueError, match="different devices"):
        pool_visits(_m([1.0]), other, previous_visit={}, new_visit={})
    with pytest.raises(ValueError, match="'ms' and 'mJ'"):
        pool_visits(_m([1.0]), Measurement.from_samples([1.0], unit="mJ", device=FAKE_DEVICE),
                    previous_visit={}, new_visit={})


def test_two_passes_visit_every_architecture_twice_in_new_orders(tmp_path: Path) -> None:
    space, meas = ToySpace(), VisitMeasurer(step=0.1)
    s = run_campaign(tmp_path / "c.db", space=space, measurer=meas, setting="tiny", n=12, seed=5,
                     reference_every=0, passes=2, progress=False)
    assert (s.measured, s.group_count, s.already_present, s.passes) == (24, 12, 0, 2)
    first, second = meas.order[:12], meas.order[12:]
    assert sorted(first) == sorted(second) and first != second  # each pass in its own order
    visits = _visits(tmp_path / "c.db")
    with CostDatabase(tmp_path / "c.db") as db:
        for row in db.rows():
            v = visits[row["arch_key"]]
            assert len(v) == 2 and v[1]["median"] == pytest.approx(1.1 * v[0]["median"])
            assert row["n"] == 6 and json.loads(row["samples"]) == [v[0]["median"]] * 3 + [v[1]["median"]] * 3
    assert sorted(visits) == sorted(a.key() for a in sample_architectures(space, 12, 5))


def test_more_passes_later_and_nothing_twice(tmp_path: Path) -> None:
    kw = dict(space=ToySpace(), setting="tiny", n=8, seed=2, reference_every=0, progress=False)
    one = run_campaign(tmp_path / "c.db", measurer=VisitMeasurer(), **kw)
    assert one.measured == 8 and all(v == [None] for v in _visits(tmp_path / "c.db").values())
    two = run_campaign(tmp_path / "c.db", measurer=VisitMeasurer(), passes=2, **kw)
    assert (two.measured, two.already_present) == (8, 0)  # only the second visits
    again = run_campaign(tmp_path / "c.db", measurer=VisitMeasurer(), passes=2, **kw)
    assert (again.measured, again.already_present) == (0, 8)
    three = run_campaign(tmp_path / "c.db", measurer=VisitMeasurer(), passes=3, **kw)
    assert three.measured == 8 and {len(v) for v in _visits(tmp_path / "c.db").values()} == {3}
    campaigns = [[v["campaign"] for v in vs] for vs in _visits(tmp_path / "c.db").values()]
    assert all(c == [one.campaign, two.campaign, three.campaign] for c in campaigns)


def test_a_multi_pass_campaign_survives_sigkill_in_its_second_pass(tmp_path: Path) -> None:
    db = tmp_path / "c.db"
    script = textwrap.dedent(
        f"""
        import sys
        sys.path.insert(0, {str(TESTS)!r})
        from measure.test_measure_passes import VisitMeasurer
        from measure.fakes import ToySpace
        from nascost.collect import run_campaign
        run_campaign({str(db)!r}, space=ToySpace(), measurer=VisitMeasurer(delay_s=0.05), setting="tiny",
                     n=20, seed=4, reference_every=0, passes=2, progress=False)
        """
    )

    def second_visits() -> int:
        try:
            conn = sqlite3.connect(db)
            try:
                return conn.execute("SELECT COUNT(*) FROM measurements WHERE extra LIKE '%\"visits\"%'").fetchone()[0]
            finally:
                conn.close()
        except sqlite3.Error:
            return 0

    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            if db.exists() and second_visits() >= 3:
                break
            time.sleep(0.02)
        assert proc.poll() is None, f"campaign ended before it could be killed: {proc.communicate()}"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()  # waits, and closes the pipes
    before = _visits(db)
    done_twice = sum(1 for v in before.values() if v != [None])
    assert len(before) == 20 and 3 <= done_twice < 20
    with CostDatabase(db) as cdb:  # every committed row is whole: samples match its visits
        for row in cdb.rows():
            assert row["n"] == 3 * (1 if before[row["arch_key"]] == [None] else 2)
    s = run_campaign(db, space=ToySpace(), measurer=VisitMeasurer(), setting="tiny", n=20, seed=4,
                     reference_every=0, passes=2, progress=False)
    assert s.measured == 20 - done_twice and s.already_present == done_twice
    assert {len(v) for v in _visits(db).values()} == {2}


def test_paired_timing_pools_raw_times_on_one_anchor(tmp_path: Path) -> None:
    opts = {"runs": 4, "warmup": 1, "max_retries": 0}
    meas = plugins.get_measurer("cpu-timer-paired", opts)
    references = []
    original = meas.set_reference

    def spy(model, example_input, **kw):
        references.append((model, kw.get("anchor")))
        return original(model, example_input, **kw)

    meas.set_reference = spy
    run_campaign(tmp_path / "p.db", space=ToySpace(), measurer=meas, setting="tiny", n=3, seed=1, passes=2,
                 progress=False)
    # the anchor measured (after one discarded measurement), then a new reference network for pass 2
    assert [a is None for _, a in references] == [True, True, False]
    assert references[2][1] == pytest.approx(meas.reference_anchor) and references[2][0] is not references[1][0]
    with CostDatabase(tmp_path / "p.db") as db:
        (group,) = db.groups()
        (anchor,) = [m for _, m in db.references(group)]  # the anchor was measured once
        for row in db.rows(group):
            extra = json.loads(row["extra"])
            paired = extra["paired"]
            assert paired["anchor"] == pytest.approx(anchor) and len(extra["visits"]) == 2
            assert len(paired["model_samples"]) == len(paired["reference_samples"]) == 8 == row["n"]
            ratios = [m / r * anchor for m, r in zip(paired["model_samples"], paired["reference_samples"],
                                                     strict=True)]
            assert json.loads(row["samples"]) == pytest.approx(ratios)


def test_info_reports_visits_and_how_much_they_disagree(tmp_path: Path) -> None:
    run_campaign(tmp_path / "c.db", space=ToySpace(), measurer=VisitMeasurer(step=0.1), setting="tiny", n=6,
                 seed=3, reference_every=0, passes=2, progress=False)
    (g,) = database_info(tmp_path / "c.db")["groups"]
    visits = g["noise"]["visits"]
    assert (visits["min"], visits["max"], visits["rows_with_two"]) == (2, 2, 6)
    assert visits["between_visits"] == pytest.approx(0.1 / 1.05)  # |1 - 1.1| / mean(1, 1.1)
    assert g["noise"]["remeasured"] == 0  # two visits are not a re-measurement


def test_passes_errors(tmp_path: Path) -> None:
    with pytest.raises(NascostError, match="--passes must be at least 1"):
        run_campaign(tmp_path / "c.db", space=ToySpace(), measurer=VisitMeasurer(), setting="tiny", n=2,
                     passes=0, progress=False)
    with pytest.raises(NascostError, match="--passes needs --executor local"):
        run_campaign(tmp_path / "c.db", space=ToySpace(), measurer=VisitMeasurer(), setting="tiny", n=2,
                     passes=2, executor="ray", progress=False)
    assert not (tmp_path / "c.db").exists()
    with CostDatabase(tmp_path / "d.db", create=True) as db, pytest.raises(NascostError, match="no first visit"):
        arch = ToySpace().sample(np.random.default_rng(0))
        db.add_visit(arch, _m([1.0]), measurer="visits", setting=ToySpace().setting("tiny"))


def test_cli_collect_passes(register_plugin, run_cli, tmp_path: Path) -> None:
    register_plugin(ToyPlugin, "toy-passes-tests")
    db = tmp_path / "c.db"
    code, out, err = run_cli("collect", "--space", "toy", "--measurer", "costmodel", "--setting", "tiny",
                             "--n", "5", "--db", str(db), "--reference-every", "0", "--passes", "2")
    assert code == 0, err
    assert "pass 2/2" in err and "10/10" in err  # one progress bar over both passes
    assert "10 visits measured (2 passes), 0 already" in out and "visits/h" in out
    code, out, err = run_cli("data", "info", str(db))
    assert code == 0 and "visits per row 2-2; first two visits differ by 0" in out, err
    code, _, err = run_cli("collect", "--space", "toy", "--measurer", "costmodel", "--setting", "tiny",
                           "--n", "5", "--db", str(tmp_path / "x.db"), "--passes", "0")
    assert code == 2 and "--passes" in err and not (tmp_path / "x.db").exists()


def test_visits_survive_export_and_import_and_a_later_pass_adds_to_them(tmp_path: Path) -> None:
    from nascost.data import export_database, import_csv

    kw = dict(space=ToySpace(), setting="tiny", n=5, seed=8, reference_every=0, progress=False)
    run_campaign(tmp_path / "a.db", measurer=VisitMeasurer(), passes=2, **kw)
    export_database(tmp_path / "a.db", tmp_path / "a.csv")
    import_csv(tmp_path / "a.csv", tmp_path / "b.db")
    assert {len(v) for v in _visits(tmp_path / "b.db").values()} == {2}
    s = run_campaign(tmp_path / "b.db", measurer=VisitMeasurer(), passes=3, **kw)
    assert s.measured == 5 and {len(v) for v in _visits(tmp_path / "b.db").values()} == {3}
