"""Predictor files (safety, integrity, context checks) and the cost store."""

from __future__ import annotations

import io
import json
import os
import pickle
import zipfile
from pathlib import Path

import pytest
import torch
from conftest import DEVICE, OTHER_DEVICE

from nascost import plugins
from nascost.cost import CostStore, load_cost, user_data_dir
from nascost.errors import NascostError
from nascost.predict import (
    PredictorWarning,
    load_predictor,
    make_metadata,
    read_metadata,
    save_predictor,
)
from nascost.records import Setting

SETTING = Setting(name="small", channels=8, layers=5, num_classes=10, input_size=32)


def _ridge_file(path: Path, *, device=DEVICE, setting=SETTING, space="darts") -> Path:
    x = torch.eye(6)
    pred = plugins.get_predictor("ridge").fit(x, torch.arange(6.0) + 1)
    meta = make_metadata(pred, space=space, encoding_id=f"{space}/enc", encoding_dim=6, unit="ms",
                         device=device, setting=setting, batch_size=1, measurer="cpu-timer", n_train=6)
    return save_predictor(pred, path, meta)


def test_metadata_records_the_context(tmp_path) -> None:
    meta = read_metadata(_ridge_file(tmp_path / "r.nascost"))
    assert meta.space == "darts" and meta.encoding_dim == 6 and meta.unit == "ms"
    assert meta.device.fingerprint == DEVICE.fingerprint and meta.setting == SETTING
    assert meta.nascost_version and meta.created and len(meta.sha256) == 64


def test_another_space_or_encoding_is_refused(tmp_path) -> None:
    path = _ridge_file(tmp_path / "r.nascost")
    with pytest.raises(NascostError, match="space 'darts', not 'pcdarts'"):
        load_predictor(path, space="pcdarts")
    with pytest.raises(NascostError, match="encoding"):
        load_predictor(path, space="darts", encoding_id="darts/other")


def test_another_device_or_setting_loads_with_a_warning(tmp_path) -> None:
    path = _ridge_file(tmp_path / "r.nascost")
    with pytest.warns(PredictorWarning, match="device"):
        pred, _ = load_predictor(path, device=OTHER_DEVICE)
    assert pred.predict(torch.eye(6)).shape == (6,)
    with pytest.warns(PredictorWarning, match="setting"):
        load_predictor(path, setting=SETTING.model_copy(update={"channels": 16}))
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_predictor(path, device=DEVICE, setting=SETTING)  # same context: silent


def test_truncated_file_is_a_clear_error(tmp_path) -> None:
    path = _ridge_file(tmp_path / "r.nascost")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(NascostError, match="truncated, corrupt or unsafe"):
        load_predictor(path)


def test_tampered_tensor_fails_the_checksum(tmp_path) -> None:
    path = _ridge_file(tmp_path / "r.nascost")
    payload = torch.load(path, weights_only=True)
    payload["tensors"]["coef"][0] += 1.0
    torch.save(payload, path)
    with pytest.raises(NascostError, match="SHA-256"):
        load_predictor(path)


def test_tampered_metadata_fails_the_checksum(tmp_path) -> None:
    path = _ridge_file(tmp_path / "r.nascost")
    payload = torch.load(path, weights_only=True)
    payload["metadata"] = payload["metadata"].replace('"unit":"ms"', '"unit":"s"')
    torch.save(payload, path)
    with pytest.raises(NascostError, match="SHA-256"):
        load_predictor(path)


class _Evil:
    def __reduce__(self):
        return (os.system, ("touch PWNED",))


def test_pickle_payloads_are_rejected_without_running_them(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    raw = tmp_path / "raw.nascost"
    raw.write_bytes(pickle.dumps({"format": "nascost-predictor", "x": _Evil()}))
    with pytest.raises(NascostError, match="unsafe"):
        load_predictor(raw)
    # the same inside torch's zip container
    buf = io.BytesIO()
    torch.save({"format": "nascost-predictor", "x": _Evil()}, buf)
    zipped = tmp_path / "zipped.nascost"
    zipped.write_bytes(buf.getvalue())
    assert zipfile.is_zipfile(zipped)
    with pytest.raises(NascostError, match="unsafe"):
        load_predictor(zipped)
    assert not (tmp_path / "PWNED").exists()


def test_not_a_predictor_file(tmp_path) -> None:
    other = tmp_path / "w.pt"
    torch.save({"weight": torch.ones(2)}, other)
    with pytest.raises(NascostError, match="not a nascost predictor file"):
        load_predictor(other)
    with pytest.raises(NascostError, match="does not exist"):
        load_predictor(tmp_path / "missing.nascost")


def test_store_root_follows_nascost_home(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("NASCOST_HOME", str(tmp_path / "home"))
    assert user_data_dir() == tmp_path / "home"
    assert CostStore().costs_dir == tmp_path / "home" / "costs"
    monkeypatch.delenv("NASCOST_HOME")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    if os.name == "posix" and os.uname().sysname == "Linux":
        assert user_data_dir() == tmp_path / "xdg" / "nascost"


def test_store_put_find_and_list(tmp_path) -> None:
    store = CostStore(tmp_path / "store")
    here = store.put("cpu-lpm", _ridge_file(tmp_path / "a.nascost"))
    there = store.put("cpu-lpm", _ridge_file(tmp_path / "b.nascost", device=OTHER_DEVICE))
    assert here != there and here.parent == there.parent == store.costs_dir / "cpu-lpm"
    assert store.find("cpu-lpm", space="darts", setting=SETTING, device=DEVICE) == here
    assert store.find("cpu-lpm", space="darts", device=OTHER_DEVICE.fingerprint) == there
    entries = store.list()
    assert sorted(e.metadata.device.fingerprint for e in entries) == sorted(
        [DEVICE.fingerprint, OTHER_DEVICE.fingerprint])
    assert entries[0].to_dict()["name"] == "cpu-lpm"
    # an unknown device falls back to another device's entry; loading it warns
    unknown = DEVICE.model_copy(update={"cpu_model": "third"})
    with pytest.warns(PredictorWarning):
        _pred, meta = load_cost("cpu-lpm", space="darts", device=unknown, store=store)
    assert meta.space == "darts"
    # replacing an entry of the same context keeps one file
    store.put("cpu-lpm", _ridge_file(tmp_path / "c.nascost"))
    assert len(store.list()) == 2


def test_store_missing_cost_names_the_commands(tmp_path) -> None:
    store = CostStore(tmp_path / "store")
    store.put("cpu-lpm", _ridge_file(tmp_path / "a.nascost"))
    with pytest.raises(NascostError) as err:
        store.find("gpu-thing", space="darts", setting=SETTING)
    msg = str(err.value)
    assert "nascost collect --space darts" in msg and "--setting small" in msg
    assert "nascost fit --db costs.db --predictor lpm --space darts" in msg and "--as-cost gpu-thing" in msg
    with pytest.raises(NascostError, match="no cost 'cpu-lpm' for space 'pcdarts'"):
        store.find("cpu-lpm", space="pcdarts")
    with pytest.raises(NascostError, match="invalid cost name"):
        store.put("../evil", tmp_path / "a.nascost")


def test_store_uses_registered_recipes_in_the_message(tmp_path, register_plugin) -> None:
    from nascost.cost import Cost
    from nascost.hookspecs import hookimpl

    class P:
        @hookimpl
        def register_costs(self, register):
            register(Cost.define("board-lpm", measurer="board-timer", predictor="lpm", setting="imagenet"))

    register_plugin(P())
    with pytest.raises(NascostError, match="--measurer board-timer --setting imagenet"):
        CostStore(tmp_path).find("board-lpm", space="darts")


def test_store_refuses_a_damaged_file(tmp_path) -> None:
    path = _ridge_file(tmp_path / "a.nascost")
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(NascostError):
        CostStore(tmp_path / "store").put("cpu-lpm", path)
    assert not (tmp_path / "store" / "costs" / "cpu-lpm").exists() or not any(
        (tmp_path / "store" / "costs" / "cpu-lpm").iterdir())


def test_load_cost_from_a_path(tmp_path) -> None:
    path = _ridge_file(tmp_path / "a.nascost")
    _pred, meta = load_cost(str(path), space="darts")
    assert meta.predictor == "ridge"
    with pytest.raises(NascostError, match="does not exist"):
        load_cost(str(tmp_path / "nope.nascost"), space="darts")


def test_darts_family_spaces_share_costs(tmp_path) -> None:
    """darts, pcdarts and pdarts build the same evaluation networks: one fitted cost serves all three."""
    darts, pcdarts = plugins.get_space("darts"), plugins.get_space("pcdarts")
    x = darts.encode(darts.sample_many(8, 0))
    pred = plugins.get_predictor("ridge").fit(x, x.sum(1))
    meta = make_metadata(pred, space="darts", encoding_id=darts.encoding_id, encoding_dim=darts.encoding_dim,
                         unit="ms", device=DEVICE, setting=SETTING, batch_size=1, measurer="cpu-timer", n_train=8)
    path = save_predictor(pred, tmp_path / "d.nascost", meta)
    loaded, _ = load_predictor(path, space=pcdarts)  # by the space object: family accepted
    assert torch.allclose(loaded.predict(x), pred.predict(x))
    assert pcdarts.shares_costs_with("darts") and not pcdarts.shares_costs_with("nas-bench")
    store = CostStore(tmp_path / "store")
    store.put("cpu-lpm", path)
    _pred, found = load_cost("cpu-lpm", space=plugins.get_space("pdarts"), device=DEVICE, store=store)
    assert found.space == "darts"
    # by name only, the family is unknown: still refused
    with pytest.raises(NascostError, match="space 'darts', not 'pcdarts'"):
        load_predictor(path, space="pcdarts")


def test_files_written_before_a_metadata_field_was_added_still_verify(tmp_path) -> None:
    """The checksum covers the metadata as stored, so new optional fields do not break old files."""
    from nascost.predict import _canonical_meta, _digest

    path = _ridge_file(tmp_path / "r.nascost")
    payload = torch.load(path, weights_only=True)
    old = json.loads(payload["metadata"])
    old.pop("reference_latency")  # as written by a nascost without that field
    old["sha256"] = _digest(_canonical_meta(old), payload["state"], payload["tensors"])
    payload["metadata"] = json.dumps(old)
    torch.save(payload, path)
    pred, meta = load_predictor(path)
    assert meta.reference_latency is None and pred.predict(torch.eye(6)).shape == (6,)
    old["unit"] = "s"  # a changed value still fails
    payload["metadata"] = json.dumps(old)
    torch.save(payload, path)
    with pytest.raises(NascostError, match="SHA-256"):
        load_predictor(path)


def test_a_predictor_with_nan_weights_is_refused_when_loaded(tmp_path) -> None:
    """NaN weights (with a valid checksum) are a damaged file at load time, not a search failing later."""
    x = torch.eye(6)
    pred = plugins.get_predictor("ridge").fit(x, torch.arange(6.0) + 1)
    state, tensors = pred.get_state()
    name = next(k for k, t in tensors.items() if t.is_floating_point())
    tensors[name] = torch.full_like(tensors[name], float("nan"))
    pred.set_state(state, tensors)
    meta = make_metadata(pred, space="darts", encoding_id="darts/enc", encoding_dim=6, unit="ms",
                         device=DEVICE, setting=SETTING, batch_size=1, measurer="cpu-timer", n_train=6)
    path = save_predictor(pred, tmp_path / "nan.nascost", meta)
    with pytest.raises(NascostError, match=f"damaged predictor file: tensor '{name}' holds NaN"):
        load_predictor(path, space="darts", encoding_id="darts/enc")
    good = _ridge_file(tmp_path / "good.nascost")  # and a sound file still loads
    assert load_predictor(good, space="darts", encoding_id="darts/enc")[0].predict(x).isfinite().all()
