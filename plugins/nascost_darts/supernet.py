"""Supernets of the DARTS family for differentiable search: DARTS, PC-DARTS, P-DARTS.

One network skeleton serves the three methods, as in the references: a stem
(3x3 convolution + batch norm, ``stem_multiplier * C`` channels), ``layers``
search cells with reduction cells at ``layers // 3`` and ``2 * layers // 3``,
global average pooling and a linear classifier. Every operation inside the
cells is built with ``affine=False`` batch norms and pooling operations are
followed by a non-affine batch norm, exactly as ``MixedOp`` in
quark0/darts ``cnn/model_search.py``. What differs per method:

* ``darts`` (:class:`DartsSuperNet`): every edge is a softmax(alpha)-weighted
  sum of the 8 primitives (quark0/darts ``cnn/model_search.py``).
* ``pcdarts`` (:class:`~nascost_darts.supernet_pcdarts.PCDartsSuperNet`):
  partial channels and edge normalisation (yuhuixu1993/PC-DARTS ``model_search.py``).
* ``pdarts`` (:class:`~nascost_darts.supernet_pdarts.PDartsSuperNet`):
  progressive stages with operation dropping (chenxin061/pdarts ``model_search.py``
  and ``train_search.py``).

The sampling of sub-architectures for the latency term is the LA-DARTS
paper's (Sec. 3.2): per intermediate node 2 of its incoming edges are kept
(uniformly at random by default, so 8 of the 14 edges), and on each kept edge
one operation is drawn from softmax(alpha) of that edge renormalised over the
operations a derived cell may contain (never ``none``; for P-DARTS only the
operations the current stage kept). The one-hot encodings carry a
straight-through gradient to the architecture weights (the paper's Eq. 4,
d gamma / d alpha_tilde ~= I).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from torch import nn

from nascost.errors import NascostError, UnknownNameError
from nascost.records import Architecture
from nascost.space import SuperNet
from nascost_darts.ops import OPS, PRIMITIVES, FactorizedReduce, ReLUConvBN

if TYPE_CHECKING:
    from nascost.space import SearchSpace

NONE_INDEX = PRIMITIVES.index("none")
SKIP_INDEX = PRIMITIVES.index("skip_connect")
CELL_TYPES = ("normal", "reduce")

# --------------------------------------------------------------------------
# Published search hyper-parameters
# --------------------------------------------------------------------------

#: The published search hyper-parameters of each method, as the reference
#: ``train_search.py`` scripts fix them. Keys are shared across methods:
#:
#: * ``batch_size``, ``lr`` (initial weight learning rate, cosine-annealed to
#:   ``lr_min`` over ``epochs``), ``momentum``, ``weight_decay``, ``grad_clip``
#:   (weights' gradient-norm clip), ``train_portion`` (the first half of the
#:   training set trains weights, the second half architecture weights);
#: * ``arch_lr``, ``arch_betas``, ``arch_weight_decay`` (Adam on the
#:   architecture weights), ``arch_grad_clip`` (architecture gradient-norm
#:   clip; ``None`` = not clipped);
#: * ``order``: 1 = first-order architecture gradient, 2 = one-step unrolled
#:   (second order, finite-difference Hessian-vector product with
#:   ``hessian_r / ||v||``);
#: * ``arch_frozen_epochs``: epochs at the start (of each stage for P-DARTS)
#:   during which only the weights are trained;
#: * ``epochs`` (per stage for P-DARTS), ``C``, ``layers`` (the supernet size).
#:
#: Sources:
#:
#: ``darts``: quark0/darts ``cnn/train_search.py`` (batch 64, lr 0.025,
#: lr_min 0.001, momentum 0.9, wd 3e-4, 50 epochs, grad_clip 5, 16 channels,
#: 8 layers, arch lr 3e-4, arch wd 1e-3) and ``cnn/architect.py`` (Adam betas
#: (0.5, 0.999), r = 1e-2; ``Architect.step`` clips the architecture gradient
#: with ``nn.utils.clip_grad_norm(self.model.arch_parameters(), 10.)`` before
#: ``self.optimizer.step()``, checked at quark0/darts commit 8876e79, so
#: ``arch_grad_clip=10``; set ``arch_grad_clip=None`` for no clip).
#: The reference script runs first order unless ``--unrolled`` is given; the
#: published DARTS (2nd order) cell and the LA-DARTS paper's "LA-DARTS (2nd
#: order)" use the unrolled gradient, so the default here is ``order=2``
#: (set ``order=1`` for the script's default, which is also 4x cheaper).
#:
#: ``pcdarts``: yuhuixu1993/PC-DARTS ``train_search.py`` (batch 256, lr 0.1,
#: lr_min 0.001 - the code's value, though the paper describes annealing
#: towards zero -, momentum 0.9, wd 3e-4, 50 epochs, grad_clip 5, arch lr
#: 6e-4, arch wd 1e-3, first order since ``--unrolled`` is off, architecture
#: updated only ``if epoch >= 15``). The script drives the architecture with
#: DARTS's ``Architect`` (``from architect import Architect``); its Adam betas
#: (0.5, 0.999) and gradient clip 10 are taken from quark0/darts
#: ``cnn/architect.py`` (PC-DARTS' own copy was not available to check). PC-DARTS'
#: ImageNet search (``train_search_imagenet.py``) steps the architecture itself and
#: clips its gradient at ``args.grad_clip`` = 5; the CIFAR default here follows the
#: CIFAR script.
#: ``k=4`` from ``model_search.py``.
#:
#: ``pdarts``: chenxin061/pdarts ``train_search.py`` (batch 96, lr 0.025,
#: lr_min 0.0, momentum 0.9, wd 3e-4, 25 epochs per stage, grad_clip 5 for
#: weights *and* architecture weights, arch lr 6e-4, arch wd 1e-3, Adam betas
#: (0.5, 0.999), a plain first-order architecture step, 10 architecture-frozen
#: epochs per stage ``eps_no_archs = [10, 10, 10]``, 5 base layers, skip
#: dropout decay ``scale_factor = 0.2``). The per-stage settings are
#: :data:`PDARTS_STAGES`.
SEARCH_DEFAULTS: dict[str, dict[str, Any]] = {
    "darts": {
        "batch_size": 64,
        "lr": 0.025,
        "lr_min": 0.001,
        "momentum": 0.9,
        "weight_decay": 3e-4,
        "grad_clip": 5.0,
        "train_portion": 0.5,
        "epochs": 50,
        "arch_lr": 3e-4,
        "arch_betas": (0.5, 0.999),
        "arch_weight_decay": 1e-3,
        "arch_grad_clip": 10.0,
        "order": 2,
        "hessian_r": 1e-2,
        "arch_frozen_epochs": 0,
        "C": 16,
        "layers": 8,
    },
    "pcdarts": {
        "batch_size": 256,
        "lr": 0.1,
        "lr_min": 0.001,
        "momentum": 0.9,
        "weight_decay": 3e-4,
        "grad_clip": 5.0,
        "train_portion": 0.5,
        "epochs": 50,
        "arch_lr": 6e-4,
        "arch_betas": (0.5, 0.999),
        "arch_weight_decay": 1e-3,
        "arch_grad_clip": 10.0,
        "order": 1,
        "hessian_r": 1e-2,
        "arch_frozen_epochs": 15,
        "C": 16,
        "layers": 8,
        "k": 4,
    },
    "pdarts": {
        "batch_size": 96,
        "lr": 0.025,
        "lr_min": 0.0,
        "momentum": 0.9,
        "weight_decay": 3e-4,
        "grad_clip": 5.0,
        "train_portion": 0.5,
        "epochs": 25,
        "arch_lr": 6e-4,
        "arch_betas": (0.5, 0.999),
        "arch_weight_decay": 1e-3,
        "arch_grad_clip": 5.0,
        "order": 1,
        "hessian_r": 1e-2,
        "arch_frozen_epochs": 10,
        "C": 16,
        "layers": 5,
    },
}

#: The three P-DARTS stages on CIFAR-10 (chenxin061/pdarts ``train_search.py``
#: and the README's search command): ``add_layers`` 0/6/12 on the base
#: ``layers=5`` (5, 11 and 17 cells), ``add_width`` 0 (the script's default),
#: 8 then 5 then 3 operations per edge (``num_to_drop = [3, 2, 2]``), and
#: initial skip-connect dropout 0.1, 0.4, 0.7 (README: ``--dropout_rate 0.1
#: --dropout_rate 0.4 --dropout_rate 0.7``; without the flags the script uses 0).
PDARTS_STAGES: list[dict[str, Any]] = [
    {"add_layers": 0, "add_width": 0, "num_ops": 8, "skip_dropout": 0.1},
    {"add_layers": 6, "add_width": 0, "num_ops": 5, "skip_dropout": 0.4},
    {"add_layers": 12, "add_width": 0, "num_ops": 3, "skip_dropout": 0.7},
]


def search_defaults(space_name: str) -> dict[str, Any]:
    """A copy of :data:`SEARCH_DEFAULTS` for ``space_name``."""
    if space_name not in SEARCH_DEFAULTS:
        raise UnknownNameError(
            f"no supernet for space {space_name!r} (supernets: {', '.join(SEARCH_DEFAULTS)})"
        )
    return dict(SEARCH_DEFAULTS[space_name])


def search_stages(space_name: str) -> list[dict[str, Any]]:
    """Supernet options of each search stage: one empty stage, three for P-DARTS."""
    if space_name not in SEARCH_DEFAULTS:
        raise UnknownNameError(
            f"no supernet for space {space_name!r} (supernets: {', '.join(SEARCH_DEFAULTS)})"
        )
    if space_name == "pdarts":
        return [dict(stage) for stage in PDARTS_STAGES]
    return [{}]


# --------------------------------------------------------------------------
# Options
# --------------------------------------------------------------------------


class SuperNetOptions(BaseModel):
    """Size of the supernet and how sub-architectures are sampled from it."""

    model_config = ConfigDict(extra="forbid")

    C: int = Field(16, gt=0, description="channels of the first cells (reference: 16)")
    layers: int = Field(8, gt=0, description="number of cells (reference: 8)")
    num_classes: int = Field(10, gt=0)
    in_channels: int = Field(3, gt=0, description="image channels (3 for RGB, 1 for digits)")
    steps: int = Field(4, gt=0, description="intermediate nodes per cell")
    multiplier: int = Field(4, gt=0, description="last nodes concatenated as the cell output")
    stem_multiplier: int = Field(3, gt=0)
    edge_sampling: Literal["uniform", "strength", "betas"] = Field(
        "uniform",
        description=(
            "how the 2 kept edges per node are drawn: uniform (the paper), strength (proportional"
            " to the edge's strongest non-none weight, as the derivation ranks them), betas"
            " (PC-DARTS only: proportional to the edge-normalisation weights)"
        ),
    )


def parse_options(model: type[BaseModel], options: dict[str, Any], what: str) -> Any:
    """Validate options into ``model``; one readable line on error."""
    try:
        return model(**options)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'options'}: {err['msg']}"
            for err in exc.errors()
        )
        known = ", ".join(model.model_fields)
        raise NascostError(f"invalid {what} option ({problems}); known options: {known}") from None


# --------------------------------------------------------------------------
# Building blocks
# --------------------------------------------------------------------------


def cell_edges(steps: int) -> list[tuple[int, int]]:
    """``(node, input)`` per edge, node by node with inputs ascending (the alpha-row order)."""
    return [(node, inp) for node in range(2, 2 + steps) for inp in range(node)]


def node_slices(steps: int) -> list[slice]:
    """The rows of the edges entering each intermediate node."""
    slices, start = [], 0
    for i in range(steps):
        slices.append(slice(start, start + 2 + i))
        start += 2 + i
    return slices


class MixedOp(nn.Module):
    """The softmax-weighted sum of candidate operations on one edge.

    As quark0/darts ``MixedOp``: operations built with ``affine=False``, pooling
    followed by ``BatchNorm2d(C, affine=False)``. ``skip_dropout > 0`` wraps the
    stride-1 skip-connect in dropout, as chenxin061/pdarts ``MixedOp`` does.
    """

    def __init__(
        self, C: int, stride: int, primitives: list[str], skip_dropout: float = 0.0
    ) -> None:
        super().__init__()
        self.primitives = list(primitives)
        self._ops = nn.ModuleList()
        for name in self.primitives:
            op = OPS[name](C, stride, False)
            if "pool" in name:
                op = nn.Sequential(op, nn.BatchNorm2d(C, affine=False))
            if name == "skip_connect" and stride == 1 and skip_dropout > 0:
                op = nn.Sequential(op, nn.Dropout(skip_dropout))
            self._ops.append(op)

    def forward(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        return sum(w * op(x) for w, op in zip(weights, self._ops, strict=True))


class SearchCell(nn.Module):
    """A search cell: preprocessing of both inputs, a mixed operation on every edge.

    Reference: ``Cell`` in quark0/darts ``cnn/model_search.py`` (edges of a
    reduction cell that leave the cell inputs have stride 2; the first input
    is factorized-reduced after a reduction cell). ``edge_weights`` (PC-DARTS)
    scale each edge's output before the node sums them.
    """

    def __init__(
        self,
        steps: int,
        multiplier: int,
        C_prev_prev: int,
        C_prev: int,
        C: int,
        reduction: bool,
        reduction_prev: bool,
        make_op: Callable[[int, int, int], nn.Module],
    ) -> None:
        super().__init__()
        self.reduction = reduction
        if reduction_prev:
            self.preprocess0: nn.Module = FactorizedReduce(C_prev_prev, C, affine=False)
        else:
            self.preprocess0 = ReLUConvBN(C_prev_prev, C, 1, 1, 0, affine=False)
        self.preprocess1 = ReLUConvBN(C_prev, C, 1, 1, 0, affine=False)
        self._steps = steps
        self._multiplier = multiplier
        self._ops = nn.ModuleList()
        edge = 0
        for i in range(steps):
            for j in range(2 + i):
                stride = 2 if reduction and j < 2 else 1
                self._ops.append(make_op(C, stride, edge))
                edge += 1

    def forward(
        self,
        s0: torch.Tensor,
        s1: torch.Tensor,
        weights: torch.Tensor,
        edge_weights: torch.Tensor | None = None,
    ) -> torch.Tensor:
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        offset = 0
        for _ in range(self._steps):
            if edge_weights is None:
                s = sum(self._ops[offset + j](h, weights[offset + j]) for j, h in enumerate(states))
            else:
                s = sum(
                    edge_weights[offset + j] * self._ops[offset + j](h, weights[offset + j])
                    for j, h in enumerate(states)
                )
            offset += len(states)
            states.append(s)
        return torch.cat(states[-self._multiplier :], dim=1)


# --------------------------------------------------------------------------
# Sampling helpers
# --------------------------------------------------------------------------


def pair_inclusion(w: torch.Tensor) -> torch.Tensor:
    """P(edge is one of the 2 drawn) when 2 edges are drawn without replacement,
    each draw proportional to ``w`` among the remaining edges (differentiable)."""
    total = w.sum()
    first = w / total
    # second[e] = sum_{f != e} P(f first) * w_e / (total - w_f)
    ratio = first / (total - w)  # P(f first) / (total - w_f)
    second = w * (ratio.sum() - ratio)
    return first + second


def pair_log_prob(w: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """log P(the unordered pair {a, b} is drawn), as in :func:`pair_inclusion`."""
    total = w.sum()
    wa, wb = w[a], w[b]
    return (
        torch.log(wa)
        + torch.log(wb)
        - torch.log(total)
        + torch.log(1 / (total - wa) + 1 / (total - wb))
    )


def _uniform(m: int, n: int, generator: torch.Generator | None) -> torch.Tensor:
    device = generator.device if generator is not None else torch.device("cpu")
    u = torch.rand(m, n, generator=generator, device=device, dtype=torch.float64)
    return u.clamp_(min=1e-300, max=1 - 1e-16).cpu()


# --------------------------------------------------------------------------
# The DARTS supernet (and the base of the others)
# --------------------------------------------------------------------------


class DartsSuperNet(SuperNet):
    """The DARTS search network (quark0/darts ``cnn/model_search.py`` ``Network``).

    Every edge mixes the 8 primitives with softmax(alpha); ``alphas_normal`` and
    ``alphas_reduce`` are ``[14, 8]`` and initialised to ``1e-3 * randn`` as in
    the reference. With ``C=16``, 8 layers and 10 classes the network has
    1,930,618 weights, the reference's "param size = 1.930618MB".
    """

    method: ClassVar[str] = "darts"
    has_betas: ClassVar[bool] = False
    relaxations: ClassVar[tuple[str, ...]] = ("softmax", "dirichlet")
    Options: ClassVar[type[SuperNetOptions]] = SuperNetOptions

    def __init__(self, space: SearchSpace, options: SuperNetOptions) -> None:
        super().__init__()
        self.space = space
        self.options = options
        self._check_options()
        o = options
        self.edges = cell_edges(o.steps)
        self.num_edges = len(self.edges)
        self.node_slices = node_slices(o.steps)
        C, layers = self._width(), self._layers()
        C_curr = o.stem_multiplier * C
        self.stem = nn.Sequential(
            nn.Conv2d(o.in_channels, C_curr, 3, padding=1, bias=False),
            nn.BatchNorm2d(C_curr),
        )
        C_prev_prev, C_prev, C_curr = C_curr, C_curr, C
        self.cells = nn.ModuleList()
        reduction_prev = False
        for i in range(layers):
            reduction = i in (layers // 3, 2 * layers // 3)
            if reduction:
                C_curr *= 2
            cell_type = "reduce" if reduction else "normal"
            cell = SearchCell(
                o.steps,
                o.multiplier,
                C_prev_prev,
                C_prev,
                C_curr,
                reduction,
                reduction_prev,
                lambda c, stride, edge, t=cell_type: self._make_op(c, stride, t, edge),
            )
            reduction_prev = reduction
            self.cells.append(cell)
            C_prev_prev, C_prev = C_prev, o.multiplier * C_curr
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(C_prev, o.num_classes)
        self._init_arch()

    # --- construction hooks -------------------------------------------------
    def _width(self) -> int:
        return self.options.C

    def _layers(self) -> int:
        return self.options.layers

    def _check_options(self) -> None:
        o = self.options
        if o.multiplier > o.steps:
            raise NascostError(f"multiplier ({o.multiplier}) cannot exceed steps ({o.steps})")
        if self._width() % 2:
            raise NascostError(
                f"C={self._width()} must be even: factorized reduction halves the channels in two"
            )
        if o.edge_sampling == "betas" and not self.has_betas:
            raise NascostError(
                f"edge_sampling='betas' needs edge-normalisation betas (pcdarts), not {self.method!r};"
                " use 'uniform' or 'strength'"
            )

    def _make_op(self, C: int, stride: int, cell_type: str, edge: int) -> nn.Module:
        return MixedOp(C, stride, PRIMITIVES)

    def _num_ops(self) -> int:
        return len(PRIMITIVES)

    def _init_arch(self) -> None:
        n = self._num_ops()
        self.alphas_normal = nn.Parameter(1e-3 * torch.randn(self.num_edges, n))
        self.alphas_reduce = nn.Parameter(1e-3 * torch.randn(self.num_edges, n))

    def arch_parameters(self) -> list[nn.Parameter]:
        return [self.alphas_normal, self.alphas_reduce]

    def arch_state(self) -> dict[str, Any]:
        """Architecture weights by name (``alphas_normal``, ..., ``betas_reduce``) as plain lists."""
        arch = {id(p) for p in self.arch_parameters()}
        return {n: p.detach().cpu().tolist() for n, p in self.named_parameters() if id(p) in arch}

    def alpha(self, cell_type: str) -> nn.Parameter:
        return self.alphas_normal if cell_type == "normal" else self.alphas_reduce

    # --- forward ---------------------------------------------------------------
    def mix_weights(self, cell_type: str) -> torch.Tensor:
        """The operation weights each mixed operation uses: softmax(alpha) per edge
        (or a Dirichlet draw, ``relaxation="dirichlet"``; :func:`nascost.space.relax`)."""
        return self.relax(self.alpha(cell_type))

    def edge_weights(self, cell_type: str) -> torch.Tensor | None:
        """Per-edge output scales (PC-DARTS edge normalisation); None = unscaled."""
        return None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weights = {t: self.mix_weights(t) for t in CELL_TYPES}
        edge_w = {t: self.edge_weights(t) for t in CELL_TYPES}
        s0 = s1 = self.stem(x)
        for cell in self.cells:
            t = "reduce" if cell.reduction else "normal"
            s0, s1 = s1, cell(s0, s1, weights[t], edge_w[t])
        out = self.global_pooling(s1)
        return self.classifier(out.flatten(1))

    # --- probabilities in the encoding layout ---------------------------------
    def op_probs(self, cell_type: str) -> torch.Tensor:
        """``[E, 8]``: alpha_tilde, the per-edge softmax of alpha in the encoding layout
        (columns in :data:`PRIMITIVES` order; zero for operations a stage dropped)."""
        return F.softmax(self.alpha(cell_type), dim=-1)

    def op_mask(self, cell_type: str) -> torch.Tensor:
        """``[E, 8]`` bool: the operations a sampled or derived cell may use on each edge."""
        mask = torch.ones(
            self.num_edges, len(PRIMITIVES), dtype=torch.bool, device=self.alphas_normal.device
        )
        mask[:, NONE_INDEX] = False
        return mask

    def sampling_probs(self, cell_type: str) -> torch.Tensor:
        """``[E, 8]``: alpha_tilde renormalised over the allowed (non-none, kept) operations."""
        p = self.op_probs(cell_type) * self.op_mask(cell_type)
        return p / p.sum(-1, keepdim=True)

    def edge_strength(self, cell_type: str) -> torch.Tensor:
        """``[E]``: the derivation's ranking key, the strongest non-none weight on each edge."""
        p = self.op_probs(cell_type).masked_fill(~self.op_mask(cell_type), -1.0)
        return p.max(-1).values

    def edge_sampling_weights(self, cell_type: str) -> torch.Tensor:
        """``[E]``: unnormalised weights for drawing the kept edges of each node."""
        rule = self.options.edge_sampling
        if rule == "uniform":
            return torch.ones(self.num_edges, device=self.alphas_normal.device)
        if rule == "strength":
            return self.edge_strength(cell_type)
        raise NascostError(f"edge_sampling={rule!r} is not available for {self.method!r}")

    def encoded_cells(self) -> tuple[str, ...]:
        """The cells an encoding holds, normal first: the space's ``cells`` option decides."""
        space_opts = getattr(self.space, "options", None)
        return CELL_TYPES if getattr(space_opts, "cells", "both") == "both" else ("normal",)

    @property
    def encoding_dim(self) -> int:
        return len(self.encoded_cells()) * self.num_edges * len(PRIMITIVES)

    # --- sampling -------------------------------------------------------------
    def sample_encodings(self, m: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``[m, D]`` sub-architectures as in the paper (Sec. 3.2), straight-through to alpha.

        Per node 2 distinct incoming edges are drawn (Gumbel-top-2 on the
        ``edge_sampling`` weights, i.e. sequential draws without replacement;
        uniform weights give a uniform pair), and on each kept edge one
        operation from :meth:`sampling_probs`. The values are the hard one-hot
        bits (8 ones per cell); the gradient is that of alpha_tilde
        (``hard + p - p.detach()``: d gamma / d alpha_tilde = I, Eq. 4).
        """
        if m <= 0:
            raise NascostError(f"number of samples must be positive, got {m}")
        parts = []
        n_ops = len(PRIMITIVES)
        for t in self.encoded_cells():
            p = self.op_probs(t)
            q = self.sampling_probs(t).detach().double().cpu()
            w = self.edge_sampling_weights(t).detach().double().cpu()
            keep = torch.zeros(m, self.num_edges, dtype=torch.bool)
            for sl in self.node_slices:
                n = sl.stop - sl.start
                u = _uniform(m, n, generator)
                keys = torch.log(w[sl]).unsqueeze(0) - torch.log(-torch.log(u))
                chosen = keys.topk(2, dim=1).indices + sl.start
                keep.scatter_(1, chosen, True)
            ops = self._draw_ops(q, m, generator)  # [m, E]
            hard = torch.zeros(m, self.num_edges, n_ops)
            hard.scatter_(2, ops.unsqueeze(-1), 1.0)
            hard = (hard * keep.unsqueeze(-1)).to(device=p.device, dtype=p.dtype)
            enc = hard + (p - p.detach()).unsqueeze(0)
            parts.append(enc.reshape(m, -1))
        return torch.cat(parts, dim=1)

    @staticmethod
    def _draw_ops(q: torch.Tensor, m: int, generator: torch.Generator | None) -> torch.Tensor:
        """``[m, E]`` operation indices, one categorical draw per edge and sample (inverse CDF)."""
        u = _uniform(m, q.shape[0], generator)  # [m, E]
        cdf = q.cumsum(-1)  # zero-probability columns never hold the first cdf >= u
        target = (u * cdf[:, -1]).unsqueeze(-1)  # u < 1, so never past the last allowed column
        idx = torch.searchsorted(cdf.unsqueeze(0).expand(m, -1, -1).contiguous(), target)
        return idx.squeeze(-1)

    def encoding_marginals(self) -> torch.Tensor:
        """``[D]``: P(bit = 1) = P(edge kept) * q(op), differentiable in the architecture weights.

        With uniform edges P(edge kept) = 2 / (inputs of its node); the bits of
        one cell sum to 2 * steps = 8.
        """
        parts = []
        for t in self.encoded_cells():
            q = self.sampling_probs(t)
            w = self.edge_sampling_weights(t)
            incl = torch.cat([pair_inclusion(w[sl]) for sl in self.node_slices])
            parts.append((incl.unsqueeze(-1) * q).reshape(-1))
        return torch.cat(parts)

    def log_prob(self, encodings: torch.Tensor) -> torch.Tensor:
        """``[m]``: log-probability of hard encodings under :meth:`sample_encodings`.

        The sum over nodes of log P(its pair of kept edges) (a constant for
        uniform edges) plus, over kept edges, log q(op). Encodings that the
        sampler cannot produce get ``-inf``.
        """
        if encodings.dim() != 2 or encodings.shape[1] != self.encoding_dim:
            raise NascostError(
                f"encodings must be [m, {self.encoding_dim}], got {list(encodings.shape)}"
            )
        m = encodings.shape[0]
        n_ops = len(PRIMITIVES)
        bits = encodings.detach().reshape(m, len(self.encoded_cells()), self.num_edges, n_ops) > 0.5
        total = None
        for c, t in enumerate(self.encoded_cells()):
            q = self.sampling_probs(t)
            w = self.edge_sampling_weights(t)
            b = bits[:, c].to(q.device)
            count = b.sum(-1)  # [m, E]
            kept = count > 0
            op = b.float().argmax(-1)  # [m, E]
            qsel = q.gather(1, op.T).T  # [m, E]
            impossible = kept & (qsel <= 0)  # none, or an operation the stage dropped
            # log only of probabilities that count (log(0) would poison the gradient with NaN)
            qsel = torch.where(kept & ~impossible, qsel, torch.ones_like(qsel))
            lp = torch.log(qsel).sum(-1)
            valid = (count <= 1).all(-1) & ~impossible.any(-1)
            for sl in self.node_slices:
                k = kept[:, sl]
                valid = valid & (k.sum(-1) == 2)
                pair = k.float().topk(2, dim=1).indices  # [m, 2]
                lp = lp + pair_log_prob(w[sl], pair[:, 0], pair[:, 1])
            lp = torch.where(valid, lp, torch.full_like(lp, -math.inf))
            total = lp if total is None else total + lp
        assert total is not None
        return total

    # --- derivation -----------------------------------------------------------
    def derive_weights(self, cell_type: str) -> torch.Tensor:
        """``[E, 8]`` weights the derivation ranks: alpha_tilde, -1 where an operation is absent."""
        p = self.op_probs(cell_type).detach().cpu().double()
        present = self.op_mask(cell_type).cpu()
        present[:, NONE_INDEX] = True
        return p.masked_fill(~present, -1.0)

    def parse_cell(self, W: torch.Tensor) -> list[tuple[str, int]]:
        """The reference ``genotype()._parse``: per node the 2 edges whose strongest
        non-none weight is largest (stable order on ties, strongest first), and on
        each its strongest non-none operation (first one on ties)."""
        rows = W.tolist()
        gene: list[tuple[str, int]] = []
        for sl in self.node_slices:
            node_rows = rows[sl]
            n = len(node_rows)

            def strength(x: int, node_rows: list[list[float]] = node_rows) -> float:
                return max(v for k, v in enumerate(node_rows[x]) if k != NONE_INDEX)

            edges = sorted(range(n), key=lambda x: -strength(x))[:2]
            for j in edges:
                k_best = None
                for k, v in enumerate(node_rows[j]):
                    if k != NONE_INDEX and (k_best is None or v > node_rows[j][k_best]):
                        k_best = k
                assert k_best is not None
                gene.append((PRIMITIVES[k_best], j))
        return gene

    def genotype_spec(self) -> dict[str, Any]:
        """The derived genotype as a JSON-able dict (the reference ``Genotype`` fields)."""
        o = self.options
        concat = list(range(2 + o.steps - o.multiplier, o.steps + 2))
        spec: dict[str, Any] = {}
        for t in CELL_TYPES:
            spec[t] = [[op, inp] for op, inp in self.parse_cell(self.derive_weights(t))]
            spec[f"{t}_concat"] = concat
        return spec

    def derive(self) -> Architecture:
        o = self.options
        if (o.steps, o.multiplier) != (4, 4):
            raise NascostError(
                f"a DARTS genotype has 4 intermediate nodes, all concatenated; this supernet has"
                f" steps={o.steps}, multiplier={o.multiplier}: build it with the defaults to derive"
            )
        return self.space.validate(self.genotype_spec())


# --------------------------------------------------------------------------
# Dispatch
# --------------------------------------------------------------------------


def make_supernet(space: SearchSpace, previous: SuperNet | None = None, **options: Any) -> SuperNet:
    """The supernet of ``space`` (``darts``, ``pcdarts`` or ``pdarts``).

    ``options`` are the supernet's size and sampling options (see
    :class:`SuperNetOptions` and the method's options class) plus one stage
    of :func:`search_stages`; ``previous`` is the previous stage's supernet
    (P-DARTS keeps only its strongest operations).
    """
    from nascost_darts.supernet_pcdarts import PCDartsSuperNet
    from nascost_darts.supernet_pdarts import PDartsSuperNet

    classes: dict[str, type[DartsSuperNet]] = {
        "darts": DartsSuperNet,
        "pcdarts": PCDartsSuperNet,
        "pdarts": PDartsSuperNet,
    }
    name = space.name
    if name not in classes:
        raise UnknownNameError(f"no supernet for space {name!r} (supernets: {', '.join(classes)})")
    cls = classes[name]
    opts = parse_options(cls.Options, options, f"{name} supernet")
    if cls is PDartsSuperNet:
        return PDartsSuperNet(space, opts, previous=previous)
    if previous is not None:
        raise NascostError(f"the {name} search has a single stage: it takes no previous supernet")
    return cls(space, opts)
