"""nascost built-in plugin: wall-clock latency measurers (``cpu-timer``, ``cuda-timer``).

Both follow :class:`nascost.measure.TimerMeasurer`'s protocol (eval mode,
inference mode, warm-up, 20 timed runs, bounded re-measurement of noisy
architectures). The paper measured CPU latency at batch 1 and GPU latency at
batch 32, so those are the default batch sizes.
"""

from __future__ import annotations

import time

import torch
from pydantic import Field
from torch import nn

from nascost.cost import Cost
from nascost.device import cpu_device_info, cuda_device_info
from nascost.hookspecs import hookimpl
from nascost.measure import TimerMeasurer
from nascost.records import DeviceInfo


class CpuTimer(TimerMeasurer):
    """CPU latency (ms): perf_counter_ns around forward passes, batch 1, fixed thread count."""

    name = "cpu-timer"
    unit = "ms"
    default_batch_size = 1

    class Options(TimerMeasurer.Options):
        threads: int | None = Field(
            1,
            ge=1,
            description=(
                "intra-op threads (default 1: multi-threaded timings collapse on a busy shared "
                "CPU; None: torch's current count). Recorded in the fingerprint."
            ),
        )

    def threads(self) -> int:
        return self.options.threads or torch.get_num_threads()

    def available(self) -> tuple[bool, str]:
        return True, ""

    def device_info(self) -> DeviceInfo:
        return cpu_device_info(self.threads())

    def prepare(self, model: nn.Module, example_input: torch.Tensor) -> tuple[nn.Module, torch.Tensor]:
        # the base class runs this and the timed runs at the ``threads`` option
        return model.to("cpu"), example_input.to("cpu")

    def collect(self, model: nn.Module, example_input: torch.Tensor, runs: int) -> list[float]:
        out = []
        for _ in range(runs):
            t0 = time.perf_counter_ns()
            model(example_input)
            out.append((time.perf_counter_ns() - t0) / 1e6)
        return out

    def extra(self) -> dict:
        return {"threads": self.threads()}


class CpuPairedTimer(CpuTimer):
    """CPU latency (ms) of each run relative to a co-timed reference network, scaled to ms.

    For shared and virtual machines, whose CPU speed drifts by tens of percent
    within seconds: see :class:`nascost.measure.TimerMeasurer` (paired timing).
    On this project's 2-core development VM it raised the Kendall tau between
    two campaigns over the same architectures from about 0.3 to above 0.9
    (``benchmarks/repeatability.py``, docs/benchmarks.md). It takes twice the
    forward passes of ``cpu-timer``; on a dedicated, quiet machine use that.
    """

    name = "cpu-timer-paired"
    paired = True


class CudaTimer(TimerMeasurer):
    """GPU latency (ms): CUDA events with synchronisation, per-architecture warm-up, batch 32."""

    name = "cuda-timer"
    unit = "ms"
    default_batch_size = 32
    #: What one measurement task asks a Ray cluster for (``--executor ray``).
    ray_resources = {"num_gpus": 1}

    class Options(TimerMeasurer.Options):
        device_index: int = Field(0, ge=0, description="CUDA device to measure on")
        cudnn_benchmark: bool = Field(
            True, description="let cuDNN autotune convolutions (during warm-up, not timed)"
        )

    def __init__(self, options=None, **kwargs) -> None:
        super().__init__(options, **kwargs)
        self._saved_benchmark: bool | None = None

    def available(self) -> tuple[bool, str]:
        if not torch.cuda.is_available():
            built = torch.version.cuda
            why = "torch was built without CUDA" if built is None else f"no CUDA device is visible (torch built for CUDA {built})"
            return False, why
        if self.options.device_index >= torch.cuda.device_count():
            return False, (
                f"CUDA device {self.options.device_index} does not exist "
                f"({torch.cuda.device_count()} visible)"
            )
        return True, ""

    def device_info(self) -> DeviceInfo:
        return cuda_device_info(self.options.device_index)

    def prepare(self, model: nn.Module, example_input: torch.Tensor) -> tuple[nn.Module, torch.Tensor]:
        if self._saved_benchmark is None:  # prepare() runs for the model and a paired reference
            self._saved_benchmark = torch.backends.cudnn.benchmark
        torch.backends.cudnn.benchmark = self.options.cudnn_benchmark
        dev = torch.device("cuda", self.options.device_index)
        model = model.to(dev)
        x = example_input.to(dev)
        torch.cuda.synchronize(dev)
        return model, x

    def finish(self) -> None:
        if self._saved_benchmark is not None:
            torch.backends.cudnn.benchmark = self._saved_benchmark
            self._saved_benchmark = None

    def collect(self, model: nn.Module, example_input: torch.Tensor, runs: int) -> list[float]:
        dev = example_input.device
        torch.cuda.synchronize(dev)  # warm-up work must not leak into the first sample
        out = []
        # events record on the current device's stream: make it the measured device's
        with torch.cuda.device(dev):
            for _ in range(runs):
                start = torch.cuda.Event(enable_timing=True)
                end = torch.cuda.Event(enable_timing=True)
                start.record()
                model(example_input)
                end.record()
                end.synchronize()
                out.append(float(start.elapsed_time(end)))
        return out

    def extra(self) -> dict:
        return {"cudnn_benchmark": self.options.cudnn_benchmark}


@hookimpl
def register_cost_measurers(register) -> None:
    register(CpuTimer)
    register(CpuPairedTimer)
    register(CudaTimer)


@hookimpl
def register_costs(register) -> None:
    register(Cost.define("cpu-lpm", measurer="cpu-timer", predictor="lpm",
                         description="CPU latency (ms, batch 1) predicted by the paper's LPM"))
    register(Cost.define("cpu-paired-lpm", measurer="cpu-timer-paired", predictor="lpm",
                         description="CPU latency (ms, batch 1, timed against a reference network: "
                                     "for shared or virtual machines) predicted by the paper's LPM"))
    register(Cost.define("gpu-lpm", measurer="cuda-timer", predictor="lpm",
                         description="GPU latency (ms, batch 32) predicted by the paper's LPM"))
    register(Cost.define("cpu-lut", measurer="cpu-timer", predictor="lut",
                         description="CPU latency (ms) as a sum of per-operation lookup-table entries"))
    register(Cost.define("gpu-lut", measurer="cuda-timer", predictor="lut",
                         description="GPU latency (ms) as a sum of per-operation lookup-table entries"))


__all__ = ["CpuPairedTimer", "CpuTimer", "CudaTimer"]
