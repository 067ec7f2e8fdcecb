"""nascost built-in plugin: baseline cost predictors.

``flops`` and ``lut`` are built from the space (see :mod:`.context`);
``ridge``, ``xgboost``, ``gbrt`` and ``random-forest`` are fitted on
encodings (see :mod:`.regressors`).
"""

from __future__ import annotations

from typing import Any

from nascost.hookspecs import hookimpl
from nascost_baselines.context import FlopsPredictor, LookupTable, one_op_neighbours
from nascost_baselines.regressors import GradientBoosting, RandomForest, Ridge, XGBoost

__all__ = [
    "FlopsPredictor",
    "GradientBoosting",
    "LookupTable",
    "RandomForest",
    "Ridge",
    "XGBoost",
    "one_op_neighbours",
]


@hookimpl
def register_cost_predictors(register: Any) -> None:
    for cls in (FlopsPredictor, LookupTable, Ridge, XGBoost, GradientBoosting, RandomForest):
        register(cls)
