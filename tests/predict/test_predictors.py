"""Predictors: the LPM's paper defaults, gradients, learning, and every predictor's file round trip."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import ParamCounter, ToySpace
from torch import nn

from nascost import plugins
from nascost.errors import NascostError
from nascost.predict import load_predictor, make_metadata, regression_metrics, save_predictor


def darts_like(n: int, seed: int = 0) -> torch.Tensor:
    """``[n, 112]`` valid DARTS normal-cell encodings: per node two input edges, one non-none op each."""
    rng = np.random.default_rng(seed)
    edges = [(node, i) for node in range(2, 6) for i in range(node)]
    x = np.zeros((n, 112), np.float32)
    for k in range(n):
        for node in range(2, 6):
            for i in rng.choice(node, 2, replace=False):
                x[k, edges.index((node, int(i))) * 8 + int(rng.integers(1, 8))] = 1
    return torch.from_numpy(x)


def additive_interaction(x: torch.Tensor, seed: int = 1) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    w = torch.as_tensor(rng.uniform(0.1, 1.0, x.shape[1]), dtype=torch.float32)
    pairs = torch.as_tensor(rng.integers(0, x.shape[1], (30, 2)))
    return 10.0 + x @ w + 0.5 * (x[:, pairs[:, 0]] * x[:, pairs[:, 1]]).sum(1)


def test_lpm_defaults_are_the_papers() -> None:
    lpm = plugins.get_predictor("lpm")
    o = lpm.options
    assert (o.hidden, o.activation, o.epochs, o.batch_size) == ([256, 64], "sigmoid", 1000, 200)
    assert (o.lr, o.momentum, o.weight_decay) == (0.01, 0.9, 1e-5)
    assert lpm.differentiable and lpm.requires_fit and not lpm.additive
    x = darts_like(20)
    lpm = plugins.get_predictor("lpm", {"epochs": 1}).fit(x, additive_interaction(x))
    layers = list(lpm.model)
    linears = [m for m in layers if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(112, 256), (256, 64), (64, 1)]
    assert [type(m) for m in layers] == [nn.Linear, nn.Sigmoid, nn.Linear, nn.Sigmoid, nn.Linear]


def test_lpm_is_differentiable_in_its_input_only() -> None:
    x = darts_like(64)
    lpm = plugins.get_predictor("lpm", {"epochs": 3}).fit(x, additive_interaction(x))
    soft = torch.full((2, 112), 8 / 112, requires_grad=True)
    out = lpm.predict(soft)
    out.sum().backward()
    assert soft.grad is not None and soft.grad.abs().sum() > 0
    assert all(p.grad is None for p in lpm.model.parameters())
    # the gradient is the true derivative: compare with a finite difference
    i = int(soft.grad[0].abs().argmax())
    eps = 1e-2
    bumped = soft.detach().clone()
    bumped[0, i] += eps
    fd = (lpm.predict(bumped)[0] - lpm.predict(soft.detach())[0]) / eps
    assert float(fd) == pytest.approx(float(soft.grad[0, i]), rel=0.05, abs=1e-4)


def test_lpm_learns_an_additive_target_with_interactions() -> None:
    x = darts_like(600, seed=3)
    y = additive_interaction(x)
    lpm = plugins.get_predictor("lpm", {"epochs": 60, "batch_size": 50, "lr": 0.05, "seed": 1})
    lpm.fit(x[:450], y[:450])
    m = regression_metrics(y[450:].numpy(), lpm.predict(x[450:]).detach().numpy())
    constant = regression_metrics(y[450:].numpy(), np.full(150, float(y[:450].mean())))
    assert m["kendall_tau"] > 0.8
    assert m["mape"] < constant["mape"] / 3


def test_lpm_early_stopping_restores_the_best_epoch() -> None:
    x = darts_like(300)
    y = additive_interaction(x)
    lpm = plugins.get_predictor("lpm", {"epochs": 400, "val_fraction": 0.2, "patience": 3, "lr": 0.05})
    seen = []
    lpm.fit(x, y, progress=lambda done, total, info: seen.append((done, total)))
    assert lpm.stopped_epoch is not None and lpm.stopped_epoch < 400
    assert seen[-1] == (400, 400)


@pytest.mark.parametrize("scaling", ["none", "standard", "log"])
def test_lpm_predicts_in_the_original_unit(scaling: str) -> None:
    x = darts_like(200)
    y = additive_interaction(x)
    lpm = plugins.get_predictor("lpm", {"epochs": 30, "target_scaling": scaling, "batch_size": 50})
    pred = lpm.fit(x, y).predict(x).detach()
    assert abs(float(pred.mean()) - float(y.mean())) < 0.2 * float(y.mean())


FITTED = {
    "lpm": {"epochs": 5},
    "ridge": {},
    "xgboost": {"n_estimators": 20},
    "gbrt": {"n_estimators": 20},
    "random-forest": {"n_estimators": 8},
}


@pytest.mark.parametrize("name", sorted(FITTED))
def test_fitted_predictor_round_trip_is_exact(name: str, tmp_path) -> None:
    x = darts_like(120)
    y = additive_interaction(x)
    pred = plugins.get_predictor(name, FITTED[name]).fit(x[:100], y[:100])
    meta = make_metadata(pred, space="darts", encoding_id="darts-cell/normal-14x8", encoding_dim=112, unit="ms",
                         n_train=100)
    path = save_predictor(pred, tmp_path / "p.nascost", meta)
    loaded, lmeta = load_predictor(path, space="darts", encoding_id="darts-cell/normal-14x8")
    assert type(loaded) is type(pred) and lmeta.predictor == name and lmeta.n_train == 100
    assert torch.equal(loaded.predict(x).detach(), pred.predict(x).detach())
    assert list(tmp_path.iterdir()) == [path]  # no temp file left behind


def test_tree_ensembles_predict_as_scikit_learn() -> None:
    from sklearn.ensemble import GradientBoostingRegressor

    x = darts_like(150)
    y = additive_interaction(x)
    ours = plugins.get_predictor("gbrt", {"n_estimators": 15}).fit(x, y)
    ref = GradientBoostingRegressor(n_estimators=15, max_depth=3, random_state=0).fit(x.numpy(), y.numpy())
    assert np.allclose(ours.predict(x).numpy(), ref.predict(x.numpy()))


@pytest.mark.parametrize("name", ["flops", "lut"])
def test_context_predictors_are_exact_for_additive_costs(name: str, tmp_path) -> None:
    space = ToySpace()
    setting = space.setting("tiny")
    pred = plugins.get_predictor(name, {"check": 4}).build(space, setting, ParamCounter(), batch_size=1)
    archs = space.sample_many(10, 5)
    if name == "flops":
        truth = [space.count(a, setting)["macs"] for a in archs]
    else:
        truth = [ParamCounter().measure(space.build(a, setting), space.example_input(setting)).value for a in archs]
    got = pred.predict(space.encode(archs)).numpy()
    assert np.allclose(got, truth, rtol=1e-9, atol=1e-6)
    assert pred.info["check_mape"] < 1e-9 and pred.info["unreached_bits"] == 0
    # an expectation under independent per-edge probabilities is the expected cost
    probs = torch.full((1, space.encoding_dim), 0.25, dtype=torch.float64, requires_grad=True)
    expected = pred.predict(probs)
    expected.sum().backward()
    assert probs.grad is not None and float(expected.detach()) == pytest.approx(float(np.mean(
        pred.predict(space.encode([space.validate({"ops": [a, b, c]})
                                   for a in ["conv3", "conv1", "pool", "skip"]
                                   for b in ["conv3", "conv1", "pool", "skip"]
                                   for c in ["conv3", "conv1", "pool", "skip"]])).numpy())))
    meta = make_metadata(pred, space="toy", encoding_id=space.encoding_id, encoding_dim=12, unit="MACs",
                         setting=setting)
    loaded, _ = load_predictor(save_predictor(pred, tmp_path / "c.nascost", meta), space="toy")
    assert torch.equal(loaded.predict(space.encode(archs)), pred.predict(space.encode(archs)))


def test_context_predictors_refuse_fit_and_lut_needs_a_measurer() -> None:
    with pytest.raises(NascostError, match="built from the space"):
        plugins.get_predictor("flops").fit(torch.zeros(3, 12), torch.zeros(3))
    with pytest.raises(NascostError, match="needs a measurer"):
        plugins.get_predictor("lut").build(ToySpace(), ToySpace().setting("tiny"))


def test_unfitted_predictor_and_bad_widths_are_clear_errors() -> None:
    with pytest.raises(NascostError, match="not fitted"):
        plugins.get_predictor("lpm").predict(torch.zeros(2, 112))
    x = darts_like(20)
    ridge = plugins.get_predictor("ridge").fit(x, additive_interaction(x))
    with pytest.raises(NascostError, match="112-wide"):
        ridge.predict(torch.zeros(2, 12))
    with pytest.raises(NascostError, match="invalid option"):
        plugins.get_predictor("lpm", {"epoch": 3})


def test_lpm_sgd_step_is_torch_sgd() -> None:
    """The hand-written update is torch.optim.SGD(momentum, weight_decay) exactly."""
    from nascost_lpm import _sgd_step

    torch.manual_seed(0)
    a, b = nn.Linear(5, 3), nn.Linear(5, 3)
    b.load_state_dict(a.state_dict())
    opt = torch.optim.SGD(b.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-5)
    bufs: list = [None, None]
    for _ in range(4):
        xx = torch.randn(4, 5)
        for m in (a, b):
            for p in m.parameters():
                p.grad = None
            (m(xx) ** 2).sum().backward()
        _sgd_step(list(a.parameters()), bufs, 0.01, 0.9, 1e-5)
        opt.step()
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(p, q)


@pytest.mark.parametrize("cells", ["normal", "both"])
def test_one_op_design_identifies_any_additive_cost_on_darts(cells: str) -> None:
    """The substitution design pins down every valid architecture's sum, with no network built."""
    from nascost_baselines.context import design, one_op_neighbours, solve_additive

    space = plugins.get_space("darts", {"cells": cells})
    bases, archs = design(space, 1, seed=0)
    moves = one_op_neighbours(space, bases[0])
    # a spanning forest over 98 reachable bits (14 edges x 7 operations) in 5 groups per cell: one
    # per node, except node 2, whose two edges are always both used and so stay two groups
    n_cells = 2 if cells == "both" else 1
    assert len(moves) == n_cells * (98 - 5) and len(archs) == 1 + len(moves)
    e0 = space.encode(bases[0:1])[0]
    for i, j, arch in moves[:20] + moves[-20:]:
        diff = space.encode([arch])[0] - e0
        assert diff[i] == 1 and diff[j] == -1 and int(diff.abs().sum()) == 2
        if cells == "normal":  # the unencoded reduction cell stays the base's
            assert space.genotype(arch).reduce == space.genotype(bases[0]).reduce
    rng = np.random.default_rng(4)
    w_true = rng.uniform(0.5, 3.0, space.encoding_dim)
    enc = space.encode(archs).double().numpy()
    c, w = solve_additive(enc, 7.0 + enc @ w_true)
    test = space.encode(space.sample_many(50, 9)).double().numpy()
    assert np.allclose(c + test @ w, 7.0 + test @ w_true)


@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu"])
def test_lpm_written_out_backward_equals_autograd(activation: str) -> None:
    x = darts_like(300)
    y = additive_interaction(x)
    fast = plugins.get_predictor("lpm", {"epochs": 3, "activation": activation}).fit(x, y)
    slow = plugins.get_predictor("lpm", {"epochs": 3, "activation": activation})
    slow.manual_backward = False
    slow.fit(x, y)
    for p, q in zip(fast.model.parameters(), slow.model.parameters(), strict=True):
        assert torch.allclose(p, q, atol=1e-6)


def test_lpm_fits_with_its_own_thread_count_and_restores_torch_s() -> None:
    x = (torch.rand(40, 112) < 0.07).float()
    y = x.sum(1) + 1.0
    before = torch.get_num_threads()
    seen = []

    def progress(done, total, info=""):
        seen.append(torch.get_num_threads())

    plugins.get_predictor("lpm", {"epochs": 3}).fit(x, y, progress=progress)
    assert seen and set(seen) == {1} and torch.get_num_threads() == before
    seen.clear()
    plugins.get_predictor("lpm", {"epochs": 2, "threads": None}).fit(x, y, progress=progress)
    assert set(seen) == {before}


def tied_cost(x: torch.Tensor) -> torch.Tensor:
    """A DARTS normal-cell latency where each operation costs the same on every edge."""
    per_op = torch.tensor([0.0, 1.0, 1.5, 0.1, 3.0, 5.0, 2.5, 4.0])
    return 10.0 + x.reshape(-1, 14, 8).sum(1) @ per_op


@pytest.mark.parametrize("name", ["ridge", "lpm"])
def test_op_count_inputs_learn_a_tied_cost_from_few_rows(name) -> None:
    space = plugins.get_space("darts", {"cells": "normal"})  # the hand-made encodings are the paper's 112 bits
    x = darts_like(80)
    y = tied_cost(x)
    quick = {"epochs": 300} if name == "lpm" else {}
    error = {}
    for inputs in ("encoding", "op-counts"):
        model = plugins.get_predictor(name, {**quick, "inputs": inputs}).fit(x[:30], y[:30], space=space)
        error[inputs] = float((model.predict(x[30:]) - y[30:]).abs().mean())
    # 30 rows cannot pin down 112 per-bit costs, but they do pin down 8 per-operation costs.
    assert error["op-counts"] < 0.2 * error["encoding"]


def test_op_count_inputs_are_saved_and_stay_differentiable_in_the_encoding(tmp_path) -> None:
    space = plugins.get_space("darts", {"cells": "normal"})  # the hand-made encodings are the paper's 112 bits
    x = darts_like(40)
    lpm = plugins.get_predictor("lpm", {"epochs": 20, "inputs": "op-counts"}).fit(x, tied_cost(x), space=space)
    assert lpm.input_dim == 8
    meta = make_metadata(lpm, space="darts", encoding_id=space.encoding_id, encoding_dim=112, unit="ms")
    loaded, meta = load_predictor(save_predictor(lpm, tmp_path / "counts.nascost", meta), space=space)
    assert meta.options["inputs"] == "op-counts"
    assert torch.allclose(loaded.predict(x), lpm.predict(x))
    soft = torch.full((2, 112), 8 / 112, requires_grad=True)
    loaded.predict(soft).sum().backward()
    grad = soft.grad[0].reshape(14, 8)
    # tied inputs: one operation's gradient is the same on every edge
    assert grad.abs().sum() > 0 and torch.allclose(grad, grad[0].expand_as(grad))


def test_op_count_inputs_need_a_space_that_defines_them() -> None:
    from types import SimpleNamespace

    x = darts_like(10)
    with pytest.raises(NascostError, match="needs the search space"):
        plugins.get_predictor("ridge", {"inputs": "op-counts"}).fit(x, x.sum(1))
    plain = SimpleNamespace(name="plain", op_count_matrix=lambda: None)
    with pytest.raises(NascostError, match="space 'plain' defines no operation counts"):
        plugins.get_predictor("lpm", {"inputs": "op-counts"}).fit(x, x.sum(1), space=plain)


def test_regression_metrics_separate_a_level_offset_from_scatter() -> None:
    truth = np.array([10.0, 20.0, 40.0, 80.0])
    m = regression_metrics(truth, truth * 1.05)  # 5% high everywhere: all of MAPE is bias
    assert m["bias"] == pytest.approx(5.0) and m["mape"] == pytest.approx(5.0) and m["kendall_tau"] == 1.0
    m = regression_metrics(truth, truth * np.array([1.05, 0.95, 1.05, 0.95]))  # scatter, no offset
    assert m["bias"] == pytest.approx(0.0) and m["mape"] == pytest.approx(5.0)
