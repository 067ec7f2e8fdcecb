"""A built network as a deployment artifact: ONNX or TorchScript, checked against PyTorch.

Space-agnostic: it gets an ``nn.Module`` and an example input. The file is
written atomically (:mod:`nascost.files`), then loaded back and run on the
example input; the largest absolute difference from the PyTorch logits is
reported, and an export above ``tolerance`` is an error, so a file that
computes something else is never left behind.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn

from nascost.errors import NascostError
from nascost.files import atomic_write

ORT_INSTALL = "pip install 'nascost[ort]'"
FORMATS = ("onnx", "torchscript")


def logits(out: Any) -> Any:
    """The logits of a network's output (networks with auxiliary heads return a tuple)."""
    return out[0] if isinstance(out, (tuple, list)) else out


class LogitsOnly(nn.Module):
    """The network's logits alone: auxiliary heads and ``None`` outputs are not deployed."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return logits(self.model(x))


def onnx_bytes(model: nn.Module, example_input: torch.Tensor, *, opset: int = 17,
               exporter: Literal["torchscript", "dynamo"] = "torchscript") -> bytes:
    """``model`` exported to ONNX in memory, with one input ``input`` and one output ``logits``.

    ``torchscript`` is torch's tracing exporter (seconds for a DARTS network);
    ``dynamo`` the torch.export-based one (needs ``onnxscript``; slower here).
    """
    wrapped = LogitsOnly(model).eval()
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # exporter deprecation and tracer warnings: not the user's to act on
            if exporter == "dynamo":
                prog = torch.onnx.export(wrapped, (example_input,), dynamo=True, opset_version=opset,
                                         input_names=["input"], output_names=["logits"], verbose=False)
                return prog.model_proto.SerializeToString()
            buf = io.BytesIO()
            torch.onnx.export(wrapped, (example_input,), buf, dynamo=False, opset_version=opset,
                              input_names=["input"], output_names=["logits"])
            return buf.getvalue()
    except ImportError as exc:
        raise NascostError(f"ONNX export needs {exc.name or 'onnx'}: {ORT_INSTALL}") from None


def torchscript_bytes(model: nn.Module, example_input: torch.Tensor) -> bytes:
    """``model`` traced to TorchScript in memory (logits only)."""
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(LogitsOnly(model).eval(), example_input, check_trace=False)
        buf = io.BytesIO()
        torch.jit.save(traced, buf)
    return buf.getvalue()


@dataclass
class ExportResult:
    path: str
    format: str
    bytes: int
    max_abs_diff: float
    tolerance: float


def _run_onnx(path: Path, x: torch.Tensor) -> Any:
    try:
        import onnxruntime as ort
    except ImportError:
        raise NascostError(f"checking an ONNX export needs onnxruntime ({ORT_INSTALL}); "
                           "or pass --no-check") from None
    so = ort.SessionOptions()
    so.log_severity_level = 3
    session = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    return torch.from_numpy(session.run(None, {session.get_inputs()[0].name: x.numpy()})[0])


def _max_abs_diff(model: nn.Module, x: torch.Tensor, path: Path, fmt: str) -> float:
    """Run the written file on ``x``; the largest absolute difference from PyTorch's logits."""
    with torch.inference_mode():
        expected = logits(model(x)).float()
    if fmt == "onnx":
        got = _run_onnx(path, x)
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch.jit's deprecation: the format is still what runtimes load
            loaded = torch.jit.load(str(path), map_location="cpu")  # the file this call just wrote
        with torch.inference_mode():
            got = loaded(x)
    return float((got.float() - expected).abs().max())


def export_network(model: nn.Module, example_input: torch.Tensor, path: str | Path,
                   fmt: Literal["onnx", "torchscript"], *, opset: int = 17, tolerance: float = 1e-4,
                   check: bool = True) -> ExportResult:
    """Write ``model`` (eval mode, CPU) to ``path`` as ``fmt`` and check it against PyTorch.

    Raises :class:`NascostError` (and removes the file) when the exported
    network's logits differ from PyTorch's by more than ``tolerance``.
    """
    if fmt not in FORMATS:
        raise NascostError(f"unknown export format {fmt!r} (formats: {', '.join(FORMATS)})")
    path = Path(path)
    model = model.to("cpu").eval()
    x = example_input.to("cpu")
    data = onnx_bytes(model, x, opset=opset) if fmt == "onnx" else torchscript_bytes(model, x)
    with atomic_write(path, "wb") as fh:
        fh.write(data)
    diff = float("nan")
    if check:
        try:
            diff = _max_abs_diff(model, x, path, fmt)
        except BaseException:
            path.unlink(missing_ok=True)  # an unchecked file is not left behind as if it were checked
            raise
        if not diff <= tolerance:
            path.unlink(missing_ok=True)
            raise NascostError(f"the {fmt} export of the network differs from PyTorch by {diff:.3g} "
                               f"(tolerance {tolerance:g}); nothing written; try another --opset or "
                               "raise --tolerance")
    return ExportResult(path=str(path), format=fmt, bytes=len(data), max_abs_diff=diff, tolerance=tolerance)


def load_weights(model: nn.Module, path: str | Path) -> None:
    """Load a state dict (``nascost train``'s ``model.pt``) safely (``weights_only=True``)."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise NascostError(f"--weights {str(path)!r} does not exist") from None
    except Exception as exc:
        raise NascostError(f"--weights {str(path)!r} is not a readable state dict ({type(exc).__name__})") from None
    if isinstance(state, dict) and "model" in state and isinstance(state["model"], dict):
        state = state["model"]  # a training checkpoint
    try:
        model.load_state_dict(state)
    except (RuntimeError, TypeError, AttributeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise NascostError(f"--weights {str(path)!r} does not fit this network "
                           f"(same genotype, --space and --setting as training?): {first[:200]}") from None
