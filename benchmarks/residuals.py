"""Where a predictor's error on a precise test campaign comes from (log scale).

    .venv/bin/python benchmarks/residuals.py imagenet-q.db --test-campaign 20261128T074243-6600da \
        --label-noise 0.0109

Fits a predictor (default ridge) on every row outside the test campaign and
prints, in natural-log units: the spread of the test labels (their standard
deviation), the standard deviation of the test and training residuals, a rough
estimation error sqrt(D / n) * training residual (D: encoding width, n:
training rows), and, given the test labels' own noise (``--label-noise``, e.g.
from ``benchmarks/estimators.py``: one measurement's noise is the sd of the
log difference over sqrt(2), scaled by sqrt(runs / test runs)), what remains
for the model's misfit. Kendall tau needs the whole test residual small
against the spread: for a Gaussian model, tau 0.92 needs residual / spread
below sqrt(1 - sin(0.92 pi / 2) ** 2) = 0.125.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
import torch

from nascost import plugins
from nascost.fit import _space, encode, load_data


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("db", type=Path)
    p.add_argument("--test-campaign", required=True)
    p.add_argument("--space", default="darts")
    p.add_argument("--predictor", default="ridge")
    p.add_argument("--label-noise", type=float, help="sd of one test label's log noise")
    a = p.parse_args()
    space = _space(a.space)
    data = load_data(a.db, space=space.name)
    held = set(load_data(a.db, space=space.name, campaign=a.test_campaign).keys)
    test = np.array([i for i, k in enumerate(data.keys) if k in held])
    train = np.array([i for i, k in enumerate(data.keys) if k not in held])
    x, y = encode(space, data), data.values
    model = plugins.get_predictor(a.predictor, {})
    model.fit(x[train], torch.as_tensor(y[train]))
    with torch.no_grad():
        pred = model.predict(x).detach().cpu().numpy().astype(np.float64)
    spread = float(np.std(np.log(y[test])))
    r_test = float(np.std(np.log(pred[test] / y[test])))
    r_train = float(np.std(np.log(pred[train] / y[train])))
    estimation = math.sqrt(x.shape[1] / len(train)) * r_train
    print(f"{a.predictor}: {len(train)} training rows, {len(test)} test rows, encoding width {x.shape[1]}")
    print(f"test label spread (sd of log) {spread:.4f}")
    print(f"residual sd (log): test {r_test:.4f}, training {r_train:.4f}; ratio test / spread {r_test / spread:.3f}")
    print(f"estimation error ~ sqrt(D/n) * training residual = {estimation:.4f}")
    if a.label_noise is not None:
        rest = r_test**2 - a.label_noise**2 - estimation**2
        print(f"misfit ~ sqrt(test^2 - label noise^2 - estimation^2) = {math.sqrt(max(rest, 0.0)):.4f}")


if __name__ == "__main__":
    main()
