"""Supernets of darts, pcdarts and pdarts: structure, sampling, gradients, derivation.

Small networks (C=4, 3-5 cells, 8x8 inputs) keep every test to a few seconds on CPU.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from nascost import plugins
from nascost.errors import NascostError
from nascost_darts.ops import PRIMITIVES
from nascost_darts.supernet import (
    PDARTS_STAGES,
    SEARCH_DEFAULTS,
    MixedOp,
    pair_inclusion,
    pair_log_prob,
    search_stages,
)
from nascost_darts.supernet_pcdarts import PartialMixedOp

NODE_SLICES = [slice(0, 2), slice(2, 5), slice(5, 9), slice(9, 14)]
NONE, SKIP = PRIMITIVES.index("none"), PRIMITIVES.index("skip_connect")


def space(name: str, **options):
    return plugins.get_space(name, options or None)


def tiny(name: str, seed: int = 0, cells: str = "normal", **options):
    torch.manual_seed(seed)
    opts = {"C": 4, "layers": 3, "in_channels": 1, "num_classes": 3} | options
    return space(name, cells=cells).supernet(**opts)


def digits_batch(n: int = 2, size: int = 8) -> torch.Tensor:
    return torch.randn(n, 1, size, size, generator=torch.Generator().manual_seed(3))


# --------------------------------------------------------------------------- structure


@pytest.mark.parametrize("name", ["darts", "pcdarts", "pdarts"])
def test_forward_backward_reaches_weights_and_arch(name: str) -> None:
    net = tiny(name, layers=4)
    logits = net(digits_batch())
    assert logits.shape == (2, 3)
    F.cross_entropy(logits, torch.tensor([0, 2])).backward()
    for p in net.arch_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0
    assert all(p.grad is not None for p in net.weight_parameters())
    assert {id(p) for p in net.arch_parameters()}.isdisjoint(
        {id(p) for p in net.weight_parameters()}
    )


def test_arch_parameters_shapes_and_init() -> None:
    darts, pc = tiny("darts"), tiny("pcdarts")
    assert [tuple(p.shape) for p in darts.arch_parameters()] == [(14, 8), (14, 8)]
    assert [tuple(p.shape) for p in pc.arch_parameters()] == [(14, 8), (14, 8), (14,), (14,)]
    # 1e-3 * randn, as the references
    assert 0 < darts.alphas_normal.abs().max() < 1e-2


def _reference_weight_count(C: int, layers: int, classes: int, k: int = 1) -> int:
    """Transcribed from the references' model_search.py + operations.py, op by op: affine=False
    batch norms and pooling have no weights; FactorizedReduce(c, c) is two 1x1 convs c -> c/2;
    PC-DARTS runs the mixed operation on c // k channels (quark0/darts: k = 1)."""

    def mixed(c: int, stride: int) -> int:
        c //= k
        sep = 2 * (c * 9 + c * c) + 2 * (c * 25 + c * c)
        dil = (c * 9 + c * c) + (c * 25 + c * c)
        skip = 2 * c * (c // 2) if stride == 2 else 0
        return sep + dil + skip

    stem_c = 3 * C
    total = 3 * stem_c * 9 + 2 * stem_c  # stem conv (RGB) + affine BN
    c_pp = c_p = stem_c
    c = C
    for i in range(layers):
        reduction = i in (layers // 3, 2 * layers // 3)
        if reduction:
            c *= 2
        total += c_pp * c + c_p * c  # preprocess0 (ReLUConvBN or FactorizedReduce) + preprocess1
        for node in range(4):
            for j in range(2 + node):
                total += mixed(c, 2 if reduction and j < 2 else 1)
        c_pp, c_p = c_p, 4 * c
    return total + c_p * classes + classes


def test_darts_weight_count_equals_reference() -> None:
    expected = _reference_weight_count(16, 8, 10)
    assert expected == 1_930_618  # the reference log's "param size = 1.930618MB"
    net = space("darts").supernet()
    assert sum(p.numel() for p in net.weight_parameters()) == expected
    assert sum(p.numel() for p in net.arch_parameters()) == 2 * 14 * 8


@pytest.mark.parametrize(("name", "layers", "k"), [("pcdarts", 8, 4), ("pdarts", 5, 1)])
def test_pcdarts_and_pdarts_first_stage_weight_counts(name: str, layers: int, k: int) -> None:
    net = space(name).supernet()  # the references' defaults: C=16, 8 cells (P-DARTS stage 1: 5)
    assert len(net.cells) == layers
    assert sum(p.numel() for p in net.weight_parameters()) == _reference_weight_count(
        16, layers, 10, k
    )


def test_pcdarts_partial_channels_and_shuffle() -> None:
    net = tiny("pcdarts", C=8)
    ops = [m for m in net.modules() if isinstance(m, PartialMixedOp)]
    assert len(ops) == 3 * 14 and all(op.k == 4 for op in ops)
    # a normal cell at C=8 runs its 8 primitives on 8 // 4 = 2 channels
    first_sep = ops[0].mixed._ops[PRIMITIVES.index("sep_conv_3x3")]
    assert first_sep.op[1].in_channels == 2
    # reduction edges from the inputs pool the bypassed channels: output halves the resolution
    red = net.cells[1]._ops[0]
    out = red(torch.randn(2, 16, 8, 8), torch.full((8,), 1 / 8))
    assert out.shape == (2, 16, 4, 4)
    # channel shuffle with 4 groups interleaves the processed quarter with the bypass
    from nascost_darts.supernet_pcdarts import channel_shuffle

    x = torch.arange(8.0).view(1, 8, 1, 1)
    assert channel_shuffle(x, 4).flatten().tolist() == [0, 2, 4, 6, 1, 3, 5, 7]


def test_pcdarts_edge_normalisation_scales_edges() -> None:
    net = tiny("pcdarts")
    with torch.no_grad():
        net.betas_normal.copy_(torch.arange(14.0))
    w = net.edge_weights("normal")
    for sl in NODE_SLICES:
        assert torch.allclose(w[sl], F.softmax(torch.arange(14.0)[sl], dim=-1))


def _kept_counts(net) -> set[int]:
    return {len(m._ops) for m in net.modules() if isinstance(m, MixedOp)}


def test_pdarts_three_stages_from_previous() -> None:
    stages = search_stages("pdarts")
    assert [5 + s["add_layers"] for s in stages] == [5, 11, 17]
    assert [s["num_ops"] for s in stages] == [8, 5, 3]
    assert [s["skip_dropout"] for s in stages] == [0.1, 0.4, 0.7]
    torch.manual_seed(0)
    sp = space("pdarts")
    prev = None
    for k, stage in enumerate(stages):
        opts = stage | {"add_layers": stage["add_layers"] // 6}  # 3, 4, 5 cells: faster, same logic
        net = sp.supernet(prev, C=4, layers=3, in_channels=1, num_classes=3, **opts)
        assert len(net.cells) == 3 + k
        assert _kept_counts(net) == {stage["num_ops"]}
        assert tuple(net.alphas_normal.shape) == (14, stage["num_ops"])
        net(digits_batch()).sum().backward()
        if prev is not None:
            for t in ("normal", "reduce"):
                probs = F.softmax(prev.alpha(t).detach(), dim=-1)
                for e in range(14):
                    before = prev.kept_ops()[t][e]
                    after = net.kept_ops()[t][e]
                    assert set(after) <= set(before)
                    dropped = [before.index(op) for op in before if op not in after]
                    kept = [before.index(op) for op in after]
                    # the dropped operations are the weakest ones of the previous stage
                    assert max(probs[e, dropped]) <= min(probs[e, kept])
        with torch.no_grad():  # make the next stage's drop non-trivial
            for p in net.arch_parameters():
                p.copy_(torch.randn(p.shape))
        prev = net


def test_pdarts_drop_keeps_the_strongest_including_none() -> None:
    first = tiny("pdarts")
    with torch.no_grad():
        first.alphas_normal.zero_()
        first.alphas_normal[0] = torch.tensor([5.0, 0.0, 0.1, 1.0, 3.0, -1.0, 2.0, 0.2])
    second = space("pdarts").supernet(first, C=4, layers=3, in_channels=1, num_classes=3, num_ops=5)
    # the reference ranks 'none' like any other operation: it survives when strong
    assert second.kept_ops()["normal"][0] == [
        "none",
        "skip_connect",
        "sep_conv_3x3",
        "dil_conv_3x3",
        "dil_conv_5x5",
    ]
    # rebuilding from the kept operations (resume) gives the same network layout
    again = space("pdarts").supernet(
        C=4, layers=3, in_channels=1, num_classes=3, num_ops=5, kept_ops=second.kept_ops()
    )
    assert again.kept_ops() == second.kept_ops()
    again.load_state_dict(second.state_dict())
    # a state saved with other kept operations is refused, not silently mixed up
    other = second.kept_ops()
    other["normal"][0] = [
        "max_pool_3x3",
        "avg_pool_3x3",
        "skip_connect",
        "sep_conv_3x3",
        "sep_conv_5x5",
    ]
    mismatched = space("pdarts").supernet(
        C=4, layers=3, in_channels=1, num_classes=3, num_ops=5, kept_ops=other
    )
    with pytest.raises(NascostError, match="other kept operations"):
        mismatched.load_state_dict(second.state_dict())
    with pytest.raises(NascostError, match="previous"):
        space("pdarts").supernet(C=4, layers=3, num_ops=5)


def test_pdarts_skip_dropout_schedule() -> None:
    net = tiny("pdarts", skip_dropout=0.4)
    drops = [m for m in net.modules() if isinstance(m, torch.nn.Dropout)]
    # one per stride-1 skip-connect: normal cells' 14 edges and reduction cells' 6 inner edges
    assert len(drops) == 1 * 14 + 2 * 6
    expected = {0: 0.4 * 24 / 25, 9: 0.4 * 15 / 25, 10: 0.4, 15: 0.4 * math.exp(-1.0)}
    for epoch, p in expected.items():
        net.on_epoch(epoch, 25)
        assert all(d.p == pytest.approx(p) for d in drops)


def test_search_defaults_are_the_references() -> None:
    d, pc, pd = (SEARCH_DEFAULTS[n] for n in ("darts", "pcdarts", "pdarts"))
    assert (d["batch_size"], d["lr"], d["arch_lr"], d["epochs"]) == (64, 0.025, 3e-4, 50)
    assert (pc["batch_size"], pc["lr"], pc["arch_lr"], pc["arch_frozen_epochs"]) == (
        256,
        0.1,
        6e-4,
        15,
    )
    assert (pd["batch_size"], pd["epochs"], pd["arch_frozen_epochs"], pd["layers"]) == (
        96,
        25,
        10,
        5,
    )
    for cfg in (d, pc, pd):
        assert cfg["weight_decay"] == 3e-4 and cfg["arch_betas"] == (0.5, 0.999)
        assert cfg["arch_weight_decay"] == 1e-3 and cfg["grad_clip"] == 5.0
    assert search_stages("darts") == [{}] and search_stages("pcdarts") == [{}]
    assert len(PDARTS_STAGES) == 3
    assert space("pcdarts").search_defaults()["k"] == 4


def test_bad_options_are_one_line_errors() -> None:
    with pytest.raises(NascostError, match="unknown_opt"):
        space("darts").supernet(unknown_opt=1)
    with pytest.raises(NascostError, match="even"):
        space("darts").supernet(C=5)
    with pytest.raises(NascostError, match="multiple of k"):
        space("pcdarts").supernet(C=6)
    with pytest.raises(NascostError, match="betas"):
        space("darts").supernet(C=4, layers=3, edge_sampling="betas")


# --------------------------------------------------------------------------- sampling


def _check_valid(enc: torch.Tensor, net, cells: int = 1) -> None:
    bits = enc.detach().view(enc.shape[0], cells, 14, 8)
    assert torch.all((bits == 0) | (bits == 1))
    assert torch.all(bits.sum((2, 3)) == 8)
    per_edge = bits.sum(-1)
    assert torch.all(per_edge <= 1)
    for sl in NODE_SLICES:
        assert torch.all(per_edge[:, :, sl].sum(-1) == 2)
    assert torch.all(bits[..., NONE] == 0)
    for c, t in enumerate(("normal", "reduce")[:cells]):
        allowed = net.op_mask(t).cpu()
        assert torch.all(bits[:, c][:, ~allowed] == 0)


@pytest.mark.parametrize("name", ["darts", "pcdarts", "pdarts"])
def test_sampled_encodings_are_valid(name: str) -> None:
    net = tiny(name)
    with torch.no_grad():
        for p in net.arch_parameters():
            p.copy_(3 * torch.randn(p.shape))
    _check_valid(net.sample_encodings(200, torch.Generator().manual_seed(0)), net)


def test_pdarts_samples_never_use_dropped_ops() -> None:
    first = tiny("pdarts")
    with torch.no_grad():
        first.alphas_normal.copy_(torch.randn(14, 8))
    second = space("pdarts", cells="normal").supernet(first, C=4, layers=3, in_channels=1, num_classes=3, num_ops=3)
    enc = second.sample_encodings(300, torch.Generator().manual_seed(1)).detach().view(300, 14, 8)
    for e, ops in enumerate(second.kept_ops()["normal"]):
        used = {PRIMITIVES[i] for i in enc[:, e].sum(0).nonzero().flatten().tolist()}
        assert used <= set(ops) - {"none"}


def test_both_cells_encoding() -> None:
    net = tiny("darts", cells="both")
    enc = net.sample_encodings(50, torch.Generator().manual_seed(0))
    assert enc.shape == (50, 224)
    _check_valid(enc, net, cells=2)
    marg = net.encoding_marginals()
    assert marg.shape == (224,) and torch.allclose(marg.view(2, -1).sum(1), torch.full((2,), 8.0))


def test_sampling_is_reproducible() -> None:
    net = tiny("darts")
    a = net.sample_encodings(20, torch.Generator().manual_seed(7)).detach()
    b = net.sample_encodings(20, torch.Generator().manual_seed(7)).detach()
    c = net.sample_encodings(20, torch.Generator().manual_seed(8)).detach()
    assert torch.equal(a, b) and not torch.equal(a, c)


@pytest.mark.parametrize("name", ["darts", "pdarts"])
def test_straight_through_gradient_is_softmax_jvp(name: str) -> None:
    net = tiny(name)
    if name == "pdarts":  # a second stage: 5 of the 8 operations on each edge
        with torch.no_grad():
            net.alphas_normal.copy_(torch.randn(14, 8))
        net = space("pdarts", cells="normal").supernet(net, C=4, layers=3, in_channels=1, num_classes=3, num_ops=5)
    with torch.no_grad():
        net.alphas_normal.copy_(torch.randn(net.alphas_normal.shape))
    w = torch.randn(112, generator=torch.Generator().manual_seed(5))
    m = 6
    enc = net.sample_encodings(m, torch.Generator().manual_seed(0))
    (enc * w).sum().backward()
    grad = net.alphas_normal.grad
    assert grad is not None and grad.abs().sum() > 0
    # d gamma / d alpha_tilde = I: the gradient is m * J_softmax^T w on every edge
    p = F.softmax(net.alphas_normal.detach(), dim=-1)
    v = w.view(14, 8)
    if name == "pdarts":  # alpha only has the kept columns
        v = v.gather(1, net.kept("normal"))
    expected = m * p * (v - (p * v).sum(-1, keepdim=True))
    assert torch.allclose(grad, expected, atol=1e-6)


def test_straight_through_descent_lowers_the_expected_cost() -> None:
    """The paper's estimator drives alpha towards cheap operations of an additive cost."""
    net = tiny("darts")
    cost = torch.zeros(14, 8)
    for op, c in {"max_pool_3x3": 0.1, "avg_pool_3x3": 0.1, "skip_connect": 0.0, "sep_conv_3x3": 2.0,
                  "sep_conv_5x5": 3.0, "dil_conv_3x3": 1.0, "dil_conv_5x5": 1.5}.items():  # fmt: skip
        cost[:, PRIMITIVES.index(op)] = c
    cost = cost.flatten()
    before = (net.encoding_marginals() @ cost).item()
    gen = torch.Generator().manual_seed(0)
    for _ in range(30):  # plain gradient descent (torch.optim's first import is slow)
        net.alphas_normal.grad = None
        (net.sample_encodings(20, gen) @ cost).mean().backward()
        with torch.no_grad():
            net.alphas_normal -= 2.0 * net.alphas_normal.grad
    after = (net.encoding_marginals() @ cost).item()
    assert after < 0.5 * before
    cheap = {"max_pool_3x3", "avg_pool_3x3", "skip_connect"}
    assert all(op in cheap for op, _ in net.derive().spec["normal"])


def test_other_cell_sizes_run_but_do_not_derive() -> None:
    net = tiny("darts", steps=3, multiplier=3)
    assert net(digits_batch()).shape == (2, 3)
    assert tuple(net.alphas_normal.shape) == (9, 8)
    enc = net.sample_encodings(4, torch.Generator().manual_seed(0))
    assert enc.shape == (4, 9 * 8) and torch.all(enc.detach().sum(1) == 6)
    with pytest.raises(NascostError, match="4 intermediate nodes"):
        net.derive()


def _frequency(net, n: int, seed: int = 0) -> torch.Tensor:
    return net.sample_encodings(n, torch.Generator().manual_seed(seed)).detach().mean(0)


@pytest.mark.parametrize(
    ("name", "rule"),
    [("darts", "uniform"), ("darts", "strength"), ("pcdarts", "betas"), ("pdarts", "uniform")],
)
def test_marginals_match_empirical_frequencies(name: str, rule: str) -> None:
    net = tiny(name, edge_sampling=rule)
    with torch.no_grad():
        for p in net.arch_parameters():
            p.copy_(1.5 * torch.randn(p.shape, generator=torch.Generator().manual_seed(2)))
    marg = net.encoding_marginals()
    assert marg.sum().item() == pytest.approx(8.0, abs=1e-5)
    n = 20000
    freq = _frequency(net, n)
    sigma = (marg.detach() * (1 - marg.detach()) / n).sqrt() + 1e-4
    z = ((freq - marg.detach()).abs() / sigma).max().item()
    assert z < 5.0, f"max z-score {z:.2f}"
    # marginals are differentiable in the architecture weights
    marg[7 * 8 + PRIMITIVES.index("sep_conv_3x3")].backward()
    assert net.alphas_normal.grad is not None and net.alphas_normal.grad.abs().sum() > 0


def test_uniform_marginals_formula() -> None:
    net = tiny("darts")
    marg = net.encoding_marginals().detach().view(14, 8)
    q = F.softmax(net.alphas_normal.detach(), dim=-1)
    q[:, NONE] = 0
    q = q / q.sum(-1, keepdim=True)
    keep = torch.tensor([1.0] * 2 + [2 / 3] * 3 + [2 / 4] * 4 + [2 / 5] * 5)
    assert torch.allclose(marg, keep[:, None] * q, atol=1e-6)


def test_pair_probabilities_are_consistent() -> None:
    w = torch.tensor([0.5, 2.0, 1.0, 0.25])
    pairs = [(a, b) for a in range(4) for b in range(a + 1, 4)]
    probs = {
        pair: pair_log_prob(w, torch.tensor(pair[0]), torch.tensor(pair[1])).exp().item()
        for pair in pairs
    }
    assert sum(probs.values()) == pytest.approx(1.0)
    # by hand: P({1, 2}) = w1/W * w2/(W - w1) + w2/W * w1/(W - w2)
    W = 3.75
    assert probs[(1, 2)] == pytest.approx(2 / W * 1 / (W - 2) + 1 / W * 2 / (W - 1))
    incl = pair_inclusion(w)
    for e in range(4):
        assert incl[e].item() == pytest.approx(sum(p for pair, p in probs.items() if e in pair))


def test_log_prob_matches_hand_computation() -> None:
    net = tiny("darts")
    with torch.no_grad():
        net.alphas_normal.copy_(torch.randn(14, 8, generator=torch.Generator().manual_seed(4)))
    # node 2: edges 0, 1; node 3: edges 2 (0) and 4 (2); node 4: 5 (0), 8 (3); node 5: 10 (1), 13 (4)
    choice = {0: "sep_conv_3x3", 1: "skip_connect", 2: "max_pool_3x3", 4: "dil_conv_5x5",
              5: "avg_pool_3x3", 8: "sep_conv_5x5", 10: "dil_conv_3x3", 13: "skip_connect"}  # fmt: skip
    enc = torch.zeros(1, 112)
    for e, op in choice.items():
        enc[0, e * 8 + PRIMITIVES.index(op)] = 1
    p = F.softmax(net.alphas_normal.detach(), dim=-1)
    hand = 0.0
    for e, op in choice.items():
        hand += math.log(p[e, PRIMITIVES.index(op)] / (1 - p[e, NONE]))
    hand += -math.log(1) - math.log(3) - math.log(6) - math.log(10)  # 1 / C(n, 2) per node
    lp = net.log_prob(enc)
    assert lp.item() == pytest.approx(hand, abs=1e-5)
    lp.sum().backward()
    assert net.alphas_normal.grad.abs().sum() > 0
    # encodings the sampler cannot produce have probability 0
    bad = enc.clone()
    bad[0, 0 * 8 + NONE] = 1
    bad[0, 0 * 8 + PRIMITIVES.index("sep_conv_3x3")] = 0
    three = enc.clone()
    three[0, 3 * 8 + 4] = 1
    assert net.log_prob(torch.cat([bad, three])).tolist() == [-math.inf, -math.inf]


def test_log_prob_of_samples_matches_frequency() -> None:
    """With 'strength' edges the log-probability includes the edge-pair term: check it on the
    most frequent sample of a peaked distribution."""
    net = tiny("darts", edge_sampling="strength")
    with torch.no_grad():
        net.alphas_normal.copy_(4 * torch.randn(14, 8, generator=torch.Generator().manual_seed(0)))
    n = 20000
    enc = net.sample_encodings(n, torch.Generator().manual_seed(1)).detach()
    uniq, counts = torch.unique(enc, dim=0, return_counts=True)
    top = counts.argmax()
    freq = counts[top].item() / n
    p = net.log_prob(uniq[top : top + 1]).exp().item()
    assert freq == pytest.approx(p, abs=5 * math.sqrt(p * (1 - p) / n) + 1e-3)


# --------------------------------------------------------------------------- derivation


def _alphas(entries: dict[int, dict[str, float]]) -> torch.Tensor:
    a = torch.zeros(14, 8)
    for e, ops in entries.items():
        for op, v in ops.items():
            a[e, PRIMITIVES.index(op)] = v
    return a


# 'none' is the strongest weight on several edges: the derivation must ignore it
HAND = {
    0: {"none": 9.0, "sep_conv_3x3": 2.0},
    1: {"dil_conv_3x3": 3.0},
    2: {"none": 9.0, "max_pool_3x3": 0.5},
    3: {"sep_conv_5x5": 1.0},
    4: {"skip_connect": 2.5},
    5: {"avg_pool_3x3": 1.0},
    6: {"sep_conv_3x3": 1.5},
    7: {"dil_conv_5x5": 2.0},
    8: {"none": 9.0},
    9: {"sep_conv_3x3": 0.2},
    10: {"max_pool_3x3": 0.1},
    11: {"dil_conv_3x3": 3.0},
    12: {"sep_conv_5x5": 2.0},
    13: {"none": 9.0, "skip_connect": 1.0},
}
HAND_NORMAL = [
    ["dil_conv_3x3", 1], ["sep_conv_3x3", 0],
    ["skip_connect", 2], ["sep_conv_5x5", 1],
    ["dil_conv_5x5", 2], ["sep_conv_3x3", 1],
    ["dil_conv_3x3", 2], ["sep_conv_5x5", 3],
]  # fmt: skip


def test_darts_derivation_on_hand_set_alphas() -> None:
    net = tiny("darts")
    with torch.no_grad():
        net.alphas_normal.copy_(_alphas(HAND))
        net.alphas_reduce.copy_(_alphas({e: {"max_pool_3x3": 1.0 + e} for e in range(14)}))
    arch = net.derive()
    assert arch.space == "darts"
    assert arch.spec["normal"] == HAND_NORMAL
    # reduce: the two highest-index inputs win each node, all max_pool
    assert arch.spec["reduce"] == [
        ["max_pool_3x3", 1], ["max_pool_3x3", 0], ["max_pool_3x3", 2], ["max_pool_3x3", 1],
        ["max_pool_3x3", 3], ["max_pool_3x3", 2], ["max_pool_3x3", 4], ["max_pool_3x3", 3],
    ]  # fmt: skip
    assert arch.spec["normal_concat"] == [2, 3, 4, 5]


def test_pcdarts_betas_change_the_derived_edges() -> None:
    net = tiny("pcdarts")
    with torch.no_grad():
        net.alphas_normal.copy_(_alphas(HAND))
        net.betas_normal.zero_()
    assert net.derive().spec["normal"] == HAND_NORMAL  # equal betas: alpha decides
    with torch.no_grad():
        net.betas_normal[3] = -10.0  # node 3 all but ignores input 1 (edge 3, sep_conv_5x5)
    normal = net.derive().spec["normal"]
    # the weak edge 2 (max_pool, behind a strong 'none') now outranks it
    assert normal[2:4] == [["skip_connect", 2], ["max_pool_3x3", 0]]
    assert normal[:2] == HAND_NORMAL[:2] and normal[4:] == HAND_NORMAL[4:]


SKIPPY = {
    0: {"skip_connect": 4.0, "sep_conv_3x3": 3.0},
    1: {"skip_connect": 3.0, "sep_conv_5x5": 2.5},
    2: {"skip_connect": 5.0, "dil_conv_3x3": 1.0},
    3: {"sep_conv_3x3": 2.0},
    5: {"skip_connect": 3.5},
    6: {"max_pool_3x3": 2.0},
    9: {"sep_conv_3x3": 1.5},
    10: {"dil_conv_5x5": 1.0},
}


@pytest.mark.parametrize(
    ("limit", "expected"),
    [
        (None, [["skip_connect", 0], ["skip_connect", 1], ["skip_connect", 0], ["sep_conv_3x3", 1],
                ["skip_connect", 0], ["max_pool_3x3", 1], ["sep_conv_3x3", 0], ["dil_conv_5x5", 1]]),
        # the two weakest skips (edge 1: 0.525, edge 0: 0.677) give way to their next-best ops
        (2, [["sep_conv_3x3", 0], ["sep_conv_5x5", 1], ["skip_connect", 0], ["sep_conv_3x3", 1],
             ["skip_connect", 0], ["max_pool_3x3", 1], ["sep_conv_3x3", 0], ["dil_conv_5x5", 1]]),
        # without skips, nodes 3 and 4 lose their skip edge to another input
        (0, [["sep_conv_3x3", 0], ["sep_conv_5x5", 1], ["sep_conv_3x3", 1], ["max_pool_3x3", 2],
             ["max_pool_3x3", 1], ["max_pool_3x3", 2], ["sep_conv_3x3", 0], ["dil_conv_5x5", 1]]),
    ],
)  # fmt: skip
def test_pdarts_skip_connect_limit(limit: int | None, expected: list) -> None:
    net = tiny("pdarts", max_skip_connect=limit)
    with torch.no_grad():
        net.alphas_normal.copy_(_alphas(SKIPPY))
    assert net.derive().spec["normal"] == expected


# --------------------------------------------------------------------------- GPU


@pytest.mark.gpu
@pytest.mark.parametrize("name", ["darts", "pcdarts", "pdarts"])
def test_supernet_on_cuda(name: str) -> None:
    net = tiny(name).cuda()
    logits = net(digits_batch().cuda())
    logits.sum().backward()
    assert all(p.grad is not None for p in net.arch_parameters())
    for gen in (torch.Generator().manual_seed(0), torch.Generator(device="cuda").manual_seed(0)):
        enc = net.sample_encodings(16, gen)
        assert enc.device.type == "cuda"
        _check_valid(enc.cpu(), net)
        assert torch.isfinite(net.log_prob(enc)).all()
    assert net.encoding_marginals().device.type == "cuda"
    assert net.derive().space == name
