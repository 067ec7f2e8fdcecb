"""nascost built-in plugin: latency in the runtime a network is deployed with.

PyTorch eager on a small network mostly measures per-operator dispatch; a
deployed network runs in ONNX Runtime or compiled. These measurers deploy
each network once in :meth:`prepare` (an ONNX export and an ONNX Runtime
session, or an inductor compile), outside the timed runs, and time the
deployed artifact with :class:`nascost.measure.TimerMeasurer`'s protocol.
Every ``*-paired`` variant times each run against the reference network,
deployed the same way (see :class:`~nascost.measure.TimerMeasurer`).

The fingerprint (``DeviceInfo``) records the runtime, its version, the
execution providers, the opset and the thread count, so a cost fitted for
one runtime is never used for another.

``ort-*`` need the optional extra ``ort`` (``pip install 'nascost[ort]'``);
without it they are listed as unavailable, with the install command.
"""

from __future__ import annotations

import shutil
import time
import types
import warnings
from typing import Any, ClassVar, Literal

import torch
from pydantic import Field
from torch import nn

from nascost.cost import Cost
from nascost.device import cpu_device_info, cuda_device_info
from nascost.errors import NascostError, UnavailableError
from nascost.export import ORT_INSTALL, onnx_bytes
from nascost.export import logits as _logits
from nascost.hookspecs import hookimpl
from nascost.measure import TimerMeasurer
from nascost.records import DeviceInfo


class OrtSession:
    """An ONNX Runtime session of one network, called with the example input.

    On a GPU provider the input and output stay on the device (I/O binding),
    so host copies are not timed.
    """

    def __init__(self, session: Any, example_input: torch.Tensor, device: str) -> None:
        self.session = session
        self.input_name = session.get_inputs()[0].name
        self.output_name = session.get_outputs()[0].name
        self.device = device
        self.feed = example_input.detach().cpu().numpy()
        self.binding = None
        if device == "cuda":
            import onnxruntime as ort

            value = ort.OrtValue.ortvalue_from_numpy(self.feed, "cuda", 0)
            self.binding = session.io_binding()
            self.binding.bind_ortvalue_input(self.input_name, value)
            self.binding.bind_output(self.output_name, "cuda")

    def __call__(self, _: Any = None) -> Any:
        if self.binding is not None:
            self.session.run_with_iobinding(self.binding)
            return None
        return self.session.run([self.output_name], {self.input_name: self.feed})[0]


class OrtMeasurer(TimerMeasurer):
    """Latency (ms) of the network exported to ONNX and run by an ONNX Runtime session on the CPU."""

    name = "ort-cpu"
    unit = "ms"
    default_batch_size = 1
    #: The execution provider the session runs on, and what it needs from this machine.
    provider: ClassVar[str] = "CPUExecutionProvider"
    device: ClassVar[str] = "cpu"

    class Options(TimerMeasurer.Options):
        threads: int | None = Field(
            1, ge=1,
            description="intra-op threads of the session and torch's threads during export "
                        "(default 1: multi-threaded timings collapse on a busy shared CPU)",
        )
        opset: int = Field(17, ge=9, le=23, description="ONNX opset of the export")
        exporter: Literal["torchscript", "dynamo"] = Field(
            "torchscript", description="torch's ONNX exporter: tracing (fast) or torch.export-based")
        graph_optimization: Literal["disabled", "basic", "extended", "all"] = Field(
            "all", description="ONNX Runtime graph optimisation level")

    def __init__(self, options=None, **kwargs) -> None:
        super().__init__(options, **kwargs)
        self.last_export_s = 0.0

    def _ort(self) -> Any:
        try:
            import onnxruntime
        except ImportError:
            raise UnavailableError(f"onnxruntime is not installed ({ORT_INSTALL})") from None
        return onnxruntime

    def available(self) -> tuple[bool, str]:
        try:
            ort = self._ort()
        except UnavailableError as exc:
            return False, str(exc)
        providers = ort.get_available_providers()
        if self.provider not in providers:
            return False, (f"ONNX Runtime {ort.__version__} has no {self.provider} (it has: {', '.join(providers)}); "
                           f"{self.provider_hint()}")
        if self.device == "cuda" and not torch.cuda.is_available():
            return False, "no CUDA device is visible"
        if self.options.exporter == "dynamo":
            try:
                import onnxscript  # noqa: F401
            except ImportError:
                return False, f"exporter 'dynamo' needs onnxscript ({ORT_INSTALL})"
        return True, ""

    def provider_hint(self) -> str:
        return "install onnxruntime"

    def providers(self) -> list[str]:
        return [self.provider] if self.provider == "CPUExecutionProvider" else [self.provider, "CPUExecutionProvider"]

    def threads(self) -> int:
        return self.options.threads or torch.get_num_threads()

    def device_info(self) -> DeviceInfo:
        ort = self._ort()
        base = cuda_device_info(0) if self.device == "cuda" else cpu_device_info(self.threads())
        return base.model_copy(update={
            "runtime": f"onnxruntime-{self.device}" if self.provider != "TensorrtExecutionProvider"
            else "onnxruntime-tensorrt",
            "threads": self.threads(),
            "extra": {**base.extra, "runtime_version": ort.__version__, "providers": ",".join(self.providers()),
                      "opset": str(self.options.opset), "exporter": self.options.exporter,
                      "graph_optimization": self.options.graph_optimization},
        })

    def prepare(self, model: nn.Module, example_input: torch.Tensor) -> tuple[Any, torch.Tensor]:
        """Export once and open a session (at the ``threads`` option: the base class sets torch's)."""
        ort = self._ort()
        t0 = time.perf_counter()
        data = onnx_bytes(model.to("cpu"), example_input.to("cpu"), opset=self.options.opset,
                          exporter=self.options.exporter)
        so = ort.SessionOptions()
        so.intra_op_num_threads = self.threads()
        so.inter_op_num_threads = 1
        so.log_severity_level = 3
        so.graph_optimization_level = {
            "disabled": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
            "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
            "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
            "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
        }[self.options.graph_optimization]
        try:
            session = ort.InferenceSession(data, so, providers=self.providers())
        except Exception as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise NascostError(f"ONNX Runtime could not load the exported network: {first}") from None
        self.last_export_s = time.perf_counter() - t0
        return OrtSession(session, example_input, self.device), example_input

    def forward(self, model: OrtSession, example_input: Any) -> None:
        model()

    def collect(self, model: OrtSession, example_input: Any, runs: int) -> list[float]:
        out = []
        for _ in range(runs):
            t0 = time.perf_counter_ns()
            model()
            out.append((time.perf_counter_ns() - t0) / 1e6)
        return out

    def extra(self) -> dict[str, Any]:
        return {"threads": self.threads(), "export_s": round(self.last_export_s, 4),
                "opset": self.options.opset, "provider": self.provider}


class OrtPairedMeasurer(OrtMeasurer):
    """ONNX Runtime CPU latency (ms) of each run relative to a co-timed, equally deployed reference."""

    name = "ort-cpu-paired"
    paired = True


class OrtCudaMeasurer(OrtMeasurer):
    """Latency (ms) in ONNX Runtime's CUDA execution provider (input and output on the GPU), batch 32."""

    name = "ort-cuda"
    default_batch_size = 32
    provider = "CUDAExecutionProvider"
    device = "cuda"
    ray_resources = {"num_gpus": 1}

    def provider_hint(self) -> str:
        return "install onnxruntime-gpu instead of onnxruntime, matching this machine's CUDA"


class OrtTensorrtMeasurer(OrtCudaMeasurer):
    """Latency (ms) in ONNX Runtime's TensorRT execution provider, batch 32 (engine built in prepare)."""

    name = "ort-tensorrt"
    provider = "TensorrtExecutionProvider"

    def provider_hint(self) -> str:
        return "install onnxruntime-gpu and TensorRT's libraries on the library path"

    def providers(self) -> list[str]:
        return [self.provider, "CUDAExecutionProvider", "CPUExecutionProvider"]


# --- torch.compile -----------------------------------------------------------


def c_compiler() -> str | None:
    """The C++ compiler inductor's CPU backend would use, if one is on the PATH."""
    for name in ("c++", "g++", "clang++"):
        found = shutil.which(name)
        if found:
            return found
    return None


def _runner(model: nn.Module, x: torch.Tensor) -> Any:
    return _logits(model(x))


_compiled_count = 0


def fresh_runner() -> Any:
    """A function with its own code object, so each network gets its own dynamo cache.

    Why: dynamo keeps compiled graphs per code object; the networks of a
    campaign share their ``forward`` code, and after the recompile limit (8)
    dynamo would silently run the rest in eager PyTorch.
    """
    global _compiled_count
    _compiled_count += 1
    code = _runner.__code__.replace(co_name=f"nascost_deployed_{_compiled_count}")
    return types.FunctionType(code, _runner.__globals__, code.co_name)


class CompiledNetwork:
    """A network compiled by ``torch.compile`` (inductor), called with the example input."""

    def __init__(self, fn: Any, model: nn.Module) -> None:
        self.fn = fn
        self.model = model

    def __call__(self, x: torch.Tensor) -> Any:
        return self.fn(self.model, x)


class TorchCompileTimer(TimerMeasurer):
    """CPU latency (ms) of the network compiled by torch.compile (inductor), compiled once per network."""

    name = "torch-compile"
    unit = "ms"
    default_batch_size = 1

    class Options(TimerMeasurer.Options):
        threads: int | None = Field(
            1, ge=1, description="intra-op threads of compile and runs (default 1; None: torch's count)")
        mode: Literal["default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs"] = Field(
            "default", description="torch.compile mode")

    def __init__(self, options=None, **kwargs) -> None:
        super().__init__(options, **kwargs)
        self.last_compile_s = 0.0

    def threads(self) -> int:
        return self.options.threads or torch.get_num_threads()

    def available(self) -> tuple[bool, str]:
        try:
            import torch._inductor
        except Exception as exc:  # a torch build without inductor
            return False, f"torch {torch.__version__} has no inductor ({type(exc).__name__})"
        if c_compiler() is None:
            return False, "inductor's CPU backend needs a C++ compiler (c++, g++ or clang++) on the PATH"
        return True, ""

    def device_info(self) -> DeviceInfo:
        base = cpu_device_info(self.threads())
        return base.model_copy(update={
            "runtime": "torch-compile-cpu",
            "extra": {**base.extra, "runtime_version": torch.__version__, "backend": "inductor",
                      "mode": self.options.mode, "compiler": c_compiler() or ""},
        })

    def prepare(self, model: nn.Module, example_input: torch.Tensor) -> tuple[Any, torch.Tensor]:
        """Compile, and run once so the compilation happens here, not in the warm-up or the timed runs."""
        model, x = model.to("cpu").eval(), example_input.to("cpu")
        fn = torch.compile(fresh_runner(), backend="inductor", mode=self.options.mode, dynamic=False,
                           fullgraph=False)
        compiled = CompiledNetwork(fn, model)
        t0 = time.perf_counter()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                compiled(x)
        except Exception as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise UnavailableError(f"torch.compile (inductor) cannot compile here: {first[:300]}") from None
        self.last_compile_s = time.perf_counter() - t0
        return compiled, x

    def collect(self, model: Any, example_input: torch.Tensor, runs: int) -> list[float]:
        out = []
        for _ in range(runs):
            t0 = time.perf_counter_ns()
            model(example_input)
            out.append((time.perf_counter_ns() - t0) / 1e6)
        return out

    def extra(self) -> dict[str, Any]:
        return {"threads": self.threads(), "compile_s": round(self.last_compile_s, 4), "mode": self.options.mode}


class TorchCompilePairedTimer(TorchCompileTimer):
    """torch.compile CPU latency (ms) of each run relative to a co-timed, equally compiled reference."""

    name = "torch-compile-paired"
    paired = True


@hookimpl
def register_cost_measurers(register) -> None:
    register(OrtMeasurer)
    register(OrtPairedMeasurer)
    register(OrtCudaMeasurer)
    register(OrtTensorrtMeasurer)
    register(TorchCompileTimer)
    register(TorchCompilePairedTimer)


@hookimpl
def register_costs(register) -> None:
    register(Cost.define("ort-cpu-lpm", measurer="ort-cpu", predictor="lpm",
                         description="ONNX Runtime CPU latency (ms, batch 1) predicted by the paper's LPM"))
    register(Cost.define("ort-cpu-paired-lpm", measurer="ort-cpu-paired", predictor="lpm",
                         description="ONNX Runtime CPU latency (ms, batch 1, timed against a reference: "
                                     "for shared or virtual machines) predicted by the paper's LPM"))


__all__ = [
    "OrtCudaMeasurer",
    "OrtMeasurer",
    "OrtPairedMeasurer",
    "OrtSession",
    "OrtTensorrtMeasurer",
    "TorchCompilePairedTimer",
    "TorchCompileTimer",
    "c_compiler",
    "onnx_bytes",
]
