"""build_for_measurement: the same network as build, from modules kept between builds."""

from __future__ import annotations

import pytest
import torch

from nascost import plugins

SPACE = plugins.get_space("darts")


@pytest.mark.parametrize("setting", [
    SPACE.setting("cifar-small", channels=8, layers=5, input_size=16),
    SPACE.setting("imagenet", channels=8, layers=5, input_size=32, num_classes=10),
])
def test_pooled_networks_compute_what_fresh_ones_compute(setting) -> None:
    space = plugins.get_space("darts")
    x = torch.randn(2, 3, setting.input_size, setting.input_size)
    for arch in [*space.sample_many(4, 3), space.presets()["PC_DARTS_cifar"]]:
        pooled = space.build_for_measurement(arch, setting).eval()
        fresh = space.build(arch, setting).eval()
        # same modules, names and shapes: the state dicts are interchangeable
        sd = pooled.state_dict()
        assert {k: v.shape for k, v in sd.items()} == {k: v.shape for k, v in fresh.state_dict().items()}
        fresh.load_state_dict(sd)
        with torch.no_grad():
            torch.testing.assert_close(pooled(x)[0], fresh(x)[0])
        # no module twice in one network: each position has its own weights
        mods = [m for m in pooled.modules() if not isinstance(m, torch.nn.Identity)]
        assert len({id(m) for m in mods}) == len(mods)


def test_the_pool_reuses_modules_across_builds_and_resets_per_setting() -> None:
    space = plugins.get_space("darts")
    small = space.setting("cifar-small", channels=8, layers=5, input_size=16)
    a, b = space.sample_many(2, 0)
    na, nb = space.build_for_measurement(a, small), space.build_for_measurement(b, small)
    assert na.stem is nb.stem and na.classifier is nb.classifier  # the fixed parts are shared
    assert na.cells[0].preprocess1 is nb.cells[0].preprocess1
    pool = space._pool
    size = len(pool)
    space.build_for_measurement(a, small)
    assert len(pool) == size  # nothing new to construct for a seen architecture
    space.clear_measurement_cache()  # campaign passes: a second visit measures new modules
    again = space.build_for_measurement(a, small)
    assert again.stem is not na.stem and again.cells[0].preprocess1 is not na.cells[0].preprocess1
    pool = space._pool
    other = space.setting("cifar-small", channels=4, layers=5, input_size=16)
    nc = space.build_for_measurement(a, other)
    assert space._pool is not pool and nc.stem is not na.stem
    # training networks never come from the pool
    assert space.build(a, small).stem is not na.stem
