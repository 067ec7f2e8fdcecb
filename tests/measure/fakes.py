"""Test doubles for measurement tests: a tiny search space and measurers whose samples we control.

``ToySpace`` is the tests' chain space (``tests/chain.py``) with four positions of
four operations, so campaigns run end to end in milliseconds without the DARTS plugin.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import torch
from chain import ChainSpace, conv, max_pool, skip
from torch import nn

from nascost.hookspecs import hookimpl
from nascost.measure import CostMeasurer, TimerMeasurer
from nascost.records import DeviceInfo, Measurement, Setting

OPS = ("conv3", "conv1", "pool", "skip")
POSITIONS = 4


class ToySpace(ChainSpace):
    """A chain of four positions, each one of conv3/conv1/pool/skip (256 architectures)."""

    name = "toy"
    encoding_id = "toy-onehot-v1"
    operations = {"conv3": conv(3, bn=True), "conv1": conv(1, bn=True), "pool": max_pool, "skip": skip}
    positions = POSITIONS
    stem_bias = True

    def settings(self) -> dict[str, Setting]:
        return {
            "tiny": Setting(name="tiny", channels=4, layers=POSITIONS, num_classes=3, input_size=8),
            "small": Setting(name="small", channels=8, layers=POSITIONS, num_classes=3, input_size=16),
        }


FAKE_DEVICE = DeviceInfo(runtime="fake", cpu_model="test double", cpu_cores=1)


class ScriptedMeasurer(TimerMeasurer):
    """Returns pre-scripted sample lists, one per attempt (to test the re-measurement rule)."""

    name = "scripted"
    unit = "ms"

    def __init__(self, scripts: list[list[float]], **options: Any) -> None:
        super().__init__(options)
        self.scripts = list(scripts)
        self.calls = 0
        self.warmups = 0

    def available(self) -> tuple[bool, str]:
        return True, ""

    def device_info(self) -> DeviceInfo:
        return FAKE_DEVICE

    def forward(self, model: nn.Module, example_input: torch.Tensor) -> None:
        self.warmups += 1
        super().forward(model, example_input)

    def collect(self, model: nn.Module, example_input: torch.Tensor, runs: int) -> list[float]:
        assert not model.training, "the protocol measures in eval mode"
        assert torch.is_inference_mode_enabled(), "the protocol measures in inference mode"
        samples = self.scripts[self.calls]
        self.calls += 1
        return samples


class CostModelMeasurer(CostMeasurer):
    """Deterministic 'latency': the number of parameters, times a drift factor.

    ``drift_after`` measure() calls, the factor jumps to ``drift_factor`` (a
    machine that got slower mid-campaign). Equal architectures get equal values,
    so drift detection and repeatability can be tested exactly.
    """

    name = "costmodel"
    unit = "ms"

    def __init__(self, options: Any = None, drift_after: int | None = None, drift_factor: float = 1.0,
                 delay_s: float = 0.0) -> None:
        super().__init__(options)
        self.drift_after = drift_after
        self.drift_factor = drift_factor
        self.delay_s = delay_s
        self.calls = 0

    def available(self) -> tuple[bool, str]:
        return True, ""

    def device_info(self) -> DeviceInfo:
        return FAKE_DEVICE

    def measure(self, model: nn.Module, example_input: torch.Tensor) -> Measurement:
        self.calls += 1
        if self.delay_s:
            time.sleep(self.delay_s)
        value = 1.0 + sum(p.numel() for p in model.parameters()) / 100.0
        if self.drift_after is not None and self.calls > self.drift_after:
            value *= self.drift_factor
        return Measurement.from_samples(
            [value] * 3, unit=self.unit, device=self.device_info(), batch_size=int(example_input.shape[0])
        )


class UnavailableMeasurer(CostMeasurer):
    """Never available (to test the CLI's refusal)."""

    name = "never"
    unit = "ms"

    def available(self) -> tuple[bool, str]:
        return False, "this test measurer is never available"

    def device_info(self) -> DeviceInfo:
        return FAKE_DEVICE

    def measure(self, model: nn.Module, example_input: torch.Tensor) -> Measurement:
        self.require_available()
        raise AssertionError("unreachable")


class ToyPlugin:
    """Registers the toy space and the deterministic measurers (for CLI tests)."""

    @staticmethod
    @hookimpl
    def register_search_spaces(register):
        register(ToySpace)

    @staticmethod
    @hookimpl
    def register_cost_measurers(register):
        register(CostModelMeasurer)
        register(UnavailableMeasurer)


class DriftingMachineTimer(TimerMeasurer):
    """A timer on a machine whose speed changes between calls.

    A network's 'time' is its parameter count (ms) times the machine's current
    slowness, which steps through ``slowness`` one entry per timed forward
    pass. Paired timing must cancel the slowness exactly.
    """

    name = "drifting-timer"
    unit = "ms"

    def __init__(self, slowness: Sequence[float], paired: bool = True, **options: Any) -> None:
        super().__init__(options)
        self.paired = paired  # instance attribute shadows the ClassVar: one class for both modes
        self.slowness = list(slowness)
        self.calls = 0

    def available(self) -> tuple[bool, str]:
        return True, ""

    def device_info(self) -> DeviceInfo:
        return FAKE_DEVICE

    def collect(self, model: nn.Module, example_input: torch.Tensor, runs: int) -> list[float]:
        out = []
        for _ in range(runs):
            factor = self.slowness[self.calls % len(self.slowness)]
            self.calls += 1
            out.append(sum(p.numel() for p in model.parameters()) * factor)
        return out
