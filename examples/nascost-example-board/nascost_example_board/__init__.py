"""An example third-party nascost plugin: a measurer for one deployment device.

What a hardware vendor writes:

1. a :class:`~nascost.measure.TimerMeasurer` subclass whose :meth:`collect`
   runs the network on the device and returns latencies in ms;
2. ``device_info()`` naming the device, so measurements and predictors fitted
   on them are never mixed with another device's;
3. a cost recipe (``example-board-lpm``) so ``nascost search --cost
   example-board-lpm`` knows which measurer and predictor belong together;
4. one entry point in ``pyproject.toml``.
"""

from __future__ import annotations

import platform
import time
from typing import Any, ClassVar

import torch
from pydantic import Field
from torch import nn

from nascost.cost import Cost
from nascost.hookspecs import hookimpl
from nascost.measure import TimerMeasurer
from nascost.records import DeviceInfo


class ExampleBoardTimer(TimerMeasurer):
    """Latency on the example board: a single-threaded, channels-last CPU runtime."""

    name: ClassVar[str] = "example-board"
    unit: ClassVar[str] = "ms"
    default_batch_size: ClassVar[int] = 1

    class Options(TimerMeasurer.Options):
        board_threads: int = Field(1, ge=1, description="threads the board's runtime uses")

    def available(self) -> tuple[bool, str]:
        # A real device would check that it is connected and reachable here.
        return True, ""

    def device_info(self) -> DeviceInfo:
        return DeviceInfo(
            runtime="example-board",
            cpu_model=platform.processor() or platform.machine(),
            cpu_cores=1,
            torch_version=torch.__version__,
            threads=self.options.board_threads,
            platform=platform.platform(),
            extra={"board": "example-board rev A", "runtime": "eager-channels-last"},
        )

    def prepare(self, model: nn.Module, example_input: torch.Tensor) -> tuple[nn.Module, torch.Tensor]:
        """Deploy: convert the network to the board's runtime (threads, memory layout)."""
        self._saved_threads = torch.get_num_threads()
        torch.set_num_threads(self.options.board_threads)
        model = model.to(memory_format=torch.channels_last)
        return model, example_input.contiguous(memory_format=torch.channels_last)

    def collect(self, model: nn.Module, example_input: torch.Tensor, runs: int) -> list[float]:
        samples = []
        for _ in range(runs):
            start = time.perf_counter_ns()
            model(example_input)
            samples.append((time.perf_counter_ns() - start) / 1e6)
        return samples

    def finish(self) -> None:
        if hasattr(self, "_saved_threads"):
            torch.set_num_threads(self._saved_threads)

    def extra(self) -> dict[str, Any]:
        return {"board_threads": self.options.board_threads}


@hookimpl
def register_cost_measurers(register):
    register(ExampleBoardTimer)


@hookimpl
def register_costs(register):
    register(
        Cost.define(
            "example-board-lpm",
            measurer="example-board",
            predictor="lpm",
            description="the paper's LPM fitted on example-board latencies",
        )
    )
