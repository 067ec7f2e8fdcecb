"""Measurers that deploy in prepare(): paired references go through it, threads apply to it."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch
from torch import nn

from nascost.collect import measure_one
from nascost.measure import TimerMeasurer
from nascost.records import DeviceInfo
from nascost.testing import check_measurer

from .fakes import ToySpace


class Deployed:
    """What a runtime returns: not an nn.Module, called with a NumPy array (like an ORT session)."""

    def __init__(self, traced: nn.Module, threads_at_deploy: int) -> None:
        self.traced = traced
        self.threads_at_deploy = threads_at_deploy

    def run(self, x: np.ndarray) -> np.ndarray:
        return self.traced(torch.from_numpy(x)).numpy()


class ExportingTimer(TimerMeasurer):
    """Traces the network in prepare() and times the traced artifact, as a vendor measurer does."""

    name = "test-exporting"
    paired = True

    def __init__(self, options=None, **kwargs) -> None:
        super().__init__(options, **kwargs)
        self.deployed: list[Deployed] = []
        self.threads_seen: list[int] = []

    def available(self) -> tuple[bool, str]:
        return True, ""

    def device_info(self) -> DeviceInfo:
        return DeviceInfo(runtime="test-export", cpu_model="test", cpu_cores=1, threads=self.options.threads)

    def prepare(self, model: nn.Module, example_input: torch.Tensor) -> tuple[Any, torch.Tensor]:
        d = Deployed(model, torch.get_num_threads())  # a real one exports (ONNX, a vendor compiler)
        self.deployed.append(d)
        return d, example_input.numpy()

    def forward(self, model: Deployed, example_input: Any) -> None:
        assert isinstance(model, Deployed), "an undeployed network reached forward()"
        model.run(example_input)

    def collect(self, model: Deployed, example_input: Any, runs: int) -> list[float]:
        assert isinstance(model, Deployed), "an undeployed network reached collect()"
        self.threads_seen.append(torch.get_num_threads())
        out = []
        for _ in range(runs):
            t0 = time.perf_counter_ns()
            model.run(example_input)
            out.append((time.perf_counter_ns() - t0) / 1e6 + 1e-3)
        return out


def _net(c: int) -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, c, 3, padding=1), nn.ReLU())


def test_the_paired_reference_is_deployed_through_prepare() -> None:
    x = torch.randn(1, 3, 8, 8)
    m = ExportingTimer(warmup=1, runs=3, max_retries=0)
    m.set_reference(_net(2), x, anchor=1.0)
    first = m.measure(_net(4), x)
    assert len(m.deployed) == 2  # the model and the reference, both deployed
    assert first.extra["paired"]["reference_median_raw"] > 0
    m.measure(_net(8), x)
    assert len(m.deployed) == 3  # the deployed reference is reused: one export per set_reference
    m.set_reference(_net(3), x, anchor=1.0)
    m.measure(_net(4), x)
    assert len(m.deployed) == 5


def test_an_exporting_paired_measurer_passes_the_contract_and_a_campaign_step() -> None:
    check_measurer(ExportingTimer(warmup=0, runs=2, max_retries=0))
    space = ToySpace()
    measurer = ExportingTimer(warmup=0, runs=2, max_retries=0)
    setting = space.setting("tiny")
    arch = space.sample(np.random.default_rng(0))
    m, _ = measure_one(space, measurer, arch, setting, 1)
    assert m.median > 0 and "paired" in m.extra


def test_the_threads_option_applies_to_prepare_and_the_runs_and_is_restored() -> None:
    before = torch.get_num_threads()
    target = 2 if before != 2 else 1
    m = ExportingTimer(warmup=0, runs=2, max_retries=0, threads=target)
    m.set_reference(_net(2), torch.randn(1, 3, 8, 8), anchor=1.0)
    m.measure(_net(4), torch.randn(1, 3, 8, 8))
    assert [d.threads_at_deploy for d in m.deployed] == [target, target]
    assert m.threads_seen and set(m.threads_seen) == {target}
    assert torch.get_num_threads() == before


def test_threads_none_leaves_torch_s_count_alone() -> None:
    before = torch.get_num_threads()
    m = ExportingTimer(warmup=0, runs=1, max_retries=0)
    m.set_reference(_net(2), torch.randn(1, 3, 8, 8), anchor=1.0)
    m.measure(_net(4), torch.randn(1, 3, 8, 8))
    assert [d.threads_at_deploy for d in m.deployed] == [before, before]
    assert torch.get_num_threads() == before


def test_cpu_timer_threads_come_from_the_base_class() -> None:
    from nascost_timers import CpuTimer

    before = torch.get_num_threads()
    seen = []

    class Spy(CpuTimer):
        def collect(self, model, example_input, runs):
            seen.append(torch.get_num_threads())
            return super().collect(model, example_input, runs)

    target = 2 if before != 2 else 1
    Spy(threads=target, warmup=0, runs=2, max_retries=0).measure(_net(2), torch.randn(1, 3, 8, 8))
    assert seen == [target] and torch.get_num_threads() == before


def test_a_measured_reference_is_deployed_once() -> None:
    x = torch.randn(1, 3, 8, 8)
    m = ExportingTimer(warmup=0, runs=2, max_retries=0)
    m.set_reference(_net(2), x)  # measured now (no anchor): deployed for that measurement
    assert len(m.deployed) == 1
    m.measure(_net(4), x)
    m.measure(_net(4), x)
    assert len(m.deployed) == 3  # the reference's deployment was reused; each model deployed once
