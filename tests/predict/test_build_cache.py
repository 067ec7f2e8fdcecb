"""The build cache of device-independent predictors (``flops``): built once per space and setting."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from conftest import ToySpace, make_db

from nascost import plugins
from nascost.fit import build_cache_path, build_predictor, compare_predictors, load_data


@pytest.fixture
def builds(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The settings ``flops`` was really built for (not read from the cache)."""
    cls = plugins.get("predictors", "flops")
    real = cls.build
    seen: list[str] = []

    def counting(self: Any, space: Any, setting: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(setting.key())
        return real(self, space, setting, *args, **kwargs)

    monkeypatch.setattr(cls, "build", counting)
    return seen


def test_a_second_build_reads_the_cache_and_predicts_the_same(builds: list[str]) -> None:
    space = ToySpace()
    setting = space.setting("tiny")
    first, meta = build_predictor(space=space, predictor="flops", setting=setting, measurer="flops")
    again, meta2 = build_predictor(space=space, predictor="flops", setting=setting, measurer="flops")
    assert len(builds) == 1
    assert build_cache_path(first, space, setting).exists()
    x = space.encode(space.sample_many(20, 3))
    assert np.array_equal(first.predict(x).numpy(), again.predict(x).numpy())
    # what the first build took stays on record, so a cached cost is not shown as free
    assert meta2.metrics["build_time_s"] == meta.metrics["build_time_s"] > 0
    assert meta2.device is None and meta2.unit == "MACs" and meta2.batch_size is None


def test_another_setting_or_options_or_cache_off_builds_anew(builds: list[str]) -> None:
    space = ToySpace()
    tiny = space.setting("tiny")
    wider = space.setting("tiny", channels=6)
    build_predictor(space=space, predictor="flops", setting=tiny, measurer="flops")
    build_predictor(space=space, predictor="flops", setting=wider, measurer="flops")
    build_predictor(space=space, predictor="flops", setting=tiny, measurer="flops", options={"check": 2})
    build_predictor(space=space, predictor="flops", setting=tiny, measurer="flops", cache=False)
    assert builds == [tiny.key(), wider.key(), tiny.key(), tiny.key()]
    small, _ = build_predictor(space=space, predictor="flops", setting=tiny, measurer="flops")
    large, _ = build_predictor(space=space, predictor="flops", setting=wider, measurer="flops")
    assert len(builds) == 4  # both read from the cache, each its own setting's
    x = space.encode(space.sample_many(5, 1))
    assert (large.predict(x) > small.predict(x)).all()


def test_a_damaged_cache_file_is_rebuilt_and_replaced(builds: list[str]) -> None:
    space = ToySpace()
    setting = space.setting("tiny")
    model, _ = build_predictor(space=space, predictor="flops", setting=setting, measurer="flops")
    path = build_cache_path(model, space, setting)
    path.write_bytes(b"not a predictor file")
    with pytest.warns(UserWarning, match="build cache: rebuilding 'flops'"):
        rebuilt, _ = build_predictor(space=space, predictor="flops", setting=setting, measurer="flops")
    assert len(builds) == 2
    build_predictor(space=space, predictor="flops", setting=setting, measurer="flops")
    assert len(builds) == 2  # the replaced file reads again
    x = space.encode(space.sample_many(5, 2))
    assert np.array_equal(rebuilt.predict(x).numpy(), model.predict(x).numpy())


def test_compare_builds_flops_once_across_runs(builds: list[str], toy_space: ToySpace, tmp_path) -> None:
    db = make_db(tmp_path / "c.db", toy_space, 40)
    data = load_data(db, space="toy")
    one = compare_predictors(data, ["flops"], space=toy_space)
    two = compare_predictors(data, ["flops"], space=toy_space)
    assert len(builds) == 1
    assert one["flops"]["kendall_tau"] == two["flops"]["kendall_tau"]
    assert two["flops"]["build_time_s"] == one["flops"]["build_time_s"] > 0
