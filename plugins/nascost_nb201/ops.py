"""The NAS-Bench-201 operations and the residual block between stages.

Faithful to ``models/cell_operations.py`` of the NAS-Bench-201 reference
(D-X-Y/AutoDL-Projects), module names included (so state-dict keys match):

- ``nor_conv_kxk``: :class:`ReLUConvBN`, ReLU - ``Conv2d(k, stride, padding k//2, bias=False)`` - BN;
- ``avg_pool_3x3``: :class:`Pooling`, ``AvgPool2d(3, stride, padding=1, count_include_pad=False)``,
  after a 1x1 ReLUConvBN only when the channel count changes (never inside a cell);
- ``skip_connect``: identity (a cell edge never changes shape);
- ``none``: zeros of the input's shape (:class:`Zero`);
- :class:`ResNetBasicblock`: two 3x3 ReLUConvBN (the first strided) plus a residual
  (stride 2: ``AvgPool2d(2, 2)`` then a bias-free 1x1 convolution), no activation after the sum.

Evaluation networks build them with ``affine=True, track_running_stats=True``; the
reference's DARTS supernet builds the cell operations with ``affine=False``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn


class ReLUConvBN(nn.Module):
    """ReLU, convolution without bias, batch norm (``self.op`` as in the reference)."""

    def __init__(self, C_in: int, C_out: int, kernel_size: int, stride: int, padding: int, dilation: int = 1,
                 affine: bool = True, track_running_stats: bool = True) -> None:
        super().__init__()
        self.op = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.Conv2d(C_in, C_out, kernel_size, stride=stride, padding=padding, dilation=dilation, bias=False),
            nn.BatchNorm2d(C_out, affine=affine, track_running_stats=track_running_stats),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


class Pooling(nn.Module):
    """3x3 average pooling (the reference's ``POOLING`` in ``avg`` mode)."""

    def __init__(self, C_in: int, C_out: int, stride: int, affine: bool = True,
                 track_running_stats: bool = True) -> None:
        super().__init__()
        self.preprocess = (
            None if C_in == C_out else ReLUConvBN(C_in, C_out, 1, 1, 0, 1, affine, track_running_stats)
        )
        self.op = nn.AvgPool2d(3, stride=stride, padding=1, count_include_pad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(self.preprocess(x) if self.preprocess is not None else x)


class Zero(nn.Module):
    """The ``none`` operation: zeros (subsampled when strided), as the reference's ``Zero``."""

    def __init__(self, C_in: int, C_out: int, stride: int) -> None:
        super().__init__()
        self.C_in, self.C_out, self.stride = C_in, C_out, stride
        self.is_zero = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.C_in == self.C_out:
            return x.mul(0.0) if self.stride == 1 else x[:, :, :: self.stride, :: self.stride].mul(0.0)
        shape = list(x.shape)
        shape[1] = self.C_out
        return x.new_zeros(shape)


class Identity(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


#: ``OPS[name](C_in, C_out, stride, affine, track_running_stats)`` for every cell operation.
OPS: dict[str, Callable[[int, int, int, bool, bool], nn.Module]] = {
    "none": lambda C_in, C_out, stride, affine, track: Zero(C_in, C_out, stride),
    "skip_connect": lambda C_in, C_out, stride, affine, track: _skip(C_in, C_out, stride),
    "nor_conv_1x1": lambda C_in, C_out, stride, affine, track: ReLUConvBN(C_in, C_out, 1, stride, 0, 1, affine, track),
    "nor_conv_3x3": lambda C_in, C_out, stride, affine, track: ReLUConvBN(C_in, C_out, 3, stride, 1, 1, affine, track),
    "avg_pool_3x3": lambda C_in, C_out, stride, affine, track: Pooling(C_in, C_out, stride, affine, track),
}


def _skip(C_in: int, C_out: int, stride: int) -> nn.Module:
    if stride != 1 or C_in != C_out:  # never inside a NAS-Bench-201 cell
        raise ValueError("skip_connect changes no shape in a NAS-Bench-201 cell (stride 1, C_in == C_out)")
    return Identity()


class ResNetBasicblock(nn.Module):
    """The residual block that halves the resolution and doubles the channels between stages."""

    def __init__(self, inplanes: int, planes: int, stride: int, affine: bool = True) -> None:
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"invalid stride {stride}")
        self.conv_a = ReLUConvBN(inplanes, planes, 3, stride, 1, 1, affine)
        self.conv_b = ReLUConvBN(planes, planes, 3, 1, 1, 1, affine)
        self.downsample: nn.Module | None
        if stride == 2:
            self.downsample = nn.Sequential(
                nn.AvgPool2d(kernel_size=2, stride=2, padding=0),
                nn.Conv2d(inplanes, planes, kernel_size=1, stride=1, padding=0, bias=False),
            )
        elif inplanes != planes:
            self.downsample = ReLUConvBN(inplanes, planes, 1, 1, 0, 1, affine)
        else:
            self.downsample = None
        self.in_dim, self.out_dim, self.stride = inplanes, planes, stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv_b(self.conv_a(x))
        residual = self.downsample(x) if self.downsample is not None else x
        return residual + out
