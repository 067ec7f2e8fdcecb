"""darts/pcdarts/pdarts spaces: registration, sampling, encoding layout, decoding."""

from __future__ import annotations

import itertools
from collections import Counter

import numpy as np
import pytest
import torch

from nascost import plugins
from nascost.errors import NascostError
from nascost_darts.encoding import EDGES, edge_index
from nascost_darts.genotype import CHOSEN_OPS, Genotype
from nascost_darts.ops import PRIMITIVES
from nascost_darts.space import FAMILY

#: The paper's encoding (normal cell only); most tests here are about its exact layout.
SPACE = plugins.get_space("darts", {"cells": "normal"})


def test_three_spaces_share_cells_presets_and_encoding() -> None:
    names = plugins.registry("spaces").names()
    assert {"darts", "pcdarts", "pdarts"} <= set(names)
    spaces = [plugins.get_space(n) for n in ("darts", "pcdarts", "pdarts")]
    assert {s.encoding_id for s in spaces} == {"darts-cell/both-28x8"}
    assert {plugins.get_space(n, {"cells": "normal"}).encoding_id for n in names if n in FAMILY} == {
        "darts-cell/normal-14x8"}
    specs = [{k: a.spec for k, a in s.presets().items()} for s in spaces]
    assert specs[0] == specs[1] == specs[2]
    assert plugins.get_space("pdarts").presets()["PDARTS"].space == "pdarts"


def test_settings() -> None:
    s = SPACE.settings()
    assert (s["cifar10"].channels, s["cifar10"].layers, s["cifar10"].num_classes, s["cifar10"].input_size) == (36, 20, 10, 32)
    assert s["cifar100"].num_classes == 100 and s["cifar100"].family == "cifar"
    im = s["imagenet"]
    assert (im.family, im.channels, im.layers, im.num_classes, im.input_size) == ("imagenet", 48, 14, 1000, 224)
    small = s["cifar-small"]
    assert (small.channels, small.layers, small.input_size) == (16, 8, 32)


def test_edge_order() -> None:
    assert EDGES[:5] == [(2, 0), (2, 1), (3, 0), (3, 1), (3, 2)]
    assert len(EDGES) == 14
    assert [edge_index(n, i) for n, i in EDGES] == list(range(14))
    assert edge_index(5, 4) == 13
    with pytest.raises(ValueError):
        edge_index(3, 3)


def test_darts_v2_normal_cell_bits_by_hand() -> None:
    # node 2: sep3 from 0 (edge 0), sep3 from 1 (edge 1); node 3: sep3 from 0, 1 (edges 2, 3);
    # node 4: sep3 from 1 (edge 6), skip from 0 (edge 5); node 5: skip from 0 (edge 9), dil3 from 2 (edge 11)
    sep3, skip, dil3 = (PRIMITIVES.index(o) for o in ("sep_conv_3x3", "skip_connect", "dil_conv_3x3"))
    expected = sorted([0 * 8 + sep3, 1 * 8 + sep3, 2 * 8 + sep3, 3 * 8 + sep3, 6 * 8 + sep3, 5 * 8 + skip, 9 * 8 + skip, 11 * 8 + dil3])
    enc = SPACE.encode([SPACE.presets()["DARTS_V2"]])
    assert enc.shape == (1, 112) and enc.dtype == torch.float32
    assert torch.nonzero(enc[0]).flatten().tolist() == expected == [4, 12, 20, 28, 43, 52, 75, 94]


def test_default_encoding_covers_both_cells_and_samples_both() -> None:
    # a cost must see the network the search derives: by default both cells are
    # encoded and sampled; the paper's normal-cell encoding is an option
    space = plugins.get_space("darts")
    assert space.encoding_id == "darts-cell/both-28x8" and space.encoding_dim == 224
    assert space.option_values() == {"cells": "both", "sample_reduce": None}
    archs = space.sample_many(50, 3)
    enc = space.encode(archs)
    assert enc.shape == (50, 224) and torch.all(enc[:, :112].sum(1) == 8) and torch.all(enc[:, 112:].sum(1) == 8)
    assert len({str(a.spec["reduce"]) for a in archs}) == 50
    assert [space.decode(e).key() for e in enc] == [a.key() for a in archs]
    # the same seed gives the same normal cells in both encodings
    assert [a.spec["normal"] for a in archs] == [a.spec["normal"] for a in SPACE.sample_many(50, 3)]
    assert SPACE.encoding_id == "darts-cell/normal-14x8" and SPACE.encoding_dim == 112


def test_sampling_is_seeded_and_valid() -> None:
    a = [x.spec for x in SPACE.sample_many(20, 7)]
    b = [x.spec for x in SPACE.sample_many(20, np.random.default_rng(7))]
    c = [x.spec for x in SPACE.sample_many(20, 8)]
    assert a == b
    assert a != c
    for spec in a:
        Genotype.parse(spec)  # valid
    assert len({SPACE.validate(s).key() for s in a}) == 20


def test_sampling_is_uniform() -> None:
    archs = SPACE.sample_many(1000, 0)
    ops = Counter(op for a in archs for op, _ in a.spec["normal"])
    assert set(ops) == set(CHOSEN_OPS)
    expected = 1000 * 8 / 7
    assert all(abs(n - expected) < 0.15 * expected for n in ops.values())
    # node 5 chooses 2 of its 5 inputs: 10 pairs, each about 100 times
    pairs = Counter(tuple(sorted(i for _, i in a.spec["normal"][6:])) for a in archs)
    assert set(pairs) == set(itertools.combinations(range(5), 2))
    assert all(abs(n - 100) < 40 for n in pairs.values())
    # the paper's encoding covers the normal cell only, so by default every
    # sample gets one fixed reduction cell (DARTS_V2's: max-pool and skip)
    fixed = SPACE.presets()["DARTS_V2"].spec["reduce"]
    assert all(a.spec["reduce"] == fixed for a in archs)
    # with sample_reduce="sampled" (the default of cells="both") it is sampled independently
    sampled = plugins.get_space("darts", {"sample_reduce": "sampled"}).sample_many(1000, 0)
    assert [a.spec["normal"] for a in sampled] == [a.spec["normal"] for a in archs]  # same normal cells
    assert sum(a.spec["normal"] == a.spec["reduce"] for a in sampled) == 0
    assert len({str(a.spec["reduce"]) for a in sampled}) > 990
    assert plugins.get_space("darts", {"cells": "both"}).fixed_reduce is None


def test_sample_reduce_takes_a_preset_and_rejects_unknown_names() -> None:
    pc = plugins.get_space("darts", {"sample_reduce": "PC_DARTS_cifar"})
    assert pc.sample(0).spec["reduce"] == pc.presets()["PC_DARTS_cifar"].spec["reduce"]
    with pytest.raises(NascostError, match="sample_reduce='DARTS_V9' is neither 'sampled' nor a preset"):
        plugins.get_space("darts", {"sample_reduce": "DARTS_V9"})


def test_encoding_has_eight_ones_and_round_trips() -> None:
    archs = SPACE.sample_many(30, 1) + list(SPACE.presets().values())
    enc = SPACE.encode(archs)
    assert enc.shape == (len(archs), 112)
    assert torch.all(enc.sum(1) == 8)
    grid = enc.view(len(archs), 14, 8)
    assert torch.all(grid[:, :, 0] == 0)  # never 'none'
    assert torch.all(grid.sum(2) <= 1)
    for arch, row in zip(archs, enc, strict=True):
        decoded = SPACE.decode(row)
        assert SPACE.encode([decoded])[0].tolist() == row.tolist()
        assert sorted(decoded.spec["normal"]) == sorted(arch.spec["normal"])
        # a normal-cell encoding decodes with the space's fixed sampling reduction cell
        assert decoded.spec["reduce"] == SPACE.presets()["DARTS_V2"].spec["reduce"]
    for arch in archs[:30]:  # sampled architectures round-trip exactly
        assert SPACE.decode(SPACE.encode([arch])[0]) == arch
    sampled_reduce = plugins.get_space("darts", {"cells": "normal", "sample_reduce": "sampled"})
    decoded = sampled_reduce.decode(enc[0])
    assert decoded.spec["reduce"] == decoded.spec["normal"]  # no fixed cell: the normal one


def test_sampled_architectures_round_trip_exactly() -> None:
    both = plugins.get_space("darts", {"cells": "both"})
    assert both.encoding_dim == 224 and both.encoding_id == "darts-cell/both-28x8"
    for arch in both.sample_many(10, 3):
        enc = both.encode([arch])
        assert enc.shape == (1, 224) and enc.sum() == 16
        assert both.decode(enc[0]).spec == arch.spec
        assert SPACE.decode(SPACE.encode([arch])[0], reduce=arch).spec == arch.spec


def test_encoding_ignores_pair_order_within_a_node() -> None:
    arch = SPACE.presets()["DARTS_V2"]
    spec = {**arch.spec, "normal": [arch.spec["normal"][i ^ 1] for i in range(8)]}
    assert torch.equal(SPACE.encode([arch]), SPACE.encode([SPACE.validate(spec)]))


def test_decode_rejects_invalid_encodings() -> None:
    good = SPACE.encode([SPACE.presets()["DARTS_V2"]])[0]
    with pytest.raises(NascostError, match="has 111 values"):
        SPACE.decode(good[:-1])
    extra = good.clone()
    extra[13 * 8 + 4] = 1  # a third edge into node 5
    with pytest.raises(NascostError, match="node 5 has 3 incoming edges"):
        SPACE.decode(extra)
    none = good.clone()
    none[0] = 1
    with pytest.raises(NascostError, match="'none' bit"):
        SPACE.decode(none)
    two_ops = good.clone()
    two_ops[5] = 1
    with pytest.raises(NascostError, match="2 operations set"):
        SPACE.decode(two_ops)
    half = good.clone()
    half[4] = 0.5
    with pytest.raises(NascostError, match="only 0s and 1s"):
        SPACE.decode(half)


def test_space_options_are_validated() -> None:
    with pytest.raises(NascostError, match="cells"):
        plugins.get_space("darts", {"cells": "reduce"})
    with pytest.raises(NascostError, match="invalid option"):
        plugins.get_space("darts", {"cell": "both"})


def test_foreign_architecture_is_refused() -> None:
    from nascost.records import Architecture

    with pytest.raises(NascostError, match="cannot be used in space 'darts'"):
        SPACE.encode([Architecture(space="nasbench", spec={})])


@pytest.mark.parametrize("cells", ["normal", "both"])
def test_op_count_matrix_counts_each_operation_per_edge_shape(cells) -> None:
    space = plugins.get_space("darts", {"cells": cells})
    archs = space.sample_many(6, np.random.default_rng(3))
    counts = space.encode(archs) @ space.op_count_matrix()
    for arch, row in zip(archs, counts, strict=True):
        g = space.genotype(arch)
        classes = [Counter(op for op, _ in g.normal)]
        if cells == "both":  # a reduction cell's edges from its inputs have stride 2, the others stride 1
            classes += [Counter(op for op, i in g.reduce if i < 2), Counter(op for op, i in g.reduce if i >= 2)]
        assert row.tolist() == [c[op] for c in classes for op in PRIMITIVES]
