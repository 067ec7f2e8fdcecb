"""A tiny chain search space for predictor tests, plus synthetic cost databases.

The toy space is a chain of ``EDGES`` positions, each holding one of four
operations, built into a small network whose MACs are exactly additive in
the one-hot encoding (every operation keeps the tensor shape), so ``flops``
and ``lut`` can be checked for exactness.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from nascost.data import CostDatabase
from nascost.errors import NascostError
from nascost.hookspecs import hookimpl
from nascost.measure import CostMeasurer
from nascost.records import Architecture, DeviceInfo, Measurement, Setting
from nascost.space import SearchSpace, as_generator

OPS = ["conv3", "conv1", "pool", "skip"]
EDGES = 3


def _op(name: str, c: int) -> nn.Module:
    if name == "conv3":
        return nn.Conv2d(c, c, 3, padding=1, bias=False)
    if name == "conv1":
        return nn.Conv2d(c, c, 1, bias=False)
    if name == "pool":
        return nn.AvgPool2d(3, stride=1, padding=1)
    return nn.Identity()


class ToySpace(SearchSpace):
    """A chain of three edges, four operations each (tests only)."""

    name = "toy"
    encoding_id = "toy/chain-3x4"

    def validate(self, spec: dict[str, Any]) -> Architecture:
        ops = spec.get("ops")
        if not isinstance(ops, list) or len(ops) != EDGES or any(o not in OPS for o in ops):
            raise NascostError(f"toy architecture needs 'ops': {EDGES} of {OPS}")
        return Architecture(space=self.name, spec={"ops": list(ops)})

    def presets(self) -> dict[str, Architecture]:
        return {"convs": self.validate({"ops": ["conv3"] * EDGES})}

    def sample(self, rng: Any = None) -> Architecture:
        gen = as_generator(rng)
        return self.validate({"ops": [OPS[int(i)] for i in gen.integers(0, len(OPS), EDGES)]})

    @property
    def encoding_dim(self) -> int:
        return EDGES * len(OPS)

    def encode(self, archs: Sequence[Architecture]) -> torch.Tensor:
        x = torch.zeros(len(archs), self.encoding_dim)
        for i, a in enumerate(archs):
            for e, op in enumerate(a.spec["ops"]):
                x[i, e * len(OPS) + OPS.index(op)] = 1.0
        return x

    def decode(self, encoding: Any) -> Architecture:
        grid = torch.as_tensor(encoding, dtype=torch.float32).reshape(EDGES, len(OPS))
        if not torch.all((grid == 0) | (grid == 1)) or not torch.all(grid.sum(1) == 1):
            raise NascostError("toy encoding needs exactly one operation per edge")
        return self.validate({"ops": [OPS[int(r.argmax())] for r in grid]})

    def settings(self) -> dict[str, Setting]:
        return {"tiny": Setting(name="tiny", channels=4, layers=EDGES, num_classes=3, input_size=8)}

    def build(self, arch: Architecture, setting: Setting) -> nn.Module:
        c = setting.channels
        return nn.Sequential(
            nn.Conv2d(setting.in_channels, c, 3, padding=1, bias=False),
            *[_op(op, c) for op in arch.spec["ops"]],
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(c, setting.num_classes),
        )

    def supernet(self, previous: Any = None, **options: Any) -> Any:
        raise NascostError("the toy space has no supernet")


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
