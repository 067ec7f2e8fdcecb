"""Evaluation networks of a genotype, as in quark0/darts ``model.py``.

Everything the reference fixes is kept: ReLU-conv-BN (or factorized-reduce
after a reduction) preprocessing of the two cell inputs, strided operations
only on the reduction cell's edges from its two inputs, drop-path on every
non-identity operation during training, reductions at ``layers // 3`` and
``2 * layers // 3``, the auxiliary head after the second reduction (used only
in training), the stems and the classifier. PC-DARTS and P-DARTS evaluate
with the same networks (their published parameter counts are these networks').

Deviations (both leave the reference's results unchanged where the reference
works): the ImageNet network pools globally with ``AdaptiveAvgPool2d(1)``
instead of ``AvgPool2d(7)`` so other input sizes work (at 224x224 the final
map is 7x7 and the two are identical), and the CIFAR stem takes
``in_channels`` instead of a fixed 3.

``forward`` returns ``(logits, logits_aux)`` like the reference;
``logits_aux`` is ``None`` unless training with the auxiliary head.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from nascost.errors import NascostError
from nascost_darts.genotype import Genotype
from nascost_darts.ops import OPS, FactorizedReduce, Identity, ReLUConvBN


def drop_path(x: torch.Tensor, drop_prob: float) -> torch.Tensor:
    """Zero whole samples with probability ``drop_prob`` and rescale the rest (reference ``utils.drop_path``).

    The reference works in place; this returns a new tensor with the same values.
    """
    if drop_prob <= 0.0:
        return x
    keep_prob = 1.0 - drop_prob
    mask = torch.empty(x.size(0), 1, 1, 1, device=x.device, dtype=x.dtype).bernoulli_(keep_prob)
    return x / keep_prob * mask


class ModulePool:
    """Modules kept between builds, keyed by their position and configuration (for measurement).

    Building a network constructs about 900 modules in the ImageNet setting,
    and on a slow CPU that alone takes about 100 ms, for every measured
    architecture. A measured network is only run forward, so its modules can
    outlive it: a network built with a pool takes each operation, preprocessing
    block, stem and classifier from the pool, keyed by where it sits (cell,
    slot) and how it is configured, constructing it only the first time. No
    module appears twice in one network (every key holds a position), so each
    network computes exactly what a freshly built one computes, with its own
    random weights per position; two networks share the modules of the
    positions where they agree. Training never uses a pool.
    """

    def __init__(self) -> None:
        self.modules: dict[tuple, nn.Module] = {}

    def get(self, key: tuple, factory) -> nn.Module:
        module = self.modules.get(key)
        if module is None:
            module = self.modules[key] = factory()
        return module

    def __len__(self) -> int:
        return len(self.modules)


def _pooled(pool: ModulePool | None, key: tuple, factory) -> nn.Module:
    return factory() if pool is None else pool.get(key, factory)


class Cell(nn.Module):
    """One normal or reduction cell of a genotype."""

    def __init__(
        self,
        genotype: Genotype,
        C_prev_prev: int,
        C_prev: int,
        C: int,
        reduction: bool,
        reduction_prev: bool,
        pool: ModulePool | None = None,
        position: int = 0,
    ) -> None:
        super().__init__()
        where = ("cell", position)
        if reduction_prev:
            self.preprocess0: nn.Module = _pooled(
                pool, (*where, "pre0-fr", C_prev_prev, C), lambda: FactorizedReduce(C_prev_prev, C))
        else:
            self.preprocess0 = _pooled(
                pool, (*where, "pre0", C_prev_prev, C), lambda: ReLUConvBN(C_prev_prev, C, 1, 1, 0))
        self.preprocess1 = _pooled(pool, (*where, "pre1", C_prev, C), lambda: ReLUConvBN(C_prev, C, 1, 1, 0))
        which = "reduce" if reduction else "normal"
        op_names, indices = zip(*genotype.cell(which), strict=True)
        self.reduction = reduction
        self._steps = len(op_names) // 2
        self._concat = list(genotype.concat(which))
        self.multiplier = len(self._concat)
        self._indices = list(indices)
        def op(slot: int, name: str, index: int) -> nn.Module:
            stride = 2 if reduction and index < 2 else 1
            return _pooled(pool, (*where, "op", slot, name, C, stride), lambda: OPS[name](C, stride, True))

        self._ops = nn.ModuleList(
            op(slot, name, index) for slot, (name, index) in enumerate(zip(op_names, indices, strict=True))
        )

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, drop_prob: float) -> torch.Tensor:
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        for i in range(self._steps):
            op1, op2 = self._ops[2 * i], self._ops[2 * i + 1]
            h1 = op1(states[self._indices[2 * i]])
            h2 = op2(states[self._indices[2 * i + 1]])
            if self.training and drop_prob > 0.0:
                if not isinstance(op1, Identity):
                    h1 = drop_path(h1, drop_prob)
                if not isinstance(op2, Identity):
                    h2 = drop_path(h2, drop_prob)
            states.append(h1 + h2)
        return torch.cat([states[i] for i in self._concat], dim=1)


class _AuxiliaryHead(nn.Module):
    def __init__(self, features: nn.Sequential, expected: int, num_classes: int) -> None:
        super().__init__()
        self.features = features
        self.expected = expected
        self.classifier = nn.Linear(768, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] != self.expected or x.shape[-2] != self.expected:
            raise NascostError(
                f"the auxiliary head expects a {self.expected}x{self.expected} feature map, got "
                f"{x.shape[-2]}x{x.shape[-1]}; train at the setting's reference input size or with auxiliary=False"
            )
        x = self.features(x)
        return self.classifier(x.view(x.size(0), -1))


class AuxiliaryHeadCIFAR(_AuxiliaryHead):
    """Auxiliary classifier on the 8x8 map after the second reduction (32x32 input)."""

    def __init__(self, C: int, num_classes: int) -> None:
        features = nn.Sequential(
            nn.ReLU(inplace=True),
            nn.AvgPool2d(5, stride=3, padding=0, count_include_pad=False),  # 8x8 -> 2x2
            nn.Conv2d(C, 128, 1, bias=False),
            nn.BatchNorm2d(128),
            nn.ReLU(inplace=True),
            nn.Conv2d(128, 768, 2, bias=False),
            nn.BatchNorm2d(768),
            nn.ReLU(inplace=True),
        )
        super().__init__(features, 8, num_classes)


class AuxiliaryHeadImageNet(_AuxiliaryHead):
    """Auxiliary classifier on the 7x7 map after the second reduction (224x224 input).

    As in the reference, there is no batch norm after the 768-channel
    convolution (the reference comments it out to match the paper's runs).
    """

    def __init__(self, C: int, num_classes: int) -> None:
        features = nn.Sequential(
            nn.ReLU(inplace=True),
            nn.AvgPool2d(5, stride=2, padding=0, count_include_pad=False),  # 7x7 -> 2x2
            nn.Conv2d(C, 128, 1, bias=False),
            nn.BatchNorm2d(128),
            nn.ReLU(inplace=True),
            nn.Conv2d(128, 768, 2, bias=False),
            nn.ReLU(inplace=True),
        )
        super().__init__(features, 7, num_classes)


def _reduction_layers(layers: int) -> tuple[int, int]:
    return layers // 3, 2 * layers // 3


class _Network(nn.Module):
    """Shared cell stacking of the CIFAR and ImageNet networks."""

    def _stack(
        self,
        genotype: Genotype,
        C_prev_prev: int,
        C_prev: int,
        C_curr: int,
        layers: int,
        reduction_prev: bool,
        pool: ModulePool | None = None,
    ) -> tuple[int, int]:
        self.cells = nn.ModuleList()
        C_to_auxiliary = C_prev
        for i in range(layers):
            reduction = i in _reduction_layers(layers)
            if reduction:
                C_curr *= 2
            cell = Cell(genotype, C_prev_prev, C_prev, C_curr, reduction, reduction_prev, pool, i)
            reduction_prev = reduction
            self.cells.append(cell)
            C_prev_prev, C_prev = C_prev, cell.multiplier * C_curr
            if i == 2 * layers // 3:
                C_to_auxiliary = C_prev
        return C_prev, C_to_auxiliary

    def _cells_forward(
        self, s0: torch.Tensor, s1: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        logits_aux = None
        for i, cell in enumerate(self.cells):
            s0, s1 = s1, cell(s0, s1, self.drop_path_prob)
            if i == 2 * self._layers // 3 and self._auxiliary and self.training:
                logits_aux = self.auxiliary_head(s1)
        out = self.global_pooling(s1)
        logits = self.classifier(out.view(out.size(0), -1))
        return logits, logits_aux


class NetworkCIFAR(_Network):
    """The CIFAR evaluation network: 3x3 stem with ``3 * C`` channels, then the cells."""

    def __init__(
        self,
        C: int,
        num_classes: int,
        layers: int,
        auxiliary: bool,
        genotype: Genotype,
        in_channels: int = 3,
        pool: ModulePool | None = None,
    ) -> None:
        super().__init__()
        self._layers = layers
        self._auxiliary = auxiliary
        #: Set by the training loop (the reference linearly increases it per epoch).
        self.drop_path_prob = 0.0
        stem_multiplier = 3
        C_curr = stem_multiplier * C
        self.stem = _pooled(pool, ("stem", in_channels, C_curr), lambda: nn.Sequential(
            nn.Conv2d(in_channels, C_curr, 3, padding=1, bias=False),
            nn.BatchNorm2d(C_curr),
        ))
        C_prev, C_aux = self._stack(genotype, C_curr, C_curr, C, layers, reduction_prev=False, pool=pool)
        if auxiliary:
            self.auxiliary_head = _pooled(pool, ("aux", C_aux, num_classes),
                                          lambda: AuxiliaryHeadCIFAR(C_aux, num_classes))
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = _pooled(pool, ("classifier", C_prev, num_classes), lambda: nn.Linear(C_prev, num_classes))

    def forward(self, input: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        s0 = s1 = self.stem(input)
        return self._cells_forward(s0, s1)


class NetworkImageNet(_Network):
    """The ImageNet evaluation network: three stride-2 stem convolutions, then the cells."""

    def __init__(
        self,
        C: int,
        num_classes: int,
        layers: int,
        auxiliary: bool,
        genotype: Genotype,
        in_channels: int = 3,
        pool: ModulePool | None = None,
    ) -> None:
        super().__init__()
        self._layers = layers
        self._auxiliary = auxiliary
        self.drop_path_prob = 0.0
        self.stem0 = _pooled(pool, ("stem0", in_channels, C), lambda: nn.Sequential(
            nn.Conv2d(in_channels, C // 2, kernel_size=3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(C // 2),
            nn.ReLU(inplace=True),
            nn.Conv2d(C // 2, C, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(C),
        ))
        self.stem1 = _pooled(pool, ("stem1", C), lambda: nn.Sequential(
            nn.ReLU(inplace=True),
            nn.Conv2d(C, C, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(C),
        ))
        C_prev, C_aux = self._stack(genotype, C, C, C, layers, reduction_prev=True, pool=pool)
        if auxiliary:
            self.auxiliary_head = _pooled(pool, ("aux", C_aux, num_classes),
                                          lambda: AuxiliaryHeadImageNet(C_aux, num_classes))
        # Reference: nn.AvgPool2d(7); identical at 224x224, and works at any input size.
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = _pooled(pool, ("classifier", C_prev, num_classes), lambda: nn.Linear(C_prev, num_classes))

    def forward(self, input: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        s0 = self.stem0(input)
        s1 = self.stem1(s0)
        return self._cells_forward(s0, s1)


def check_geometry(family: str, channels: int, layers: int, input_size: int) -> None:
    """Raise NascostError if the reference network cannot run at this size.

    The factorized reduce (strided skip-connect, and the preprocessing after a
    reduction) offsets its second convolution by one pixel, so every map that
    enters a reduction must have an even side, as must the ImageNet stem's
    first output; the ImageNet stem halves ``channels``, so it must be even.
    """
    if family not in ("cifar", "imagenet"):
        raise NascostError(f"unknown network family {family!r} (families: cifar, imagenet)")
    size = input_size
    if family == "imagenet":
        if channels % 2:
            raise NascostError(f"the ImageNet network needs an even number of channels, got {channels}")
        size = math.ceil(math.ceil(size / 2) / 2)  # stem0
        if size % 2:
            raise NascostError(
                f"input size {input_size} gives an odd {size}x{size} map after the ImageNet stem; "
                "use a multiple of 8 (e.g. 224)"
            )
        size = math.ceil(size / 2)  # stem1
    for i in range(layers):
        if i in _reduction_layers(layers):
            if size % 2:
                raise NascostError(
                    f"input size {input_size} gives an odd {size}x{size} map at reduction cell {i}; "
                    f"use a multiple of {4 if family == 'cifar' else 32}"
                )
            size //= 2


def build_network(
    genotype: Genotype,
    *,
    family: str,
    channels: int,
    layers: int,
    num_classes: int,
    input_size: int,
    in_channels: int = 3,
    auxiliary: bool = True,
    pool: ModulePool | None = None,
) -> NetworkCIFAR | NetworkImageNet:
    """The evaluation network of ``genotype`` with PyTorch's default init, as the reference.

    Building costs two thirds Python module construction (about 900 modules in
    the ImageNet setting) and one third drawing the initial weights. With a
    :class:`ModulePool` (measurement only) both are paid once per position and
    configuration instead of once per network.
    """
    check_geometry(family, channels, layers, input_size)
    cls = NetworkCIFAR if family == "cifar" else NetworkImageNet
    return cls(channels, num_classes, layers, auxiliary, genotype, in_channels, pool)
