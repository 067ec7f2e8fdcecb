"""The nb201 space against the NAS-Bench-201 reference: strings, encoding, networks, counts."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from nascost import plugins
from nascost.errors import NascostError
from nascost_nb201.cell import (
    EDGES,
    OPERATIONS,
    all_cells,
    effective_edges,
    format_cell,
    isomorphism_key,
    parse_cell,
)
from nascost_nb201.network import InferCell, TinyNetwork

ALL_CONV = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"
BEST = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"


@pytest.fixture(scope="module")
def space():
    return plugins.get_space("nb201")


def test_operations_and_edges_are_the_references() -> None:
    assert OPERATIONS == ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
    assert EDGES == ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))


def test_string_round_trips_for_every_cell(space) -> None:
    archs = list(space.enumerate())
    assert len(archs) == space.num_architectures() == 15625
    assert len({a.key() for a in archs}) == 15625
    for arch in archs[::97]:
        text = space.format_arch(arch)
        assert space.parse_arch(text) == arch
        assert format_cell(parse_cell(text)) == text


def test_encoding_is_six_edges_by_five_operations_in_reference_order(space) -> None:
    arch = space.parse_arch("|none~0|+|skip_connect~0|nor_conv_1x1~1|+|nor_conv_3x3~0|avg_pool_3x3~1|none~2|")
    enc = space.encode([arch])[0]
    assert enc.shape == (30,) and enc.sum() == 6
    # edge e chose operation k -> bit 5e + k
    assert torch.nonzero(enc).flatten().tolist() == [0, 5 + 1, 10 + 2, 15 + 3, 20 + 4, 25 + 0]
    assert space.decode(enc) == arch
    with pytest.raises(NascostError, match="exactly 1 per edge"):
        space.decode(torch.zeros(30))


@pytest.mark.parametrize("text, message", [
    ("|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|", "unknown operation 'conv'"),
    ("|nor_conv_3x4~0|+|none~0|none~1|+|none~0|none~1|none~2|", "did you mean 'nor_conv_3x3'"),
    ("|none~1|+|none~0|none~1|+|none~0|none~1|none~2|", "node 1 takes inputs 0..0, got input 1"),
    ("|none~0|+|none~0|+|none~0|none~1|none~2|", "node 2 has no edge from node"),
    ("|none~0|+|none~0|none~1|none~1|+|none~0|none~1|none~2|", "two edges from node 1"),
    ("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|+|none~0|", "4 node group"),
    ("|none~0|+|none~0|none~1|+|none~0|none~1|none~x|", "not a node number"),
])
def test_bad_cells_are_one_line_errors(space, text, message) -> None:
    with pytest.raises(NascostError, match=message):
        space.parse_arch(text)


def test_json_forms_presets_and_files(space, tmp_path) -> None:
    best = space.parse_arch(BEST)
    nodes = [[["nor_conv_3x3", 0]], [["nor_conv_3x3", 0], ["nor_conv_3x3", 1]],
             [["skip_connect", 0], ["nor_conv_3x3", 1], ["nor_conv_3x3", 2]]]
    assert space.validate({"nodes": nodes}) == best
    assert space.validate({"cell": BEST}) == best
    assert space.resolve("best-cifar100") == best
    (tmp_path / "g.json").write_text(json.dumps({"space": "nb201", "cell": BEST}))
    (tmp_path / "g.txt").write_text(BEST + "\n")
    assert space.resolve(tmp_path / "g.json") == best
    assert space.resolve(tmp_path / "g.txt") == best
    assert space.resolve(BEST) == best
    with pytest.raises(NascostError, match="one key"):
        space.validate({"cell": BEST, "extra": 1})
    (tmp_path / "other.json").write_text(json.dumps({"space": "darts", "cell": BEST}))
    with pytest.raises(NascostError, match="space 'darts'"):
        space.resolve(tmp_path / "other.json")


def test_counts_equal_nas_bench_201(space) -> None:
    cifar10 = space.setting("cifar10")
    counts = space.count(space.parse_arch(ALL_CONV), cifar10)
    assert counts["params"] == 1_531_546  # NAS-Bench-201: 1.53 MB for this cell
    assert round(counts["flops"] / 1e6, 2) == 220.12  # NAS-Bench-201's FLOPs, biases included
    assert counts["macs"] == counts["flops"] - 10  # the classifier's 10 biases
    # other settings change the head and input only
    c100 = space.count(space.parse_arch(ALL_CONV), space.setting("cifar100"))
    assert c100["params"] - counts["params"] == 64 * 90 + 90
    small = space.count(space.parse_arch(ALL_CONV), space.setting("imagenet16-120"))
    assert small["flops"] < counts["flops"] / 3


def test_state_dict_names_are_the_references(space) -> None:
    model = space.build(space.parse_arch(BEST), space.setting("cifar10"))
    keys = set(model.state_dict())
    for key in ("stem.0.weight", "cells.0.layers.0.op.1.weight", "cells.5.conv_a.op.1.weight",
                "cells.5.downsample.1.weight", "lastact.0.weight", "classifier.weight"):
        assert key in keys
    assert len(model.cells) == 17 and sum(isinstance(c, type(model.cells[5])) for c in model.cells) == 2


def test_cell_computes_the_reference_sums() -> None:
    # all skip: node1 = x, node2 = x + node1, node3 = x + node1 + node2 = 4x
    net = TinyNetwork(4, 1, parse_cell("|skip_connect~0|+|skip_connect~0|skip_connect~1|"
                                       "+|skip_connect~0|skip_connect~1|skip_connect~2|"), 3).eval()
    x = torch.randn(2, 4, 8, 8)
    assert torch.allclose(net.cells[0](x), 4 * x)
    # none everywhere: the cell outputs zeros
    zero = TinyNetwork(4, 1, ("none",) * 6, 3).eval()
    assert torch.count_nonzero(zero.cells[0](x)) == 0
    # avg pool without counting the padding: a corner is the mean of its 4 pixels
    pool = TinyNetwork(4, 1, ("none", "none", "none", "avg_pool_3x3", "none", "none"), 3).eval()
    out = pool.cells[0](x)
    assert torch.allclose(out[:, :, 0, 0], x[:, :, :2, :2].mean((2, 3)), atol=1e-6)


def test_effective_edges_follow_input_to_output_paths() -> None:
    cell = parse_cell("|nor_conv_3x3~0|+|none~0|none~1|+|skip_connect~0|nor_conv_3x3~1|avg_pool_3x3~2|")
    # node 2 has no input, so its edge to 3 carries nothing; 1<-0, 3<-0, 3<-1 are live
    assert effective_edges(cell) == {0, 3, 4}


def test_isomorphism_key_finds_the_benchmarks_6466_unique_cells() -> None:
    # NAS-Bench-201 (Dong & Yang, ICLR 2020): 15,625 cells, 6,466 unique ones
    assert len({isomorphism_key(c) for c in all_cells()}) == 6466


def test_cells_with_one_key_compute_the_same_function() -> None:
    # a chain of two 3x3 convolutions with a skip around it, built two ways: through node 2, or
    # straight from node 1 to the output (node 2 left without input)
    chain = parse_cell("|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|")
    direct = parse_cell("|nor_conv_3x3~0|+|none~0|none~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|")
    assert isomorphism_key(chain) == isomorphism_key(direct)
    torch.manual_seed(0)
    a, b = InferCell(chain, 4, 4).eval(), InferCell(direct, 4, 4).eval()
    b.layers[0].load_state_dict(a.layers[0].state_dict())  # edge 1<-0
    b.layers[4].load_state_dict(a.layers[2].state_dict())  # the second convolution: 3<-1 there, 2<-1 here
    x = torch.randn(2, 4, 6, 6)
    assert torch.allclose(a(x), b(x), atol=1e-6)
    # another operation on a live edge, or a live edge cut, is another function
    assert isomorphism_key(chain) != isomorphism_key(
        parse_cell("|nor_conv_1x1~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|"))
    assert isomorphism_key(chain) != isomorphism_key(
        parse_cell("|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|none~0|none~1|skip_connect~2|"))

def test_sampling_is_uniform_over_cells(space) -> None:
    archs = space.sample_many(3000, np.random.default_rng(1))
    enc = space.encode(archs).reshape(-1, 6, 5)
    share = enc.mean(0)  # every operation on every edge about 1/5
    assert torch.all((share - 0.2).abs() < 0.04)


def test_cli_arch_info_prints_benchmark_counts(run_cli) -> None:
    code, out, err = run_cli("arch", "info", ALL_CONV, "--space", "nb201", "--json")
    assert code == 0, err
    info = json.loads(out)
    assert info["params"] == 1_531_546 and info["flops"] == 220_119_690 and len(info["encoding"]) == 30
    code, out, err = run_cli("arch", "info", "|nor_conv~0|+|none~0|none~1|+|none~0|none~1|none~2|", "--space", "nb201")
    assert code == 2 and "unknown operation 'nor_conv'" in err and len(err.strip().splitlines()) == 1
