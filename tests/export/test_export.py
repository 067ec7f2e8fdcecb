"""nascost export: the derived network as an ONNX or TorchScript file, checked against PyTorch."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from nascost.errors import NascostError
from nascost.export import export_network

TINY = ["--setting", "cifar10", "--channels", "4", "--layers", "2", "--input-size", "16"]


class Noisy(nn.Module):
    """Computes something else on every call: no export of it can match PyTorch."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean((2, 3)) + torch.rand(x.shape[0], 3)


def test_torchscript_export_runs_and_matches(run_cli, tmp_path) -> None:
    out = tmp_path / "net.pt"
    code, stdout, err = run_cli("export", "DARTS_V2", *TINY, "--format", "torchscript", "-o", str(out), "--json")
    assert code == 0, err
    info = json.loads(stdout)
    assert info["max_abs_diff"] <= 1e-4 and info["format"] == "torchscript" and out.stat().st_size == info["bytes"]
    loaded = torch.jit.load(str(out))
    assert loaded(torch.randn(1, 3, 16, 16)).shape == (1, 10)
    assert "warning" not in err


def test_onnx_export_runs_in_onnx_runtime_and_matches(run_cli, tmp_path) -> None:
    ort = pytest.importorskip("onnxruntime")
    out = tmp_path / "net.onnx"
    code, stdout, err = run_cli("export", "DARTS_V2", *TINY, "--format", "onnx", "-o", str(out))
    assert code == 0, err
    assert "max abs diff from PyTorch" in stdout
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    y = session.run(None, {"input": torch.randn(1, 3, 16, 16).numpy()})[0]
    assert y.shape == (1, 10)


def test_an_export_that_computes_something_else_fails_and_leaves_no_file(tmp_path) -> None:
    out = tmp_path / "noisy.pt"
    with pytest.raises(NascostError, match="differs from PyTorch"):
        export_network(Noisy(), torch.randn(1, 3, 4, 4), out, "torchscript", tolerance=1e-6)
    assert not out.exists() and not list(tmp_path.iterdir())


def test_export_refuses_to_overwrite_its_input(run_cli, tmp_path) -> None:
    geno = tmp_path / "genotype.json"
    _, sample, _ = run_cli("arch", "sample", "--seed", "0")
    geno.write_text(sample)
    before = geno.read_text()
    code, _, err = run_cli("export", str(geno), "--space", "darts", *TINY, "--format", "torchscript",
                           "-o", str(geno))
    assert code == 2 and "would destroy the input" in err and len(err.strip().splitlines()) == 1
    assert geno.read_text() == before


def test_weights_that_do_not_fit_are_one_line(run_cli, tmp_path) -> None:
    w = tmp_path / "w.pt"
    torch.save({"nope": torch.zeros(1)}, w)
    code, _, err = run_cli("export", "DARTS_V2", *TINY, "--format", "torchscript", "-o", str(tmp_path / "n.pt"),
                           "--weights", str(w))
    assert code == 2 and "does not fit this network" in err and len(err.strip().splitlines()) == 1


def test_onnx_without_onnxruntime_is_one_line_and_no_file(run_cli, tmp_path, monkeypatch) -> None:
    import sys

    pytest.importorskip("onnx")  # the export itself; only the check needs onnxruntime
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    out = tmp_path / "net.onnx"
    code, _, err = run_cli("export", "DARTS_V2", *TINY, "--format", "onnx", "-o", str(out))
    assert code == 2 and "nascost[ort]" in err and len(err.strip().splitlines()) == 1
    assert not out.exists()
