"""The timer protocol, statistics, fingerprints and the built-in timer/flops measurers."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from nascost import plugins
from nascost.counting import count_macs, count_params
from nascost.device import cpu_device_info, cpu_model
from nascost.errors import NascostError, UnavailableError
from nascost.measure import relative_iqr
from nascost.records import Measurement

from .fakes import FAKE_DEVICE, ScriptedMeasurer, ToySpace


def _tiny_model() -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2))


def test_statistics_match_numpy() -> None:
    samples = [5.0, 1.0, 3.0, 2.0, 4.0, 10.0]
    m = Measurement.from_samples(samples, unit="ms", device=FAKE_DEVICE)
    arr = np.array(samples)
    assert m.n == 6 and m.samples == samples
    assert m.median == pytest.approx(3.5)
    assert m.iqr == pytest.approx(np.percentile(arr, 75) - np.percentile(arr, 25))
    assert m.p90 == pytest.approx(np.percentile(arr, 90))
    assert m.cv == pytest.approx(arr.std(ddof=1) / arr.mean())
    assert relative_iqr(samples) == pytest.approx(m.iqr / m.median)


def test_quiet_first_attempt_is_not_remeasured() -> None:
    meas = ScriptedMeasurer([[10.0, 10.1, 9.9, 10.0]], warmup=3, runs=4)
    m = meas.measure(_tiny_model(), torch.randn(1, 3, 8, 8))
    assert m.attempts == 1 and not m.noisy and meas.calls == 1
    assert meas.warmups == 3


def test_noisy_attempt_is_remeasured_until_quiet() -> None:
    noisy = [10.0, 20.0, 5.0, 15.0]
    quiet = [10.0, 10.2, 9.8, 10.1]
    meas = ScriptedMeasurer([noisy, quiet], runs=4, noisy_threshold=0.1, max_retries=2)
    m = meas.measure(_tiny_model(), torch.randn(1, 3, 8, 8))
    assert m.attempts == 2 and not m.noisy
    assert m.samples == quiet
    assert len(m.extra["relative_iqr_per_attempt"]) == 2


def test_still_noisy_keeps_best_attempt_and_flags_it() -> None:
    a = [10.0, 20.0, 5.0, 15.0]  # rel IQR ~0.57
    b = [10.0, 12.0, 8.0, 11.0]  # rel IQR ~0.21 (best)
    c = [10.0, 30.0, 2.0, 14.0]
    meas = ScriptedMeasurer([a, b, c], runs=4, noisy_threshold=0.1, max_retries=2)
    m = meas.measure(_tiny_model(), torch.randn(1, 3, 8, 8))
    assert m.attempts == 3 and m.noisy and meas.calls == 3
    assert m.samples == b


def test_no_retries_means_one_attempt() -> None:
    meas = ScriptedMeasurer([[1.0, 5.0, 9.0]], runs=3, max_retries=0)
    m = meas.measure(_tiny_model(), torch.randn(1, 3, 8, 8))
    assert m.attempts == 1 and m.noisy


def test_invalid_timer_options_are_clear_errors() -> None:
    with pytest.raises(NascostError, match="runs"):
        plugins.get_measurer("cpu-timer", {"runs": 0})
    with pytest.raises(NascostError, match="options:"):
        plugins.get_measurer("cpu-timer", {"rnus": 3})


def test_cpu_timer_measures_real_forward_passes_and_restores_threads() -> None:
    before = torch.get_num_threads()
    meas = plugins.get_measurer("cpu-timer", {"runs": 7, "warmup": 1, "threads": 1, "max_retries": 0})
    model = _tiny_model().train()
    m = meas.measure(model, torch.randn(1, 3, 8, 8))
    assert m.unit == "ms" and m.n == 7 and all(s > 0 for s in m.samples)
    assert m.device.runtime == "cpu" and m.device.threads == 1
    assert m.batch_size == 1
    assert torch.get_num_threads() == before
    assert not model.training  # measured in eval mode


def test_cpu_timer_batch_is_the_inputs() -> None:
    meas = plugins.get_measurer("cpu-timer", {"runs": 3, "warmup": 0, "max_retries": 0})
    assert meas.batch_size == 1
    m = meas.measure(_tiny_model(), torch.randn(4, 3, 8, 8))
    assert m.batch_size == 4
    assert plugins.get_measurer("cpu-timer", {"batch_size": 8}).batch_size == 8


def test_cuda_timer_unavailable_says_why() -> None:
    meas = plugins.get_measurer("cuda-timer")
    assert meas.default_batch_size == 32
    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    ok, why = meas.available()
    assert not ok and "CUDA" in why
    with pytest.raises(UnavailableError, match="cuda-timer"):
        meas.measure(_tiny_model(), torch.randn(1, 3, 8, 8))


@pytest.mark.gpu
def test_cuda_timer_measures_on_gpu() -> None:
    before = torch.backends.cudnn.benchmark
    meas = plugins.get_measurer("cuda-timer", {"runs": 5, "warmup": 2, "cudnn_benchmark": not before})
    m = meas.measure(_tiny_model(), torch.randn(2, 3, 8, 8))
    assert m.n == 5 and len(m.samples) == 5 and all(s > 0 for s in m.samples)
    assert m.unit == "ms" and m.batch_size == 2 and m.extra["cudnn_benchmark"] is (not before)
    assert m.device.runtime == "cuda" and m.device.gpu_name and m.device.fingerprint
    assert torch.backends.cudnn.benchmark is before  # the measurer's setting does not leak


@pytest.mark.gpu
def test_gpu_energy_from_nvml_or_the_reason_why_not() -> None:
    meas = plugins.get_measurer("power", {"backend": "nvml", "runs": 2, "warmup": 1, "window_s": 1.0,
                                          "idle_s": 1.0})
    ok, why = meas.available()
    if not ok:  # e.g. nvidia-ml-py missing, or a virtualised GPU without the energy counter
        assert why.startswith("NVML:"), why
        pytest.skip(why)
    m = meas.measure(_tiny_model(), torch.randn(32, 3, 8, 8))
    assert m.unit == "mJ" and m.n == 2 and m.device.runtime == "cuda"
    assert m.extra["backend"] == "nvml" and m.extra["window_s"] == 1.0 and m.extra["idle_power_w"] > 0


def test_flops_measurer_counts_macs_and_params() -> None:
    space = ToySpace()
    setting = space.setting("tiny")
    arch = space.validate({"ops": ["conv3", "conv1", "pool", "skip"]})
    model = space.build(arch, setting)
    x = space.example_input(setting, 1)
    m = plugins.get_measurer("flops").measure(model, x)
    assert m.unit == "MACs" and m.samples == [float(count_macs(model, x))]
    c = setting.channels
    expected = 3 * c * 9 * 64 + c * c * 9 * 64 + c * c * 64 + c * setting.num_classes
    assert m.median == expected
    assert m.extra["params"] == count_params(model)
    assert m.device.runtime == "analytic"


def test_cpu_model_parses_cpuinfo(tmp_path) -> None:
    info = tmp_path / "cpuinfo"
    info.write_text(
        "processor\t: 0\nmodel name\t: Intel(R) Xeon(R)   E5-1620 v3\n\n"
        "processor\t: 1\nmodel name\t: Intel(R) Xeon(R)   E5-1620 v3\n"
    )
    assert cpu_model(info) == ("Intel(R) Xeon(R) E5-1620 v3", 2)
    name, cores = cpu_model(tmp_path / "missing")
    assert name and cores >= 1


def test_fingerprint_records_versions_and_threads() -> None:
    a, b = cpu_device_info(1), cpu_device_info(2)
    assert a.torch_version == torch.__version__ and a.threads == 1 and a.cpu_cores >= 1
    assert a.fingerprint != b.fingerprint  # threads change timings: another device
    assert cpu_device_info(1).fingerprint == a.fingerprint  # stable
