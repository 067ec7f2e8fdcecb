"""Genotype validation: every malformed cell is rejected with a message naming the problem."""

from __future__ import annotations

import copy
import json

import pytest

from nascost import plugins
from nascost.errors import NascostError
from nascost_darts.genotype import Genotype, presets

V2 = presets()["DARTS_V2"].to_spec()


def bad(**changes):
    spec = copy.deepcopy(V2)
    spec.update(changes)
    return spec


def with_edge(cell: str, i: int, pair):
    spec = copy.deepcopy(V2)
    spec[cell][i] = pair
    return spec


@pytest.mark.parametrize(
    ("spec", "pattern"),
    [
        (with_edge("normal", 3, ["sep_conv_3x4", 1]), r"unknown operation 'sep_conv_3x4'.*did you mean 'sep_conv_3x3'"),
        (with_edge("reduce", 0, ["maxpool", 0]), r"reduce cell, edge 0.*unknown operation 'maxpool'"),
        (with_edge("normal", 0, ["none", 0]), r"'none' is not allowed"),
        (with_edge("normal", 0, ["sep_conv_3x3", 2]), r"input 2 is out of range; node 2 can only take inputs 0..1"),
        (with_edge("normal", 7, ["sep_conv_3x3", 5]), r"node 5 can only take inputs 0..4"),
        (with_edge("normal", 2, ["sep_conv_3x3", -1]), r"input -1 is out of range"),
        (with_edge("normal", 2, ["sep_conv_3x3", "1"]), r"input must be an integer"),
        (with_edge("normal", 2, ["sep_conv_3x3", True]), r"input must be an integer"),
        (with_edge("normal", 2, ["sep_conv_3x3"]), r"expected an \[operation, input\] pair"),
        (with_edge("normal", 2, [3, 1]), r"operation must be a name"),
        (with_edge("normal", 1, ["sep_conv_3x3", 0]), r"normal cell, node 2: both of its edges come from input 0"),
        (bad(normal=V2["normal"][:7]), r"normal cell has 7 edges; a cell needs exactly 8"),
        (bad(reduce=[*V2["reduce"], ["max_pool_3x3", 0]]), r"reduce cell has 9 edges"),
        (bad(normal="sep_conv_3x3"), r"normal cell must be a list"),
        (bad(normal_concat=[2, 3, 4]), r"normal_concat must be \[2, 3, 4, 5\]"),
        (bad(reduce_concat=[2, 3, 4, 6]), r"reduce_concat must be"),
        (bad(reduce_concat="2345"), r"reduce_concat must be"),
        (bad(normall=[]), r"unknown key 'normall'.*did you mean 'normal'"),
        ({"normal": V2["normal"]}, r"no 'reduce' cell"),
        ([1, 2], r"must be a JSON object"),
    ],
)
def test_bad_genotypes_are_rejected_with_the_problem_named(spec, pattern) -> None:
    with pytest.raises(NascostError, match=pattern) as info:
        Genotype.parse(spec)
    assert "\n" not in str(info.value)


def test_malformed_json_text() -> None:
    with pytest.raises(NascostError, match="malformed genotype JSON"):
        Genotype.from_json('{"normal": [')


def test_resolve_reports_malformed_and_invalid_files(tmp_path) -> None:
    space = plugins.get_space("darts")
    broken = tmp_path / "broken.json"
    broken.write_text('{"normal": [["sep_conv_3x3", 0],')
    with pytest.raises(NascostError, match="malformed JSON"):
        space.resolve(broken)
    invalid = tmp_path / "invalid.json"
    invalid.write_text(json.dumps(with_edge("normal", 0, ["conv_9x9", 0])))
    with pytest.raises(NascostError, match="unknown operation 'conv_9x9'"):
        space.resolve(invalid)
    with pytest.raises(NascostError, match="does not exist"):
        space.resolve(tmp_path / "missing.json")


def test_json_round_trip_and_resolve_from_file(tmp_path) -> None:
    g = presets()["PDARTS"]
    assert Genotype.from_json(g.to_json()) == g
    path = tmp_path / "pdarts.json"
    path.write_text(g.to_json())
    arch = plugins.get_space("pcdarts").resolve(path)
    assert arch.space == "pcdarts"
    assert arch.spec == g.to_spec()


def test_concat_defaults_and_pair_order_is_kept() -> None:
    spec = {"normal": V2["normal"], "reduce": V2["reduce"]}
    g = Genotype.parse(spec)
    assert g.normal_concat == [2, 3, 4, 5] and g.reduce_concat == [2, 3, 4, 5]
    # the reference lists a node's pairs in derivation order; it is kept as given
    assert g.normal[6:] == [("skip_connect", 0), ("dil_conv_3x3", 2)]


def test_presets_match_the_reference_file() -> None:
    from importlib import resources

    data = json.loads(resources.files("nascost_darts").joinpath("genotypes.json").read_text())
    loaded = presets()
    assert set(loaded) == {"DARTS_V1", "DARTS_V2", "PC_DARTS_cifar", "PC_DARTS_image", "PDARTS"}
    for name, g in loaded.items():
        ref = data["genotypes"][name]
        assert g.to_spec()["normal"] == ref["normal"]
        assert g.to_spec()["reduce"] == ref["reduce"]
    # spot-check one pair against quark0/darts genotypes.py
    assert loaded["DARTS_V2"].normal[7] == ("dil_conv_3x3", 2)


REFERENCE_TEXT = (
    "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), "
    "('sep_conv_3x3', 1), ('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), "
    "('dil_conv_3x3', 2)], normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), "
    "('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), ('max_pool_3x3', 0), "
    "('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=range(2, 6))"
)


def test_reference_printed_genotype_text(tmp_path) -> None:
    """The form quark0/darts prints in its search logs (DARTS_V2 from its genotypes.py)."""
    assert Genotype.from_reference_text(REFERENCE_TEXT) == presets()["DARTS_V2"]
    path = tmp_path / "genotype.txt"
    path.write_text(REFERENCE_TEXT + "\n")
    assert plugins.get_space("darts").resolve(path).spec == V2


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        ("Genotype(normal=__import__('os').system('true'))", "must be a literal list"),
        ("Genotype(normal=[('sep_conv_3x3', 0)", "malformed Genotype"),
        ("Geno(normal=[])", "expected text of the form"),
        ("Genotype([], [2], [], [2])", "must use keywords"),
        (REFERENCE_TEXT.replace("range(2, 6)", "range(x)"), "malformed range"),
        (REFERENCE_TEXT.replace("'dil_conv_3x3', 2", "'dil_conv_3x3', 7"), "input 7 is out of range"),
    ],
)
def test_reference_text_is_never_evaluated_and_is_validated(text: str, pattern: str) -> None:
    with pytest.raises(NascostError, match=pattern):
        Genotype.from_reference_text(text)
