"""The repository's real campaign (data/): it loads, and real latencies are learnable from its encodings."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.stats import kendalltau

from nascost import plugins
from nascost.data import CostDatabase, import_csv

EXPORT = Path(__file__).resolve().parents[2] / "data" / "darts-cpu-paired-c8l5s16.csv.gz"


@pytest.fixture(scope="module")
def real_db(tmp_path_factory) -> Path:
    db = tmp_path_factory.mktemp("real") / "costs.db"
    assert import_csv(EXPORT, db) == (5000, 0)
    return db


def test_the_export_is_one_paired_group_of_5000_distinct_architectures(real_db: Path) -> None:
    with CostDatabase(real_db) as db:
        (group,) = db.groups()
        assert (group.space, group.measurer, group.batch_size, group.count) == ("darts", "cpu-timer-paired", 1, 5000)
        assert (group.setting.channels, group.setting.layers, group.setting.input_size) == (8, 5, 16)
        assert group.device.fingerprint == "56859120da97" and group.device.threads == 1
        data = db.query(space="darts")
    assert len(set(data.keys)) == 5000
    assert data.reference_latency == pytest.approx(15.3675315)
    # the stored encodings are the space's encodings of the stored architectures
    space = plugins.get_space("darts")
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
