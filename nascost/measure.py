"""Cost measurers: run a built network on a device and return a Measurement.

A measurer knows nothing of search spaces: it gets a ``torch.nn.Module`` and an
example input. ``available()`` says whether it can run here and, if not, why.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

import torch
from torch import nn

from nascost.base import Plugin
from nascost.errors import UnavailableError
from nascost.records import DeviceInfo, Measurement


class CostMeasurer(Plugin, ABC):
    """Measures one cost (latency, MACs, energy) of a network on one device."""

    #: Unit of the measured value: "ms", "MACs", "mJ", ...
    unit: ClassVar[str] = ""
    #: Batch size used when the caller does not choose one.
    default_batch_size: ClassVar[int] = 1

    @classmethod
    def kind_label(cls) -> str:
        return "cost measurer"

    @abstractmethod
    def available(self) -> tuple[bool, str]:
        """``(True, "")`` if it can measure here, else ``(False, reason)``."""

    def require_available(self) -> None:
        ok, why = self.available()
        if not ok:
            raise UnavailableError(f"measurer {self.name!r} is unavailable here: {why}")

    @abstractmethod
    def device_info(self) -> DeviceInfo:
        """The fingerprint of the device this measurer measures on."""

    @abstractmethod
    def measure(self, model: nn.Module, example_input: torch.Tensor) -> Measurement:
        """Measure ``model`` (random weights, eval mode) on ``example_input``."""
