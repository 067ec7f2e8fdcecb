"""The repository's real campaign (data/): it loads, and real latencies are learnable from its encodings."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.stats import kendalltau

from nascost import plugins
from nascost.data import CostDatabase, import_csv
from nascost.errors import NascostError

PAPER = {"cells": "normal"}
EXPORT = Path(__file__).resolve().parents[2] / "data" / "darts-cpu-paired-c8l5s16.csv.gz"


@pytest.fixture(scope="module")
def real_db(tmp_path_factory) -> Path:
    db = tmp_path_factory.mktemp("real") / "costs.db"
    # measured before the default encoding covered both cells: the paper's normal-cell encoding
    assert import_csv(EXPORT, db, space_options=PAPER) == (5000, 0)
    return db


def test_the_export_is_one_paired_group_of_5000_distinct_architectures(real_db: Path) -> None:
    with CostDatabase(real_db) as db:
        (group,) = db.groups()
        assert (group.space, group.measurer, group.batch_size, group.count) == ("darts", "cpu-timer-paired", 1, 5000)
        assert (group.setting.channels, group.setting.layers, group.setting.input_size) == (8, 5, 16)
        assert group.device.fingerprint == "56859120da97" and group.device.threads == 1
        data = db.query(space="darts")
    assert len(set(data.keys)) == 5000
    assert data.space_options == {"cells": "normal", "sample_reduce": None}  # recorded at import
    assert data.reference_latency == pytest.approx(15.3675315)
    # the stored encodings are the space's encodings of the stored architectures
    space = plugins.get_space("darts", PAPER)
    assert np.array_equal(space.encode(data.archs[:50]).numpy(), data.encodings[:50])
    assert all(a.spec["reduce"] == space.presets()["DARTS_V2"].spec["reduce"] for a in data.archs)


def test_a_linear_model_on_1000_real_latencies_ranks_held_out_ones(real_db: Path) -> None:
    with CostDatabase(real_db) as db:
        data = db.query(space="darts")
    x = torch.as_tensor(data.encodings)
    y = torch.as_tensor(data.values)
    ridge = plugins.get_predictor("ridge").fit(x[:1000], y[:1000])
    pred = ridge.predict(x[4000:]).numpy()
    true = y[4000:].numpy()
    assert kendalltau(pred, true).statistic > 0.8
    assert np.median(np.abs(pred - true) / true) < 0.05


IMAGENET = EXPORT.with_name("darts-cpu-paired-imagenet.csv.gz")


def test_the_imagenet_export_is_learnable_too(tmp_path: Path) -> None:
    db = tmp_path / "imagenet.db"
    assert import_csv(IMAGENET, db, space_options=PAPER) == (1653, 0)
    with CostDatabase(db) as handle:
        (group,) = handle.groups()
        assert (group.setting.name, group.setting.channels, group.setting.layers) == ("imagenet", 48, 14)
        assert group.setting.input_size == 224 and group.batch_size == 1 and group.measurer == "cpu-timer-paired"
        data = handle.query(space="darts")
    x, y = torch.as_tensor(data.encodings), torch.as_tensor(data.values)
    ridge = plugins.get_predictor("ridge").fit(x[:1200], y[:1200])
    pred = ridge.predict(x[1200:]).numpy()
    true = y[1200:].numpy()
    # noisier than the small setting (10 paired runs per architecture, measured beside other work)
    assert kendalltau(pred, true).statistic > 0.5
    assert np.median(np.abs(pred - true) / true) < 0.05


def test_an_export_of_the_papers_encoding_needs_its_space_option(tmp_path: Path) -> None:
    with pytest.raises(NascostError, match=r"112 values.*encodes an architecture in 224.*--space-opt"):
        import_csv(EXPORT, tmp_path / "x.db")
    assert not (tmp_path / "x.db").exists()  # nothing half-written
