"""The NAS-Bench-201 evaluation network: ``TinyNetwork`` with ``InferCell`` cells.

Faithful to ``models/cell_infers/tiny_network.py`` and ``models/cell_infers/cells.py``
of the reference (D-X-Y/AutoDL-Projects), module names included:

- ``stem``: 3x3 convolution (no bias) to ``C`` channels and batch norm;
- three stages of ``N`` cells at ``C``, ``2C`` and ``4C`` channels, separated by a
  :class:`~nascost_nb201.ops.ResNetBasicblock` of stride 2 (``cells`` holds all
  ``3N + 2`` of them in order);
- ``lastact``: batch norm and ReLU; ``global_pooling``; ``classifier`` (linear).

Each cell applies its operation on every edge ``j -> i`` and sums the edges into
each node; the output is node 3 (no concatenation). ``forward`` returns the
logits only (the reference returns ``(features, logits)``).
"""

from __future__ import annotations

import torch
from torch import nn

from nascost_nb201.cell import EDGES, NODES, Cell
from nascost_nb201.ops import OPS, ResNetBasicblock


class InferCell(nn.Module):
    """One cell of a derived architecture (the reference's ``InferCell``)."""

    def __init__(self, ops: Cell, C_in: int, C_out: int, stride: int = 1) -> None:
        super().__init__()
        self.layers = nn.ModuleList()
        self.node_IN: list[list[int]] = []
        self.node_IX: list[list[int]] = []
        for node in range(1, NODES):
            index, inputs = [], []
            for e, (i, j) in enumerate(EDGES):
                if i != node:
                    continue
                if j == 0:
                    layer = OPS[ops[e]](C_in, C_out, stride, True, True)
                else:
                    layer = OPS[ops[e]](C_out, C_out, 1, True, True)
                index.append(len(self.layers))
                inputs.append(j)
                self.layers.append(layer)
            self.node_IX.append(index)
            self.node_IN.append(inputs)
        self.in_dim, self.out_dim = C_in, C_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes = [x]
        for layers, inputs in zip(self.node_IX, self.node_IN, strict=True):
            nodes.append(sum(self.layers[k](nodes[j]) for k, j in zip(layers, inputs, strict=True)))
        return nodes[-1]


def stage_plan(C: int, N: int) -> list[tuple[int, bool]]:
    """``(channels, is_reduction)`` of every block: N cells, a residual block, N cells, one, N cells."""
    channels = [C] * N + [C * 2] + [C * 2] * N + [C * 4] + [C * 4] * N
    reductions = [False] * N + [True] + [False] * N + [True] + [False] * N
    return list(zip(channels, reductions, strict=True))


class TinyNetwork(nn.Module):
    """The NAS-Bench-201 macro network around one cell (random weights)."""

    def __init__(self, C: int, N: int, ops: Cell, num_classes: int, in_channels: int = 3) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(in_channels, C, kernel_size=3, padding=1, bias=False), nn.BatchNorm2d(C))
        self.cells = nn.ModuleList()
        C_prev = C
        for C_curr, reduction in stage_plan(C, N):
            cell: nn.Module = ResNetBasicblock(C_prev, C_curr, 2, True) if reduction else InferCell(ops, C_prev, C_curr, 1)
            self.cells.append(cell)
            C_prev = cell.out_dim
        self.lastact = nn.Sequential(nn.BatchNorm2d(C_prev), nn.ReLU(inplace=True))
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(C_prev, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feature = self.stem(x)
        for cell in self.cells:
            feature = cell(feature)
        out = self.global_pooling(self.lastact(feature)).flatten(1)
        return self.classifier(out)
