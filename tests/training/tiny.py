"""A tiny stand-in search space for training, sweep and report tests.

It behaves like the DARTS evaluation networks where training cares: an
``auxiliary_head`` submodule that only runs in training and only at one input
size (raising NascostError elsewhere), a ``drop_path_prob`` attribute, and
``(logits, logits_aux)`` outputs.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from nascost.errors import NascostError
from nascost.hookspecs import hookimpl
from nascost.records import Architecture, Setting
from nascost.space import SearchSpace

OPS = ["conv", "pool", "skip"]


class TinyNet(nn.Module):
    def __init__(self, spec: dict[str, Any], setting: Setting) -> None:
        super().__init__()
        c = setting.channels
        self.drop_path_prob = 0.0
        self.stem = nn.Conv2d(setting.in_channels, c, 3, padding=1, bias=False)
        layers: list[nn.Module] = []
        for op in spec["ops"][: setting.layers]:
            if op == "conv":
                layers += [nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c), nn.ReLU()]
            elif op == "pool":
                layers += [nn.AvgPool2d(3, stride=1, padding=1)]
            else:
                layers += [nn.Identity()]
        self.body = nn.Sequential(*layers)
        self.aux_size = 8
        if setting.auxiliary:
            self.auxiliary_head = nn.Linear(c, setting.num_classes)
        self.classifier = nn.Linear(c, setting.num_classes)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        h = self.body(torch.relu(self.stem(x)))
        pooled = h.mean(dim=(2, 3))
        aux = None
        if self.training and hasattr(self, "auxiliary_head"):
            if x.shape[-1] != self.aux_size:
                raise NascostError(f"the auxiliary head expects {self.aux_size}x{self.aux_size} input")
            aux = self.auxiliary_head(pooled)
        return self.classifier(pooled), aux


class TinySpace(SearchSpace):
    """A three-operation chain space (tests only)."""

    name = "tiny"
    encoding_id = "tiny-ops"

    def validate(self, spec: dict[str, Any]) -> Architecture:
        ops = spec.get("ops")
        if not isinstance(ops, list) or not all(o in OPS for o in ops):
            raise NascostError(f"tiny: 'ops' must be a list of {OPS}")
        return Architecture(space=self.name, spec={"ops": list(ops)})

    def presets(self) -> dict[str, Architecture]:
        return {"ALLCONV": self.validate({"ops": ["conv"] * 4}), "ALLSKIP": self.validate({"ops": ["skip"] * 4})}

    def sample(self, rng=None) -> Architecture:
        gen = np.random.default_rng(rng) if not isinstance(rng, np.random.Generator) else rng
        return self.validate({"ops": [OPS[int(i)] for i in gen.integers(0, 3, 4)]})

    @property
    def encoding_dim(self) -> int:
        return 12

    def encode(self, archs):
        out = torch.zeros(len(archs), 12)
        for i, a in enumerate(archs):
            for j, op in enumerate(a.spec["ops"]):
                out[i, 3 * j + OPS.index(op)] = 1
        return out

    def decode(self, encoding):
        enc = torch.as_tensor(encoding).reshape(4, 3)
        return self.validate({"ops": [OPS[int(r.argmax())] for r in enc]})

    def settings(self) -> dict[str, Setting]:
        return {
            "cifar10": Setting(name="cifar10", family="cifar", channels=8, layers=4, num_classes=10, input_size=8),
            "imagenet": Setting(name="imagenet", family="imagenet", channels=8, layers=4, num_classes=10,
                                input_size=16),
        }  # fmt: skip

    def build(self, arch: Architecture, setting: Setting) -> nn.Module:
        return TinyNet(arch.spec, setting)

    def supernet(self, previous=None, **options):
        raise NascostError("tiny has no supernet")

    def draw(self, arch: Architecture, path):
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(4, 1.5))
        ax.axis("off")
        ax.text(0.5, 0.5, " -> ".join(arch.spec["ops"]), ha="center", va="center")
        fig.savefig(path)
        plt.close(fig)
        return path


@pytest.fixture
def tiny_space(register_plugin):
    class P:
        @hookimpl
        def register_search_spaces(register):
            register(TinySpace)

    register_plugin(P)
    return TinySpace()
