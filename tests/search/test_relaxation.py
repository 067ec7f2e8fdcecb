"""The Dirichlet relaxation (DrNAS): draws, their gradient, the supernets that honour it, the loop.

The gumbel relaxation (GDAS) has its own file, test_gumbel.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from nascost import plugins
from nascost.errors import NascostError
from nascost.report import load_run, search_options_row
from nascost.search import SearchConfig, run_search
from nascost.space import relax
from search.fakes import ChainSpace


def test_softmax_relaxation_is_the_softmax() -> None:
    logits = torch.randn(6, 5)
    assert torch.equal(relax(logits, "softmax"), F.softmax(logits, -1))


def test_dirichlet_draws_are_mixtures_around_the_concentration_mean() -> None:
    torch.manual_seed(0)
    logits = torch.tensor([1.0, 0.0, -0.5, 2.0, -3.0])
    draws = relax(logits.expand(20_000, 5), "dirichlet")
    assert (draws > 0).all() and torch.allclose(draws.sum(-1), torch.ones(20_000))
    assert not torch.equal(draws[0], draws[1])
    concentration = F.elu(logits) + 1
    assert torch.allclose(draws.mean(0), concentration / concentration.sum(), atol=0.01)


def test_dirichlet_gradient_is_the_pathwise_gradient_of_the_mean() -> None:
    """The reparameterised draws' gradient estimates d E[w] / d alpha (DrNAS's pathwise derivative)."""
    torch.manual_seed(1)
    logits = torch.tensor([0.5, 0.2, -0.3, 1.0, 0.0], requires_grad=True)
    relax(logits.expand(50_000, 5), "dirichlet")[:, 3].mean().backward()
    exact = logits.detach().clone().requires_grad_(True)
    c = F.elu(exact) + 1
    (c[3] / c.sum()).backward()
    assert torch.allclose(logits.grad, exact.grad, atol=0.01)
    assert logits.grad[3] > 0 and (logits.grad[[0, 1, 2, 4]] < 0).all()


def test_unknown_relaxation_is_named() -> None:
    with pytest.raises(NascostError, match="unknown relaxation 'sparsemax'"):
        relax(torch.zeros(2, 3), "sparsemax")


@pytest.mark.parametrize("space_name", ["nb201", "darts", "pcdarts", "pdarts"])
def test_supernets_mix_with_a_fresh_draw_under_dirichlet(space_name: str) -> None:
    space = plugins.get_space(space_name)
    torch.manual_seed(0)
    opts = {"C": 4, "layers": 1 if space_name == "nb201" else 3, "in_channels": 1, "num_classes": 3}
    net = space.supernet(**opts).eval()
    assert "dirichlet" in type(net).relaxations
    x = torch.randn(2, 1, 8, 8)
    with torch.no_grad():
        assert torch.equal(net(x), net(x))  # softmax: deterministic
    net.relaxation = "dirichlet"
    with torch.no_grad():
        assert not torch.allclose(net(x), net(x))
    net(x).sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in net.operation_logits())


def test_nb201_search_runs_with_the_dirichlet_relaxation(tmp_path: Path) -> None:
    config = SearchConfig.build({
        "space": "nb201", "dataset": "synthetic", "C": 4, "layers": 1, "epochs": 2, "batch_size": 8,
        "max_steps": 2, "max_train_samples": 40, "threads": 1, "relaxation": "dirichlet",
    })
    result = run_search(config, tmp_path / "run", show_progress=False)
    assert result.architecture.space == "nb201"
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["search"]["relaxation"] == "dirichlet"
    header, values = search_options_row(load_run(tmp_path / "run"))  # the report shows it
    assert values[header.index("relaxation")] == "dirichlet"


def test_a_supernet_without_the_relaxation_refuses_it(tmp_path: Path) -> None:
    cfg = SearchConfig.build({"space": "chain", "dataset": "digits", "epochs": 1, "max_steps": 1,
                              "batch_size": 16, "relaxation": "dirichlet"})
    with pytest.raises(NascostError, match=r"does not offer relaxation 'dirichlet'.*--relaxation"):
        run_search(cfg, tmp_path / "run", space=ChainSpace(), show_progress=False)
    assert not (tmp_path / "run" / "checkpoint.pt").exists()


def test_bad_relaxation_in_a_config_is_refused() -> None:
    with pytest.raises(NascostError, match="relaxation"):
        SearchConfig.build({"relaxation": "sparsemax"})
