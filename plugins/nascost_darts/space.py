"""The DARTS, PC-DARTS and P-DARTS cell search spaces.

The three methods search the same space (the 8 primitives on the 14 edges of
a 4-node cell) and evaluate with the same networks; they differ only in their
supernets and search hyper-parameters, which :mod:`nascost_darts.supernet`
provides. Architectures are genotypes (:mod:`nascost_darts.genotype`), so the
same preset or JSON file works in all three.

Encoding: one-hot bits of the chosen operation on each of the 14 edges of a
cell, bit ``edge * 8 + PRIMITIVES.index(op)`` with edges ordered as in
:mod:`nascost_darts.encoding`: 112 bits per cell, exactly 8 ones. By default
(``cells="both"``) the normal cell's 112 bits, then the reduction cell's: 224
bits, so a cost sees, and the search constrains, the whole derived network.
``cells="normal"`` is the paper's encoding, the normal cell's 112 bits only
("we only investigate the normal cell and ignore the reduction cell"); the
reduction cell is then the space's fixed sampling one (``sample_reduce``),
which the derived network need not have.

Counting (``count``, from :mod:`nascost.counting`): ``params`` exclude the
auxiliary head, as the papers report them; ``macs`` are the multiply-adds of
convolution and linear layers at batch 1 in eval mode. The papers'
"mult-adds" (DARTS_V2: 574M at 224x224) also count batch norm, ReLU and
pooling work, so they exceed these MACs (529.9M for DARTS_V2).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import torch
from torch import nn

from nascost.errors import NascostError
from nascost.records import Architecture, Setting
from nascost.space import SearchSpace, SuperNet, as_generator
from nascost_darts.encoding import (
    CELL_BITS,
    EDGES,
    FIRST_NODE,
    NODES,
    NUM_EDGES,
    NUM_OPS,
    bit_index,
)
from nascost_darts.genotype import CHOSEN_OPS, DEFAULT_CONCAT, Cell, Genotype
from nascost_darts.genotype import presets as preset_genotypes
from nascost_darts.model import ModulePool, build_network
from nascost_darts.ops import PRIMITIVES

#: Spaces whose architectures are interchangeable (same genotypes).
FAMILY = ("darts", "pcdarts", "pdarts")

#: Named settings. ``cifar10``/``cifar100``/``imagenet`` are the references'
#: evaluation settings; ``cifar-small`` is the size of the DARTS search
#: network (C=16, 8 cells) at 32x32, cheap enough to measure many
#: architectures on a CPU.
SETTINGS: dict[str, Setting] = {
    "cifar10": Setting(
        name="cifar10", family="cifar", channels=36, layers=20, num_classes=10, input_size=32
    ),
    "cifar100": Setting(
        name="cifar100", family="cifar", channels=36, layers=20, num_classes=100, input_size=32
    ),
    "imagenet": Setting(
        name="imagenet", family="imagenet", channels=48, layers=14, num_classes=1000, input_size=224
    ),
    "cifar-small": Setting(
        name="cifar-small", family="cifar", channels=16, layers=8, num_classes=10, input_size=32
    ),
}


def sample_cell(gen: np.random.Generator, op_probs: np.ndarray | None = None) -> Cell:
    """A random cell: per node 2 distinct inputs, each with one of the 7 non-none ops.

    Uniform (``op_probs=None``), or each operation drawn with probabilities ``op_probs``.
    Inputs are listed in ascending order, the order :meth:`DartsSpace.decode` produces.
    """
    cell: Cell = []
    for node in NODES:
        inputs = sorted(int(i) for i in gen.choice(node, size=2, replace=False))
        if op_probs is None:
            ops = gen.integers(0, len(CHOSEN_OPS), size=2)
        else:
            ops = gen.choice(len(CHOSEN_OPS), size=2, p=op_probs)
        cell.extend((CHOSEN_OPS[int(op)], inp) for op, inp in zip(ops, inputs, strict=True))
    return cell


#: Concentration of the Dirichlet over operations in :meth:`DartsSpace.sample_varied`:
#: below 1, most draws favour a few operations, so cells of only cheap (or only
#: expensive) operations are common instead of vanishingly rare.
VARIED_CONCENTRATION = 0.3


def encode_cell(cell: Cell) -> np.ndarray:
    """The 112 one-hot bits of one cell (independent of the order of a node's two pairs)."""
    bits = np.zeros(CELL_BITS, dtype=np.float32)
    for i, (op, inp) in enumerate(cell):
        bits[bit_index(NODES[i // 2], inp, op)] = 1.0
    return bits


def decode_cell(bits: np.ndarray, what: str = "cell") -> Cell:
    """Inverse of :func:`encode_cell`; pairs of a node in ascending input order."""
    if not np.all((bits == 0) | (bits == 1)):
        raise NascostError(f"{what}: an encoding must contain only 0s and 1s")
    grid = bits.reshape(len(EDGES), NUM_OPS)
    if grid[:, PRIMITIVES.index("none")].any():
        raise NascostError(f"{what}: the 'none' bit is set on some edge; a sub-architecture never uses 'none'")
    cell: Cell = []
    for node in NODES:
        chosen = []
        for e, (n, inp) in enumerate(EDGES):
            if n != node:
                continue
            ones = np.flatnonzero(grid[e])
            if len(ones) > 1:
                raise NascostError(f"{what}: edge {inp}->{node} has {len(ones)} operations set; at most 1")
            if len(ones) == 1:
                chosen.append((PRIMITIVES[int(ones[0])], inp))
        if len(chosen) != 2:
            raise NascostError(
                f"{what}: node {node} has {len(chosen)} incoming edges set; each node needs exactly 2"
            )
        cell.extend(chosen)
    return cell


class DartsSpace(SearchSpace):
    """DARTS cell space (Liu et al., ICLR 2019): 8 ops on 14 edges, reference eval networks."""

    name: ClassVar[str] = "darts"
    encoding_id: ClassVar[str] = "darts-cell/both-28x8"
    #: The three spaces share cells and evaluation networks, hence costs.
    cost_family: ClassVar[tuple[str, ...]] = FAMILY
    #: Operation names in alpha-column order (``nascost report`` labels its plots with them).
    operation_names: ClassVar[list[str]] = list(PRIMITIVES)
    default_setting: ClassVar[str | None] = "cifar10"
    #: The size of the DARTS search network: cheap to measure on a CPU.
    calibration_setting: ClassVar[str | None] = "cifar-small"

    class Options(SearchSpace.Options):
        #: Which cells the encoding covers: both (224 bits: a cost constrains the whole
        #: derived network) or the normal cell only (112 bits, the paper's).
        cells: Literal["normal", "both"] = "both"
        #: The reduction cell of sampled architectures: "sampled" (uniform, like the
        #: normal cell) or a preset name whose reduction cell every sample gets.
        #: Default: sampled when the encoding covers both cells; otherwise DARTS_V2's
        #: (max-pool and skip: weight-free), because a cost a predictor learns from
        #: the normal cell alone must not vary with a cell it cannot see.
        sample_reduce: str | None = None

    def __init__(self, options: Any = None, **kwargs: Any) -> None:
        super().__init__(options, **kwargs)
        if self.options.cells == "normal":
            self.encoding_id = "darts-cell/normal-14x8"  # type: ignore[misc]
        choice = self.options.sample_reduce or ("sampled" if self.options.cells == "both" else "DARTS_V2")
        presets = preset_genotypes()
        if choice != "sampled" and choice not in presets:
            raise NascostError(
                f"sample_reduce={choice!r} is neither 'sampled' nor a preset ({', '.join(sorted(presets))})"
            )
        #: The fixed reduction cell of sampled architectures (None: sampled).
        self.fixed_reduce = None if choice == "sampled" else presets[choice]
        self._pool: ModulePool | None = None
        self._pool_key: str | None = None

    # --- architectures -------------------------------------------------
    def genotype(self, arch: Architecture | dict[str, Any] | Genotype) -> Genotype:
        """The validated genotype of an architecture of this family of spaces."""
        if isinstance(arch, Architecture):
            if arch.space not in FAMILY:
                raise NascostError(
                    f"architecture of space {arch.space!r} cannot be used in space {self.name!r}"
                )
            return Genotype.parse(arch.spec)
        return Genotype.parse(arch)

    def validate(self, spec: dict[str, Any]) -> Architecture:
        return self.wrap(Genotype.parse(spec))

    def resolve(self, ref: str | Path) -> Architecture:
        """A preset name, a JSON file, or a text file holding the references' ``Genotype(...)``."""
        path = Path(str(ref))
        if str(ref) not in preset_genotypes() and path.is_file():
            try:
                text = path.read_text()
            except (OSError, UnicodeDecodeError):
                text = ""
            if text.lstrip().startswith("Genotype("):
                try:
                    return self.wrap(Genotype.from_reference_text(text))
                except NascostError as exc:
                    raise NascostError(f"{ref}: {exc}") from None
        return super().resolve(ref)

    def describe(self, arch: Architecture) -> list[str]:
        """One line per cell: ``normal  op<-input, ...`` and ``reduce ...``."""
        spec = self.genotype(arch).to_spec()
        return [f"{cell:7s} " + ", ".join(f"{op}<-{src}" for op, src in spec[cell]) for cell in ("normal", "reduce")]

    def wrap(self, genotype: Genotype) -> Architecture:
        return Architecture(space=self.name, spec=genotype.to_spec())

    def presets(self) -> dict[str, Architecture]:
        return {name: self.wrap(g) for name, g in preset_genotypes().items()}

    def sample(self, rng: np.random.Generator | int | None = None) -> Architecture:
        """Uniform over normal cells (the paper's sampling); the reduction cell per ``sample_reduce``.

        A random reduction cell is drawn after the normal one either way, so a
        seed gives the same normal cells whatever ``sample_reduce`` is.
        """
        gen = as_generator(rng)
        normal = sample_cell(gen)
        reduce = sample_cell(gen)
        if self.fixed_reduce is not None:
            fixed = self.fixed_reduce
            return self.wrap(Genotype(normal=normal, normal_concat=DEFAULT_CONCAT, reduce=fixed.reduce,
                                      reduce_concat=fixed.reduce_concat))
        return self.wrap(
            Genotype(normal=normal, normal_concat=DEFAULT_CONCAT, reduce=reduce, reduce_concat=DEFAULT_CONCAT)
        )

    def sample_varied(self, rng: np.random.Generator | int | None = None) -> Architecture:
        """Each cell with its own operation preferences, drawn from a Dirichlet
        (concentration :data:`VARIED_CONCENTRATION`); inputs uniform as in :meth:`sample`.

        Not the paper's sampling: a supplement to it, so a predictor's training rows
        reach the all-pooling and all-convolution corners that searches derive.
        """
        gen = as_generator(rng)
        alpha = np.full(len(CHOSEN_OPS), VARIED_CONCENTRATION)
        normal = sample_cell(gen, gen.dirichlet(alpha))
        reduce = sample_cell(gen, gen.dirichlet(alpha))
        fixed = self.fixed_reduce
        return self.wrap(Genotype(normal=normal, normal_concat=DEFAULT_CONCAT,
                                  reduce=fixed.reduce if fixed is not None else reduce,
                                  reduce_concat=fixed.reduce_concat if fixed is not None else DEFAULT_CONCAT))

    # --- encodings -------------------------------------------------------
    @property
    def encoding_dim(self) -> int:
        return CELL_BITS * (2 if self.options.cells == "both" else 1)

    def encode(self, archs: Sequence[Architecture]) -> torch.Tensor:
        rows = []
        for arch in archs:
            g = self.genotype(arch)
            bits = [encode_cell(g.normal)]
            if self.options.cells == "both":
                bits.append(encode_cell(g.reduce))
            rows.append(np.concatenate(bits))
        if not rows:
            return torch.zeros(0, self.encoding_dim)
        return torch.from_numpy(np.stack(rows))

    def op_count_matrix(self) -> torch.Tensor:
        """Per-operation counts: in a normal cell every edge maps a ``C x H x W`` state
        to ``C x H x W``, so an operation costs the same on all 14 edges (8 columns);
        a reduction cell's edges from the cell inputs have stride 2, the others
        stride 1, so its operations count in two classes (16 more columns)."""
        cells = [[range(NUM_EDGES)]]
        if self.options.cells == "both":
            from_inputs = [e for e, (_, inp) in enumerate(EDGES) if inp < FIRST_NODE]
            cells.append([from_inputs, [e for e in range(NUM_EDGES) if e not in from_inputs]])
        columns = sum(len(classes) for classes in cells) * NUM_OPS
        matrix = torch.zeros(self.encoding_dim, columns)
        column = 0
        for c, classes in enumerate(cells):
            for edges in classes:
                for e in edges:
                    for op in range(NUM_OPS):
                        matrix[c * CELL_BITS + e * NUM_OPS + op, column + op] = 1.0
                column += NUM_OPS
        return matrix

    def decode(
        self,
        encoding: torch.Tensor | Sequence[float],
        reduce: Architecture | Genotype | Cell | None = None,
    ) -> Architecture:
        """The architecture of one encoding.

        A ``normal`` encoding does not hold the reduction cell: it is taken from
        ``reduce`` (a cell, or an architecture/genotype whose reduction cell is
        used) and defaults to the space's fixed sampling reduction cell (see
        ``sample_reduce``; so sample, encode, decode round-trips), or, where
        reduction cells are sampled, to the decoded normal cell itself.
        """
        arr = np.asarray(
            encoding.detach().cpu().numpy() if isinstance(encoding, torch.Tensor) else encoding,
            dtype=np.float32,
        ).reshape(-1)
        if arr.size != self.encoding_dim:
            raise NascostError(
                f"encoding has {arr.size} values; space {self.name!r} with cells={self.options.cells!r} "
                f"uses {self.encoding_dim}"
            )
        normal = decode_cell(arr[:CELL_BITS], "normal cell")
        if self.options.cells == "both":
            if reduce is not None:
                raise NascostError("this encoding already holds the reduction cell; do not pass reduce")
            red = decode_cell(arr[CELL_BITS:], "reduction cell")
        elif reduce is None:
            red = self.fixed_reduce.reduce if self.fixed_reduce is not None else normal
        elif isinstance(reduce, Architecture | Genotype):
            red = self.genotype(reduce).reduce
        else:
            red = Genotype.parse({"normal": normal, "reduce": [list(p) for p in reduce]}).reduce
        return self.wrap(Genotype.parse({"normal": [list(p) for p in normal], "reduce": [list(p) for p in red]}))

    # --- networks ---------------------------------------------------------
    def settings(self) -> dict[str, Setting]:
        return dict(SETTINGS)

    def build(self, arch: Architecture, setting: Setting) -> nn.Module:
        """The reference evaluation network (``NetworkCIFAR``/``NetworkImageNet``) with random weights."""
        return self._network(arch, setting, None)

    def _network(self, arch: Architecture, setting: Setting, pool: ModulePool | None) -> nn.Module:
        return build_network(
            self.genotype(arch),
            family=setting.family,
            channels=setting.channels,
            layers=setting.layers,
            num_classes=setting.num_classes,
            input_size=setting.input_size,
            in_channels=setting.in_channels,
            auxiliary=setting.auxiliary,
            pool=pool,
        )

    def build_for_measurement(self, arch: Architecture, setting: Setting) -> nn.Module:
        """The reference network built from modules kept between builds (see :class:`ModulePool`).

        One pool per space instance, for one setting at a time (a new setting
        starts a new pool), so memory stays bounded by one supernet's worth of
        operations. Forward passes only: train networks from :meth:`build`.
        """
        key = setting.key()
        if self._pool_key != key:
            self._pool, self._pool_key = ModulePool(), key
        return self._network(arch, setting, self._pool)

    def clear_measurement_cache(self) -> None:
        """Drop the module pool: the next measured networks are built from new modules."""
        self._pool = self._pool_key = None

    # --- search (the supernet engineer's module, imported lazily) ---------
    def supernet(self, previous: SuperNet | None = None, **options: Any) -> SuperNet:
        from nascost_darts.supernet import make_supernet

        return make_supernet(self, previous=previous, **options)

    def search_stages(self) -> list[dict[str, Any]]:
        from nascost_darts.supernet import search_stages

        return search_stages(self.name)

    def search_defaults(self) -> dict[str, Any]:
        from nascost_darts.supernet import SEARCH_DEFAULTS

        return dict(SEARCH_DEFAULTS[self.name])

    def draw(self, arch: Architecture, path: Path) -> Path:
        from nascost_darts.draw import draw_genotype

        return draw_genotype(self.genotype(arch), Path(path))


class PCDartsSpace(DartsSpace):
    """PC-DARTS cell space (Xu et al., ICLR 2020): DARTS cells, partial-channel supernet."""

    name: ClassVar[str] = "pcdarts"


class PDartsSpace(DartsSpace):
    """P-DARTS cell space (Chen et al., ICCV 2019): DARTS cells, progressive 3-stage supernet."""

    name: ClassVar[str] = "pdarts"
