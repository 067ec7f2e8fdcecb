"""An example third-party nascost plugin: a measurer for one deployment device.

What a hardware vendor writes:

1. a :class:`~nascost.measure.TimerMeasurer` subclass that **deploys** the
   network in :meth:`prepare` (here: converts it for the board's runtime and
   returns a program handle; a real device exports it to ONNX, TorchScript or
   a vendor format and loads it onto the board) and times the deployed
   program in :meth:`collect`;
2. ``paired = True``: every run is timed against a reference network,
   deployed through the same ``prepare``, so a host or board whose speed
   drifts does not drown the differences between architectures;
3. ``device_info()`` naming the device and its runtime, so measurements and
   predictors fitted on them are never mixed with another device's;
4. a cost recipe (``example-board-lpm``) so ``nascost search --cost
   example-board-lpm`` knows which measurer and predictor belong together;
5. one entry point in ``pyproject.toml``.
"""

from __future__ import annotations

import copy
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

#: The example board's runtime version: part of the fingerprint.
RUNTIME_VERSION = "1.0"


class BoardProgram:
    """What deploying returns: a handle to a network loaded on the board (not an nn.Module).

    A real plugin holds an SDK session or a remote runner here. The example
    board runs a channels-last copy of the network on this machine's CPU.
    """

    def __init__(self, model: nn.Module, example_input: torch.Tensor) -> None:
        self.model = copy.deepcopy(model).to(memory_format=torch.channels_last).eval()
        self.input = example_input.contiguous(memory_format=torch.channels_last)

    def run(self) -> None:
        self.model(self.input)


class ExampleBoardTimer(TimerMeasurer):
    """Latency on the example board: a single-threaded, channels-last CPU runtime, paired timing."""

    name: ClassVar[str] = "example-board"
    unit: ClassVar[str] = "ms"
    default_batch_size: ClassVar[int] = 1
    #: Time each run against a reference network (recommended; False on a quiet dedicated device).
    paired: ClassVar[bool] = True

    class Options(TimerMeasurer.Options):
        # The base class sets torch's threads to this around prepare() and the timed runs.
        threads: int | None = Field(1, ge=1, description="threads of the board's runtime")

    def available(self) -> tuple[bool, str]:
        # A real device checks here that it is connected and reachable; never raise.
        return True, ""

    def device_info(self) -> DeviceInfo:
        return DeviceInfo(
            runtime="example-board",
            cpu_model=platform.processor() or platform.machine(),
            cpu_cores=1,
            torch_version=torch.__version__,
            threads=self.options.threads,
            platform=platform.platform(),
            extra={"board": "example-board rev A", "runtime_version": RUNTIME_VERSION,
                   "layout": "channels-last"},
        )

    def prepare(self, model: nn.Module, example_input: torch.Tensor) -> tuple[Any, torch.Tensor]:
        """Deploy once per network (and once for the paired reference): outside the timed runs."""
        t0 = time.perf_counter()
        program = BoardProgram(model, example_input)
        self.deploy_s = time.perf_counter() - t0
        return program, example_input

    def forward(self, model: BoardProgram, example_input: Any) -> None:
        model.run()  # warm-up

    def collect(self, model: BoardProgram, example_input: Any, runs: int) -> list[float]:
        samples = []
        for _ in range(runs):
            start = time.perf_counter_ns()
            model.run()
            samples.append((time.perf_counter_ns() - start) / 1e6)
        return samples

    def extra(self) -> dict[str, Any]:
        return {"deploy_s": round(getattr(self, "deploy_s", 0.0), 4)}


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
