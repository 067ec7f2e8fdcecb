"""FLOPs as NAS-Bench-201 reports them.

The reference's ``get_model_infos`` (``utils/flop_benchmark.py``) runs one image
through the network and sums, in millions, over convolution and linear layers:
``k_h * k_w * C_in * C_out / groups * H_out * W_out`` per convolution (plus
``C_out * H_out * W_out`` for a bias) and ``in * out`` per linear layer (plus
``out`` for its bias). Pooling, batch norm, activations and the additions of a
cell are not counted. nascost's own ``macs`` (:mod:`nascost.counting`) are the same
sum without the biases.
"""

from __future__ import annotations

import torch
from torch import nn


def nb201_flops(model: nn.Module, example: torch.Tensor) -> int:
    """NAS-Bench-201 FLOPs of ``model`` on one example (``example`` is ``[1, C, H, W]``)."""
    total = 0

    def conv(module: nn.Conv2d, _inp: tuple, out: torch.Tensor) -> None:
        nonlocal total
        h, w = out.shape[2:]
        kh, kw = module.kernel_size
        per_position = kh * kw * module.in_channels * module.out_channels // module.groups
        total += per_position * h * w + (module.out_channels * h * w if module.bias is not None else 0)

    def linear(module: nn.Linear, _inp: tuple, _out: torch.Tensor) -> None:
        nonlocal total
        total += module.in_features * module.out_features + (module.out_features if module.bias is not None else 0)

    handles = []
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            handles.append(m.register_forward_hook(conv))
        elif isinstance(m, nn.Linear):
            handles.append(m.register_forward_hook(linear))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(example[:1])
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return int(total)
