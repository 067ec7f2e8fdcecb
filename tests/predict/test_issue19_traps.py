"""Traps a plugin author met (issue 19): extra values, printed commands, device comparisons, table width."""

from __future__ import annotations

import warnings

import pytest
from conftest import OTHER_DEVICE, make_db
from pydantic import ValidationError

from nascost.records import DeviceInfo


def test_device_extra_numbers_are_stored_as_text_without_warnings() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        info = DeviceInfo(runtime="board", extra={"cores": 4, "ghz": 1.8, "npu": True})
        assert info.extra == {"cores": "4", "ghz": "1.8", "npu": "true"}
        assert info.fingerprint == DeviceInfo(runtime="board", extra={"cores": "4", "ghz": "1.8", "npu": "true"}).fingerprint
        copied = info.model_copy(update={"extra": {**info.extra, "opset": 17}})
        assert copied.extra["opset"] == "17"
        copied.model_dump_json()  # serialises without a warning
    with pytest.raises(ValidationError, match="must be a string or a number"):
        DeviceInfo(runtime="board", extra={"layers": [1, 2]})


def test_the_lookup_table_command_compare_prints_uses_a_setting_fit_accepts(tmp_path, toy_space, run_cli) -> None:
    custom = toy_space.setting("tiny", channels=6)
    assert custom.name == "tiny+custom"
    db = make_db(tmp_path / "c.db", toy_space, 30, setting=custom)
    code, out, err = run_cli("compare", "--db", str(db), "--predictors", "ridge,lut")
    assert code == 0, err
    line = next(ln for ln in out.splitlines() if ln.startswith("lut: unavailable"))
    command = line.split("with 'nascost fit", 1)[1]
    assert "--setting tiny --channels 6" in command and "+custom" not in command


def test_setting_options_name_named_settings_and_overrides(toy_space) -> None:
    tiny = toy_space.setting("tiny")
    assert toy_space.setting_options(tiny) == "--setting tiny"
    assert toy_space.setting_options(toy_space.setting("tiny", layers=tiny.layers)) == "--setting tiny"
    opts = toy_space.setting_options(toy_space.setting("tiny", input_size=32, num_classes=5))
    assert opts == "--setting tiny --input-size 32 --num-classes 5"


def test_compare_devices_prints_rank_agreement_not_relative_differences_across_devices(
        tmp_path, toy_space, run_cli) -> None:
    a = make_db(tmp_path / "a.db", toy_space, 30)
    b = make_db(tmp_path / "b.db", toy_space, 30, device=OTHER_DEVICE, noise=0.02, seed=0)
    code, out, err = run_cli("compare", "--devices", "--db", str(a), "--db", str(b))
    assert code == 0, err
    assert "relative difference" not in out and "rank agreement only" in out and "cheapest-10% overlap" in out
    a2 = make_db(tmp_path / "a2.db", toy_space, 30, noise=0.02, seed=0)  # a repeat on the same device
    code, out, err = run_cli("compare", "--devices", "--db", str(a), "--db", str(a2))
    assert code == 0, err
    assert "median relative difference" in out


def test_the_plugins_table_fits_100_columns(run_cli) -> None:
    code, out, _ = run_cli("plugins")
    assert code == 0
    assert max(len(line) for line in out.splitlines()) <= 100


def test_a_missing_cost_names_a_setting_the_building_commands_accept(toy_space) -> None:
    from nascost.cost import CostStore

    msg = CostStore().missing_message("cpu-lut", space="toy", setting=toy_space.setting("tiny", channels=6))
    build = msg.split("create it with: ", 1)[1]
    assert "--setting tiny --channels 6" in build and "+custom" not in build
