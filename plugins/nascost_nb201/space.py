"""The NAS-Bench-201 search space (Dong & Yang, ICLR 2020): 15,625 cells of 4 nodes and 6 edges.

Everything that fixes a number follows the reference implementation
(D-X-Y/AutoDL-Projects); each module says which file:

- :mod:`nascost_nb201.cell`: operations, edge order, the string form, the 30-bit encoding;
- :mod:`nascost_nb201.ops` and :mod:`nascost_nb201.network`: ``TinyNetwork`` (C=16, N=5 cells
  per stage), parameter counts to the parameter (the all-``nor_conv_3x3`` cell on CIFAR-10:
  1,531,546);
- :mod:`nascost_nb201.counting`: FLOPs as the benchmark reports them (the same cell: 220.12 M);
- :mod:`nascost_nb201.supernet`: the benchmark's DARTS supernet and its search hyper-parameters.

An architecture's ``spec`` is ``{"cell": "<NAS-Bench-201 string>"}``; presets are the best
published cells (:file:`presets.json`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from importlib import resources
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from nascost.counting import count_macs, count_params
from nascost.errors import NascostError
from nascost.records import Architecture, Setting
from nascost.space import SearchSpace, SuperNet, as_generator
from nascost_nb201.cell import (
    ENCODING_DIM,
    NUM_CELLS,
    NUM_EDGES,
    NUM_OPS,
    OPERATIONS,
    all_cells,
    decode_cell,
    encode_cell,
    format_cell,
    isomorphism_key,
    parse_cell,
)
from nascost_nb201.counting import nb201_flops
from nascost_nb201.network import TinyNetwork

#: The benchmark's three datasets (C=16, N=5, ``TinyNetwork``), plus reduced networks for CPU work.
SETTINGS: dict[str, Setting] = {
    "cifar10": Setting(name="cifar10", family="cifar", channels=16, layers=5, num_classes=10, input_size=32,
                       auxiliary=False),
    "cifar100": Setting(name="cifar100", family="cifar", channels=16, layers=5, num_classes=100, input_size=32,
                        auxiliary=False),
    "imagenet16-120": Setting(name="imagenet16-120", family="imagenet16", channels=16, layers=5, num_classes=120,
                              input_size=16, auxiliary=False),
    # reduced (not in the benchmark): measured and searched on a CPU in minutes
    "cifar10-small": Setting(name="cifar10-small", family="cifar", channels=8, layers=2, num_classes=10,
                             input_size=32, auxiliary=False),
    "cifar10-tiny": Setting(name="cifar10-tiny", family="cifar", channels=8, layers=1, num_classes=10,
                            input_size=16, auxiliary=False),
}


def _presets() -> dict[str, str]:
    data = json.loads(resources.files("nascost_nb201").joinpath("presets.json").read_text())
    return {k: v for k, v in data.items() if not k.startswith("_")}


class NB201Space(SearchSpace):
    """NAS-Bench-201 cell space: 5 operations on the 6 edges of a 4-node cell, reference TinyNetwork."""

    name: ClassVar[str] = "nb201"
    encoding_id: ClassVar[str] = "nb201-cell/6x5"
    operation_names: ClassVar[list[str]] = list(OPERATIONS)
    default_setting: ClassVar[str | None] = "cifar10"
    calibration_setting: ClassVar[str | None] = "cifar10-small"

    # --- architectures -----------------------------------------------------
    def cell(self, arch: Architecture) -> tuple[str, ...]:
        """The 6 edge operations of an architecture of this space."""
        if arch.space != self.name:
            raise NascostError(f"architecture of space {arch.space!r} cannot be used in space {self.name!r}")
        return parse_cell(arch.spec["cell"])

    def wrap(self, ops: Sequence[str]) -> Architecture:
        return Architecture(space=self.name, spec={"cell": format_cell(ops)})

    def validate(self, spec: dict[str, Any]) -> Architecture:
        """``{"cell": "|op~0|+..."}``, or the reference's ``nodes`` form ``[[["op", 0]], [["op", 0], ["op", 1]], ...]``."""
        if not isinstance(spec, dict):
            raise NascostError("a NAS-Bench-201 architecture is {\"cell\": \"|op~0|+|op~0|op~1|+|op~0|op~1|op~2|\"}")
        keys = set(spec) - {"space"}
        if keys == {"cell"}:
            return self.wrap(parse_cell(spec["cell"]))
        if keys == {"nodes"}:
            return self.wrap(parse_cell(_nodes_to_string(spec["nodes"])))
        raise NascostError(
            f"a NAS-Bench-201 architecture has one key, 'cell' (its string) or 'nodes'; got {sorted(keys) or 'none'}"
        )

    def format_arch(self, arch: Architecture) -> str:
        return format_cell(self.cell(arch))

    def parse_arch(self, text: str) -> Architecture:
        text = str(text).strip()
        if text.startswith("{"):
            return super().parse_arch(text)
        return self.wrap(parse_cell(text))

    def looks_like_text(self, text: str) -> bool:
        return text.lstrip().startswith(("|", "{"))

    def describe(self, arch: Architecture) -> list[str]:
        return [format_cell(self.cell(arch))]

    def equivalence_key(self, arch: Architecture) -> str:
        """The reference's isomorphism test (:func:`~nascost_nb201.cell.isomorphism_key`): 6,466 functions."""
        return isomorphism_key(self.cell(arch))

    def presets(self) -> dict[str, Architecture]:
        return {name: self.wrap(parse_cell(text)) for name, text in _presets().items()}

    def sample(self, rng: np.random.Generator | int | None = None) -> Architecture:
        """Uniform over the 15,625 cells: each edge's operation drawn independently."""
        gen = as_generator(rng)
        return self.wrap([OPERATIONS[int(i)] for i in gen.integers(0, NUM_OPS, NUM_EDGES)])

    def num_architectures(self) -> int:
        return NUM_CELLS

    def enumerate(self) -> Iterator[Architecture]:
        for ops in all_cells():
            yield self.wrap(ops)

    # --- encodings -----------------------------------------------------------
    @property
    def encoding_dim(self) -> int:
        return ENCODING_DIM

    def encode(self, archs: Sequence[Architecture]) -> torch.Tensor:
        if not archs:
            return torch.zeros(0, ENCODING_DIM)
        return torch.from_numpy(np.stack([encode_cell(self.cell(a)) for a in archs]))

    def decode(self, encoding: torch.Tensor | Sequence[float]) -> Architecture:
        arr = encoding.detach().cpu().numpy() if isinstance(encoding, torch.Tensor) else np.asarray(encoding)
        return self.wrap(decode_cell(arr))

    def op_count_matrix(self) -> torch.Tensor:
        """Every edge maps ``C x H x W`` to ``C x H x W``, so an operation costs the same on each:
        5 columns, one count per operation."""
        return torch.eye(NUM_OPS).repeat(NUM_EDGES, 1)

    # --- networks --------------------------------------------------------------
    def settings(self) -> dict[str, Setting]:
        return dict(SETTINGS)

    def build(self, arch: Architecture, setting: Setting) -> nn.Module:
        """The reference ``TinyNetwork`` (``setting.layers`` = N, cells per stage) with random weights."""
        if setting.input_size % 4:
            raise NascostError(f"the input size must be a multiple of 4 (two stride-2 blocks), got {setting.input_size}")
        return TinyNetwork(setting.channels, setting.layers, self.cell(arch), setting.num_classes, setting.in_channels)

    def count(self, arch: Architecture, setting: Setting) -> dict[str, int]:
        """``params`` (NAS-Bench-201 has no auxiliary head, so ``params_with_aux`` is the same),
        ``macs`` (nascost's convention) and ``flops`` (NAS-Bench-201's: biases included)."""
        model = self.build(arch, setting).eval()
        x = self.example_input(setting, 1)
        params = count_params(model)
        return {"params": params, "params_with_aux": params, "macs": count_macs(model, x), "flops": nb201_flops(model, x)}

    # --- search ------------------------------------------------------------------
    def supernet(self, previous: SuperNet | None = None, **options: Any) -> SuperNet:
        from nascost_nb201.supernet import make_supernet

        return make_supernet(self, previous=previous, **options)

    def search_defaults(self) -> dict[str, Any]:
        from nascost_nb201.supernet import SEARCH_DEFAULTS

        return dict(SEARCH_DEFAULTS)

    def draw(self, arch: Architecture, path: Path) -> Path:
        from nascost_nb201.draw import draw_cell

        return draw_cell(self.cell(arch), Path(path))


def _nodes_to_string(nodes: Any) -> str:
    """The reference's ``Structure.nodes`` (per node a list of ``(op, input)``) as the string form."""
    if not isinstance(nodes, list) or not all(isinstance(n, list) for n in nodes):
        raise NascostError("'nodes' must be a list of nodes, each a list of [operation, input] pairs")
    groups = []
    for node in nodes:
        items = []
        for pair in node:
            if not isinstance(pair, (list, tuple)) or len(pair) != 2:
                raise NascostError(f"'nodes': {pair!r} is not an [operation, input] pair")
            items.append(f"{pair[0]}~{pair[1]}")
        groups.append("|" + "|".join(items) + "|")
    return "+".join(groups)


__all__ = ["SETTINGS", "NB201Space"]
