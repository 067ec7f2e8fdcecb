"""Tiny throwaway space, supernet and cost functions for fast search tests.

``chain``: the tests' chain space (``tests/chain.py``) with ``EDGES`` mixed edges
and a supernet. Each edge chooses one of ``OPS``; ``conv`` is the costly one for
:class:`LinearCost`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from chain import ChainSpace as BaseChainSpace
from chain import avg_pool, conv, skip
from torch import nn
from torch.nn import functional as F

from nascost.hookspecs import hookimpl
from nascost.predict import CostPredictor
from nascost.records import Architecture, Setting
from nascost.space import SuperNet

OPS = ("conv", "pool", "skip")
EDGES = 3
#: Per-op cost of LinearCost: conv is costly.
OP_COST = {"conv": 3.0, "pool": 1.0, "skip": 0.1}


class ChainSuperNet(SuperNet):
    def __init__(self, space: ChainSpace, C: int, num_classes: int, in_channels: int) -> None:
        super().__init__()
        self.space = space
        self.stem = nn.Sequential(nn.Conv2d(in_channels, C, 3, padding=1, bias=False), nn.BatchNorm2d(C))
        self.edges = nn.ModuleList(nn.ModuleList(space.operations[o](C) for o in OPS) for _ in range(EDGES))
        self.head = nn.Linear(C, num_classes)
        self.alpha = nn.Parameter(1e-3 * torch.randn(EDGES, len(OPS)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        w = F.softmax(self.alpha, dim=-1)
        for e, ops in enumerate(self.edges):
            x = sum(w[e, i] * op(x) for i, op in enumerate(ops))
        return self.head(x.mean((2, 3)))

    def arch_parameters(self) -> list[nn.Parameter]:
        return [self.alpha]

    def sample_encodings(self, m: int, generator: torch.Generator | None = None) -> torch.Tensor:
        probs = F.softmax(self.alpha, dim=-1)
        idx = torch.multinomial(probs.detach(), m, replacement=True, generator=generator)  # [E, m]
        hard = F.one_hot(idx.t(), len(OPS)).float()  # [m, E, K]
        st = hard + probs.unsqueeze(0) - probs.detach().unsqueeze(0)
        return st.reshape(m, -1)

    def encoding_marginals(self) -> torch.Tensor:
        return F.softmax(self.alpha, dim=-1).reshape(-1)

    def log_prob(self, encodings: torch.Tensor) -> torch.Tensor:
        logp = F.log_softmax(self.alpha, dim=-1)
        return (encodings.reshape(-1, EDGES, len(OPS)) * logp).sum((1, 2))

    def derive(self) -> Architecture:
        ops = [OPS[int(i)] for i in self.alpha.argmax(-1)]
        return Architecture(space=self.space.name, spec={"ops": ops})


class ChainSpace(BaseChainSpace):
    """The tests' chain space (``tests/chain.py``) with a supernet: three mixed edges of conv/pool/skip."""

    name = "chain"
    encoding_id = "chain-v1"
    operations = {"conv": conv(3, bn=True), "pool": avg_pool, "skip": skip}
    positions = EDGES

    def settings(self) -> dict[str, Setting]:
        return {"tiny": Setting(name="tiny", channels=4, layers=EDGES, num_classes=10, input_size=8, in_channels=1)}

    def supernet(self, previous: SuperNet | None = None, **options: Any) -> SuperNet:
        return ChainSuperNet(self, options["C"], options["num_classes"], options["in_channels"])

    def search_defaults(self) -> dict[str, Any]:
        return {"batch_size": 32, "learning_rate": 0.05, "arch_learning_rate": 3e-3, "C": 4, "layers": EDGES, "epochs": 2}


class LinearCost(CostPredictor):
    """Additive, differentiable: sum of per-op costs (conv 3, pool 1, skip 0.1) plus 1."""

    name = "fake-linear"
    differentiable = True
    additive = True
    requires_fit = False

    def __init__(self, options: Any = None) -> None:
        super().__init__(options)
        self.weights = torch.tensor([OP_COST[o] for o in OPS] * EDGES)

    def fit(self, x: torch.Tensor, y: torch.Tensor, **kwargs: Any) -> LinearCost:
        return self

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        return x @ self.weights + 1.0

    def save(self, path: Any, metadata: dict[str, Any] | None = None) -> Any:
        raise NotImplementedError

    @classmethod
    def load(cls, path: Any) -> LinearCost:
        raise NotImplementedError


class StepCost(LinearCost):
    """Non-differentiable and non-additive: 10 per conv edge if two or more edges are conv, else 1."""

    name = "fake-step"
    differentiable = False
    additive = False

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        arr = x.detach().cpu().numpy().reshape(len(x), EDGES, len(OPS))
        convs = (arr[:, :, OPS.index("conv")] > 0.5).sum(1)
        return torch.from_numpy(np.where(convs >= 2, 10.0 * convs, 1.0).astype(np.float32))


class ChainPlugin:
    @hookimpl
    def register_search_spaces(self, register: Any) -> None:
        register(ChainSpace)
