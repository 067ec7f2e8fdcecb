"""Cost predictors: map architecture encodings to a cost.

``differentiable`` predictors are autograd-friendly in their input encoding,
so the search can add ``lambda * E[cost]`` to its loss and backpropagate.
Predictor files never execute code when loaded (no pickle).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar

import torch

from nascost.base import Plugin


class CostPredictor(Plugin, ABC):
    """Predicts a cost from ``[N, D]`` encodings."""

    #: True if ``predict`` is differentiable with respect to its input.
    differentiable: ClassVar[bool] = False
    #: True if the predictor is fitted on (encoding, cost) data; False for
    #: predictors built otherwise (a lookup table measured in context, FLOPs).
    requires_fit: ClassVar[bool] = True
    #: True if the predicted cost is a sum over encoding bits (exact expectation possible).
    additive: ClassVar[bool] = False

    @classmethod
    def kind_label(cls) -> str:
        return "cost predictor"

    @abstractmethod
    def fit(self, x: torch.Tensor, y: torch.Tensor, **kwargs: Any) -> CostPredictor:
        """Fit on encodings ``x`` ``[N, D]`` and costs ``y`` ``[N]``; return self."""

    @abstractmethod
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """``[N]`` predicted costs for ``[N, D]`` encodings."""

    @abstractmethod
    def save(self, path: Path, metadata: dict[str, Any] | None = None) -> Path:
        """Write weights and metadata to one code-free file."""

    @classmethod
    @abstractmethod
    def load(cls, path: Path) -> CostPredictor:
        """Read a file written by :meth:`save`, never executing code from it."""
