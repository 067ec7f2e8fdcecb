"""The gumbel relaxation (GDAS): one-hot draws from softmax(alpha), their straight-through gradient,
the annealed temperature, the nb201 supernet computing the drawn operation alone, and the loop."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from nascost import plugins
from nascost.errors import NascostError
from nascost.report import load_run, search_options_row
from nascost.search import CHECKPOINT, SearchConfig, SearchInterrupted, run_search
from nascost.space import drawn, gumbel_temperature, relax


def test_gumbel_draws_are_one_hot_and_follow_the_softmax_at_any_temperature() -> None:
    logits = torch.tensor([1.0, 0.0, -0.5, 2.0, -3.0])
    for temperature in (10.0, 0.1):
        torch.manual_seed(0)
        w = relax(logits.expand(20_000, 5), "gumbel", temperature)
        assert torch.allclose(w.sum(-1), torch.ones(20_000))
        assert ((w.detach() - w.detach().round()).abs() < 1e-6).all()  # one-hot in value
        freq = F.one_hot(w.detach().argmax(-1), 5).float().mean(0)
        assert torch.allclose(freq, F.softmax(logits, -1), atol=0.015)  # Gumbel-max: softmax(alpha)


def test_gumbel_gradient_is_the_tempered_gumbel_softmax_of_the_same_draw() -> None:
    logits = torch.tensor([[0.5, 0.2, -0.3, 1.0, 0.0], [0.0, 0.1, 0.0, -0.2, 0.3]], requires_grad=True)
    c = torch.arange(10.0).reshape(2, 5)
    torch.manual_seed(3)
    (relax(logits, "gumbel", 2.0) * c).sum().backward()
    torch.manual_seed(3)  # replay the same Gumbel noise
    ref = logits.detach().clone().requires_grad_(True)
    gumbels = -torch.empty_like(ref).exponential_().log()
    probs = F.softmax((F.log_softmax(ref, -1) + gumbels) / 2.0, -1)
    (probs * c).sum().backward()
    assert torch.allclose(logits.grad, ref.grad)
    assert logits.grad.abs().sum() > 0


def test_drawn_names_the_operation_only_under_gumbel() -> None:
    w = torch.tensor([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    assert drawn(w, "gumbel") == [1, 2]
    assert drawn(w, "softmax") is None and drawn(w, "dirichlet") is None


def test_gumbel_needs_a_positive_temperature() -> None:
    with pytest.raises(NascostError, match="temperature > 0"):
        relax(torch.zeros(2, 3), "gumbel", 0.0)


def test_temperature_falls_linearly_from_first_to_last_epoch() -> None:
    """GDAS: tau_max - (tau_max - tau_min) * epoch / (epochs - 1), 10 to 0.1."""
    assert [gumbel_temperature(e, 3) for e in range(3)] == [10.0, 5.05, 0.1]
    assert gumbel_temperature(9, 10) == 0.1 and gumbel_temperature(0, 10) == 10.0
    assert gumbel_temperature(1, 5, (4.0, 2.0)) == 3.5
    assert gumbel_temperature(0, 1) == 10.0  # a one-epoch search keeps the first value


def test_nb201_edge_computes_the_drawn_operation_alone() -> None:
    space = plugins.get_space("nb201")
    torch.manual_seed(0)
    net = space.supernet(C=4, layers=1, num_classes=3, in_channels=1)
    assert "gumbel" in type(net).relaxations
    edge = next(m for m in net.modules() if type(m).__name__ == "MixedEdge")
    calls = [0] * len(edge.ops)
    for i, op in enumerate(edge.ops):
        op.register_forward_hook(lambda *_, i=i: calls.__setitem__(i, calls[i] + 1))
    x = torch.randn(2, 4, 8, 8)
    logits = torch.zeros(5, requires_grad=True)
    torch.manual_seed(1)
    w = relax(logits, "gumbel", 1.0)
    k = drawn(w, "gumbel")
    out = edge(x, w, k)
    assert calls == [int(i == k) for i in range(5)]  # the other four never ran
    assert torch.allclose(out, edge.ops[k](x))  # the drawn operation's output, weight 1 in value
    out.sum().backward()
    assert (logits.grad != 0).all()  # every operation's weight is in the graph (GDAS's scalar terms)


def test_nb201_search_anneals_the_temperature_and_records_it(tmp_path: Path) -> None:
    config = SearchConfig.build({
        "space": "nb201", "dataset": "synthetic", "C": 4, "layers": 1, "epochs": 3, "batch_size": 8,
        "max_steps": 2, "max_train_samples": 40, "threads": 1, "arch_frozen_epochs": 1,
        "relaxation": "gumbel", "temperature": [4.0, 1.0], "arch_learning_rate": 0.3,
    })
    lines: list[str] = []
    result = run_search(config, tmp_path / "run", show_progress=False, log=lines.append)
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["temperature"] for r in rows] == [4.0, 2.5, 1.0]
    assert [line.split("temperature ")[1].split(",")[0] for line in lines if "temperature " in line] == ["4", "2.5", "1"]
    saved = json.loads((tmp_path / "run" / "config.json").read_text())["search"]
    assert saved["relaxation"] == "gumbel" and saved["temperature"] == [4.0, 1.0]
    assert result.architecture.space == "nb201"
    header, values = search_options_row(load_run(tmp_path / "run"))  # the report shows the schedule
    assert values[header.index("relaxation")] == "gumbel (temperature 4 to 1)"
    # the architecture moved under the drawn paths' gradient once its updates began (epoch 2)
    assert [r["arch_updated"] for r in rows] == [False, True, True]
    assert rows[2]["alpha_entropy"] != rows[0]["alpha_entropy"]


def test_a_temperature_without_gumbel_is_refused() -> None:
    with pytest.raises(NascostError, match=r"gumbel relaxation only.*--relaxation gumbel"):
        SearchConfig.build({"temperature": [10, 0.1]})
    with pytest.raises(NascostError, match="temperature schedule needs"):
        SearchConfig.build({"relaxation": "gumbel", "temperature": [0.1, 10]})


def test_cli_temperature_errors_exit_2(tmp_path: Path, run_cli) -> None:
    code, out, err = run_cli("search", "--space", "nb201", "--dataset", "synthetic", "--temperature", "5", "1",
                             "--out", str(tmp_path / "run"))
    assert code == 2
    assert "--relaxation gumbel" in out + err and "Traceback" not in out + err
    assert not (tmp_path / "run").exists()


def test_darts_supernets_refuse_gumbel(tmp_path: Path) -> None:
    cfg = SearchConfig.build({"space": "darts", "dataset": "digits", "C": 4, "layers": 3, "epochs": 1, "max_steps": 1,
                              "batch_size": 16, "relaxation": "gumbel"})
    with pytest.raises(NascostError, match=r"does not offer relaxation 'gumbel'"):
        run_search(cfg, tmp_path / "run", show_progress=False)


def test_a_killed_gumbel_search_resumes_to_the_same_weights_and_temperatures(tmp_path: Path) -> None:
    """The temperature follows the epoch and each epoch's draws its seed, so a resumed run is the
    uninterrupted one."""
    data = {"space": "nb201", "dataset": "synthetic", "C": 4, "layers": 1, "epochs": 3, "batch_size": 8,
            "max_steps": 2, "max_train_samples": 40, "threads": 1, "arch_frozen_epochs": 1,
            "relaxation": "gumbel", "arch_learning_rate": 0.3}
    run_search(SearchConfig.build(data), tmp_path / "full", show_progress=False)

    def stop(row: dict) -> None:
        if row["epoch"] == 1:
            raise SearchInterrupted

    with pytest.raises(SearchInterrupted):
        run_search(SearchConfig.build(data), tmp_path / "part", show_progress=False, on_epoch_end=stop)
    run_search(SearchConfig.build(data), tmp_path / "part", show_progress=False, resume=True)
    a = torch.load(tmp_path / "full" / CHECKPOINT, weights_only=True)["supernet"]
    b = torch.load(tmp_path / "part" / CHECKPOINT, weights_only=True)["supernet"]
    for key in a:
        assert torch.allclose(a[key].float(), b[key].float(), atol=1e-6), key
    rows = [json.loads(line) for line in (tmp_path / "part" / "metrics.jsonl").read_text().splitlines()]
    assert [r["temperature"] for r in rows] == [10.0, 5.05, 0.1]
