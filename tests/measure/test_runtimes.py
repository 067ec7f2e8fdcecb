"""Runtime measurers: ONNX Runtime and torch.compile deploy once per network, outside the timed runs."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch
from torch import nn

from nascost import plugins
from nascost.collect import measure_one
from nascost_runtimes import (
    OrtCudaMeasurer,
    OrtMeasurer,
    OrtPairedMeasurer,
    OrtSession,
    OrtTensorrtMeasurer,
    TorchCompileTimer,
    fresh_runner,
)
from nascost_timers import CpuTimer

from .fakes import ToySpace

QUICK = {"warmup": 1, "runs": 3, "max_retries": 0}


def _net() -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(4, 2)).eval()


def test_the_runtime_measurers_are_registered() -> None:
    names = plugins.registry("measurers").names()
    for name in ("ort-cpu", "ort-cpu-paired", "ort-cuda", "ort-tensorrt", "torch-compile", "torch-compile-paired"):
        assert name in names


def test_without_onnxruntime_ort_cpu_is_unavailable_with_the_install_command(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import fails as if not installed
    ok, why = OrtMeasurer().available()
    assert not ok and "nascost[ort]" in why


def test_ort_cpu_times_an_onnx_runtime_session_at_the_thread_option() -> None:
    ort = pytest.importorskip("onnxruntime")
    m = OrtMeasurer(threads=1, **QUICK)
    x = torch.randn(1, 3, 8, 8)
    deployed, _ = m.prepare(_net(), x)
    assert isinstance(deployed, OrtSession)
    assert deployed.session.get_session_options().intra_op_num_threads == 1
    net = _net()
    session, _ = m.prepare(net, x)
    with torch.inference_mode():
        assert np.abs(session() - net(x).numpy()).max() < 1e-5  # the session computes the network
    meas = m.measure(_net(), x)
    assert meas.median > 0 and meas.extra["export_s"] > 0 and meas.extra["threads"] == 1
    info = meas.device
    assert info.runtime == "onnxruntime-cpu" and info.threads == 1
    assert info.extra["runtime_version"] == ort.__version__
    assert info.extra["providers"] == "CPUExecutionProvider" and info.extra["opset"] == "17"


def test_fingerprints_keep_runtimes_and_options_apart() -> None:
    pytest.importorskip("onnxruntime")
    prints = {
        CpuTimer().device_info().fingerprint,
        OrtMeasurer().device_info().fingerprint,
        OrtMeasurer(threads=2).device_info().fingerprint,
        OrtMeasurer(opset=18).device_info().fingerprint,
        TorchCompileTimer().device_info().fingerprint,
    }
    assert len(prints) == 5


def test_ort_cpu_paired_times_an_equally_deployed_reference() -> None:
    pytest.importorskip("onnxruntime")
    space = ToySpace()
    m = OrtPairedMeasurer(**QUICK)
    arch = space.sample(np.random.default_rng(0))
    meas, _ = measure_one(space, m, arch, space.setting("tiny"), 1)
    assert isinstance(m._reference_prepared[1], OrtSession)  # the reference runs in ONNX Runtime too
    assert meas.extra["paired"]["reference_median_raw"] > 0 and meas.median > 0


@pytest.mark.parametrize("cls", [OrtCudaMeasurer, OrtTensorrtMeasurer])
def test_gpu_providers_say_which_provider_is_missing(cls) -> None:
    pytest.importorskip("onnxruntime")
    ok, why = cls().available()
    if ok:
        pytest.skip(f"{cls.provider} is present here")
    assert cls.provider in why or "CUDA" in why
    assert "\n" not in why


def test_each_compiled_network_gets_its_own_code_object() -> None:
    # dynamo caches per code object: shared code would hit the recompile limit and run eager
    a, b = fresh_runner(), fresh_runner()
    assert a.__code__ is not b.__code__ and a.__code__.co_name != b.__code__.co_name


@pytest.mark.slow
def test_torch_compile_compiles_once_and_records_the_compile_time() -> None:
    m = TorchCompileTimer(**QUICK)
    ok, why = m.available()
    if not ok:
        pytest.skip(why)
    from nascost.errors import UnavailableError

    try:
        meas = m.measure(_net(), torch.randn(1, 3, 8, 8))
    except UnavailableError as exc:  # inductor present but cannot build here
        pytest.skip(str(exc))
    assert meas.median > 0 and meas.extra["compile_s"] > 0
    assert meas.device.runtime == "torch-compile-cpu" and meas.device.extra["backend"] == "inductor"
