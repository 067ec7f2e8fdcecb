"""Paired timing: each run timed against a reference network, so machine-speed changes cancel."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch
from torch import nn

from nascost import plugins
from nascost.collect import reference_architecture, run_campaign
from nascost.data import CostDatabase
from nascost.errors import NascostError

from .fakes import DriftingMachineTimer, ToySpace


def _net(c: int) -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, c, 3, bias=False))  # 27 * c parameters


# The machine's speed steps between 1x and 3x, pair by pair and within pairs.
SLOWNESS = [1.0, 1.0, 3.0, 3.0, 1.0, 3.0, 2.0, 2.0]


def test_unpaired_timing_sees_the_machine_and_paired_timing_does_not() -> None:
    x = torch.randn(1, 3, 8, 8)
    plain = DriftingMachineTimer(SLOWNESS, paired=False, warmup=0, runs=8, max_retries=0)
    m = plain.measure(_net(4), x)
    assert max(m.samples) / min(m.samples) == pytest.approx(3.0)

    paired = DriftingMachineTimer([1.0, 1.0], warmup=0, runs=8, max_retries=0)
    ref_m = paired.set_reference(_net(2), x)  # measured at 1x: anchor = 54 ms
    assert ref_m is not None and ref_m.median == pytest.approx(54.0)
    paired.slowness, paired.calls = [1.0, 1.0, 3.0, 3.0, 2.0, 2.0], 0  # each model/reference pair at one speed
    m = paired.measure(_net(4), x)
    # 108 / 54 * 54: the model's latency at the anchor's speed, in every run.
    assert m.samples == pytest.approx([108.0] * 8)
    assert m.cv == pytest.approx(0.0, abs=1e-12) and not m.noisy
    info = m.extra["paired"]
    assert info["anchor"] == pytest.approx(54.0) and info["reference"] == "reference"
    assert info["model_median_raw"] > 108.0  # the raw timings did see the slow phases
    # the raw times behind each ratio, in run order: 108 ms at 1x, then 3x, 2x, 1x, ...
    assert len(info["model_samples"]) == len(info["reference_samples"]) == 8
    ratios = [t / r * 54.0 for t, r in zip(info["model_samples"], info["reference_samples"], strict=True)]
    assert ratios == pytest.approx(m.samples)
    assert max(info["model_samples"]) / min(info["model_samples"]) == pytest.approx(3.0)


def test_alternating_order_and_a_given_anchor() -> None:
    x = torch.randn(1, 3, 8, 8)
    paired = DriftingMachineTimer([1.0, 2.0], warmup=0, runs=4, max_retries=0)
    assert paired.set_reference(_net(2), x, anchor=10.0, label="r") is None  # no measurement taken
    m = paired.measure(_net(4), x)
    # Speed alternates 1x, 2x per forward pass. The pair order alternates too
    # (model first, then reference first), so an order effect lands on half the
    # runs in each direction (truth: 108 / 54 * 10 = 20) instead of biasing all.
    assert sorted(m.samples) == pytest.approx([10.0, 10.0, 40.0, 40.0])
    assert m.median == pytest.approx(25.0)
    assert paired.reference_label == "r"


def test_paired_measurer_without_reference_says_how_to_use_it() -> None:
    meas = plugins.get_measurer("cpu-timer-paired")
    with pytest.raises(NascostError, match="reference network and none is set"):
        meas.measure(_net(2), torch.randn(1, 3, 8, 8))
    with pytest.raises(NascostError, match="positive"):
        meas.set_reference(_net(2), torch.randn(1, 3, 8, 8), anchor=0.0)


def test_paired_campaign_stores_its_anchor_and_keeps_it_when_resumed(tmp_path: Path) -> None:
    db = tmp_path / "p.db"
    opts = {"runs": 3, "warmup": 1, "max_retries": 0}
    space = ToySpace()
    s1 = run_campaign(db, space=space, measurer=plugins.get_measurer("cpu-timer-paired", opts),
                      setting="tiny", n=3, seed=1, progress=False)
    s2 = run_campaign(db, space=space, measurer=plugins.get_measurer("cpu-timer-paired", opts),
                      setting="tiny", n=6, seed=1, progress=False)
    assert (s1.measured, s2.measured, s2.already_present) == (3, 3, 3)
    assert s1.drift_events == [] and s1.flagged == 0  # no periodic references: every run is referenced
    with CostDatabase(db) as d:
        (group,) = d.groups()
        assert group.measurer == "cpu-timer-paired" and group.count == 6
        refs = d.references(group)
        assert len(refs) == 1  # the anchor, measured once, when the group started
        extras = [json.loads(row["extra"])["paired"] for row in d.rows(group)]
        assert [e["anchor"] for e in extras] == pytest.approx([refs[0][1]] * 6)
        labels = {e["reference"] for e in extras}
        assert labels == {f"toy:{reference_architecture(space).key()} in {space.setting('tiny').label()}, batch 1"}


def test_paired_measurer_refuses_ray(tmp_path: Path) -> None:
    with pytest.raises(NascostError, match="--executor local"):
        run_campaign(tmp_path / "r.db", space=ToySpace(), measurer=plugins.get_measurer("cpu-timer-paired"),
                     setting="tiny", n=2, executor="ray", progress=False)
    assert not (tmp_path / "r.db").exists()


def test_export_import_keeps_the_anchor_and_a_resumed_campaign_uses_it(tmp_path: Path) -> None:
    from nascost.data import export_database, import_csv

    opts = {"runs": 3, "warmup": 1, "max_retries": 0}
    space = ToySpace()
    run_campaign(tmp_path / "a.db", space=space, measurer=plugins.get_measurer("cpu-timer-paired", opts),
                 setting="tiny", n=3, seed=4, progress=False)
    export_database(tmp_path / "a.db", tmp_path / "a.csv.gz", samples=False)
    assert import_csv(tmp_path / "a.csv.gz", tmp_path / "b.db") == (3, 0)
    with CostDatabase(tmp_path / "a.db") as a, CostDatabase(tmp_path / "b.db") as b:
        anchor = a.references(a.groups()[0])[0][1]
        (group,) = b.groups()
        assert b.references(group) == []  # references are not exported ...
        assert b.paired_anchor(group) == pytest.approx(anchor)  # ... but every row's extra is
    run_campaign(tmp_path / "b.db", space=space, measurer=plugins.get_measurer("cpu-timer-paired", opts),
                 setting="tiny", n=5, seed=4, progress=False)
    with CostDatabase(tmp_path / "b.db") as b:
        extras = [json.loads(r["extra"])["paired"]["anchor"] for r in b.rows()]
        resumed = [r["campaign"] for r in b.rows()][-1]
    assert extras == pytest.approx([anchor] * 5)
    # one campaign's rows alone; without samples, the raw per-run times go too (the anchor stays)
    for samples in (True, False):
        assert export_database(tmp_path / "b.db", tmp_path / "c.csv", campaign=resumed, samples=samples) == 2
        with open(tmp_path / "c.csv", newline="") as f:
            paired = [json.loads(r["extra"])["paired"] for r in csv.DictReader(f)]
        assert all(p["anchor"] == pytest.approx(anchor) for p in paired)
        assert all(("model_samples" in p and len(p["reference_samples"]) == 3) == samples for p in paired)
    with pytest.raises(NascostError, match="no rows of campaign 'nope'"):
        export_database(tmp_path / "b.db", tmp_path / "d.csv", campaign="nope")
    assert not (tmp_path / "d.csv").exists()


def test_a_predictor_fitted_on_paired_rows_carries_their_anchor(tmp_path: Path) -> None:
    from nascost.collect import ensure_reference, measure_one
    from nascost.fit import fit_from_database

    opts = {"runs": 3, "warmup": 1, "max_retries": 0}
    space = ToySpace()
    run_campaign(tmp_path / "p.db", space=space, measurer=plugins.get_measurer("cpu-timer-paired", opts),
                 setting="tiny", n=12, seed=2, progress=False)
    with CostDatabase(tmp_path / "p.db") as d:
        anchor = d.references(d.groups()[0])[0][1]
    _pred, meta = fit_from_database(tmp_path / "p.db", space=space, predictor="ridge")
    assert meta.reference_latency == pytest.approx(anchor)
    # measuring for comparison with that predictor puts the samples on its scale
    meas = plugins.get_measurer("cpu-timer-paired", opts)
    setting = space.setting("tiny")
    ensure_reference(space, meas, setting, 1, anchor=meta.reference_latency)
    m, _ = measure_one(space, meas, space.sample(0), setting, 1)
    assert m.extra["paired"]["anchor"] == pytest.approx(anchor)
    # unpaired data has none
    run_campaign(tmp_path / "u.db", space=space, measurer=plugins.get_measurer("cpu-timer", opts),
                 setting="tiny", n=6, seed=2, reference_every=0, progress=False)
    assert fit_from_database(tmp_path / "u.db", space=space, predictor="ridge")[1].reference_latency is None


def test_gzip_exports_are_byte_identical_for_the_same_rows(tmp_path: Path) -> None:
    from nascost.data import export_database

    run_campaign(tmp_path / "a.db", space=ToySpace(), measurer=plugins.get_measurer("cpu-timer-paired",
                 {"runs": 2, "warmup": 0, "max_retries": 0}), setting="tiny", n=2, seed=0, progress=False)
    export_database(tmp_path / "a.db", tmp_path / "1.csv.gz", samples=False)
    export_database(tmp_path / "a.db", tmp_path / "2.csv.gz", samples=False)
    assert (tmp_path / "1.csv.gz").read_bytes() == (tmp_path / "2.csv.gz").read_bytes()
    assert not list(tmp_path.glob(".*.tmp"))  # no temporary files left behind


def test_a_paired_lookup_table_is_put_on_the_data_s_scale(tmp_path: Path) -> None:
    from nascost.fit import _rescale, build_predictor, load_data

    opts = {"runs": 2, "warmup": 0, "max_retries": 0}
    space = ToySpace()
    run_campaign(tmp_path / "p.db", space=space, measurer=plugins.get_measurer("cpu-timer-paired", opts),
                 setting="tiny", n=4, seed=0, progress=False)
    data = load_data(tmp_path / "p.db", space="toy")
    _lut, meta = build_predictor(space=space, predictor="lut", setting=space.setting("tiny"),
                                 measurer=plugins.get_measurer("cpu-timer-paired", opts), batch_size=1)
    assert meta.reference_latency and meta.measurer == "cpu-timer-paired"
    assert _rescale(data, meta) == pytest.approx(data.reference_latency / meta.reference_latency)
    assert _rescale(data, meta.model_copy(update={"reference_latency": None})) == 1.0
