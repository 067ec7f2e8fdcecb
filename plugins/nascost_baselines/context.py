"""Predictors built from the space itself: ``flops`` (counted) and ``lut`` (measured in context).

Both are additive in the encoding, ``cost(x) = c + x @ w``, built by the same
*one-op substitution design*, which needs nothing from a space but its
public interface (``sample``, ``encode``, ``decode``, ``build``, ``count``):

1. Draw ``bases`` base architectures (seeded). For each base with one-hot
   encoding ``e0``, every bit ``i`` that is 0 in ``e0`` and every 1-bit
   ``j``, ``e0`` with ``j`` moved to ``i`` is a *neighbour* if
   ``space.decode`` accepts it and ``space.encode(decode(e)) == e``: a valid
   architecture differing from the base in exactly one operation at one edge
   position. In a DARTS cell that is the same edge with another operation,
   or one of the node's two inputs switched to ``i``'s edge. Neighbours are
   kept only while they link bits not yet linked (a spanning forest), which
   is the fewest networks that still identify the sums below. Bits no valid
   neighbour reaches (``none``) get weight 0.
2. Cost every base and neighbour in the setting: its MACs (``flops``,
   ``space.count``) or its measured cost (``lut``, the measurer's median at
   the batch size). Each neighbour is a whole network, so every entry is the
   operation's cost *in context*: at its edge, stage, channels, resolution
   and stride, with the stems, preprocessing and classifier included once.
3. Solve ``c + E w = cost`` by least squares. Every valid architecture has
   the same number of operations, so a shared shift of all ``w`` against
   ``c`` is not identifiable from whole networks; the solution taken is the
   one with the smallest ``||w||`` (``c`` unpenalised), which is the
   network's fixed part plus the mean per-operation cost. Because bits that
   can replace each other are linked through neighbours, the only other free
   directions are shifts within groups of bits that every valid
   architecture uses equally often (a DARTS node always has two
   operations), so predictions of valid architectures do not depend on
   these choices.

Assumption: the cost is additive over the encoded operations. That is
exact for MACs when the encoding covers every varying operation, and it is
the lookup-table hypothesis that the paper argues fails for latency in cell
spaces; :attr:`check` architectures drawn afterwards measure how well it
holds (``check_mape`` in the build info).
"""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np
import torch
from pydantic import Field

from nascost.errors import NascostError
from nascost.predict import CostPredictor, ProgressFn
from nascost.records import Architecture, Setting


def _decoder(space: Any, base: Architecture) -> Any:
    """``decode`` keeping the base's unencoded parts where the space supports it.

    A space whose ``decode`` takes a second argument (the DARTS spaces:
    ``reduce``, the reduction cell a normal-cell encoding does not hold) gets
    the base architecture there, so neighbours differ from the base only in
    the encoded operation. An encoding that holds the whole base needs no such help.
    """
    if space.decode(space.encode([base])[0]).key() == base.key():
        return space.decode  # the encoding holds the whole architecture (DARTS with cells="both")
    params = list(inspect.signature(space.decode).parameters.values())
    if len(params) >= 2 and params[1].kind in (params[1].POSITIONAL_OR_KEYWORD, params[1].POSITIONAL_ONLY):
        return lambda e: space.decode(e, base)
    return space.decode


def one_op_neighbours(space: Any, base: Architecture) -> list[tuple[int, int, Architecture]]:
    """Valid architectures that move one 1-bit ``j`` of ``base``'s encoding to a 0-bit ``i``.

    Returns ``(i, j, architecture)``, one per substitution that links two
    bits not yet linked (a spanning forest over "can replace each other"):
    every bit that can enter the base is reached, and bits that can replace
    each other end up in one group (in a DARTS cell: one group per node), so
    the least-squares solution is unique up to shifts that cancel for valid
    architectures, with the fewest networks to cost (93 for a DARTS cell).
    """
    decode = _decoder(space, base)
    e0 = space.encode([base])[0].to(torch.float32)
    on = [int(j) for j in torch.nonzero(e0 > 0.5).flatten()]
    parent = list(range(e0.numel()))

    def root(k: int) -> int:
        while parent[k] != k:
            parent[k] = parent[parent[k]]
            k = parent[k]
        return k

    out: list[tuple[int, int, Architecture]] = []
    for i in range(e0.numel()):
        if e0[i] > 0.5:
            continue
        for j in on:
            if root(i) == root(j):
                continue
            e = e0.clone()
            e[j], e[i] = 0.0, 1.0
            try:
                arch = decode(e)
                back = space.encode([arch])[0].to(torch.float32)
            except Exception:  # an invalid encoding: not a neighbour
                continue
            if torch.equal(back, e):
                out.append((i, j, arch))
                parent[root(i)] = root(j)
    return out


def design(space: Any, bases: int, seed: int) -> tuple[list[Architecture], list[Architecture]]:
    """``(base architectures, bases followed by their one-op neighbours)``, without duplicates."""
    rng = np.random.default_rng(seed)
    seen: set[str] = set()
    archs: list[Architecture] = []
    base_archs = [space.sample(rng) for _ in range(bases)]
    for base in base_archs:
        for a in [base, *(arch for _, _, arch in one_op_neighbours(space, base))]:
            if a.key() not in seen:
                seen.add(a.key())
                archs.append(a)
    return base_archs, archs


def solve_additive(enc: np.ndarray, costs: np.ndarray) -> tuple[float, np.ndarray]:
    """``(c, w)`` with ``c + enc @ w ~= costs`` and the smallest ``||w||`` among exact-fit directions."""
    mean_e = enc.mean(axis=0)
    mean_y = costs.mean()
    w, *_ = np.linalg.lstsq(enc - mean_e, costs - mean_y, rcond=None)
    reached = enc.max(axis=0) > 0.5
    w = np.where(reached, w, 0.0)
    return float(mean_y - mean_e @ w), w


class _Additive(CostPredictor):
    """``c + x @ w``: exact expectation under independent bits, differentiable."""

    differentiable = True
    requires_fit = False
    additive = True

    class Options(CostPredictor.Options):
        bases: int = Field(default=1, gt=0, description="base architectures of the one-op substitution design")
        check: int = Field(default=5, ge=0, description="random architectures costed to check additivity")
        seed: int = 0

    def __init__(self, options: Any = None, **kwargs: Any) -> None:
        super().__init__(options, **kwargs)
        self.weights: torch.Tensor | None = None
        self.constant = 0.0
        self.info: dict[str, Any] = {}

    def fit(self, x: torch.Tensor, y: torch.Tensor, **_: Any) -> CostPredictor:
        raise NascostError(
            f"predictor {self.name!r} is built from the space, not fitted on data: "
            f"use 'nascost fit --predictor {self.name} --space SPACE --setting S' (no --db)"
        )

    def _cost(self, space: Any, arch: Architecture, setting: Setting, measurer: Any, batch_size: int) -> float:
        raise NotImplementedError

    def build(
        self,
        space: Any,
        setting: Setting,
        measurer: Any = None,
        *,
        batch_size: int | None = None,
        progress: ProgressFn | None = None,
    ) -> CostPredictor:
        o = self.options
        bases, archs = design(space, o.bases, o.seed)
        # check architectures keep the first base's unencoded parts, as the design does
        decode = _decoder(space, bases[0])
        drawn = space.sample_many(o.check, np.random.default_rng(o.seed + 1_000_003)) if o.check else []
        checks = [decode(e) for e in space.encode(drawn)] if drawn else []
        total = len(archs) + len(checks)
        bs = batch_size or (measurer.default_batch_size if measurer is not None else 1)
        costs = []
        for k, arch in enumerate([*archs, *checks]):
            costs.append(self._cost(space, arch, setting, measurer, bs))
            if progress:
                progress(k + 1, total, "design" if k < len(archs) else "check")
        enc = space.encode(archs).to(torch.float64).numpy()
        y = np.asarray(costs[: len(archs)], dtype=np.float64)
        c, w = solve_additive(enc, y)
        self.constant = c
        self.weights = torch.as_tensor(w, dtype=torch.float64)
        fitted = c + enc @ w
        info: dict[str, Any] = {
            "design_size": len(archs),
            "design_rms_residual": float(np.sqrt(np.mean((fitted - y) ** 2))),
            "unreached_bits": int((enc.max(axis=0) < 0.5).sum()),
            "batch_size": bs,
        }
        if checks:
            yc = np.asarray(costs[len(archs):], dtype=np.float64)
            pc = self.predict(space.encode(checks).to(torch.float64)).numpy()
            info["check_mape"] = float(100 * np.mean(np.abs(pc - yc) / np.abs(yc)))
        self.info = info
        return self

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        if self.weights is None:
            raise NascostError(f"{self.name} predictor is not built; build it for a space and setting")
        x = torch.as_tensor(x)
        if x.shape[-1] != self.weights.shape[0]:
            raise NascostError(f"{self.name} expects {self.weights.shape[0]}-wide encodings, got {x.shape[-1]}")
        dtype = x.dtype if x.is_floating_point() else torch.float64
        return x.to(dtype) @ self.weights.to(device=x.device, dtype=dtype) + self.constant

    def get_state(self) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
        if self.weights is None:
            raise NascostError(f"{self.name} predictor is not built; nothing to save")
        return {"constant": self.constant, "info": self.info}, {"weights": self.weights}

    def set_state(self, state: dict[str, Any], tensors: dict[str, torch.Tensor]) -> None:
        self.constant = float(state["constant"])
        self.info = dict(state.get("info") or {})
        self.weights = tensors["weights"].to(torch.float64)


class FlopsPredictor(_Additive):
    """Exact MACs from per-operation counts in context; linear in the encoding (FLOPs-aware baseline)."""

    name = "flops"
    device_independent = True

    def _cost(self, space: Any, arch: Architecture, setting: Setting, measurer: Any, batch_size: int) -> float:
        return float(space.count(arch, setting)["macs"])


class LookupTable(_Additive):
    """Lookup table of per-operation cost measured in context; the sum predicts (FBNet-style)."""

    name = "lut"

    def build(self, space: Any, setting: Setting, measurer: Any = None, **kwargs: Any) -> CostPredictor:
        if measurer is None:
            raise NascostError("building a lut needs a measurer (e.g. --measurer cpu-timer)")
        measurer.require_available()
        return super().build(space, setting, measurer, **kwargs)

    def _cost(self, space: Any, arch: Architecture, setting: Setting, measurer: Any, batch_size: int) -> float:
        from nascost.collect import (
            measure_one,  # the campaign's path: paired reference, measurement build
        )

        return float(measure_one(space, measurer, arch, setting, batch_size)[0].value)
