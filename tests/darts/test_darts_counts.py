"""Parameter and MAC counts of the published cells against hand-derived reference values.

``darts_reference_counts`` re-derives the counts from quark0/darts
``operations.py`` and ``model.py`` as closed formulas (no torch modules), so
these tests compare two independent derivations, and the published rounded
figures on top.
"""

from __future__ import annotations

import pytest
from darts_reference_counts import reference_counts

from nascost import plugins
from nascost.counting import count_macs, count_params
from nascost_darts.genotype import PRESET_NAMES, published

SPACE = plugins.get_space("darts")
PRESETS = SPACE.presets()


def _expected(name: str, setting_name: str) -> dict[str, int]:
    s = SPACE.setting(setting_name)
    return reference_counts(
        PRESETS[name].spec, s.family, s.channels, s.layers, s.num_classes, s.input_size
    )


@pytest.mark.parametrize(
    ("name", "setting_name"),
    [(n, s) for n in PRESET_NAMES for s in ("cifar10", "imagenet")] + [("DARTS_V2", "cifar100")],
)
def test_param_counts_equal_the_reference(name: str, setting_name: str) -> None:
    model = SPACE.build(PRESETS[name], SPACE.setting(setting_name))
    expected = _expected(name, setting_name)
    assert count_params(model, exclude=("auxiliary",)) == expected["params"]
    assert count_params(model) == expected["params_with_aux"]


def test_darts_v2_cifar10_exact_known_value() -> None:
    model = SPACE.build(PRESETS["DARTS_V2"], SPACE.setting("cifar10"))
    assert count_params(model, exclude=("auxiliary",)) == 3_349_342
    assert _expected("DARTS_V2", "cifar10")["params"] == 3_349_342


@pytest.mark.parametrize(
    ("name", "setting_name", "key"),
    [
        ("DARTS_V2", "cifar10", "cifar10_params_M"),
        ("DARTS_V2", "imagenet", "imagenet_params_M"),
        ("PC_DARTS_cifar", "cifar10", "cifar10_params_M"),
        ("PC_DARTS_image", "imagenet", "imagenet_params_M"),
        ("PDARTS", "cifar10", "cifar10_params_M"),
        ("PDARTS", "imagenet", "imagenet_params_M"),
    ],
)
def test_published_rounded_param_counts(name: str, setting_name: str, key: str) -> None:
    params = _expected(name, setting_name)["params"]
    assert round(params / 1e6, 1) == published(name)[key]


@pytest.mark.parametrize("name", PRESET_NAMES)
def test_counts_in_the_small_setting(name: str) -> None:
    """One forward pass at 32x32 with C=16, 8 cells: MACs and params of every preset."""
    got = SPACE.count(PRESETS[name], SPACE.setting("cifar-small"))
    assert got == _expected(name, "cifar-small")


def test_macs_at_cifar10_size() -> None:
    got = SPACE.count(PRESETS["PC_DARTS_cifar"], SPACE.setting("cifar10"))
    assert got == _expected("PC_DARTS_cifar", "cifar10")


def test_macs_at_imagenet_size_and_published_multadds() -> None:
    """One forward pass at 224x224, batch 1.

    The published 574M mult-adds of DARTS_V2 also count batch norm, ReLU and
    pooling work; conv + linear MACs are a little below it.
    """
    setting = SPACE.setting("imagenet")
    model = SPACE.build(PRESETS["DARTS_V2"], setting)
    macs = count_macs(model, SPACE.example_input(setting))
    assert macs == _expected("DARTS_V2", "imagenet")["macs"] == 529_911_552
    assert 0.85 * 574e6 < macs < 574e6


def test_custom_setting_overrides() -> None:
    setting = SPACE.setting("cifar10", channels=8, layers=5, num_classes=7, input_size=16)
    got = SPACE.count(PRESETS["PDARTS"], setting)
    assert got == reference_counts(PRESETS["PDARTS"].spec, "cifar", 8, 5, 7, 16)
