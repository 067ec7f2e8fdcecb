"""The PC-DARTS supernet: partial channel connections and edge normalisation.

Reference: yuhuixu1993/PC-DARTS ``model_search.py``. Each mixed operation sees
only the first ``C // k`` channels of its input (``k = 4``); the other channels
bypass it (through ``MaxPool2d(2, 2)`` on the strided edges of reduction
cells) and the concatenation is channel-shuffled with ``k`` groups. Each edge's
output is scaled by the softmax of its node's ``betas`` (edge normalisation),
and the derivation ranks edges and operations by ``softmax(alpha) *
softmax(beta)`` of the edge, as the reference ``genotype()``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from nascost.errors import NascostError
from nascost_darts.ops import PRIMITIVES
from nascost_darts.supernet import DartsSuperNet, MixedOp, SuperNetOptions

if TYPE_CHECKING:
    from nascost.space import SearchSpace


class PCDartsOptions(SuperNetOptions):
    k: int = Field(
        4, gt=0, description="1/k of the channels go through the mixed operation (reference: 4)"
    )


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    """Interleave ``groups`` channel groups (the reference ``channel_shuffle``)."""
    b, c, h, w = x.shape
    x = x.view(b, groups, c // groups, h, w).transpose(1, 2).contiguous()
    return x.view(b, c, h, w)


class PartialMixedOp(nn.Module):
    """A mixed operation on ``C // k`` channels; the rest bypass it, then a channel shuffle."""

    def __init__(self, C: int, stride: int, k: int) -> None:
        super().__init__()
        self.k = k
        self.mp = nn.MaxPool2d(2, 2)
        self.mixed = MixedOp(C // k, stride, PRIMITIVES)

    def forward(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        part = x.shape[1] // self.k
        y = self.mixed(x[:, :part], weights)
        rest = x[:, part:]
        if y.shape[2] != x.shape[2]:  # reduction: the bypass is pooled as well
            rest = self.mp(rest)
        return channel_shuffle(torch.cat([y, rest], dim=1), self.k)


class PCDartsSuperNet(DartsSuperNet):
    """PC-DARTS search network: DARTS with partial channels (``k``) and edge-normalisation betas.

    ``arch_parameters()`` is ``[alphas_normal, alphas_reduce, betas_normal,
    betas_reduce]`` (betas ``[14]``, ``1e-3 * randn``), the reference's order.
    """

    method: ClassVar[str] = "pcdarts"
    Options: ClassVar[type[SuperNetOptions]] = PCDartsOptions
    options: PCDartsOptions
    has_betas: ClassVar[bool] = True

    def __init__(self, space: SearchSpace, options: PCDartsOptions) -> None:
        super().__init__(space, options)

    def _check_options(self) -> None:
        super()._check_options()
        k = self.options.k
        if self._width() % k:
            raise NascostError(f"C={self._width()} must be a multiple of k={k} (partial channels)")

    def _make_op(self, C: int, stride: int, cell_type: str, edge: int) -> nn.Module:
        return PartialMixedOp(C, stride, self.options.k)

    def _init_arch(self) -> None:
        super()._init_arch()
        self.betas_normal = nn.Parameter(1e-3 * torch.randn(self.num_edges))
        self.betas_reduce = nn.Parameter(1e-3 * torch.randn(self.num_edges))

    def arch_parameters(self) -> list[nn.Parameter]:
        return [self.alphas_normal, self.alphas_reduce, self.betas_normal, self.betas_reduce]

    def beta(self, cell_type: str) -> nn.Parameter:
        return self.betas_normal if cell_type == "normal" else self.betas_reduce

    def edge_weights(self, cell_type: str) -> torch.Tensor:
        """``[E]``: softmax of the betas over each node's incoming edges (the reference ``weights2``)."""
        beta = self.beta(cell_type)
        return torch.cat([F.softmax(beta[sl], dim=-1) for sl in self.node_slices])

    def edge_strength(self, cell_type: str) -> torch.Tensor:
        """The reference ranking: strongest non-none ``softmax(alpha) * softmax(beta)`` per edge."""
        p = self.op_probs(cell_type) * self.edge_weights(cell_type).unsqueeze(-1)
        return p.masked_fill(~self.op_mask(cell_type), -1.0).max(-1).values

    def edge_sampling_weights(self, cell_type: str) -> torch.Tensor:
        if self.options.edge_sampling == "betas":
            return self.edge_weights(cell_type)
        return super().edge_sampling_weights(cell_type)

    def derive_weights(self, cell_type: str) -> torch.Tensor:
        """``W = softmax(alpha) * softmax(beta)`` per edge, as the reference ``_parse(weights, weights2)``."""
        W = F.softmax(self.alpha(cell_type), dim=-1) * self.edge_weights(cell_type).unsqueeze(-1)
        return W.detach().cpu().double()
