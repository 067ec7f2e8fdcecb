"""Device fingerprints: what a cost was measured on.

A latency is a property of an architecture *and* a device (hardware, driver,
library versions, thread count). Measurers build their
:class:`~nascost.records.DeviceInfo` with these helpers, so two measurements
compare equal only when every field that changes timings is equal.
"""

from __future__ import annotations

import os
import platform
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy
import torch

from nascost.records import DeviceInfo


def cpu_model(cpuinfo: str | Path = "/proc/cpuinfo") -> tuple[str, int]:
    """CPU model name and number of logical processors, from /proc/cpuinfo where it exists."""
    name = ""
    cores = 0
    try:
        text = Path(cpuinfo).read_text(errors="replace")
    except OSError:
        text = ""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip().lower()
        if key == "model name" and not name:
            name = value.strip()
        elif key == "processor":
            cores += 1
    if not name:
        name = platform.processor() or platform.machine() or "unknown"
    if cores == 0:
        cores = os.cpu_count() or 0
    return " ".join(name.split()), cores


def _torch_versions() -> dict[str, str | None]:
    cudnn = None
    try:
        if torch.backends.cudnn.is_available():
            v = torch.backends.cudnn.version()
            cudnn = str(v) if v is not None else None
    except Exception:  # a broken CUDA install must not break fingerprints
        cudnn = None
    return {"torch_version": torch.__version__, "cuda_version": torch.version.cuda, "cudnn_version": cudnn}


def cpu_device_info(threads: int | None = None) -> DeviceInfo:
    """Fingerprint of this CPU at ``threads`` intra-op threads (default: torch's current count)."""
    name, cores = cpu_model()
    return DeviceInfo(
        runtime="cpu",
        cpu_model=name,
        cpu_cores=cores,
        threads=int(threads) if threads else torch.get_num_threads(),
        platform=platform.platform(),
        **_torch_versions(),
    )


#: Intra-op threads of every computing command unless the user asks for more. Why one: on a
#: machine doing anything else, torch's default (a thread per core) spins OpenMP threads
#: against the other work and a step runs 10-20x slower; one thread never collapses, and
#: the small networks of a CPU search gain little from more (docs/search.md#threads).
DEFAULT_THREADS = 1


@contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run the block at ``n`` torch intra-op threads (None: leave torch's setting), then restore it."""
    if n is None:
        yield
        return
    saved = torch.get_num_threads()
    torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(saved)


def nvml_driver_version() -> str | None:
    """The NVIDIA driver version through NVML (nvidia-ml-py), or None where it cannot be read."""
    try:
        import pynvml  # provided by nvidia-ml-py (optional extra ``gpu``)
    except ImportError:
        return None
    try:
        pynvml.nvmlInit()
        try:
            v = pynvml.nvmlSystemGetDriverVersion()
            return v.decode() if isinstance(v, bytes) else str(v)
        finally:
            pynvml.nvmlShutdown()
    except Exception:  # NVML present but unusable (no driver, container)
        return None


def cuda_device_info(index: int = 0) -> DeviceInfo:
    """Fingerprint of CUDA device ``index``: GPU name, driver, compute capability, versions."""
    name, cores = cpu_model()
    props = torch.cuda.get_device_properties(index)
    return DeviceInfo(
        runtime="cuda",
        cpu_model=name,
        cpu_cores=cores,
        gpu_name=props.name,
        gpu_driver=nvml_driver_version(),
        platform=platform.platform(),
        extra={
            "capability": f"{props.major}.{props.minor}",
            "memory_mb": str(props.total_memory // 2**20),
            "index": str(index),
        },
        **_torch_versions(),
    )


#: The fields of :func:`run_environment` a seeded computation's numbers depend on.
NUMERIC_ENVIRONMENT = ("nascost", "torch", "cpu_capability", "gpu")


def run_environment(device: torch.device | str | None = None) -> dict[str, str | None]:
    """The software and hardware a run computed on, recorded in its ``config.json``.

    Why: a seeded search repeats itself bit for bit only on the same torch build and kernel
    set. ATen and oneDNN choose AVX2 or AVX-512 kernels by the CPU at start-up, and their
    float sums round differently; over a search's thousands of steps such a difference
    grows into another architecture. With this record, a re-run that differs says whether it
    ran somewhere else.
    """
    from nascost import __version__

    dev = torch.device(device) if device is not None else torch.device("cpu")
    gpu = None
    if dev.type == "cuda" and torch.cuda.is_available():
        gpu = torch.cuda.get_device_name(dev)
    try:
        capability = str(torch.backends.cpu.get_cpu_capability())
    except Exception:  # older or unusual builds: unknown, never an error
        capability = None
    return {
        "nascost": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "cpu_model": cpu_model()[0],
        "cpu_capability": capability,
        "gpu": gpu,
        "platform": platform.platform(),
    }


def environment_changes(saved: dict | None, now: dict) -> list[str]:
    """The numeric fields (:data:`NUMERIC_ENVIRONMENT`) that differ, as ``'torch 2.14.1 -> 2.15.0'``.

    A run from an older nascost records no environment: nothing to compare, no change.
    """
    if not isinstance(saved, dict):
        return []
    return [f"{k} {saved.get(k)} -> {now.get(k)}" for k in NUMERIC_ENVIRONMENT
            if k in saved and saved.get(k) != now.get(k)]


def environment_record(started_on: dict | None, now: dict) -> tuple[dict[str, dict | None], str | None]:
    """``config.json``'s fields for a run started on ``started_on`` and computing on ``now``, and
    the warning a resume on another numeric environment deserves (None when there is none).

    ``environment`` stays the one the run started on (None: an older nascost's run did not
    record it); ``resumed_environment`` appears when the run continued elsewhere.
    """
    record: dict[str, dict | None] = {"environment": started_on if isinstance(started_on, dict) else None}
    if started_on != now:
        record["resumed_environment"] = now
    moved = environment_changes(started_on, now)
    warning = (f"warning: resuming on another environment ({', '.join(moved)}): from here on the run is not "
               "bit-identical to one that ran without a break (config.json records both)") if moved else None
    return record, warning
