"""The one tiny search space of the tests: a stem, a chain of positions, a classifier.

Each position holds one operation. Test areas subclass :class:`ChainSpace` to pick
the operations and settings they need (measurement tests: BN'd convolutions and two
settings; predictor tests: MACs exactly additive in the encoding; search tests: a
supernet), so every area tests against a real network without the DARTS plugin.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from nascost.errors import NascostError
from nascost.records import Architecture, Setting
from nascost.space import SearchSpace, as_generator

OpFactory = Callable[[int], nn.Module]


def conv(k: int, *, bn: bool) -> OpFactory:
    """A shape-keeping k x k convolution, optionally followed by BatchNorm and ReLU."""

    def make(c: int) -> nn.Module:
        layer = nn.Conv2d(c, c, k, padding=k // 2, bias=False)
        return nn.Sequential(layer, nn.BatchNorm2d(c), nn.ReLU()) if bn else layer

    return make


def max_pool(c: int) -> nn.Module:
    return nn.MaxPool2d(3, stride=1, padding=1)


def avg_pool(c: int) -> nn.Module:
    return nn.AvgPool2d(3, stride=1, padding=1)


def skip(c: int) -> nn.Module:
    return nn.Identity()


class ChainSpace(SearchSpace):
    """``positions`` positions in a chain, each one of ``operations`` (tests only)."""

    name = "chain"
    encoding_id = "chain-v1"
    #: operation name -> module factory (given the channel count)
    operations: ClassVar[dict[str, OpFactory]] = {}
    positions: ClassVar[int] = 3
    #: whether the stem convolution has a bias
    stem_bias: ClassVar[bool] = False
    #: decode only exact one-hot encodings (else: the argmax per position)
    strict_decode: ClassVar[bool] = False
    #: the name of the preset whose every position is the first operation
    preset: ClassVar[str] = "all-conv"

    @property
    def op_names(self) -> list[str]:
        return list(self.operations)

    def validate(self, spec: dict[str, Any]) -> Architecture:
        ops = spec.get("ops")
        if not isinstance(ops, list) or len(ops) != self.positions or any(o not in self.operations for o in ops):
            raise NascostError(
                f"a {self.name} architecture is {{'ops': [{self.positions} of {', '.join(self.operations)}]}}"
            )
        return Architecture(space=self.name, spec={"ops": list(ops)})

    def presets(self) -> dict[str, Architecture]:
        return {self.preset: self.validate({"ops": [self.op_names[0]] * self.positions})}

    def sample(self, rng: np.random.Generator | int | None = None) -> Architecture:
        gen = as_generator(rng)
        names = self.op_names
        return self.validate({"ops": [names[int(i)] for i in gen.integers(0, len(names), self.positions)]})

    @property
    def encoding_dim(self) -> int:
        return self.positions * len(self.operations)

    def encode(self, archs: Sequence[Architecture]) -> torch.Tensor:
        names = self.op_names
        out = torch.zeros(len(archs), self.positions, len(names))
        for n, a in enumerate(archs):
            for p, op in enumerate(a.spec["ops"]):
                out[n, p, names.index(op)] = 1.0
        return out.reshape(len(archs), -1)

    def decode(self, encoding: torch.Tensor | Sequence[float]) -> Architecture:
        grid = torch.as_tensor(encoding, dtype=torch.float32).reshape(self.positions, len(self.operations))
        if self.strict_decode and not (torch.all((grid == 0) | (grid == 1)) and torch.all(grid.sum(1) == 1)):
            raise NascostError(f"a {self.name} encoding needs exactly one operation per position")
        return self.validate({"ops": [self.op_names[int(i)] for i in grid.argmax(-1)]})

    def build(self, arch: Architecture, setting: Setting) -> nn.Module:
        c = setting.channels
        return nn.Sequential(
            nn.Conv2d(setting.in_channels, c, 3, padding=1, bias=self.stem_bias),
            *[self.operations[op](c) for op in arch.spec["ops"]],
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(c, setting.num_classes),
        )

    def supernet(self, previous: Any = None, **options: Any) -> Any:
        raise NascostError(f"the {self.name} test space has no supernet")
