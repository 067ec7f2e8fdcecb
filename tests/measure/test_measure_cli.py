"""``nascost measure``, ``collect``, ``data info|export``: real runs and bad input (exit 2, nothing written)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch

from nascost.data import CostDatabase

from .fakes import ToyPlugin

TINY = ["--setting", "tiny"]


@pytest.fixture
def toy(register_plugin) -> None:
    register_plugin(ToyPlugin, "toy-measure-tests")


def test_measure_json_has_the_documented_fields(toy, run_cli) -> None:
    code, out, err = run_cli("measure", "all-conv", "--space", "toy", "--measurer", "cpu-timer", *TINY,
                             "--runs", "4", "--warmup", "1", "--json")
    assert code == 0, err
    data = json.loads(out)
    for key in ("unit", "median", "iqr", "cv", "n", "samples", "noisy", "device"):
        assert key in data
    assert data["unit"] == "ms" and data["n"] == 4 and len(data["samples"]) == 4
    assert data["device"]["runtime"] == "cpu" and data["device"]["threads"] == 1


def test_measure_darts_preset_flops(run_cli) -> None:
    code, out, err = run_cli("measure", "DARTS_V2", "--measurer", "flops", "--setting", "cifar10",
                             "--channels", "4", "--layers", "3", "--input-size", "8", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["unit"] == "MACs" and data["median"] > 0 and data["extra"]["params"] > 0


def _ridge_file(tmp_path: Path, measurer: str, anchor: float | None) -> tuple[Path, object]:
    """A ridge predictor for the toy space, recorded as fitted on ``measurer`` data (batch 2, C=3)."""
    import torch

    from nascost import plugins
    from nascost.predict import make_metadata, save_predictor

    space = plugins.get_space("toy")
    archs = space.sample_many(30, 0)
    x = space.encode(archs)
    pred = plugins.get_predictor("ridge")
    pred.fit(x, x @ torch.linspace(1.0, 3.0, x.shape[1]) + 5.0)
    meta = make_metadata(pred, space="toy", encoding_id=space.encoding_id, encoding_dim=space.encoding_dim,
                         setting=space.setting("tiny", channels=3), batch_size=2, unit="ms", n_train=30,
                         measurer=measurer, reference_latency=anchor)
    return save_predictor(pred, tmp_path / "toy-ridge.nascost", meta), pred


def test_measure_like_a_predictor_uses_its_setting_batch_measurer_and_scale(toy, run_cli, tmp_path: Path) -> None:
    from nascost import plugins

    path, pred = _ridge_file(tmp_path, "cpu-timer-paired", anchor=1000.0)
    code, out, err = run_cli("measure", "all-conv", "--space", "toy", "--like", str(path), "--runs", "6",
                             "--warmup", "1", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["measurer"] == "cpu-timer-paired" and data["batch_size"] == 2
    assert data["setting"]["channels"] == 3 and data["setting"]["name"] == "tiny+custom"
    space = plugins.get_space("toy")
    expected = float(pred.predict(space.encode([space.resolve("all-conv")]))[0])
    assert data["like"]["predicted"] == pytest.approx(expected, rel=1e-5)
    # paired timing on the predictor's scale: the reference counts as 1000 ms
    assert data["like"]["anchor"] == 1000.0 and data["extra"]["paired"]["anchor"] == 1000.0
    ratio = data["extra"]["paired"]["model_median_raw"] / data["extra"]["paired"]["reference_median_raw"]
    assert data["median"] == pytest.approx(1000.0 * ratio, rel=0.5)  # median of per-run ratios vs ratio of medians

    code, out, err = run_cli("measure", "all-conv", "--space", "toy", "--like", str(path), "--measurer", "costmodel")
    assert code == 0, err
    assert "predicts" in out and "costmodel" in out
    code, _, err = run_cli("measure", "all-conv", "--space", "toy", "--like", str(path), "--setting", "tiny")
    assert code == 2 and "drop --setting" in err
    code, _, err = run_cli("measure", "all-conv", "--space", "toy")
    assert code == 2 and "--measurer" in err
    code, _, err = run_cli("measure", "all-conv", "--space", "toy", "--like", str(tmp_path / "missing.nascost"))
    assert code == 2 and "does not exist" in err


def test_collect_info_export_round_trip(toy, run_cli, tmp_path: Path) -> None:
    db = tmp_path / "costs.db"
    code, out, err = run_cli("collect", "--space", "toy", "--measurer", "costmodel", *TINY, "--n", "12",
                             "--db", str(db), "--reference-every", "5", "--quiet", "--json")
    assert code == 0, err
    summary = json.loads(out)
    assert summary["measured"] == 12 and summary["group_count"] == 12
    code, out, err = run_cli("collect", "--space", "toy", "--measurer", "costmodel", *TINY, "--n", "12",
                             "--db", str(db), "--quiet")
    assert code == 0 and "0 measured, 12 already" in out

    code, out, err = run_cli("data", "info", str(db), "--json")
    assert code == 0, err
    info = json.loads(out)
    assert info["count"] == 12 and info["space"] == "toy"
    (g,) = info["groups"]
    assert g["measurer"] == "costmodel" and g["setting"]["name"] == "tiny" and g["count"] == 12
    assert set(g["distribution"]) >= {"min", "median", "max", "quantiles"}
    assert set(g["noise"]) >= {"median_cv", "share_noisy", "drift_flagged"}
    assert info["devices"] and info["settings"]
    (campaign,) = g["campaigns"]  # the second run measured nothing, so added no campaign rows
    assert campaign["count"] == 12 and campaign["id"] == summary["campaign"]
    code, out, _ = run_cli("data", "info", str(db))
    assert code == 0 and "costmodel" in out and f"campaign {campaign['id']}: 12 rows" in out
    assert campaign["runs"]["min"] == campaign["runs"]["max"] and f"{campaign['runs']['min']} runs" in out

    code, out, err = run_cli("data", "export", str(db), "--format", "csv", "-o", str(tmp_path / "x.csv"))
    assert code == 0, err
    with (tmp_path / "x.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 12 and {r["measurer"] for r in rows} == {"costmodel"}
    code, out, err = run_cli("data", "import", str(tmp_path / "x.csv"), "--db", str(tmp_path / "copy.db"))
    assert code == 0 and "added 12 rows" in out, err
    with CostDatabase(tmp_path / "copy.db") as copy:
        assert copy.count() == 12 and copy.space == "toy"


def _snapshot(path: Path) -> bytes | None:
    return path.read_bytes() if path.exists() else None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--space", "toy", "--measurer", "nope", *TINY], "unknown cost measurer 'nope'"),
        (["--space", "nospace", "--measurer", "costmodel"], "unknown search space 'nospace'"),
        (["--space", "toy", "--measurer", "costmodel", "--setting", "huge"], "unknown setting 'huge'"),
        (["--space", "toy", "--measurer", "never", *TINY], "unavailable here"),
        (["--space", "toy", "--measurer", "costmodel", *TINY, "--opt", "bogus=1"], "invalid option"),
        (["--space", "toy", "--measurer", "costmodel", *TINY, "--runs", "3"], "takes no --runs"),
    ],
)
def test_collect_bad_input_exits_2_and_creates_nothing(toy, run_cli, tmp_path: Path, args, message) -> None:
    db = tmp_path / "new.db"
    code, _, err = run_cli("collect", *args, "--n", "3", "--db", str(db), "--quiet")
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not db.exists()


@pytest.mark.parametrize("command", ["collect", "measure"])
def test_an_unavailable_measurer_says_why_first_and_names_the_measurers_that_run_here(
        toy, run_cli, tmp_path: Path, command: str) -> None:
    args = (["collect", "--n", "3", "--db", str(tmp_path / "new.db"), "--quiet"] if command == "collect"
            else ["measure", "all-conv"])
    code, out, err = run_cli(*args, "--space", "toy", "--measurer", "never", *TINY)
    line = err.strip()
    assert code == 2 and out == "" and "\n" not in line, err
    why, _, alternatives = line.partition("; measurers that measure on this machine: ")
    assert why == "nascost: error: measurer 'never' is unavailable here: this test measurer is never available"
    names = alternatives.split(", ")
    assert "costmodel" in names and "cpu-timer" in names and "never" not in names
    assert not list(tmp_path.iterdir())  # no database, not even an empty one


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_timer_without_cuda_says_so_before_naming_the_cpu_measurers(run_cli, tmp_path: Path) -> None:
    code, _, err = run_cli("collect", "--measurer", "cuda-timer", "--n", "2", "--db", str(tmp_path / "x.db"))
    line = err.strip()
    assert code == 2 and "\n" not in line, err
    assert line.startswith("nascost: error: measurer 'cuda-timer' is unavailable here: no CUDA device")
    assert line.index("no CUDA device") < line.index("cpu-timer") and "flops" in line
    assert not list(tmp_path.iterdir())


def test_collect_into_database_of_another_space_is_refused(toy, run_cli, tmp_path: Path) -> None:
    db = tmp_path / "toy.db"
    assert run_cli("collect", "--space", "toy", "--measurer", "costmodel", *TINY, "--n", "3", "--db", str(db),
                   "--quiet")[0] == 0
    before = _snapshot(db)
    code, _, err = run_cli("collect", "--space", "darts", "--measurer", "flops", "--n", "2", "--db", str(db),
                           "--quiet")
    assert code == 2 and "'toy', not 'darts'" in err
    assert _snapshot(db) == before
    with CostDatabase(db) as cdb:
        assert cdb.count() == 3


@pytest.mark.parametrize("content", [b"not a database at all" * 20, b"SQLite format 3\x00" + b"\x01" * 300])
def test_corrupt_database_is_refused_untouched(toy, run_cli, tmp_path: Path, content: bytes) -> None:
    db = tmp_path / "bad.db"
    db.write_bytes(content)
    for args in (
        ["collect", "--space", "toy", "--measurer", "costmodel", *TINY, "--n", "2", "--db", str(db), "--quiet"],
        ["data", "info", str(db)],
        ["data", "export", str(db), "-o", str(tmp_path / "x.csv")],
    ):
        code, _, err = run_cli(*args)
        assert code == 2 and "not a nascost cost database" in err, (args, err)
    assert db.read_bytes() == content
    assert not (tmp_path / "x.csv").exists()


def test_data_commands_on_missing_file(run_cli, tmp_path: Path) -> None:
    code, _, err = run_cli("data", "info", str(tmp_path / "missing.db"))
    assert code == 2 and "does not exist" in err
    assert not (tmp_path / "missing.db").exists()


def test_measure_bad_input(toy, run_cli) -> None:
    code, _, err = run_cli("measure", "NOT_A_PRESET", "--space", "toy", "--measurer", "costmodel", *TINY)
    assert code == 2 and "unknown architecture" in err
    code, _, err = run_cli("measure", "all-conv", "--space", "toy", "--measurer", "never", *TINY)
    assert code == 2 and "unavailable" in err


def test_collect_shows_progress_and_summary(toy, run_cli, tmp_path: Path) -> None:
    code, out, err = run_cli("collect", "--space", "toy", "--measurer", "costmodel", *TINY, "--n", "4",
                             "--db", str(tmp_path / "c.db"), "--reference-every", "2")
    assert code == 0, err
    assert "measuring" in err and "4/4" in err  # the progress bar (on stderr)
    assert "4 measured, 0 already" in out and "arch/h" in out and "drift events 0" in out


def _strict(text: str):
    def refuse(name: str):
        raise ValueError(f"{name} is not JSON")

    return json.loads(text, parse_constant=refuse)


def test_collect_json_is_strict_json_when_nothing_was_measured(toy, run_cli, tmp_path: Path) -> None:
    db = tmp_path / "costs.db"
    args = ("collect", "--space", "toy", "--measurer", "costmodel", *TINY, "--n", "4", "--db", str(db),
            "--reference-every", "5", "--quiet", "--json")
    assert run_cli(*args)[0] == 0
    code, out, err = run_cli(*args)  # nothing left to measure: the timing ratios have no value
    assert code == 0, err
    assert "NaN" not in out and "Infinity" not in out
    summary = _strict(out)
    assert summary["measured"] == 0
    assert None in summary.values()  # a ratio with no value is null


def test_echo_json_turns_non_finite_floats_into_null(capsys) -> None:
    import numpy as np

    from nascost.cli.output import echo_json

    echo_json({"a": float("nan"), "b": [float("inf"), 1.5], "c": np.float64("nan"), "d": (np.float32(2.0),)})
    assert _strict(capsys.readouterr().out) == {"a": None, "b": [None, 1.5], "c": None, "d": [2.0]}
