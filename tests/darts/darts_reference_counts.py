"""Parameter and MAC counts of the reference networks, derived by hand from quark0/darts.

An independent transcription of ``operations.py`` and ``model.py`` as closed
formulas (no torch modules), so the tests compare two derivations of the
same numbers. Conventions: affine batch norm has 2 parameters per channel, no
convolution has a bias, linear layers do; MACs count convolution and linear
multiply-adds at batch 1 in eval mode (the auxiliary head does not run).
"""

from __future__ import annotations

import math

KERNEL = {"sep_conv_3x3": 3, "sep_conv_5x5": 5, "dil_conv_3x3": 3, "dil_conv_5x5": 5}


def _op(name: str, C: int, stride: int, h_in: int) -> tuple[int, int]:
    """(params, MACs) of one primitive on C channels; h_in is the input side."""
    h = math.ceil(h_in / stride)  # every strided primitive outputs ceil(h_in / 2)
    if name in ("max_pool_3x3", "avg_pool_3x3") or (name == "skip_connect" and stride == 1):
        return 0, 0
    if name == "skip_connect":  # FactorizedReduce(C, C): two 1x1 convs C -> C/2, BN(C)
        return C * C + 2 * C, C * C * (h_in // 2) ** 2
    k = KERNEL[name]
    block_params = C * k * k + C * C + 2 * C  # depthwise, pointwise, BN
    block_macs = (C * k * k + C * C) * h * h
    if name.startswith("sep_conv"):
        return 2 * block_params, 2 * block_macs
    return block_params, block_macs  # dil_conv


def _cell(cell, C_pp: int, C_p: int, C: int, reduction: bool, reduction_prev: bool, h_prev: int):
    """(params, MACs, output side) of one cell; h_prev is the side of its second input."""
    params = macs = 0
    if reduction_prev:  # FactorizedReduce(C_pp, C) on the map before the last reduction
        h_pp = 2 * h_prev
        params += C_pp * C + 2 * C
        macs += C_pp * C * h_prev * h_prev
        assert h_pp // 2 == h_prev
    else:
        params += C_pp * C + 2 * C
        macs += C_pp * C * h_prev * h_prev
    params += C_p * C + 2 * C
    macs += C_p * C * h_prev * h_prev
    for op, inp in cell:
        stride = 2 if reduction and inp < 2 else 1
        h_in = h_prev if (inp < 2) else (h_prev // 2 if reduction else h_prev)
        p, m = _op(op, C, stride, h_in)
        params += p
        macs += m
    return params, macs, (h_prev // 2 if reduction else h_prev)


def reference_counts(genotype: dict, family: str, C: int, layers: int, num_classes: int, size: int):
    """``params`` (no auxiliary head), ``params_with_aux`` and ``macs`` of the reference network."""
    params = macs = 0
    if family == "cifar":
        params += 3 * 3 * C * 9 + 2 * 3 * C
        macs += 3 * C * 3 * 9 * size * size
        C_pp, C_p, C_curr, h = 3 * C, 3 * C, C, size
        reduction_prev = False
    else:
        h1, h2, h3 = size // 2, size // 4, size // 8
        params += 3 * (C // 2) * 9 + C + (C // 2) * C * 9 + 2 * C  # stem0
        macs += (C // 2) * 3 * 9 * h1 * h1 + C * (C // 2) * 9 * h2 * h2
        params += C * C * 9 + 2 * C  # stem1
        macs += C * C * 9 * h3 * h3
        C_pp, C_p, C_curr, h = C, C, C, h3
        reduction_prev = True
    C_aux = 0
    for i in range(layers):
        reduction = i in (layers // 3, 2 * layers // 3)
        if reduction:
            C_curr *= 2
        cell = genotype["reduce" if reduction else "normal"]
        concat = genotype["reduce_concat" if reduction else "normal_concat"]
        p, m, h = _cell(cell, C_pp, C_p, C_curr, reduction, reduction_prev, h)
        params += p
        macs += m
        reduction_prev = reduction
        C_pp, C_p = C_p, len(concat) * C_curr
        if i == 2 * layers // 3:
            C_aux = C_p
    params += C_p * num_classes + num_classes
    macs += C_p * num_classes
    aux = C_aux * 128 + 2 * 128 + 128 * 768 * 4 + 768 * num_classes + num_classes
    if family == "cifar":
        aux += 2 * 768  # the ImageNet head has no BN after its 768-channel conv
    return {"params": params, "params_with_aux": params + aux, "macs": macs}
