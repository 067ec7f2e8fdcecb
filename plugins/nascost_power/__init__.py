"""nascost built-in plugin: the ``power`` measurer (energy per inference, mJ).

Energy comes from hardware counters, never from a model of the chip:

- NVIDIA GPUs: NVML's total-energy counter (``nvmlDeviceGetTotalEnergyConsumption``,
  mJ since the driver loaded; Volta and newer), through nvidia-ml-py (extra ``gpu``).
- CPUs: Intel RAPL through ``/sys/class/powercap/intel-rapl:N/energy_uj`` (also
  exposed for AMD Zen by recent kernels), summed over packages; the counter wraps
  at ``max_energy_range_uj`` and the wrap is added back.

Each sample is one window of at least ``window_s`` seconds (default 1 s: RAPL
updates about every millisecond, but short windows are dominated by read
jitter): inferences are repeated until the window has passed and the energy
per inference is ``(window energy - idle power x window time) / inferences``.
Idle power is measured with nothing running for ``idle_s`` seconds and
re-measured every ``idle_refresh_s`` seconds.

Where no counter can be read (a VM, no permission: RAPL is root-only on
kernels patched for CVE-2020-8694) ``available()`` says so and ``measure``
raises :class:`~nascost.errors.UnavailableError`: never a 0, never a crash.
"""

from __future__ import annotations

import re
import time
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Literal

import torch
from pydantic import Field
from torch import nn

from nascost.cost import Cost
from nascost.device import cpu_device_info, cuda_device_info
from nascost.errors import UnavailableError
from nascost.hookspecs import hookimpl
from nascost.measure import TimerMeasurer
from nascost.records import DeviceInfo

_PACKAGE = re.compile(r"^intel-rapl:\d+$")


class EnergyCounter(ABC):
    """A cumulative energy counter in mJ that never goes backwards."""

    kind: str = ""

    @abstractmethod
    def read(self) -> float:
        """Energy in mJ since an arbitrary origin (wrap-arounds already added back)."""

    def sync(self) -> None:  # noqa: B027 - most counters need no synchronisation
        """Wait for queued work so the counter covers it (GPU)."""


class RaplCounter(EnergyCounter):
    """Sum of the RAPL package domains under ``root`` (``intel-rapl:N``), wrap-around aware.

    Call :meth:`read` at least once per wrap period (minutes to hours at
    realistic power) so at most one wrap happens between two reads.
    """

    kind = "rapl"

    def __init__(self, root: str | Path = "/sys/class/powercap") -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise UnavailableError(f"no RAPL interface: {self.root} does not exist (a VM or a non-Linux host?)")
        self.domains = sorted(p for p in self.root.iterdir() if _PACKAGE.match(p.name))
        if not self.domains:
            raise UnavailableError(f"no RAPL package domain (intel-rapl:N) under {self.root}")
        self.max_range: list[int] = []
        self.last: list[int] = []
        for d in self.domains:
            try:
                self.max_range.append(int((d / "max_energy_range_uj").read_text()))
                self.last.append(int((d / "energy_uj").read_text()))
            except PermissionError:
                raise UnavailableError(
                    f"no permission to read {d / 'energy_uj'} (RAPL is root-only on patched kernels; "
                    "run as root or grant read access)"
                ) from None
            except (OSError, ValueError) as exc:
                raise UnavailableError(f"cannot read RAPL counter {d}: {exc}") from None
        self.total_uj = 0

    def read(self) -> float:
        for i, d in enumerate(self.domains):
            try:
                raw = int((d / "energy_uj").read_text())
            except (OSError, ValueError) as exc:
                raise UnavailableError(f"RAPL counter {d} became unreadable: {exc}") from None
            delta = raw - self.last[i]
            if delta < 0:  # the counter wrapped at max_energy_range_uj
                delta += self.max_range[i]
            self.total_uj += delta
            self.last[i] = raw
        return self.total_uj / 1000.0


class NvmlCounter(EnergyCounter):
    """NVML's total-energy counter of one GPU (mJ, 64-bit: no wrap in practice)."""

    kind = "nvml"

    def __init__(self, index: int = 0) -> None:
        try:
            import pynvml  # nvidia-ml-py, optional extra ``gpu``
        except ImportError:
            raise UnavailableError("nvidia-ml-py is not installed (pip install 'nascost[gpu]')") from None
        if not torch.cuda.is_available():
            raise UnavailableError("no CUDA device is visible")
        self._nvml = pynvml
        self.index = index
        try:
            pynvml.nvmlInit()
            self.handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            pynvml.nvmlDeviceGetTotalEnergyConsumption(self.handle)
        except Exception as exc:
            raise UnavailableError(f"NVML energy counter unreadable on GPU {index}: {exc}") from None

    def read(self) -> float:
        return float(self._nvml.nvmlDeviceGetTotalEnergyConsumption(self.handle))

    def sync(self) -> None:
        torch.cuda.synchronize(self.index)


class PowerMeasurer(TimerMeasurer):
    """Energy per inference (mJ) from NVML (NVIDIA GPU) or RAPL (CPU), idle power subtracted."""

    name = "power"
    unit = "mJ"
    default_batch_size = 1

    class Options(TimerMeasurer.Options):
        warmup: int = Field(5, ge=0, description="untimed forward passes before measuring")
        runs: int = Field(5, ge=1, description="energy windows per attempt")
        backend: Literal["auto", "nvml", "rapl"] = Field(
            "auto", description="auto: NVML when a CUDA GPU is visible, else RAPL"
        )
        device_index: int = Field(0, ge=0, description="GPU index (NVML backend)")
        rapl_root: str = Field("/sys/class/powercap", description="where the RAPL domains live")
        window_s: float = Field(1.0, gt=0, description="minimum seconds per window (default 1 s)")
        idle_s: float = Field(1.0, gt=0, description="seconds of idle measurement")
        idle_refresh_s: float = Field(60.0, ge=0, description="re-measure idle power after this long")

    def __init__(self, options=None, **kwargs) -> None:
        super().__init__(options, **kwargs)
        self._counter: EnergyCounter | None = None
        self._idle_mw: float | None = None
        self._idle_at = 0.0

    # --- counters ------------------------------------------------------------
    def _open_counter(self) -> EnergyCounter:
        if self._counter is not None:
            return self._counter
        backend = self.options.backend
        reasons = []
        if backend in ("auto", "nvml") and (backend == "nvml" or torch.cuda.is_available()):
            try:
                self._counter = NvmlCounter(self.options.device_index)
                return self._counter
            except UnavailableError as exc:
                reasons.append(f"NVML: {exc}")
        if backend in ("auto", "rapl"):
            try:
                self._counter = RaplCounter(self.options.rapl_root)
                return self._counter
            except UnavailableError as exc:
                reasons.append(f"RAPL: {exc}")
        raise UnavailableError("; ".join(reasons) or f"no energy counter for backend {backend!r}")

    def available(self) -> tuple[bool, str]:
        try:
            self._open_counter()
        except UnavailableError as exc:
            return False, str(exc)
        except Exception as exc:  # never crash a listing
            return False, f"{type(exc).__name__}: {exc}"
        return True, ""

    @property
    def on_gpu(self) -> bool:
        return isinstance(self._open_counter(), NvmlCounter)

    def device_info(self) -> DeviceInfo:
        counter = self._open_counter()
        if isinstance(counter, NvmlCounter):
            base = cuda_device_info(counter.index)
        else:
            base = cpu_device_info(self.options.threads or torch.get_num_threads())
        return base.model_copy(update={"extra": {**base.extra, "energy": counter.kind}})

    # --- protocol -------------------------------------------------------------
    def idle_power_mw(self) -> float:
        """Idle power in mW (= mJ/s): the counter's rate with nothing of ours running."""
        now = time.monotonic()
        if self._idle_mw is None or now - self._idle_at > self.options.idle_refresh_s:
            counter = self._open_counter()
            counter.sync()
            e0, t0 = counter.read(), time.perf_counter()
            time.sleep(self.options.idle_s)
            e1, t1 = counter.read(), time.perf_counter()
            self._idle_mw = (e1 - e0) / (t1 - t0)
            self._idle_at = time.monotonic()
        return self._idle_mw

    def prepare(self, model: nn.Module, example_input: torch.Tensor) -> tuple[nn.Module, torch.Tensor]:
        counter = self._open_counter()
        self.idle_power_mw()
        if isinstance(counter, NvmlCounter):
            dev = torch.device("cuda", counter.index)
            return model.to(dev), example_input.to(dev)
        # the base class applies the ``threads`` option around prepare() and the runs
        return model.to("cpu"), example_input.to("cpu")

    def collect(self, model: nn.Module, example_input: torch.Tensor, runs: int) -> list[float]:
        counter = self._open_counter()
        idle = self.idle_power_mw()
        out = []
        for _ in range(runs):
            counter.sync()
            e0, t0 = counter.read(), time.perf_counter()
            count = 0
            while True:
                model(example_input)
                count += 1
                if time.perf_counter() - t0 >= self.options.window_s:
                    counter.sync()
                    if time.perf_counter() - t0 >= self.options.window_s:
                        break
            e1, t1 = counter.read(), time.perf_counter()
            out.append((e1 - e0 - idle * (t1 - t0)) / count)
        return out

    def extra(self) -> dict:
        return {
            "backend": self._open_counter().kind,
            "idle_power_w": (self._idle_mw or 0.0) / 1000.0,
            "window_s": self.options.window_s,
        }


@hookimpl
def register_cost_measurers(register) -> None:
    register(PowerMeasurer)


@hookimpl
def register_costs(register) -> None:
    register(Cost.define("gpu-energy-lpm", measurer="power", predictor="lpm",
                         description="energy per inference (mJ) predicted by an LPM"))


__all__ = ["EnergyCounter", "NvmlCounter", "PowerMeasurer", "RaplCounter"]
