"""A calibration whose predictor barely ranks architectures says so, with the fix."""

from __future__ import annotations

from nascost.search_costs import poor_calibration_warning


def test_poor_calibration_is_flagged_with_the_fix_for_its_measurer() -> None:
    w = poor_calibration_warning("cpu-lpm", "cpu-timer", {"kendall_tau": 0.26, "mape": 25.0})
    assert w is not None and "Kendall tau 0.26" in w and "--cost cpu-paired-lpm" in w
    w = poor_calibration_warning("cpu-paired-lpm", "cpu-timer-paired", {"kendall_tau": 0.3})
    assert w is not None and "cpu-paired-lpm" not in w.split(":", 1)[1].split("poorly")[1]
    assert "--calibrate N" in w
    assert poor_calibration_warning("gpu-lpm", "cuda-timer", {"kendall_tau": 0.1}) is not None


def test_good_or_unknown_calibrations_are_quiet() -> None:
    assert poor_calibration_warning("cpu-lpm", "cpu-timer", {"kendall_tau": 0.8}) is None
    assert poor_calibration_warning("flops", "", {}) is None
    assert poor_calibration_warning("cpu-lpm", "cpu-timer", {"kendall_tau": None}) is None


def test_a_search_whose_architecture_never_updates_is_warned_about() -> None:
    from nascost import plugins
    from nascost.search import SearchConfig, _stage_plan, frozen_architecture_warnings

    space = plugins.get_space("pcdarts")
    short = SearchConfig.build({"space": "pcdarts", "epochs": 4}).with_defaults(space.search_defaults())
    assert short.arch_frozen_epochs == 15  # the paper's PC-DARTS default
    (w,) = frozen_architecture_warnings(short, _stage_plan(short, space))
    assert "arch_frozen_epochs=15 >= epochs=4" in w and "--arch-frozen-epochs N with N < 4" in w
    ok = SearchConfig.build({"space": "pcdarts", "epochs": 4, "arch_frozen_epochs": 1}).with_defaults(
        space.search_defaults())
    assert frozen_architecture_warnings(ok, _stage_plan(ok, space)) == []
    pdarts = plugins.get_space("pdarts")
    cfg = SearchConfig.build({"space": "pdarts", "epochs": 2}).with_defaults(pdarts.search_defaults())
    warnings = frozen_architecture_warnings(cfg, _stage_plan(cfg, pdarts))
    assert warnings and all(w.startswith("warning: stage ") for w in warnings)
