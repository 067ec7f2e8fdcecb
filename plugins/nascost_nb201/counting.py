"""FLOPs as NAS-Bench-201 reports them.

The reference's ``get_model_infos`` (``utils/flop_benchmark.py``) runs one image
through the network and sums, in millions, over convolution and linear layers:
``k_h * k_w * C_in * C_out / groups * H_out * W_out`` per convolution (plus
``C_out * H_out * W_out`` for a bias) and ``in * out`` per linear layer (plus
``out`` for its bias). Pooling, batch norm, activations and the additions of a
cell are not counted. That is nascost's own ``macs`` (:mod:`nascost.counting`)
with the biases counted.
"""

from __future__ import annotations

import torch
from torch import nn

from nascost.counting import count_macs


def nb201_flops(model: nn.Module, example: torch.Tensor) -> int:
    """NAS-Bench-201 FLOPs of ``model`` on one example (``example`` is ``[1, C, H, W]``)."""
    return count_macs(model, example, biases=True)
