"""The power measurer against a fake RAPL sysfs tree: wrap-around, idle subtraction, unavailability.

The fake tree is real files in tmp_path. A background thread advances the
package counter at a constant idle power, and the fake model's forward adds a
fixed energy per inference, so the true energy per inference is known.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest
import torch
from torch import nn

from nascost import plugins
from nascost.errors import UnavailableError
from nascost_power import RaplCounter

MAX_RANGE = 5_000_000  # uJ: small, so the counter wraps during the test (at most once per window)
PER_INFERENCE_UJ = 10_000  # 10 mJ per inference
IDLE_W = 2.0


def _write(path: Path, value: int) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(f"{value}\n")
    os.replace(tmp, path)


class FakeRapl:
    """A package domain whose energy = idle power x time + inferences x energy, modulo the range."""

    def __init__(self, root: Path, start_uj: int) -> None:
        self.domain = root / "intel-rapl:0"
        self.domain.mkdir(parents=True)
        (root / "intel-rapl:0:0").mkdir()  # a sub-domain (core): must not be double counted
        (root / "intel-rapl:0:0" / "energy_uj").write_text("0\n")
        (self.domain / "name").write_text("package-0\n")
        (self.domain / "max_energy_range_uj").write_text(f"{MAX_RANGE}\n")
        self.start = start_uj
        self.t0 = time.perf_counter()
        self.inferences = 0
        self.wraps = 0
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.update()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def total_uj(self) -> int:
        return int(self.start + IDLE_W * 1e6 * (time.perf_counter() - self.t0) + self.inferences * PER_INFERENCE_UJ)

    def update(self) -> None:
        with self.lock:
            total = self.total_uj()
            self.wraps = max(self.wraps, total // MAX_RANGE)
            _write(self.domain / "energy_uj", total % MAX_RANGE)

    def _run(self) -> None:
        while not self.stop.is_set():
            self.update()
            time.sleep(0.0005)

    def close(self) -> None:
        self.stop.set()
        self.thread.join()


class EnergyModel(nn.Module):
    """A 'network' whose every forward pass costs exactly PER_INFERENCE_UJ on the fake counter."""

    def __init__(self, rapl: FakeRapl) -> None:
        super().__init__()
        self.rapl = rapl
        self.lin = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        time.sleep(0.002)
        self.rapl.inferences += 1
        self.rapl.update()
        return self.lin(x)


@pytest.fixture
def fake_rapl(tmp_path: Path):
    rapl = FakeRapl(tmp_path / "powercap", start_uj=MAX_RANGE - 150_000)
    yield rapl
    rapl.close()


def test_counter_adds_back_wrap_around(tmp_path: Path) -> None:
    root = tmp_path / "powercap"
    (root / "intel-rapl:0").mkdir(parents=True)
    (root / "intel-rapl:0" / "max_energy_range_uj").write_text("1000\n")
    (root / "intel-rapl:0" / "energy_uj").write_text("900\n")
    (root / "intel-rapl:1").mkdir()
    (root / "intel-rapl:1" / "max_energy_range_uj").write_text("5000\n")
    (root / "intel-rapl:1" / "energy_uj").write_text("100\n")
    counter = RaplCounter(root)
    assert counter.read() == 0.0
    (root / "intel-rapl:0" / "energy_uj").write_text("50\n")  # wrapped: +150 uJ
    (root / "intel-rapl:1" / "energy_uj").write_text("400\n")  # +300 uJ
    assert counter.read() == pytest.approx(0.45)  # mJ
    (root / "intel-rapl:0" / "energy_uj").write_text("60\n")
    assert counter.read() == pytest.approx(0.46)


def test_energy_per_inference_with_wrap_and_idle_subtracted(fake_rapl: FakeRapl) -> None:
    meas = plugins.get_measurer(
        "power",
        {"backend": "rapl", "rapl_root": str(fake_rapl.domain.parent), "window_s": 0.3, "idle_s": 0.2,
         "runs": 3, "warmup": 1, "noisy_threshold": 0.5},
    )
    ok, why = meas.available()
    assert ok, why
    m = meas.measure(EnergyModel(fake_rapl), torch.randn(1, 4))
    assert fake_rapl.wraps >= 1, "the test must cross the counter's wrap-around"
    assert m.unit == "mJ" and m.n == 3
    # True energy per inference is 10 mJ; without idle subtraction it would be >= 14 mJ
    # (2 W over >= 2 ms per inference); without the wrap fix a window would be hugely negative.
    assert m.median == pytest.approx(PER_INFERENCE_UJ / 1000, rel=0.15)
    assert m.extra["backend"] == "rapl"
    assert m.extra["idle_power_w"] == pytest.approx(IDLE_W, rel=0.25)
    assert m.device.extra["energy"] == "rapl"


def test_unavailable_without_counters_says_why(tmp_path: Path) -> None:
    meas = plugins.get_measurer("power", {"backend": "rapl", "rapl_root": str(tmp_path / "nothing")})
    ok, why = meas.available()
    assert not ok and "RAPL" in why and "does not exist" in why
    with pytest.raises(UnavailableError, match="power"):
        meas.measure(nn.Linear(4, 2), torch.randn(1, 4))
    (tmp_path / "empty").mkdir()
    ok, why = plugins.get_measurer("power", {"backend": "rapl", "rapl_root": str(tmp_path / "empty")}).available()
    assert not ok and "intel-rapl" in why


def test_unreadable_counter_is_a_permission_reason(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    d = tmp_path / "intel-rapl:0"
    d.mkdir()
    (d / "max_energy_range_uj").write_text("1000\n")
    (d / "energy_uj").write_text("5\n")
    real_read = Path.read_text

    def read_text(self: Path, *args, **kwargs) -> str:
        # What a non-root user sees on kernels patched for CVE-2020-8694 (also when
        # these tests run as root, where chmod would not stop the read).
        if self.name == "energy_uj":
            raise PermissionError(13, "Permission denied", str(self))
        return real_read(self, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", read_text)
    ok, why = plugins.get_measurer("power", {"backend": "rapl", "rapl_root": str(tmp_path)}).available()
    assert not ok and "permission" in why


def test_auto_backend_without_gpu_or_rapl_is_unavailable(tmp_path: Path) -> None:
    if torch.cuda.is_available():
        pytest.skip("a GPU is visible")
    ok, why = plugins.get_measurer("power", {"rapl_root": str(tmp_path / "none")}).available()
    assert not ok and why
