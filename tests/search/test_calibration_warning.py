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
