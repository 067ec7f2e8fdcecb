"""``nascost arch info/sample/draw`` through the real CLI entry point."""

from __future__ import annotations

import json


def test_arch_info_json(run_cli) -> None:
    code, out, err = run_cli("arch", "info", "DARTS_V2", "--json")
    assert code == 0, err
    info = json.loads(out)
    assert info["params"] == 3_349_342
    assert info["params_with_aux"] > info["params"]
    assert isinstance(info["macs"], int) and info["macs"] > 0
    assert len(info["encoding"]) == 224 and sum(info["encoding"]) == 16  # both cells, the default
    assert set(info["encoding"]) == {0, 1}
    assert info["encoding_id"] == "darts-cell/both-28x8"
    code, out, err = run_cli("arch", "info", "DARTS_V2", "--space-opt", "cells=normal", "--json")
    assert code == 0, err
    paper = json.loads(out)
    assert paper["encoding"] == info["encoding"][:112] and paper["encoding_id"] == "darts-cell/normal-14x8"
    assert info["setting"]["name"] == "cifar10"
    assert info["genotype"]["normal"][7] == ["dil_conv_3x3", 2]


def test_arch_info_overrides_and_table(run_cli) -> None:
    code, out, _ = run_cli(
        "arch", "info", "PDARTS", "--space", "pdarts", "--channels", "8", "--layers", "5",
        "--input-size", "16", "--json",
    )
    assert code == 0
    info = json.loads(out)
    assert (info["setting"]["channels"], info["setting"]["layers"], info["setting"]["input_size"]) == (8, 5, 16)
    code, out, _ = run_cli("arch", "info", "PDARTS", "--channels", "8", "--layers", "5")
    assert code == 0 and f"{info['params']:,}" in out


def test_arch_sample_is_reproducible_and_loadable(run_cli, tmp_path) -> None:
    code, out, _ = run_cli("arch", "sample", "--space", "darts", "-n", "3", "--seed", "5", "--json")
    assert code == 0
    first = json.loads(out)
    assert len(first) == 3
    _, again, _ = run_cli("arch", "sample", "-n", "3", "--seed", "5", "--json")
    assert json.loads(again) == first
    code, lines, _ = run_cli("arch", "sample", "-n", "2", "--seed", "5")
    rows = [json.loads(line) for line in lines.splitlines()]
    assert rows[0]["normal"] == first[0]["genotype"]["normal"]
    path = tmp_path / "arch.json"
    path.write_text(lines.splitlines()[0])
    code, out, err = run_cli("arch", "info", str(path), "--channels", "4", "--layers", "3", "--json")
    assert code == 0, err
    assert json.loads(out)["genotype"] == first[0]["genotype"]


def test_arch_draw(run_cli, tmp_path) -> None:
    target = tmp_path / "cell.png"
    code, out, err = run_cli("arch", "draw", "PC_DARTS_cifar", "-o", str(target))
    assert code == 0, err
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert str(target) in out
    assert [p.name for p in tmp_path.iterdir()] == ["cell.png"]  # no temp file left


def test_bad_inputs_exit_2_with_one_line(run_cli, tmp_path) -> None:
    code, out, err = run_cli("arch", "info", "DARTS_V3")
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "unknown architecture 'DARTS_V3'" in err and "DARTS_V2" in err
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"normal": [["sep_conv_3x3", 0]] * 8, "reduce": [["max_pool_3x3", 0]] * 8}))
    code, _, err = run_cli("arch", "info", str(bad))
    assert code == 2 and err.count("\n") == 1 and "both of its edges come from input 0" in err
    code, _, err = run_cli("arch", "info", "DARTS_V2", "--setting", "cifar11")
    assert code == 2 and "did you mean 'cifar10'" in err
    code, _, err = run_cli("arch", "draw", "DARTS_V2", "-o", str(tmp_path / "cell.gif"))
    assert code == 2 and ".png" in err


def test_arch_info_json_output_loads_back(run_cli, tmp_path) -> None:
    code, out, _ = run_cli("arch", "info", "PDARTS", "--channels", "4", "--layers", "3", "--json")
    assert code == 0
    path = tmp_path / "info.json"
    path.write_text(out)
    code, again, err = run_cli(
        "arch", "info", str(path), "--channels", "4", "--layers", "3", "--opt", "cells=normal", "--json"
    )  # --opt: the arch commands' old spelling of --space-opt, still accepted
    assert code == 0, err
    info = json.loads(again)
    assert info["genotype"] == json.loads(out)["genotype"]
    assert len(info["encoding"]) == 112 and sum(info["encoding"]) == 8
    assert info["encoding"] == json.loads(out)["encoding"][:112]
