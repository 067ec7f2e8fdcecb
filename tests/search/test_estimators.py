"""The cost term's estimators and budgets on the tiny chain supernet."""

from __future__ import annotations

import math

import pytest
import torch

from nascost.errors import NascostError
from nascost.penalty import CostTerm, parse_target
from search.fakes import EDGES, OPS, ChainSpace, LinearCost, StepCost


def supernet(seed: int = 0):
    torch.manual_seed(seed)
    return ChainSpace().supernet(C=4, num_classes=10, in_channels=1)


def expected_linear(net) -> float:
    return float(net.encoding_marginals().detach() @ LinearCost().weights + 1.0)


def test_straight_through_gradient_points_away_from_costly_op() -> None:
    net = supernet()
    term = CostTerm("lin", LinearCost(), lam=1.0, estimator="st", samples=20)
    term.penalty(term.estimate(net, torch.Generator().manual_seed(0))).backward()
    grad = net.alpha.grad
    # gradient descent lowers the alpha of conv (costly) relative to skip (cheap) on every edge
    assert torch.all(grad[:, OPS.index("conv")] > grad[:, OPS.index("skip")])


def test_straight_through_descent_moves_alpha_to_cheaper_ops() -> None:
    net = supernet()
    opt = torch.optim.Adam(net.arch_parameters(), lr=0.05)
    term = CostTerm("lin", LinearCost(), lam=1.0, estimator="st", samples=20)
    gen = torch.Generator().manual_seed(1)
    before = expected_linear(net)
    for _ in range(30):
        opt.zero_grad()
        term.penalty(term.estimate(net, gen)).backward()
        opt.step()
    assert expected_linear(net) < before - 1.0
    assert net.derive().spec["ops"] == ["skip"] * EDGES


def test_expectation_equals_analytic_value_and_gradient() -> None:
    net = supernet(3)
    term = CostTerm("lin", LinearCost(), lam=1.0, estimator="expectation")
    lat = term.estimate(net)
    probs = torch.softmax(net.alpha.detach(), -1)
    w = LinearCost().weights.reshape(EDGES, len(OPS))
    analytic = float((probs * w).sum() + 1.0)
    assert float(lat.detach()) == pytest.approx(analytic, rel=1e-6)
    lat.backward()
    # d/dalpha_k sum_j p_j w_j = p_k (w_k - sum_j p_j w_j)
    mean_w = (probs * w).sum(-1, keepdim=True)
    assert torch.allclose(net.alpha.grad, probs * (w - mean_w), atol=1e-6)


def test_straight_through_value_is_unbiased_for_additive_cost() -> None:
    net = supernet(4)
    term = CostTerm("lin", LinearCost(), lam=1.0, estimator="st", samples=4000)
    lat = term.estimate(net, torch.Generator().manual_seed(0))
    assert float(lat.detach()) == pytest.approx(expected_linear(net), rel=0.03)


def expected_step_cost(net, n: int = 4000) -> float:
    with torch.no_grad():
        enc = net.sample_encodings(n, torch.Generator().manual_seed(123))
        return float(StepCost().predict(enc).mean())


def test_reinforce_with_non_differentiable_cost_decreases_expected_cost() -> None:
    net = supernet(5)
    with torch.no_grad():
        net.alpha[:, OPS.index("conv")] = 1.0  # start conv-heavy: the step cost is high
    opt = torch.optim.Adam(net.arch_parameters(), lr=0.05)
    term = CostTerm("step", StepCost(), lam=1.0, estimator="reinforce", samples=20)
    gen = torch.Generator().manual_seed(2)
    before = expected_step_cost(net)
    for _ in range(40):
        opt.zero_grad()
        term.penalty(term.estimate(net, gen)).backward()
        opt.step()
    after = expected_step_cost(net)
    assert after < 0.7 * before
    assert term.baseline is not None and math.isfinite(term.baseline)


def test_estimators_refuse_unsuitable_costs() -> None:
    with pytest.raises(NascostError, match="reinforce"):
        CostTerm("step", StepCost(), lam=0.1, estimator="st")
    with pytest.raises(NascostError, match="not additive"):
        CostTerm("step", StepCost(), lam=0.1, estimator="expectation")
    with pytest.raises(NascostError, match="lambda"):
        CostTerm("lin", LinearCost(), lam=-0.1)


def test_hinge_target_has_no_pull_below_budget_and_full_pull_above() -> None:
    net = supernet(6)
    value = expected_linear(net)
    below = CostTerm("lin", LinearCost(), lam=1.0, estimator="expectation", target=value * 1.5)
    below.penalty(below.estimate(net)).backward()
    assert torch.count_nonzero(net.alpha.grad) == 0
    net.alpha.grad = None
    above = CostTerm("lin", LinearCost(), lam=1.0, estimator="expectation", target=value * 0.5)
    pen = above.penalty(above.estimate(net))
    assert float(pen.detach()) == pytest.approx(value * 0.5, rel=1e-5)
    pen.backward()
    assert torch.count_nonzero(net.alpha.grad) > 0


def test_adaptive_multiplier_rises_above_target_and_falls_below() -> None:
    term = CostTerm("lin", LinearCost(), lam=0.1, estimator="expectation", target=2.0, target_mode="adaptive")
    term.after_step(4.0)
    assert term.multiplier > 0.1
    for _ in range(200):
        term.after_step(1.0)
    assert term.multiplier == 0.0


def test_cost_noise_relative_scales_gradient_absolute_does_not() -> None:
    gen = torch.Generator().manual_seed(0)
    net = supernet(7)
    clean = CostTerm("lin", LinearCost(), lam=1.0, estimator="st", samples=8)
    clean.estimate(net, torch.Generator().manual_seed(9)).backward()
    g_clean = net.alpha.grad.clone()
    net.alpha.grad = None
    absolute = CostTerm("lin", LinearCost(), lam=1.0, samples=8, noise=0.5, noise_mode="absolute")
    v_abs = absolute.estimate(net, torch.Generator().manual_seed(9))
    v_abs.backward()
    g_abs = net.alpha.grad.clone()
    net.alpha.grad = None
    relative = CostTerm("lin", LinearCost(), lam=1.0, samples=8, noise=0.5, noise_mode="relative")
    relative.estimate(net, gen).backward()
    assert not torch.allclose(net.alpha.grad, g_clean)
    # absolute noise draws its noise after the same samples: the gradient is unchanged
    assert torch.allclose(g_abs, g_clean, atol=1e-6)


@pytest.mark.parametrize(
    ("text", "unit", "value"),
    [("25ms", "ms", 25.0), ("0.025s", "ms", 25.0), ("12", "ms", 12.0), ("400MMACs", "MACs", 4e8), ("3mJ", "J", 0.003)],
)
def test_parse_target(text: str, unit: str, value: float) -> None:
    assert parse_target(text, unit) == pytest.approx(value)


@pytest.mark.parametrize(("text", "unit"), [("25parsecs", "ms"), ("25mJ", "ms"), ("fast", "ms"), ("-3ms", "ms")])
def test_parse_target_rejects(text: str, unit: str) -> None:
    with pytest.raises(NascostError):
        parse_target(text, unit)


def _conv_leaning(seed: int = 0):
    """A supernet whose derived architecture is all conv (cost 10) while LAT is lower.

    The edges lean on conv by different margins, so they leave it one at a time.
    """
    net = supernet(seed)
    with torch.no_grad():
        net.alpha.zero_()
        net.alpha[:, OPS.index("conv")] = torch.tensor([0.3, 0.6, 0.9])
    return net


def test_budget_on_the_derived_architecture_presses_where_the_expected_cost_is_under_it() -> None:
    space = ChainSpace()
    net = _conv_leaning()
    derived = float(LinearCost().predict(space.encode([net.derive()]))[0])
    expected = expected_linear(net)
    assert derived == pytest.approx(10.0) and expected < derived - 2
    target = (expected + derived) / 2
    grads = {}
    for on in ("expected", "derived"):
        net.alpha.grad = None
        term = CostTerm("lin", LinearCost(), lam=1.0, estimator="expectation", target=target, target_on=on)
        lat = term.estimate(net)
        bounded = term.bounded(lat, net, space)
        assert float(bounded.detach()) == pytest.approx(expected if on == "expected" else derived, rel=1e-5)
        term.penalty(lat, bounded).backward()
        grads[on] = net.alpha.grad.clone()
    assert torch.count_nonzero(grads["expected"]) == 0  # LAT is under the budget: no pull
    # the derived network is over it: descent lowers conv against the cheaper ops on every edge
    assert torch.all(grads["derived"][:, OPS.index("conv")] > grads["derived"][:, OPS.index("skip")])


def test_derived_budget_stops_pressing_once_the_derived_architecture_fits() -> None:
    space = ChainSpace()
    net = _conv_leaning(1)
    target = 8.5  # all conv costs 10; one edge off conv fits
    term = CostTerm("lin", LinearCost(), lam=1.0, estimator="expectation", target=target, target_on="derived")
    opt = torch.optim.SGD(net.arch_parameters(), lr=0.5)
    costs = []
    for _ in range(200):
        opt.zero_grad()
        lat = term.estimate(net)
        bounded = term.bounded(lat, net, space)
        costs.append(float(bounded.detach()))
        term.penalty(lat, bounded).backward()
        if float(bounded.detach()) <= target:
            assert torch.count_nonzero(net.alpha.grad) == 0
            break
        opt.step()
    assert costs[0] == pytest.approx(10.0) and costs[-1] <= target
    # it stops at the budget instead of running to the cheapest corner (1.3)
    assert costs[-1] > 5.0


def test_adaptive_multiplier_follows_the_derived_cost() -> None:
    space = ChainSpace()
    net = _conv_leaning(2)
    term = CostTerm("lin", LinearCost(), lam=0.1, estimator="expectation", target=8.0, target_mode="adaptive",
                    target_on="derived")
    lat = term.estimate(net)
    bounded = term.bounded(lat, net, space)
    assert float(lat.detach()) < 8.0 < float(bounded.detach())
    term.after_step(float(bounded.detach()))
    assert term.multiplier > 0.1  # the derived network is over the budget, though LAT is under it


def test_unknown_target_on_is_refused() -> None:
    with pytest.raises(NascostError, match="target-on"):
        CostTerm("lin", LinearCost(), lam=0.1, target=2.0, target_on="sampled")


def test_trust_region_reuses_the_derived_estimate_of_a_derived_budget() -> None:
    space = ChainSpace()
    net = _conv_leaning(3)
    term = CostTerm("lin", LinearCost(), lam=1.0, estimator="expectation", target=8.0, target_on="derived",
                    trust_region="penalty", train_range=(2.0, 6.0))
    lat = term.estimate(net)
    bounded = term.bounded(lat, net, space)
    again = term.derived_trust_penalty(net, space)
    reused = term.derived_trust_penalty(net, space, bounded)
    assert float(again) > 0 and float(reused) == pytest.approx(float(again))
