"""The contract suite from the installed package: 'nascost check-plugin' and 'pytest --pyargs nascost.testing'."""

from __future__ import annotations

import os
import subprocess
import sys
import types

import torch

from nascost.hookspecs import hookimpl
from nascost.measure import CostMeasurer
from nascost.records import DeviceInfo, Measurement


class NoUnitMeasurer(CostMeasurer):
    """A measurer that forgot its unit (what the contract catches)."""

    name = "test-no-unit"

    def available(self) -> tuple[bool, str]:
        return True, ""

    def device_info(self) -> DeviceInfo:
        return DeviceInfo(runtime="cpu")

    def measure(self, model: torch.nn.Module, example_input: torch.Tensor) -> Measurement:
        return Measurement.from_samples([1.0], unit="", device=self.device_info())


def _module(*classes: type) -> types.ModuleType:
    mod = types.ModuleType("throwaway_plugin")

    @hookimpl
    def register_cost_measurers(register):
        for cls in classes:
            register(cls)

    mod.register_cost_measurers = register_cost_measurers
    return mod


def test_check_plugin_passes_a_good_plugin(run_cli) -> None:
    code, out, err = run_cli("check-plugin", "lpm")
    assert code == 0, err
    assert "PASS  check_predictor  lpm" in out and "1 passed, 0 failed" in out


def test_check_plugin_fails_a_broken_plugin_with_one_line_per_check(run_cli, register_plugin) -> None:
    from nascost_timers import CpuTimer

    class Good(CpuTimer):
        name = "test-good-timer"

    name = register_plugin(_module(Good, NoUnitMeasurer))
    code, out, _ = run_cli("check-plugin", name)
    assert code == 2
    lines = out.strip().splitlines()
    assert "PASS  check_measurer   test-good-timer" in lines
    assert any(line.startswith("FAIL  check_measurer   test-no-unit: AssertionError: a measurer needs a unit")
               for line in lines)
    assert lines[-1] == "1 passed, 1 failed"


def test_check_plugin_names_an_unknown_plugin(run_cli) -> None:
    code, _, err = run_cli("check-plugin", "lmp")
    assert code == 2 and "did you mean 'lpm'" in err


def test_pytest_pyargs_nascost_testing_runs_the_checks(tmp_path) -> None:
    env = {**os.environ, "NASCOST_CHECK_PLUGIN": "lpm", "NASCOST_HOME": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-m", "pytest", "--pyargs", "nascost.testing", "-q", "-p",
                           "no:cacheprovider"], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 passed" in proc.stdout
