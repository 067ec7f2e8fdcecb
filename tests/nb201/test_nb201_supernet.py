"""The nb201 supernet: the reference's DARTS baseline, sampling for the cost term, and the search loop."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F

from nascost import plugins
from nascost.errors import NascostError
from nascost.search import (
    CHECKPOINT,
    ResolvedCost,
    SearchConfig,
    regularizer_loss,
    regularizer_weight,
    run_search,
)
from nascost_nb201.supernet import SEARCH_DEFAULTS, channel_shuffle


@pytest.fixture(scope="module")
def space():
    return plugins.get_space("nb201")


def test_supernet_shape_and_affine_free_cells(space) -> None:
    torch.manual_seed(0)
    net = space.supernet(C=8, layers=1, num_classes=10)
    assert [tuple(p.shape) for p in net.arch_parameters()] == [(6, 5)]
    assert float(net.alphas.detach().abs().max()) < 0.01  # 1e-3 * randn, as the reference
    bns = [m for m in net.cells[0].modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert bns and all(not b.affine and not b.track_running_stats for b in bns)
    assert net(torch.randn(3, 3, 16, 16)).shape == (3, 10)


def test_mixed_edge_is_the_softmax_weighted_sum_of_all_five_operations(space) -> None:
    torch.manual_seed(0)
    net = space.supernet(C=4, layers=1, num_classes=2).eval()
    edge = net.cells[0].edges[0]
    x = torch.randn(2, 4, 8, 8)
    w = F.softmax(torch.randn(5), -1)
    expected = sum(wi * op(x) for wi, op in zip(w, edge.ops, strict=True))
    assert torch.allclose(edge(x, w), expected)


def test_derivation_takes_the_argmax_on_each_edge_none_included(space) -> None:
    net = space.supernet(C=4, layers=1, num_classes=2)
    with torch.no_grad():
        net.alphas.zero_()
        net.alphas[0, 0] = 1.0  # none
        for e in range(1, 6):
            net.alphas[e, 3] = 1.0  # nor_conv_3x3
    assert space.format_arch(net.derive()) == (
        "|none~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|")


def test_skip_limit_replaces_the_weakest_skips_as_pdarts(space) -> None:
    # ops: none, skip_connect, nor_conv_1x1, nor_conv_3x3, avg_pool_3x3
    logits = torch.tensor([
        [0.0, 2.0, 1.0, 0.0, 0.0],  # skip, then a 1x1
        [0.0, 1.0, 0.0, 0.5, 0.0],  # skip, then a 3x3: the weakest skip
        [0.0, 3.0, 0.0, 0.0, 0.0],  # the strongest skip
        [0.0, 0.0, 0.0, 1.0, 0.0],
        [0.0, 1.5, 0.0, 0.0, 1.0],  # skip, then a pooling: the second weakest
        [0.0, 0.0, 1.0, 0.0, 0.0],
    ])
    free = space.supernet(C=4, layers=1, num_classes=2)
    limited = space.supernet(C=4, layers=1, num_classes=2, max_skip_connect=2)
    with torch.no_grad():
        free.alphas.copy_(logits)
        limited.alphas.copy_(logits)
    assert space.format_arch(free.derive()) == (
        "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|nor_conv_3x3~0|skip_connect~1|nor_conv_1x1~2|")
    # four skips, two allowed: the two of lowest softmax weight (edges 2<-0, 3<-1) take their next op
    assert space.format_arch(limited.derive()) == (
        "|skip_connect~0|+|nor_conv_3x3~0|skip_connect~1|+|nor_conv_3x3~0|avg_pool_3x3~1|nor_conv_1x1~2|")
    cells = space.sample_many(200, 0)
    skips = torch.tensor([space.format_arch(c).count("skip_connect") for c in cells])
    enc = space.encode(cells)
    assert limited.derivable(enc).tolist() == (skips <= 2).tolist()
    assert bool(free.derivable(enc).all())
    with pytest.raises(NascostError, match="max_skip_connect"):
        space.supernet(C=4, layers=1, num_classes=2, max_skip_connect=-1)


def test_sampling_marginals_and_log_prob_agree(space) -> None:
    torch.manual_seed(1)
    net = space.supernet(C=4, layers=1, num_classes=2)
    with torch.no_grad():
        net.alphas.copy_(torch.randn(6, 5))
    enc = net.sample_encodings(4000, torch.Generator().manual_seed(0))
    hard = enc.detach().reshape(-1, 6, 5)
    assert torch.all(hard.sum(-1) == 1)
    freq = hard.mean(0).reshape(-1)
    assert torch.allclose(freq, net.encoding_marginals().detach(), atol=0.03)
    lp = net.log_prob(enc.detach()[:5])
    expected = (hard[:5] * F.log_softmax(net.alphas, -1).unsqueeze(0)).sum((1, 2))
    assert torch.allclose(lp, expected)
    bad = torch.zeros(1, 30)
    assert net.log_prob(bad)[0] == -float("inf")
    # the straight-through gradient reaches alpha
    (enc * torch.arange(30.0)).sum().backward()
    assert net.alphas.grad is not None and net.alphas.grad.abs().sum() > 0


def test_partial_channels_and_edge_normalisation(space) -> None:
    torch.manual_seed(0)
    net = space.supernet(C=8, layers=1, num_classes=3, partial_channels=4, edge_normalization=True)
    assert [tuple(p.shape) for p in net.arch_parameters()] == [(6, 5), (6,)]
    assert net.operation_logits() == [net.alphas]
    edge = net.cells[0].edges[0]
    convs = [m for m in edge.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs and all(c.in_channels == c.out_channels == 2 for c in convs)  # 8 channels / k=4
    x = torch.randn(2, 8, 4, 4)
    out = edge(x, F.softmax(net.alphas[0], -1))
    # 6 of 8 channels pass through unchanged, shuffled into place
    assert torch.equal(out[:, 1::4], x[:, 2:4]) and torch.equal(out[:, 3::4], x[:, 6:8])
    w = net.edge_weights()
    assert torch.allclose(w[0], torch.tensor(1.0)) and torch.allclose(w[1:3].sum(), torch.tensor(1.0))
    y = net(torch.randn(2, 3, 16, 16))
    y.sum().backward()
    assert net.betas.grad is not None
    assert torch.equal(channel_shuffle(torch.arange(8.0).view(1, 8, 1, 1), 4).flatten(),
                       torch.tensor([0.0, 2, 4, 6, 1, 3, 5, 7]))
    with pytest.raises(NascostError, match="multiple of partial_channels"):
        space.supernet(C=6, layers=1, partial_channels=4)


def test_search_defaults_are_the_benchmarks_darts_config(space) -> None:
    d = space.search_defaults()
    assert d == SEARCH_DEFAULTS
    assert (d["batch_size"], d["lr"], d["lr_min"], d["weight_decay"], d["nesterov"]) == (64, 0.025, 0.001, 5e-4, True)
    assert (d["arch_lr"], d["arch_weight_decay"], d["C"], d["layers"], d["epochs"]) == (3e-4, 1e-3, 16, 5, 50)


def test_beta_regulariser_is_the_mean_logsumexp_and_ramps_linearly(space) -> None:
    net = space.supernet(C=4, layers=1, num_classes=2)
    reg = regularizer_loss("beta", net)
    assert torch.allclose(reg, torch.logsumexp(net.alphas, -1).mean())
    reg.backward()
    assert torch.allclose(net.alphas.grad, F.softmax(net.alphas, -1).detach() / 6)
    cfg = SearchConfig.build({"regularizer": "beta"})
    assert [regularizer_weight(cfg, e, 5) for e in range(5)] == [0.0, 12.5, 25.0, 37.5, 50.0]
    assert regularizer_weight(SearchConfig.build({}), 3, 5) == 0.0


@pytest.mark.parametrize("extra", [
    {"order": "first"},
    {"order": "second"},
    {"supernet_options": {"partial_channels": 2, "edge_normalization": True}, "regularizer": "beta"},
])
def test_nb201_searches_in_the_loop(tmp_path, extra) -> None:
    config = SearchConfig.build({
        "space": "nb201", "dataset": "synthetic", "C": 4, "layers": 1, "epochs": 2, "batch_size": 8,
        "max_steps": 2, "max_train_samples": 40, "threads": 1, **extra,
    })
    result = run_search(config, tmp_path / "run", show_progress=False)
    assert result.architecture.space == "nb201"
    saved = json.loads((tmp_path / "run" / "genotype.json").read_text())
    assert saved["space"] == "nb201" and saved["cell"].count("~") == 6
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == 2
    if extra.get("regularizer") == "beta":
        assert rows[0]["regularizer"]["weight"] == 0.0 and rows[1]["regularizer"]["weight"] == 50.0
        assert rows[1]["regularizer"]["value"] > 0


def test_a_seeded_search_repeats_itself_bit_for_bit(tmp_path) -> None:
    """Same options, same environment: the same weights, metrics and cell (what a re-run relies on)."""
    config = SearchConfig.build({
        "space": "nb201", "dataset": "synthetic", "C": 4, "layers": 1, "epochs": 2, "batch_size": 8,
        "max_steps": 3, "max_train_samples": 40, "threads": 1, "arch_learning_rate": 0.05,
        "regularizer": "beta", "seed": 3, "lambda": 0.5, "costs": ["convs"],
    })
    convs = _SumOfConvolutions()
    convs.differentiable = True  # linear in the encoding: the straight-through estimator's gradient exists
    costs = [ResolvedCost(name="convs", fn=convs, unit="convs")]
    runs = [tmp_path / "a", tmp_path / "b"]
    for run in runs:
        run_search(config, run, costs=costs, show_progress=False)
    a, b = (torch.load(r / CHECKPOINT, weights_only=True)["supernet"] for r in runs)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)

    def rows(run):
        return [{k: v for k, v in json.loads(line).items() if k != "epoch_time"}
                for line in (run / "metrics.jsonl").read_text().splitlines()]

    assert rows(runs[0]) == rows(runs[1]) and rows(runs[0])[1]["arch_updated"]
    assert (runs[0] / "genotype.json").read_text() == (runs[1] / "genotype.json").read_text()
    saved = json.loads((runs[0] / "config.json").read_text())
    assert saved["environment"]["torch"] == torch.__version__ and saved["environment"]["cpu_capability"]
    assert "resumed_environment" not in saved


class _SumOfConvolutions:
    """A cost that counts the convolutions of a cell (3x3 twice a 1x1), for budgets."""

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        per_op = torch.tensor([0.0, 0.0, 1.0, 2.0, 0.0]).repeat(6)
        return x.float() @ per_op


def test_derive_applies_the_skip_limit_to_finished_runs_and_within_a_budget(space, tmp_path, run_cli) -> None:
    from nascost.derive import derive_from_runs, most_probable_within

    runs = []
    for seed in (0, 1):
        run = tmp_path / f"seed{seed}"
        run_search(SearchConfig.build({"space": "nb201", "dataset": "synthetic", "C": 4, "layers": 1, "epochs": 1,
                                       "batch_size": 8, "max_steps": 1, "max_train_samples": 16, "threads": 1,
                                       "seed": seed}), run, show_progress=False)
        state = torch.load(run / CHECKPOINT, weights_only=True)
        logits = torch.zeros(6, 5)
        logits[:, 1] = 2.0 + 0.1 * torch.arange(6) * (1 if seed else -1)  # every edge a skip, in another order
        logits[:, 3] = 1.0
        state["supernet"]["alphas"] = logits
        torch.save(state, run / CHECKPOINT)
        runs.append(run)
    free, _ = derive_from_runs(runs)
    assert space.format_arch(free).count("skip_connect") == 6
    limited, report = derive_from_runs(runs, supernet_options={"max_skip_connect": 2})
    assert space.format_arch(limited).count("skip_connect") == 2
    assert [c.count("skip_connect") for c in report["each"]] == [2, 2]  # each run's cell by the same rule
    # the budget picks among the cells the limit allows
    net = space.supernet(C=4, layers=1, num_classes=10, max_skip_connect=2)
    with torch.no_grad():
        net.alphas.copy_(torch.load(runs[0] / CHECKPOINT, weights_only=True)["supernet"]["alphas"])
    cell, cost = most_probable_within(net, space, _SumOfConvolutions(), 4.0)
    text = space.format_arch(cell)
    assert text.count("skip_connect") <= 2 and cost <= 4.0 and text.count("nor_conv_3x3") <= 2
    code, out, _ = run_cli("derive", *map(str, runs), "--json", "--opt", 'supernet_options={"max_skip_connect": 1}')
    assert code == 0 and json.loads(out)["arch"].count("skip_connect") == 1
    for bad, message in ((["--opt", "seed=3"], "supernet_options={...} only"),
                         (["--opt", 'supernet_options={"C": 8}'], "may not set C"),
                         (["--opt", 'supernet_options={"max_skips": 1}'], "invalid nb201 supernet option")):
        code, _, err = run_cli("derive", *map(str, runs), *bad)
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
