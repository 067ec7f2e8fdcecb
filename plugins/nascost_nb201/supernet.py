"""The NAS-Bench-201 supernet, as the benchmark's DARTS baseline builds it.

Reference: ``TinyNetworkDarts`` (``models/cell_searchs/search_model_darts.py``) and
``NAS201SearchCell`` (``models/cell_searchs/search_cells.py``) of
D-X-Y/AutoDL-Projects:

- the evaluation network's macro structure (stem, three stages of ``N`` cells,
  residual blocks of stride 2 between them, ``lastact``, pooling, classifier);
- every cell edge holds all 5 operations, built with ``affine=False`` batch norms
  (``track_running_stats`` an option, off by default as the reference's ``BN=0``
  runs), and mixes them with ``softmax(alpha)`` (or, ``relaxation="dirichlet"``, a
  draw from ``Dirichlet(elu(alpha) + 1)`` as DrNAS's ``TinyNetwork``, or,
  ``relaxation="gumbel"``, one operation per edge drawn from ``softmax(alpha)`` and
  computed alone, as GDAS's ``TinyNetworkGDAS`` and ``NAS201SearchCell.forward_gdas``; one
  draw per forward pass shared by all cells, as there);
- one architecture parameter for all cells, ``alphas`` of shape ``[6, 5]``
  initialised to ``1e-3 * randn`` (the reference calls it ``arch_parameters``);
- derivation: on each edge the operation of largest alpha, ``none`` included.

One option of P-DARTS (Chen et al., ICCV 2019; chenxin061/pdarts ``train_search.py``), off by
default: ``max_skip_connect=M`` allows at most ``M`` skip connections in the derived cell
(P-DARTS: 2). While there are more, the derived skip connection of lowest softmax weight is
set to 0 and the edge takes its next operation, as the reference's ``delete_min_sk_prob``
loop; the search itself is unchanged. A remedy for the collapse to skip connections that a
latency term drives (docs/nb201.md).

Two options of PC-DARTS (Xu et al., ICLR 2020; yuhuixu1993/PC-DARTS
``model_search.py``), off by default: ``partial_channels=k`` mixes the operations
on ``1/k`` of an edge's channels, passes the rest through and shuffles channels
in ``k`` groups; ``edge_normalization`` weights each edge into a node by the
softmax of its ``betas`` over the node's edges.

Sub-architectures for the cost term are drawn per edge from ``softmax(alpha)``
over all five operations (every NAS-Bench-201 cell is valid, ``none`` included),
one-hot with a straight-through gradient (the LA-DARTS paper's Eq. 4).
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from torch import nn

from nascost.errors import NascostError
from nascost.records import Architecture
from nascost.space import SuperNet, drawn
from nascost_nb201.cell import EDGES, NODES, NUM_EDGES, NUM_OPS, OPERATIONS, format_cell
from nascost_nb201.network import stage_plan
from nascost_nb201.ops import OPS, ResNetBasicblock

SKIP = OPERATIONS.index("skip_connect")

#: The published DARTS search hyper-parameters on NAS-Bench-201: ``configs/nas-benchmark/algos/DARTS.config``
#: (SGD with Nesterov momentum 0.9, learning rate 0.025 cosine-annealed to 0.001 over 50 epochs,
#: weight decay 5e-4, batch 64) and ``scripts-search/algos/DARTS-V1.sh`` (C=16, N=5, Adam on
#: alpha with lr 3e-4, betas (0.5, 0.999), weight decay 1e-3; gradient clip 5 on the weights);
#: DARTS-V1 is first order (``DARTS-V2`` the second-order variant). The reference splits
#: CIFAR-10's training set in two halves of 25,000 (``cifar-split.txt``), ``train_portion`` 0.5.
SEARCH_DEFAULTS: dict[str, Any] = {
    "batch_size": 64,
    "lr": 0.025,
    "lr_min": 0.001,
    "momentum": 0.9,
    "nesterov": True,
    "weight_decay": 5e-4,
    "grad_clip": 5.0,
    "train_portion": 0.5,
    "epochs": 50,
    "arch_lr": 3e-4,
    "arch_betas": (0.5, 0.999),
    "arch_weight_decay": 1e-3,
    "arch_grad_clip": None,
    "order": 1,
    "hessian_r": 1e-2,
    "arch_frozen_epochs": 0,
    "C": 16,
    "layers": 5,
}


class SuperNetOptions(BaseModel):
    """Size of the NAS-Bench-201 supernet and its PC-DARTS options."""

    model_config = ConfigDict(extra="forbid")

    C: int = Field(16, gt=0, description="channels of the first stage (reference: 16)")
    layers: int = Field(5, gt=0, description="cells per stage, N (reference: 5)")
    num_classes: int = Field(10, gt=0)
    in_channels: int = Field(3, gt=0)
    track_running_stats: bool = Field(False, description="batch-norm running statistics in the cell operations")
    partial_channels: int = Field(1, ge=1, description="PC-DARTS k: mix operations on 1/k of the channels (1: off)")
    edge_normalization: bool = Field(False, description="PC-DARTS edge normalisation (betas over a node's edges)")
    max_skip_connect: int | None = Field(
        None, ge=0, description="P-DARTS's limit: skip connections allowed in the derived cell (None: no limit)"
    )


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    """PC-DARTS's ``channel_shuffle``: interleave ``groups`` channel groups."""
    b, c, h, w = x.shape
    return x.view(b, groups, c // groups, h, w).transpose(1, 2).contiguous().view(b, c, h, w)


class MixedEdge(nn.Module):
    """All five operations on one edge, summed with weights (optionally on 1/k of the channels)."""

    def __init__(self, C: int, k: int, track: bool) -> None:
        super().__init__()
        self.k = k
        width = C // k
        self.ops = nn.ModuleList(OPS[name](width, width, 1, False, track) for name in OPERATIONS)

    def forward(self, x: torch.Tensor, weights: torch.Tensor, index: int | None = None) -> torch.Tensor:
        """``index`` (the gumbel relaxation's drawn operation): compute that operation alone and
        add the others' weights as scalars, zero in value (GDAS's ``forward_gdas``)."""
        part = x if self.k == 1 else x[:, : x.shape[1] // self.k]
        if index is None:
            mixed = sum(w * op(part) for w, op in zip(weights, self.ops, strict=True))
        else:
            mixed = sum(w * op(part) if i == index else w for i, (w, op) in enumerate(zip(weights, self.ops, strict=True)))
        if self.k == 1:
            return mixed
        return channel_shuffle(torch.cat([mixed, x[:, part.shape[1]:]], dim=1), self.k)


class SearchCell(nn.Module):
    """A cell with a mixed operation on each of its 6 edges (``NAS201SearchCell``)."""

    def __init__(self, C: int, k: int, track: bool) -> None:
        super().__init__()
        self.edges = nn.ModuleList(MixedEdge(C, k, track) for _ in EDGES)
        self.in_dim = self.out_dim = C

    def forward(self, x: torch.Tensor, weights: torch.Tensor, edge_weights: torch.Tensor | None,
                drawn: list[int] | None = None) -> torch.Tensor:
        nodes = [x]
        for node in range(1, NODES):
            terms = []
            for e, (i, j) in enumerate(EDGES):
                if i != node:
                    continue
                out = self.edges[e](nodes[j], weights[e], None if drawn is None else drawn[e])
                terms.append(out if edge_weights is None else edge_weights[e] * out)
            nodes.append(sum(terms))
        return nodes[-1]


class NB201SuperNet(SuperNet):
    """The NAS-Bench-201 DARTS supernet (see the module docstring)."""

    relaxations = ("softmax", "dirichlet", "gumbel")

    def __init__(self, space: Any, options: SuperNetOptions) -> None:
        super().__init__()
        o = options
        if o.C % o.partial_channels:
            raise NascostError(f"C={o.C} must be a multiple of partial_channels={o.partial_channels}")
        self.space = space
        self.options = o
        self.stem = nn.Sequential(nn.Conv2d(o.in_channels, o.C, 3, padding=1, bias=False), nn.BatchNorm2d(o.C))
        self.cells = nn.ModuleList()
        C_prev = o.C
        for C_curr, reduction in stage_plan(o.C, o.layers):
            if reduction:
                cell: nn.Module = ResNetBasicblock(C_prev, C_curr, 2)
            else:
                if C_curr % o.partial_channels:
                    raise NascostError(f"{C_curr} channels are not a multiple of partial_channels={o.partial_channels}")
                cell = SearchCell(C_curr, o.partial_channels, o.track_running_stats)
            self.cells.append(cell)
            C_prev = cell.out_dim
        self.lastact = nn.Sequential(nn.BatchNorm2d(C_prev), nn.ReLU(inplace=True))
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(C_prev, o.num_classes)
        self.alphas = nn.Parameter(1e-3 * torch.randn(NUM_EDGES, NUM_OPS))
        self.betas = nn.Parameter(1e-3 * torch.randn(NUM_EDGES)) if o.edge_normalization else None

    def arch_parameters(self) -> list[nn.Parameter]:
        return [self.alphas] if self.betas is None else [self.alphas, self.betas]

    def operation_logits(self) -> list[torch.Tensor]:
        return [self.alphas]

    def arch_state(self) -> dict[str, Any]:
        out = {"alphas": self.alphas.detach().cpu().tolist()}
        if self.betas is not None:
            out["betas"] = self.betas.detach().cpu().tolist()
        return out

    def edge_weights(self) -> torch.Tensor | None:
        """Per-edge weights of PC-DARTS edge normalisation: softmax of betas over each node's edges."""
        if self.betas is None:
            return None
        out = torch.empty_like(self.betas)
        for node in range(1, NODES):
            idx = [e for e, (i, _) in enumerate(EDGES) if i == node]
            out[idx] = F.softmax(self.betas[idx], dim=-1)
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weights = self.relax(self.alphas)
        index = drawn(weights, self.relaxation)
        edge_w = self.edge_weights()
        feature = self.stem(x)
        for cell in self.cells:
            feature = cell(feature, weights, edge_w, index) if isinstance(cell, SearchCell) else cell(feature)
        out = self.global_pooling(self.lastact(feature)).flatten(1)
        return self.classifier(out)

    # --- sub-architectures --------------------------------------------------
    def op_probs(self) -> torch.Tensor:
        """``[6, 5]``: softmax(alpha) per edge, the sampling distribution of each edge."""
        return F.softmax(self.alphas, dim=-1)

    def sample_encodings(self, m: int, generator: torch.Generator | None = None) -> torch.Tensor:
        if m <= 0:
            raise NascostError(f"number of samples must be positive, got {m}")
        p = self.op_probs()
        q = p.detach().double().cpu()
        device = generator.device if generator is not None else torch.device("cpu")
        u = torch.rand(m, NUM_EDGES, generator=generator, device=device, dtype=torch.float64).cpu()
        cdf = q.cumsum(-1)
        target = (u.clamp(max=1 - 1e-12) * cdf[:, -1]).unsqueeze(-1)
        ops = torch.searchsorted(cdf.unsqueeze(0).expand(m, -1, -1).contiguous(), target).squeeze(-1)
        ops = ops.clamp(max=NUM_OPS - 1)
        hard = torch.zeros(m, NUM_EDGES, NUM_OPS)
        hard.scatter_(2, ops.unsqueeze(-1), 1.0)
        hard = hard.to(device=p.device, dtype=p.dtype)
        return (hard + (p - p.detach()).unsqueeze(0)).reshape(m, -1)

    def encoding_marginals(self) -> torch.Tensor:
        return self.op_probs().reshape(-1)

    def log_prob(self, encodings: torch.Tensor) -> torch.Tensor:
        if encodings.dim() != 2 or encodings.shape[1] != NUM_EDGES * NUM_OPS:
            raise NascostError(f"encodings must be [m, {NUM_EDGES * NUM_OPS}], got {list(encodings.shape)}")
        bits = encodings.detach().reshape(-1, NUM_EDGES, NUM_OPS).to(self.alphas.device)
        logq = F.log_softmax(self.alphas, dim=-1)
        lp = (bits * logq.unsqueeze(0)).sum((1, 2))
        valid = ((bits == 0) | (bits == 1)).all(-1).all(-1) & (bits.sum(-1) == 1).all(-1)
        return torch.where(valid, lp, torch.full_like(lp, -math.inf))

    def derive(self) -> Architecture:
        weights = F.softmax(self.alphas.detach().float(), dim=-1)
        idx = weights.argmax(-1)
        limit = self.options.max_skip_connect
        while limit is not None and int((idx == SKIP).sum()) > limit:
            skips = torch.nonzero(idx == SKIP).reshape(-1)
            edge = skips[weights[skips, SKIP].argmin()]  # ties: the lowest edge, as np.argmin
            weights[edge, SKIP] = 0.0
            idx = weights.argmax(-1)
        return self.space.validate({"cell": format_cell([OPERATIONS[i] for i in idx.tolist()])})

    def derivable(self, encodings: torch.Tensor) -> torch.Tensor:
        limit = self.options.max_skip_connect
        if limit is None:
            return super().derivable(encodings)
        bits = encodings.detach().reshape(-1, NUM_EDGES, NUM_OPS)
        return (bits[:, :, SKIP] > 0.5).sum(-1).cpu() <= limit


def make_supernet(space: Any, previous: SuperNet | None = None, **options: Any) -> NB201SuperNet:
    if previous is not None:
        raise NascostError("the nb201 search has a single stage: it takes no previous supernet")
    try:
        opts = SuperNetOptions(**options)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise NascostError(
            f"invalid nb201 supernet option ({problems}); known options: {', '.join(SuperNetOptions.model_fields)}"
        ) from None
    return NB201SuperNet(space, opts)
