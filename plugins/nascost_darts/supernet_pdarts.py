"""The P-DARTS supernet: progressive stages that keep fewer operations on deeper networks.

Reference: chenxin061/pdarts ``model_search.py`` and ``train_search.py``.

* **Stages** (:data:`~nascost_darts.supernet.PDARTS_STAGES`): 5, 11 and 17 cells
  (``layers + add_layers``), with 8, 5 and 3 candidate operations per edge. A
  stage is built from the previous stage's supernet: on every edge the
  operations with the lowest softmax(alpha) are dropped (the reference
  ``get_min_k``; ``none`` is ranked like any other operation and may survive,
  ties go to the lower primitive index). Normal and reduction cells drop
  separately. Each stage starts from fresh weights and ``1e-3 * randn`` alphas
  over its kept operations (``[14, num_ops]``).
* **Skip-connect dropout**: with ``skip_dropout > 0`` every stride-1
  skip-connect is followed by dropout; :meth:`PDartsSuperNet.on_epoch` sets its
  rate as the reference: ``rate * (epochs - epoch - 1) / epochs`` during the
  ``dropout_warmup_epochs`` architecture-frozen epochs, then
  ``rate * exp(-(epoch - warmup) * dropout_decay)`` with ``dropout_decay = 0.2``.
* **Derivation**: the DARTS rule on the kept operations (never ``none``), then
  at most ``max_skip_connect`` (2) skip-connects in the normal cell: while there
  are more, the selected skip-connect with the lowest weight has its weight set
  to 0 and the cell is derived again (the reference ``delete_min_sk_prob`` +
  ``keep_1_on`` + ``keep_2_branches`` loop). The reference applies this only
  after the last stage; here :meth:`derive` applies it in every stage so that
  every reported cell obeys the limit (``max_skip_connect=None`` disables it).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from nascost.errors import NascostError
from nascost_darts.ops import PRIMITIVES
from nascost_darts.supernet import (
    CELL_TYPES,
    NONE_INDEX,
    SKIP_INDEX,
    DartsSuperNet,
    MixedOp,
    SuperNetOptions,
)

if TYPE_CHECKING:
    from nascost.space import SearchSpace, SuperNet


class PDartsOptions(SuperNetOptions):
    layers: int = Field(
        5, gt=0, description="base number of cells (reference: 5); a stage adds add_layers"
    )
    add_layers: int = Field(0, ge=0, description="cells added in this stage (reference: 0, 6, 12)")
    add_width: int = Field(0, ge=0, description="channels added to C in this stage (reference: 0)")
    num_ops: int = Field(
        8, ge=2, le=len(PRIMITIVES), description="candidate operations per edge (8, 5, 3)"
    )
    skip_dropout: float = Field(
        0.0, ge=0.0, lt=1.0, description="initial dropout rate after skip-connects (0.1, 0.4, 0.7)"
    )
    dropout_warmup_epochs: int = Field(
        10,
        ge=0,
        description="epochs of linear dropout decay; keep equal to the search's arch_frozen_epochs",
    )
    dropout_decay: float = Field(
        0.2, ge=0.0, description="exponential decay of the dropout rate (scale_factor)"
    )
    max_skip_connect: int | None = Field(
        2, ge=0, description="skip-connects allowed in the derived normal cell"
    )
    kept_ops: dict[str, list[list[str]]] | None = Field(
        None,
        description="operations kept per edge {'normal': [[op, ...] x 14], 'reduce': ...} (for resuming)",
    )


class PDartsSuperNet(DartsSuperNet):
    """One P-DARTS stage. Alphas are ``[14, num_ops]`` over the kept operations of each edge."""

    method: ClassVar[str] = "pdarts"
    Options: ClassVar[type[SuperNetOptions]] = PDartsOptions
    options: PDartsOptions

    def __init__(
        self, space: SearchSpace, options: PDartsOptions, previous: SuperNet | None = None
    ) -> None:
        self._kept = _resolve_kept(options, previous, options.steps)
        super().__init__(space, options)
        # primitive indices of the kept operations, ascending, per cell type: [E, num_ops]
        for t in CELL_TYPES:
            self.register_buffer(f"kept_{t}", torch.tensor(self._kept[t], dtype=torch.long))
        self.drop_rate = options.skip_dropout

    def _width(self) -> int:
        return self.options.C + self.options.add_width

    def _layers(self) -> int:
        return self.options.layers + self.options.add_layers

    def _num_ops(self) -> int:
        return self.options.num_ops

    def _make_op(self, C: int, stride: int, cell_type: str, edge: int) -> nn.Module:
        names = [PRIMITIVES[i] for i in self._kept[cell_type][edge]]
        return MixedOp(C, stride, names, skip_dropout=self.options.skip_dropout)

    def kept(self, cell_type: str) -> torch.Tensor:
        return self.kept_normal if cell_type == "normal" else self.kept_reduce

    def kept_ops(self) -> dict[str, list[list[str]]]:
        """The operations each edge keeps, by name (the ``kept_ops`` option rebuilds this stage)."""
        return {t: [[PRIMITIVES[i] for i in row] for row in self._kept[t]] for t in CELL_TYPES}

    def load_state_dict(
        self, state_dict: Mapping[str, Any], strict: bool = True, assign: bool = False
    ) -> Any:
        """Refuse a state saved with other kept operations: the layers would not match the names."""
        for t in CELL_TYPES:
            saved = state_dict.get(f"kept_{t}")
            if saved is not None and saved.tolist() != self._kept[t]:
                raise NascostError(
                    f"this P-DARTS state was saved with other kept operations in the {t} cell;"
                    " rebuild the stage from its previous stage or with kept_ops"
                )
        return super().load_state_dict(state_dict, strict=strict, assign=assign)

    # --- probabilities ---------------------------------------------------------
    def op_probs(self, cell_type: str) -> torch.Tensor:
        """softmax over the kept operations, scattered into the 8 primitive columns (0 elsewhere)."""
        probs = F.softmax(self.alpha(cell_type), dim=-1)
        out = torch.zeros(self.num_edges, len(PRIMITIVES), dtype=probs.dtype, device=probs.device)
        return out.scatter(1, self.kept(cell_type), probs)

    def op_mask(self, cell_type: str) -> torch.Tensor:
        mask = torch.zeros(
            self.num_edges, len(PRIMITIVES), dtype=torch.bool, device=self.alphas_normal.device
        )
        mask.scatter_(1, self.kept(cell_type), True)
        mask[:, NONE_INDEX] = False
        return mask

    # --- skip-connect dropout schedule ------------------------------------------
    def on_epoch(self, epoch: int, epochs: int) -> None:
        """Set the skip-connect dropout rate for ``epoch`` of this stage (reference schedule)."""
        o = self.options
        if epoch < o.dropout_warmup_epochs:
            p = o.skip_dropout * (epochs - epoch - 1) / epochs
        else:
            p = o.skip_dropout * math.exp(-(epoch - o.dropout_warmup_epochs) * o.dropout_decay)
        self.drop_rate = p
        for module in self.modules():
            if isinstance(module, nn.Dropout):
                module.p = p

    # --- derivation -------------------------------------------------------------
    def genotype_spec(self) -> dict[str, Any]:
        """The DARTS rule on the kept operations, then the normal cell's skip-connect limit.

        Each node's two pairs are listed by ascending input, as the reference
        ``parse_network`` reads them off the switches."""
        spec = super().genotype_spec()
        limit = self.options.max_skip_connect
        if limit is not None:
            spec["normal"] = [[op, inp] for op, inp in self._limit_skips(limit)]
        for t in CELL_TYPES:
            pairs = spec[t]
            spec[t] = [
                p
                for k in range(0, len(pairs), 2)
                for p in sorted(pairs[k : k + 2], key=lambda p: p[1])
            ]
        return spec

    def _limit_skips(self, limit: int) -> list[tuple[str, int]]:
        W = self.derive_weights("normal")
        removed: set[int] = set()
        gene = self.parse_cell(W)
        while True:
            skips = []
            for n_idx, sl in enumerate(self.node_slices):
                for op, inp in gene[2 * n_idx : 2 * n_idx + 2]:
                    edge = sl.start + inp
                    if op == "skip_connect" and edge not in removed:
                        skips.append((W[edge, SKIP_INDEX].item(), edge))
            n_skip = sum(1 for op, _ in gene if op == "skip_connect")
            if n_skip <= limit or not skips:
                return gene
            _, edge = min(skips)  # lowest weight; ties: lowest edge index, as np.argmin
            W[edge, SKIP_INDEX] = 0.0
            removed.add(edge)
            gene = self.parse_cell(W)


def _resolve_kept(
    options: PDartsOptions, previous: SuperNet | None, steps: int
) -> dict[str, list[list[int]]]:
    """Primitive indices kept per edge: all 8, the given ``kept_ops``, or the previous stage's minus its weakest."""
    num_edges = sum(2 + i for i in range(steps))
    n = options.num_ops
    if options.kept_ops is not None:
        if previous is not None:
            raise NascostError("give either a previous P-DARTS stage or kept_ops, not both")
        kept = {}
        for t in CELL_TYPES:
            rows = options.kept_ops.get(t)
            if rows is None or len(rows) != num_edges:
                raise NascostError(
                    f"kept_ops[{t!r}] must list the kept operations of all {num_edges} edges"
                )
            idx_rows = []
            for e, row in enumerate(rows):
                unknown = [name for name in row if name not in PRIMITIVES]
                if unknown:
                    raise NascostError(f"kept_ops[{t!r}][{e}]: unknown operation {unknown[0]!r}")
                if len(set(row)) != n:
                    raise NascostError(
                        f"kept_ops[{t!r}][{e}] must name {n} distinct operations (num_ops={n})"
                    )
                idx_rows.append(sorted(PRIMITIVES.index(name) for name in row))
            if any(all(i == NONE_INDEX for i in r) for r in idx_rows):
                raise NascostError(
                    f"kept_ops[{t!r}]: every edge needs an operation other than none"
                )
            kept[t] = idx_rows
        return kept
    if previous is None:
        if n != len(PRIMITIVES):
            raise NascostError(
                f"a P-DARTS stage with num_ops={n} is built from the previous stage's supernet"
                " (pass previous=...) or from kept_ops"
            )
        return {t: [list(range(n)) for _ in range(num_edges)] for t in CELL_TYPES}
    if not isinstance(previous, PDartsSuperNet):
        raise NascostError(
            f"the previous stage must be a P-DARTS supernet, got {type(previous).__name__}"
        )
    prev_n = previous.options.num_ops
    if n > prev_n:
        raise NascostError(
            f"a stage cannot keep more operations ({n}) than the previous one ({prev_n})"
        )
    if previous.num_edges != num_edges:
        raise NascostError(
            "the previous stage has a different number of intermediate nodes (steps)"
        )
    kept = {}
    for t in CELL_TYPES:
        probs = F.softmax(previous.alpha(t).detach().cpu().double(), dim=-1)
        rows = []
        for e in range(num_edges):
            # drop the prev_n - n smallest (stable: ties drop the lower position first, as np.argmin)
            order = torch.sort(probs[e], stable=True).indices.tolist()
            dropped = set(order[: prev_n - n])
            rows.append([previous._kept[t][e][j] for j in range(prev_n) if j not in dropped])
        kept[t] = rows
    return kept
