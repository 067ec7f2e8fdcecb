"""``--executor ray`` on a local Ray instance, with the ``flops`` measurer (the issue's test)."""

from __future__ import annotations

from pathlib import Path

import pytest

from nascost.collect import run_campaign
from nascost.data import CostDatabase
from nascost.errors import NascostError

from .fakes import UnavailableMeasurer

pytestmark = [pytest.mark.ray, pytest.mark.slow]

TINY = {"channels": 4, "layers": 3, "input_size": 8}


def test_ray_campaign_matches_local_and_resumes(tmp_path: Path) -> None:
    ray = pytest.importorskip("ray")
    from nascost import plugins

    space = plugins.get_space("darts")
    setting = space.setting("cifar10", **TINY)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        s = run_campaign(tmp_path / "ray.db", space=space, measurer="flops", setting=setting, n=6, seed=4,
                         executor="ray", progress=False)
        assert s.executor == "ray" and s.measured == 6
        again = run_campaign(tmp_path / "ray.db", space=space, measurer="flops", setting=setting, n=8, seed=4,
                             executor="ray", progress=False)
        assert again.already_present == 6 and again.measured == 2
        # A measurer the workers cannot use is refused before the database is touched.
        with pytest.raises(NascostError, match="unavailable on the Ray workers"):
            run_campaign(tmp_path / "never.db", space=space, measurer=UnavailableMeasurer(), setting=setting,
                         n=2, executor="ray", progress=False)
        assert not (tmp_path / "never.db").exists()
    finally:
        ray.shutdown()
    local = run_campaign(tmp_path / "local.db", space=space, measurer="flops", setting=setting, n=8, seed=4,
                         reference_every=0, progress=False)
    assert local.measured == 8
    with CostDatabase(tmp_path / "ray.db") as a, CostDatabase(tmp_path / "local.db") as b:
        ra, lo = a.query(space="darts"), b.query(space="darts")
        assert ra.device == lo.device  # workers report their own fingerprint (analytic for flops)
        by_key = dict(zip(lo.keys, lo.values, strict=True))
        assert sorted(ra.keys) == sorted(lo.keys)
        for key, value in zip(ra.keys, ra.values, strict=True):
            assert value == by_key[key]
