"""Where a predictor's error on a precise test campaign comes from (log scale).

    .venv/bin/python benchmarks/residuals.py imagenet-q.db --test-campaign 20261128T074243-6600da \
        --label-noise 0.0109

Fits a predictor (default ridge) on every row outside the test campaign and
prints, in natural-log units: the spread of the test labels (their standard
deviation), the standard deviation of the test and training residuals, a rough
estimation error sqrt(D / n) * training residual (D: input width, n:
training rows), and, given the test labels' own noise (``--label-noise``, e.g.
from ``benchmarks/estimators.py``: one measurement's noise is the sd of the
log difference over sqrt(2), scaled by sqrt(runs / test runs)), what remains
for the model's misfit. Kendall tau needs the whole test residual small
against the spread: for a Gaussian model, tau 0.92 needs residual / spread
below sqrt(1 - sin(0.92 pi / 2) ** 2) = 0.125.

``--repeat B.db`` (a second campaign that re-measured some of the test
architectures, e.g. ``benchmarks/repeatability.py --against``) also scores the
predictor against B's labels and against the geometric mean of both
measurements (twice the runs, so about 1/sqrt(2) of the label noise), next to
the agreement of the two measurements themselves (the noise floor).
Without ``--label-noise``, their disagreement gives the label noise.
``--train-size N`` fits on N training rows (a seeded draw) instead of all;
``--opt KEY=VALUE`` sets a predictor option (e.g. ``target_scaling=log``).
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
import torch

from nascost import plugins
from nascost.data import CostDatabase
from nascost.fit import _held_out_keys, encode, load_data
from nascost.predict import regression_metrics


def anchor(db: Path) -> float:
    """The latency paired ratios were scaled by in ``db`` (kept in its rows, so also after an import)."""
    with CostDatabase(db) as d:
        (group,) = d.groups()
        value = d.paired_anchor(group)
    if value is None:
        raise SystemExit(f"{db}: not a paired-timing database (no anchor)")
    return float(value)


def scores(pred: np.ndarray, labels: np.ndarray) -> str:
    m = regression_metrics(labels, pred)
    return f"tau {m['kendall_tau']:.3f}, MAPE {m['mape']:.2f}%"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("db", type=Path)
    p.add_argument("--test-campaign", required=True)
    p.add_argument("--space", default="darts")
    p.add_argument("--predictor", default="ridge")
    p.add_argument("--label-noise", type=float, help="sd of one test label's log noise")
    p.add_argument("--repeat", type=Path, help="a database that re-measured test architectures")
    p.add_argument("--train-size", type=int, help="fit on this many training rows (default: all)")
    p.add_argument("--seed", type=int, default=0, help="order of the training rows (as compare's --seed)")
    p.add_argument("--opt", action="append", default=[], metavar="KEY=VALUE", help="predictor option (repeatable)")
    a = p.parse_args()
    with CostDatabase(a.db) as d:  # the space options its rows were collected with (a database fixes the encoding)
        space = plugins.get_space(a.space, d.space_options(a.space))
    data = load_data(a.db, space=space.name)
    held = load_data(a.db, space=space.name, campaign=a.test_campaign).keys
    # The rows and order `nascost compare --test-campaign --seed` trains on, so figures match.
    train, test = _held_out_keys(data, held, a.seed)
    if a.train_size is not None:
        if not 0 < a.train_size <= len(train):
            p.error(f"--train-size must be in 1..{len(train)}")
        train = train[: a.train_size]
    x, y = encode(space, data), data.values
    model = plugins.get_predictor(a.predictor, dict(o.split("=", 1) for o in a.opt))
    model.fit(x[train], torch.as_tensor(y[train]), space=space)
    with torch.no_grad():
        pred = model.predict(x).detach().cpu().numpy().astype(np.float64)
    spread = float(np.std(np.log(y[test])))
    r_test = float(np.std(np.log(pred[test] / y[test])))
    r_train = float(np.std(np.log(pred[train] / y[train])))
    # coefficients to estimate: one per input the model sees (8 operation counts with inputs=op-counts)
    width = x.shape[1] if model.input_map is None else model.input_map.shape[1]
    estimation = math.sqrt(width / len(train)) * r_train
    print(f"{a.predictor}: {len(train)} training rows, {len(test)} test rows, input width {width}")
    print(f"test label spread (sd of log) {spread:.4f}")
    print(f"residual sd (log): test {r_test:.4f}, training {r_train:.4f}; ratio test / spread {r_test / spread:.3f}")
    print(f"estimation error ~ sqrt(D/n) * training residual = {estimation:.4f}")
    label_noise = a.label_noise
    if a.repeat is not None:
        again = load_data(a.repeat, space=space.name)
        scale = anchor(a.db) / anchor(a.repeat)  # B's ratios on A's scale
        b_of = dict(zip(again.keys, np.asarray(again.values, dtype=np.float64) * scale, strict=True))
        rows = np.array([i for i in test if data.keys[i] in b_of])
        if len(rows) == 0:
            p.error(f"{a.repeat} re-measured none of the test campaign's architectures")
        first = y[rows].astype(np.float64)
        second = np.array([b_of[data.keys[i]] for i in rows])
        both = np.sqrt(first * second)
        # Each measurement's own noise: the two differ by two independent errors.
        measured_noise = float(np.std(np.log(first / second))) / math.sqrt(2)
        label_noise = measured_noise if label_noise is None else label_noise
        print(f"{len(rows)} test architectures measured twice (B scaled by {scale:.4f}):")
        print(f"  A against B (noise floor): {scores(first, second)}; one measurement's noise "
              f"sd(log(A/B)) / sqrt(2) = {measured_noise:.4f}")
        print(f"  {a.predictor} against A: {scores(pred[rows], first)}")
        print(f"  {a.predictor} against B: {scores(pred[rows], second)}")
        print(f"  {a.predictor} against the geometric mean of A and B: {scores(pred[rows], both)}")
    if label_noise is not None:
        rest = r_test**2 - label_noise**2 - estimation**2
        print(f"misfit ~ sqrt(test^2 - label noise^2 - estimation^2) = {math.sqrt(max(rest, 0.0)):.4f} "
              f"(label noise {label_noise:.4f})")
        # Gaussian model: tau = 2/pi * asin(correlation); the true latencies spread
        # by sqrt(spread^2 - noise^2), the labels add the noise.
        true_spread = math.sqrt(max(spread**2 - label_noise**2, 0.0))
        ceiling = 2 / math.pi * math.asin(true_spread / spread)
        print(f"a perfect predictor would score about tau {ceiling:.3f} against these labels")
        if a.repeat is not None:  # the mean of two measurements halves the noise variance
            mean_noise = label_noise / math.sqrt(2)
            ceiling = 2 / math.pi * math.asin(true_spread / math.sqrt(true_spread**2 + mean_noise**2))
            print(f"... and about tau {ceiling:.3f} against the geometric mean of A and B")

if __name__ == "__main__":
    main()
