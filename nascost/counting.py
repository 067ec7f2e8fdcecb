"""Counting parameters and multiply-accumulates (MACs) of any torch network.

Convention (documented in docs/concepts.md): MACs count the multiply-adds of
convolution and linear layers only, one per multiply-add, at batch 1 and the
setting's input size. Biases, normalisation, activations and pooling are not
counted. The published DARTS-family "mult-adds" figures (e.g. DARTS_V2: 574M
at 224x224) also count normalisation, activation and pooling work, so they are
somewhat larger than nascost's MACs for the same network.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn


def count_params(model: nn.Module, exclude: Iterable[str] = ()) -> int:
    """Number of parameters, skipping those whose name contains any of ``exclude``."""
    exclude = tuple(exclude)
    return sum(
        p.numel() for name, p in model.named_parameters() if not any(e in name for e in exclude)
    )


def count_macs(model: nn.Module, example_input: torch.Tensor, *, biases: bool = False) -> int:
    """Multiply-accumulates of conv and linear layers for one sample (batch 1).

    Counted with forward hooks on a real forward pass, so whatever the model
    actually executes (and only that) is counted. ``biases`` also counts one
    addition per output value of a layer with a bias (the convention of
    NAS-Bench-201's FLOPs).
    """
    total = 0

    def conv_hook(module: nn.Conv2d, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        nonlocal total
        kh, kw = module.kernel_size
        per_output = (module.in_channels // module.groups) * kh * kw + (biases and module.bias is not None)
        total += output[0].numel() * per_output

    def linear_hook(module: nn.Linear, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        nonlocal total
        total += output[0].numel() * (module.in_features + (biases and module.bias is not None))

    handles = []
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            handles.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, nn.Linear):
            handles.append(m.register_forward_hook(linear_hook))
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            model(example_input[:1])
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return int(total)
