"""The third-party example in examples/ installs and registers like any user's plugin."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "nascost-example-board"


@pytest.fixture(scope="module")
def installed_example(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """pip-install the example into a private target directory (a real install, isolated)."""
    target = tmp_path_factory.mktemp("site")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
         "--target", str(target), str(EXAMPLE)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return target


def _nascost(site: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(site)}
    return subprocess.run(
        [sys.executable, "-c", "from nascost.cli import main; main()", *args],
        capture_output=True, text=True, env=env, timeout=120,
    )


def test_installed_example_appears_in_plugins_and_measurers(installed_example: Path) -> None:
    proc = _nascost(installed_example, "plugins", "--json")
    assert proc.returncode == 0, proc.stderr
    rows = {r["name"]: r for r in json.loads(proc.stdout)}
    board = rows["example-board"]
    assert board["distribution"] == "nascost-example-board" and board["version"] == "0.1.0"
    assert board["measurers"] == ["example-board"] and board["costs"] == ["example-board-lpm"]

    proc = _nascost(installed_example, "list", "measurers", "--json")
    assert proc.returncode == 0, proc.stderr
    measurers = {r["name"]: r for r in json.loads(proc.stdout)}
    assert measurers["example-board"]["unit"] == "ms" and measurers["example-board"]["available"]


def test_example_measurer_passes_the_contract(installed_example: Path, monkeypatch) -> None:
    monkeypatch.syspath_prepend(str(installed_example))
    from nascost_example_board import ExampleBoardTimer

    from nascost.testing import check_measurer

    timer = ExampleBoardTimer({"runs": 3, "warmup": 1})
    check_measurer(timer)
    assert timer.device_info().runtime == "example-board"


def test_check_plugin_runs_the_contract_on_the_installed_example(installed_example: Path) -> None:
    proc = _nascost(installed_example, "check-plugin", "example-board")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "PASS  check_measurer   example-board" in proc.stdout
    assert "PASS  check_cost       example-board-lpm" in proc.stdout


def test_the_example_deploys_in_prepare_and_its_reference_too(installed_example: Path, monkeypatch) -> None:
    monkeypatch.syspath_prepend(str(installed_example))
    import torch
    from nascost_example_board import BoardProgram, ExampleBoardTimer

    timer = ExampleBoardTimer({"runs": 2, "warmup": 1})
    x = torch.randn(1, 3, 8, 8)
    timer.set_reference(torch.nn.Conv2d(3, 4, 3), x, anchor=1.0)
    m = timer.measure(torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.ReLU()), x)
    assert isinstance(timer._reference_prepared[1], BoardProgram)
    assert m.extra["paired"]["reference_median_raw"] > 0 and "deploy_s" in m.extra
