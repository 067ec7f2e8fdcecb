"""benchmarks/estimators.py's noise split recovers known noise levels from synthetic paired runs."""

from __future__ import annotations

import math
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
    assert math.sqrt(split["spread"]) == pytest.approx(0.12, rel=0.1)
    x = np.array([np.median(a[k][0] / a[k][1]) for k in keys])
    y = np.array([np.median(b[k][0] / b[k][1]) for k in keys])
    assert estimators.predicted_tau(split, runs) == pytest.approx(kendalltau(x, y).statistic, abs=0.03)
    # more runs can only help, down to the floor
    assert estimators.predicted_tau(split, 4 * runs) > estimators.predicted_tau(split, runs)
    if floor:
        assert estimators.predicted_tau(split, math.inf) < 0.99
