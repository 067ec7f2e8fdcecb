"""A tiny chain search space for predictor tests, plus synthetic cost databases.

The toy space is the tests' chain space (``tests/chain.py``) with ``EDGES``
positions of four operations and no BatchNorm, so its MACs are exactly additive
in the one-hot encoding and ``flops`` and ``lut`` can be checked for exactness.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from chain import ChainSpace, avg_pool, conv, skip
from torch import nn

from nascost.data import CostDatabase
from nascost.hookspecs import hookimpl
from nascost.measure import CostMeasurer
from nascost.records import Architecture, DeviceInfo, Measurement, Setting

OPS = ["conv3", "conv1", "pool", "skip"]
EDGES = 3


class ToySpace(ChainSpace):
    """A chain of three edges, four operations each; no BatchNorm, so MACs are exactly additive."""

    name = "toy"
    encoding_id = "toy/chain-3x4"
    operations = {"conv3": conv(3, bn=False), "conv1": conv(1, bn=False), "pool": avg_pool, "skip": skip}
    positions = EDGES
    strict_decode = True
    preset = "convs"

    def settings(self) -> dict[str, Setting]:
        return {"tiny": Setting(name="tiny", channels=4, layers=EDGES, num_classes=3, input_size=8)}

    def op_count_matrix(self) -> torch.Tensor:
        """Every edge maps the same shape to the same shape: one count per operation."""
        return torch.eye(len(OPS)).repeat(EDGES, 1)


class ParamCounter(CostMeasurer):
    """A deterministic 'measurer' whose cost is the parameter count (additive in the toy space)."""

    name = "param-counter"
    unit = "params"

    def available(self) -> tuple[bool, str]:
        return True, ""

    def device_info(self) -> DeviceInfo:
        return DeviceInfo(runtime="cpu", cpu_model="test-counter")

    def measure(self, model: nn.Module, example_input: torch.Tensor) -> Measurement:
        n = float(sum(p.numel() for p in model.parameters()))
        return Measurement.from_samples([n], unit=self.unit, device=self.device_info(),
                                        batch_size=example_input.shape[0])


class _Plugin:
    @hookimpl
    def register_search_spaces(self, register: Any) -> None:
        register(ToySpace)


@pytest.fixture
def toy_space(register_plugin: Any) -> ToySpace:
    """The toy space, registered as ``toy`` for this test."""
    register_plugin(_Plugin(), name="toy-space-plugin")
    return ToySpace()


DEVICE = DeviceInfo(runtime="cpu", cpu_model="test-cpu", cpu_cores=2, threads=1)
OTHER_DEVICE = DeviceInfo(runtime="cpu", cpu_model="other-cpu", cpu_cores=8, threads=1)


def synthetic_latency(x: np.ndarray, seed: int = 0) -> np.ndarray:
    """An additive cost with one pairwise interaction, like CPU latency in cell spaces."""
    rng = np.random.default_rng(seed)
    w = rng.uniform(0.5, 2.0, x.shape[1])
    return 3.0 + x @ w + 0.8 * x[:, 0] * x[:, 4]


def make_db(path: Path, space: ToySpace, n: int, *, seed: int = 0, device: DeviceInfo = DEVICE,
            noise: float = 0.0, setting: Setting | None = None, measurer: str = "cpu-timer") -> Path:
    """A cost database of ``n`` distinct toy architectures with synthetic latencies."""
    rng = np.random.default_rng(seed)
    setting = setting or space.setting("tiny")
    seen: dict[str, Architecture] = {}
    while len(seen) < n:
        a = space.sample(rng)
        seen[a.key()] = a
    archs = list(seen.values())
    x = space.encode(archs).numpy()
    y = synthetic_latency(x) * (1 + noise * rng.standard_normal(len(archs)))
    with CostDatabase(path, create=True) as db:
        for a, e, v in zip(archs, x, y, strict=True):
            m = Measurement.from_samples([v, v], unit="ms", device=device, batch_size=1)
            db.add(a, e.tolist(), m, measurer=measurer, setting=setting)
    return path
