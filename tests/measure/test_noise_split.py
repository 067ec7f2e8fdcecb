"""benchmarks/estimators.py's noise split recovers known noise levels from synthetic paired runs."""

from __future__ import annotations

import json
import math
import sqlite3
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import kendalltau

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
estimators = pytest.importorskip("estimators")


def campaign(true_log: np.ndarray, per_measurement: float, per_run: float, runs: int,
             rng: np.random.Generator) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Paired runs whose log ratio is the truth + one offset per measurement + white noise per run."""
    out = {}
    for i, mu in enumerate(true_log):
        offset = rng.normal(0, per_measurement)
        ref = 100 * np.exp(rng.normal(0, 0.1, runs))  # the machine's speed, shared by both
        model = ref * np.exp(mu + offset + rng.normal(0, per_run, runs))
        out[f"a{i}"] = (model, ref)
    return out


@pytest.mark.parametrize("floor", [0.0, 0.012])
def test_noise_split_recovers_the_floor_and_predicts_tau(floor: float) -> None:
    rng = np.random.default_rng(7)
    truth = rng.normal(0, 0.12, 400)
    runs, sigma = 40, 0.08
    a = campaign(truth, floor, sigma, runs, rng)
    b = campaign(truth, floor, sigma, runs, rng)
    keys = sorted(a)
    split = estimators.noise_split(a, b, keys, runs)
    # the median of n normal runs has variance (pi/2) sigma^2 / n
    assert math.sqrt(split["per_run"]) == pytest.approx(sigma * math.sqrt(math.pi / 2), rel=0.2)
    assert math.sqrt(split["per_measurement"]) == pytest.approx(floor, abs=0.005)
    lo, hi = estimators.floor_interval(a, b, keys, runs, draws=10)
    assert lo <= hi and lo - 0.002 <= floor <= hi + 0.002
    assert math.sqrt(split["spread"]) == pytest.approx(0.12, rel=0.1)
    x = np.array([np.median(a[k][0] / a[k][1]) for k in keys])
    y = np.array([np.median(b[k][0] / b[k][1]) for k in keys])
    assert estimators.predicted_tau(split, runs) == pytest.approx(kendalltau(x, y).statistic, abs=0.03)
    # more runs can only help, down to the floor
    assert estimators.predicted_tau(split, 4 * runs) > estimators.predicted_tau(split, runs)
    if floor:
        assert estimators.predicted_tau(split, math.inf) < 0.99


def test_two_visits_forecast_and_read_back_from_a_campaign_of_passes(tmp_path: Path) -> None:
    rng = np.random.default_rng(11)
    truth = rng.normal(0, 0.12, 300)
    runs, floor = 20, 0.015
    # visits average the per-measurement part down; without one, visits and runs are the same thing
    split = {"per_run": 0.08**2, "per_measurement": floor**2, "spread": 0.12**2}
    assert estimators.predicted_tau(split, runs // 2, visits=2) > estimators.predicted_tau(split, runs)
    no_floor = dict(split, per_measurement=0.0)
    assert estimators.predicted_tau(no_floor, runs // 2, 2) == pytest.approx(estimators.predicted_tau(no_floor, runs))
    # a campaign of two passes, stored as nascost pools them: raw times concatenated, one summary per visit
    v1, v2 = campaign(truth, floor, 0.08, runs, rng), campaign(truth, floor, 0.08, runs, rng)
    db = tmp_path / "passes.db"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE measurements (arch_key TEXT, extra TEXT)")
    for k in v1:
        paired = {"model_samples": [*v1[k][0], *v2[k][0]], "reference_samples": [*v1[k][1], *v2[k][1]]}
        conn.execute("INSERT INTO measurements VALUES (?, ?)",
                     (k, json.dumps({"paired": paired, "visits": [{"n": runs}, {"n": runs}]})))
    conn.commit()
    conn.close()
    visits = estimators.visit_runs(db)
    assert sorted(visits) == sorted(v1)
    assert all(np.array_equal(visits[k][1][0], v2[k][0]) for k in v1)
    keys = sorted(visits)
    got = estimators.noise_split({k: visits[k][0] for k in keys}, {k: visits[k][1] for k in keys}, keys, runs)
    assert math.sqrt(got["per_measurement"]) == pytest.approx(floor, abs=0.006)
    assert estimators.report_visits(db, draws=5)  # the script's one-campaign report runs on it
