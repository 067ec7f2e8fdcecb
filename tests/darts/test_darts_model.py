"""Evaluation networks and operations: shapes, training behaviour, geometry checks, init."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from nascost import plugins
from nascost.counting import count_params
from nascost.errors import NascostError
from nascost_darts.genotype import Genotype, presets
from nascost_darts.model import Cell, NetworkCIFAR, NetworkImageNet, build_network, drop_path
from nascost_darts.ops import OPS, PRIMITIVES, DilConv, FactorizedReduce, Identity, SepConv, Zero

SPACE = plugins.get_space("darts")
V2 = presets()["DARTS_V2"]


def small(family: str = "cifar", **kw):
    args = {"family": family, "channels": 4, "layers": 3, "num_classes": 5, "input_size": 32} | kw
    return build_network(V2, **args)


@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("name", PRIMITIVES)
def test_every_primitive_keeps_channels_and_strides(name: str, stride: int) -> None:
    op = OPS[name](6, stride, True)
    out = op(torch.randn(2, 6, 8, 8))
    assert out.shape == (2, 6, 8 // stride, 8 // stride)


def test_primitive_structure_and_params() -> None:
    C = 8
    sep = OPS["sep_conv_5x5"](C, 1, True)
    assert isinstance(sep, SepConv)
    kinds = [type(m).__name__ for m in sep.op]
    assert kinds == ["ReLU", "Conv2d", "Conv2d", "BatchNorm2d"] * 2
    assert all(m.bias is None for m in sep.modules() if isinstance(m, nn.Conv2d))
    assert count_params(sep) == 2 * (C * 25 + C * C + 2 * C)
    dil = OPS["dil_conv_3x3"](C, 2, True)
    assert isinstance(dil, DilConv) and dil.op[1].dilation == (2, 2) and dil.op[1].stride == (2, 2)
    assert count_params(dil) == C * 9 + C * C + 2 * C
    assert isinstance(OPS["skip_connect"](C, 1, True), Identity)
    assert isinstance(OPS["skip_connect"](C, 2, True), FactorizedReduce)
    assert isinstance(OPS["none"](C, 2, True), Zero)
    avg = OPS["avg_pool_3x3"](C, 1, True)
    assert avg.count_include_pad is False
    # count_include_pad=False: a corner averages its 4 in-image neighbours only
    assert torch.allclose(avg(torch.ones(1, C, 4, 4)), torch.ones(1, C, 4, 4))


def test_factorized_reduce_offsets_the_second_conv() -> None:
    fr = FactorizedReduce(2, 4)
    fr.eval()
    with torch.no_grad():
        fr.conv_1.weight.fill_(1.0)
        fr.conv_2.weight.fill_(1.0)
        x = torch.zeros(1, 2, 4, 4)
        x[:, :, 1, 1] = 1.0  # only the one-pixel-shifted second convolution samples (1, 1)
        out = fr(x)
    assert out.shape == (1, 4, 2, 2)
    assert out[0, :2].abs().sum() == 0
    assert out[0, 2:, 0, 0].min() > 0 and out[0, 2:].abs().sum() == out[0, 2:, 0, 0].abs().sum()


def test_cifar_network_eval_and_train() -> None:
    torch.manual_seed(0)
    net = small()
    assert isinstance(net, NetworkCIFAR)
    assert [c.reduction for c in net.cells] == [False, True, True]  # layers//3 = 1, 2*layers//3 = 2
    net.eval()
    logits, aux = net(torch.randn(2, 3, 32, 32))
    assert logits.shape == (2, 5) and aux is None
    net.train()
    net.drop_path_prob = 0.3
    logits, aux = net(torch.randn(2, 3, 32, 32))
    assert aux is not None and aux.shape == (2, 5)
    (logits.sum() + 0.4 * aux.sum()).backward()
    assert net.cells[0].preprocess1.op[1].weight.grad is not None


def test_auxiliary_head_only_when_asked() -> None:
    with_aux, without = small(), small(auxiliary=False)
    assert hasattr(with_aux, "auxiliary_head") and not hasattr(without, "auxiliary_head")
    assert count_params(with_aux, exclude=("auxiliary",)) == count_params(without)
    without.train()
    _, aux = without(torch.randn(2, 3, 32, 32))
    assert aux is None


def test_auxiliary_head_at_a_wrong_size_says_so() -> None:
    net = small(input_size=16)
    net.train()
    with pytest.raises(NascostError, match="auxiliary head expects a 8x8"):
        net(torch.randn(2, 3, 16, 16))
    net.eval()
    assert net(torch.randn(1, 3, 16, 16))[0].shape == (1, 5)


def test_imagenet_network_structure() -> None:
    net = small("imagenet", channels=8, input_size=64)
    assert isinstance(net, NetworkImageNet)
    convs = [m for m in [*net.stem0, *net.stem1] if isinstance(m, nn.Conv2d)]
    assert [c.stride for c in convs] == [(2, 2)] * 3
    assert isinstance(net.cells[0].preprocess0, FactorizedReduce)  # reduction_prev=True at start
    net.eval()
    assert net(torch.randn(1, 3, 64, 64))[0].shape == (1, 5)


def test_imagenet_final_map_is_7x7_at_224() -> None:
    """At 224x224 the adaptive pooling sees a 7x7 map: identical to the reference's AvgPool2d(7)."""
    net = small("imagenet", channels=8, input_size=224, auxiliary=False)
    net.eval()
    seen = {}
    net.global_pooling.register_forward_hook(lambda m, i, o: seen.update(shape=i[0].shape))
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        logits, _ = net(x)
        feats = {}
        net.global_pooling.register_forward_hook(lambda m, i, o: feats.update(x=i[0]))
        net(x)
        ref = nn.AvgPool2d(7)(feats["x"]).flatten(1)
    assert seen["shape"][-2:] == (7, 7)
    assert torch.allclose(logits, net.classifier(ref), atol=1e-6)


@pytest.mark.parametrize(
    ("kw", "pattern"),
    [
        ({"input_size": 30}, "odd 15x15 map at reduction cell"),
        ({"family": "imagenet", "channels": 7, "input_size": 224}, "even number of channels"),
        ({"family": "imagenet", "channels": 8, "input_size": 100}, "input size 100"),
        ({"family": "mobile"}, "unknown network family"),
    ],
)
def test_geometry_errors(kw, pattern) -> None:
    with pytest.raises(NascostError, match=pattern):
        small(**kw)


def test_drop_path() -> None:
    torch.manual_seed(0)
    x = torch.ones(2000, 1, 1, 1)
    y = drop_path(x, 0.25)
    kept = (y != 0).float().mean().item()
    assert abs(kept - 0.75) < 0.05
    assert torch.allclose(y[y != 0], torch.full_like(y[y != 0], 1 / 0.75))
    assert drop_path(x, 0.0) is x


def test_drop_path_skips_identity_ops() -> None:
    """Reference: drop-path applies to every operation except the identity skip-connect."""
    skips = [["skip_connect", 0], ["skip_connect", 1]] * 4
    only_skips = Genotype.parse({"normal": skips, "reduce": skips})
    s = torch.randn(64, 4, 4, 4)
    for genotype, changes in ((only_skips, False), (V2, True)):
        cell = Cell(genotype, 4, 4, 4, reduction=False, reduction_prev=False)
        cell.train()
        torch.manual_seed(1)
        a = cell(s, s, 0.0)
        torch.manual_seed(1)
        b = cell(s, s, 0.5)
        assert torch.allclose(a, b) != changes


def test_builds_are_reproducible_with_the_default_init() -> None:
    torch.manual_seed(3)
    a = small(channels=8).state_dict()
    torch.manual_seed(3)
    b = small(channels=8).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    conv = small(channels=8).cells[0].preprocess1.op[1]
    assert 0 < conv.weight.abs().max() <= 1 / math.sqrt(conv.weight[0].numel())  # PyTorch default


def test_build_through_the_space_uses_the_setting() -> None:
    setting = SPACE.setting("cifar10", channels=4, layers=4, num_classes=3, in_channels=1)
    net = SPACE.build(SPACE.presets()["PDARTS"], setting)
    net.eval()
    assert net(torch.randn(1, 1, 32, 32))[0].shape == (1, 3)
    assert len(net.cells) == 4


def test_state_dict_keys_follow_the_reference_module_names() -> None:
    """Same attribute names as quark0/darts model.py, so its checkpoints' keys match."""
    cifar = small(layers=6).state_dict()
    for key in (
        "stem.0.weight",
        "stem.1.running_mean",
        "cells.0.preprocess0.op.1.weight",  # ReLUConvBN: ReLU, conv, BN
        "cells.0._ops.0.op.1.weight",  # DARTS_V2 normal edge 0: sep_conv_3x3 depthwise
        "cells.0._ops.0.op.7.running_var",  # its second block's BN
        "cells.3.preprocess0.conv_1.weight",  # after the reduction at layer 2: FactorizedReduce
        "cells.3.preprocess0.bn.weight",
        "auxiliary_head.features.2.weight",
        "auxiliary_head.features.6.weight",  # CIFAR head: BN after the 768-channel conv
        "auxiliary_head.classifier.weight",
        "classifier.bias",
    ):
        assert key in cifar, key
    imagenet = small("imagenet", channels=8, input_size=224, layers=6).state_dict()
    for key in ("stem0.0.weight", "stem0.3.weight", "stem0.4.running_mean", "stem1.1.weight", "stem1.2.weight"):
        assert key in imagenet, key
    assert "auxiliary_head.features.6.weight" not in imagenet  # no BN there in the ImageNet head
