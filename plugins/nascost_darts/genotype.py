"""Genotypes: the discrete DARTS cell pair, validated and JSON-serialisable.

The format is the reference's ``Genotype`` namedtuple written as JSON::

    {"normal": [["sep_conv_3x3", 0], ["sep_conv_3x3", 1], ...],   # 8 (operation, input) pairs
     "normal_concat": [2, 3, 4, 5],
     "reduce": [["max_pool_3x3", 0], ...],
     "reduce_concat": [2, 3, 4, 5]}

Pairs ``2i`` and ``2i + 1`` are the two inputs of intermediate node ``i + 2``;
input 0 is ``c_{k-2}``, input 1 is ``c_{k-1}``, input ``j >= 2`` is node ``j``.
The order of the two pairs of a node is kept as given (the references store
them in derivation order); the encoding does not depend on it.
"""

from __future__ import annotations

import ast
import difflib
import json
from functools import lru_cache
from importlib import resources
from typing import Any

from pydantic import BaseModel, ConfigDict

from nascost.errors import NascostError
from nascost_darts.encoding import NODES, STEPS
from nascost_darts.ops import PRIMITIVES

#: Every intermediate node is concatenated into the cell output, as in DARTS.
DEFAULT_CONCAT: list[int] = list(NODES)
#: Operations a sub-architecture may use (``none`` only exists in the supernet).
CHOSEN_OPS: list[str] = [p for p in PRIMITIVES if p != "none"]
#: Names of the published cells shipped in ``genotypes.json``.
PRESET_NAMES: list[str] = ["DARTS_V1", "DARTS_V2", "PC_DARTS_cifar", "PC_DARTS_image", "PDARTS"]

Cell = list[tuple[str, int]]


class Genotype(BaseModel):
    """A normal and a reduction cell, each 4 nodes x 2 (operation, input) pairs.

    Build with :meth:`parse` (or :meth:`from_json`) to get one-line
    :class:`~nascost.errors.NascostError` messages instead of pydantic's.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    normal: Cell
    normal_concat: list[int] = DEFAULT_CONCAT
    reduce: Cell
    reduce_concat: list[int] = DEFAULT_CONCAT

    @classmethod
    def parse(cls, data: Any) -> Genotype:
        """Validate a dict (the JSON format above); raise NascostError naming the first problem."""
        if isinstance(data, Genotype):
            return data
        if not isinstance(data, dict):
            raise NascostError(
                f"a genotype must be a JSON object with keys normal, normal_concat, reduce, "
                f"reduce_concat; got {type(data).__name__}"
            )
        allowed = ("normal", "normal_concat", "reduce", "reduce_concat")
        extra = [k for k in data if k not in allowed]
        if extra:
            hint = difflib.get_close_matches(str(extra[0]), allowed, n=1)
            more = f"; did you mean {hint[0]!r}?" if hint else ""
            raise NascostError(f"genotype has unknown key {extra[0]!r} (keys: {', '.join(allowed)}{more})")
        for cell in ("normal", "reduce"):
            if cell not in data:
                raise NascostError(f"genotype has no {cell!r} cell (keys: {', '.join(allowed)})")
        fields: dict[str, Any] = {}
        for cell in ("normal", "reduce"):
            fields[cell] = _check_cell(cell, data[cell])
            concat_key = f"{cell}_concat"
            fields[concat_key] = _check_concat(concat_key, data.get(concat_key, DEFAULT_CONCAT))
        return cls(**fields)

    @classmethod
    def from_json(cls, text: str) -> Genotype:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise NascostError(f"malformed genotype JSON ({exc})") from None
        return cls.parse(data)

    @classmethod
    def from_reference_text(cls, text: str) -> Genotype:
        """Parse the references' printed form, ``Genotype(normal=[('sep_conv_3x3', 0), ...],
        normal_concat=range(2, 6), reduce=[...], reduce_concat=range(2, 6))``, as their
        search logs and ``genotypes.py`` write it. Only literals and ``range(a, b)`` are
        accepted: nothing is evaluated."""
        try:
            tree = ast.parse(text.strip(), mode="eval")
        except SyntaxError as exc:
            raise NascostError(f"malformed Genotype(...) text ({exc.msg}, line {exc.lineno})") from None
        call = tree.body
        if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == "Genotype"):
            raise NascostError("expected text of the form Genotype(normal=[...], normal_concat=..., reduce=[...], reduce_concat=...)")
        if call.args:
            raise NascostError("Genotype(...) text must use keywords: normal=, normal_concat=, reduce=, reduce_concat=")
        data: dict[str, Any] = {}
        for kw in call.keywords:
            value = kw.value
            if (
                isinstance(value, ast.Call)
                and isinstance(value.func, ast.Name)
                and value.func.id == "range"
                and not value.keywords
            ):
                try:
                    bounds = [ast.literal_eval(a) for a in value.args]
                    data[str(kw.arg)] = list(range(*bounds))
                except (ValueError, TypeError):
                    raise NascostError(f"Genotype(...) text: {kw.arg} has a malformed range(...)") from None
                continue
            try:
                literal = ast.literal_eval(value)
            except ValueError:
                raise NascostError(f"Genotype(...) text: {kw.arg} must be a literal list") from None
            data[str(kw.arg)] = [list(p) if isinstance(p, tuple) else p for p in literal] if isinstance(literal, list | tuple) else literal
        return cls.parse(data)

    def to_spec(self) -> dict[str, Any]:
        """Plain JSON types (lists, not tuples): the ``Architecture.spec`` of this genotype."""
        return {
            "normal": [[op, idx] for op, idx in self.normal],
            "normal_concat": list(self.normal_concat),
            "reduce": [[op, idx] for op, idx in self.reduce],
            "reduce_concat": list(self.reduce_concat),
        }

    def to_json(self, **kwargs: Any) -> str:
        return json.dumps(self.to_spec(), **kwargs)

    def cell(self, which: str) -> Cell:
        if which not in ("normal", "reduce"):
            raise ValueError(f"cell must be 'normal' or 'reduce', got {which!r}")
        return self.normal if which == "normal" else self.reduce

    def concat(self, which: str) -> list[int]:
        return self.normal_concat if which == "normal" else self.reduce_concat


def _check_cell(cell: str, pairs: Any) -> Cell:
    expected = 2 * STEPS
    if not isinstance(pairs, list | tuple):
        raise NascostError(
            f"{cell} cell must be a list of {expected} [operation, input] pairs, got {type(pairs).__name__}"
        )
    if len(pairs) != expected:
        raise NascostError(
            f"{cell} cell has {len(pairs)} edges; a cell needs exactly {expected} "
            f"(2 incoming edges for each of its {STEPS} intermediate nodes)"
        )
    out: Cell = []
    for i, pair in enumerate(pairs):
        node = NODES[i // 2]
        where = f"{cell} cell, edge {i} (node {node})"
        if not (isinstance(pair, list | tuple) and len(pair) == 2):
            raise NascostError(f"{where}: expected an [operation, input] pair, got {pair!r}")
        op, idx = pair
        if not isinstance(op, str):
            raise NascostError(f"{where}: the operation must be a name (string), got {op!r}")
        if op == "none":
            raise NascostError(
                f"{where}: 'none' is not allowed in a genotype (it only exists in the supernet); "
                f"use one of {', '.join(CHOSEN_OPS)}"
            )
        if op not in PRIMITIVES:
            hint = difflib.get_close_matches(op, CHOSEN_OPS, n=1, cutoff=0.4)
            more = f"; did you mean {hint[0]!r}?" if hint else ""
            raise NascostError(
                f"{where}: unknown operation {op!r} (operations: {', '.join(CHOSEN_OPS)}{more})"
            )
        if isinstance(idx, bool) or not isinstance(idx, int):
            raise NascostError(f"{where}: the input must be an integer, got {idx!r}")
        if not 0 <= idx < node:
            raise NascostError(
                f"{where}: input {idx} is out of range; node {node} can only take inputs 0..{node - 1}"
            )
        out.append((op, idx))
    for k, node in enumerate(NODES):
        a, b = out[2 * k][1], out[2 * k + 1][1]
        if a == b:
            raise NascostError(
                f"{cell} cell, node {node}: both of its edges come from input {a}; "
                f"a node needs two different inputs"
            )
    return out


def _check_concat(key: str, concat: Any) -> list[int]:
    if (
        not isinstance(concat, list | tuple)
        or any(isinstance(c, bool) or not isinstance(c, int) for c in concat)
        or sorted(concat) != DEFAULT_CONCAT
    ):
        raise NascostError(
            f"{key} must be {DEFAULT_CONCAT} (a DARTS cell concatenates all {STEPS} intermediate "
            f"nodes), got {concat!r}"
        )
    return list(concat)


@lru_cache(maxsize=1)
def _reference() -> dict[str, Any]:
    text = resources.files("nascost_darts").joinpath("genotypes.json").read_text()
    return json.loads(text)


def presets() -> dict[str, Genotype]:
    """The published cells (DARTS_V1/V2, PC-DARTS CIFAR/ImageNet, P-DARTS) from the references."""
    data = _reference()
    if data["primitives"] != PRIMITIVES:
        raise RuntimeError("genotypes.json lists primitives in another order than ops.PRIMITIVES")
    out = {}
    for name in PRESET_NAMES:
        entry = {k: v for k, v in data["genotypes"][name].items() if k != "published"}
        out[name] = Genotype.parse(entry)
    return out


def published(name: str) -> dict[str, float]:
    """The rounded figures a preset's paper reports (``cifar10_params_M``, ...)."""
    return dict(_reference()["genotypes"][name].get("published", {}))
