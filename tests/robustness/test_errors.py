"""Probes: bad values, crafted files and failing file systems give one line and exit 2 (items 4, 8, 11, 12)."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import pytest

from .conftest import TINY, one_line_error, snapshot, temp_files


def _corrupt(db: Path, where: str) -> None:
    """Overwrite pages with garbage: every page after the first, or only the file's last third."""
    data = bytearray(db.read_bytes())
    page = int.from_bytes(data[16:18], "big") or 65536
    start = page if where == "after-header" else len(data) * 2 // 3
    for i in range(start, len(data)):
        data[i] = (i * 7 + 13) % 256
    db.write_bytes(bytes(data))


@pytest.mark.parametrize("command", [
    ["data", "info", "{db}"],
    ["data", "export", "{db}", "-o", "{tmp}/out.csv"],
    ["fit", "--db", "{db}", "--predictor", "ridge", "-o", "{tmp}/p.nascost"],
    ["compare", "--db", "{db}", "--predictors", "ridge"],
    ["collect", *TINY, "--n", "3", "--db", "{db}", "--quiet"],
])
@pytest.mark.parametrize("where", ["after-header", "last-third"])
def test_corrupt_pages_are_one_line_naming_the_database(cost_db: Path, run_cli, tmp_path: Path, command,
                                                        where: str) -> None:
    _corrupt(cost_db, where)
    before = snapshot(cost_db)
    args = [a.format(db=cost_db, tmp=tmp_path) for a in command]
    code, _, err = run_cli(*args)
    one_line_error(code, err, str(cost_db))
    assert "internal error" not in err and snapshot(cost_db) == before
    assert not (tmp_path / "out.csv").exists() and not (tmp_path / "p.nascost").exists()


@pytest.mark.parametrize(("content", "needle"), [
    (b"", "is empty (0 bytes)"),
    (b"just some text, not a database at all" * 100, "not a nascost cost database"),
])
def test_an_empty_or_foreign_file_is_named_as_such(toy, run_cli, tmp_path: Path, content: bytes, needle: str) -> None:
    db = tmp_path / "x.db"
    db.write_bytes(content)
    code, _, err = run_cli("data", "info", str(db))
    one_line_error(code, err, needle)
    assert db.read_bytes() == content


def test_an_sqlite_file_of_another_program_is_refused(toy, run_cli, tmp_path: Path) -> None:
    db = tmp_path / "other.db"
    with sqlite3.connect(db) as c:
        c.execute("CREATE TABLE t (x)")
    before = snapshot(db)
    code, _, err = run_cli("collect", *TINY, "--n", "2", "--db", str(db), "--quiet")
    one_line_error(code, err, "not a nascost cost database")
    assert snapshot(db) == before


def test_a_binary_config_file_names_the_file(toy, run_cli, tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_bytes(bytes(range(256)) * 4)
    code, _, err = run_cli("collect", "--config", str(cfg), *TINY, "--n", "2", "--db", str(tmp_path / "x.db"))
    one_line_error(code, err, str(cfg), "not a text file")
    assert not (tmp_path / "x.db").exists()


def test_a_config_key_typo_gets_a_suggestion(toy, run_cli, tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text("refrence_every = 3\n")
    code, _, err = run_cli("collect", "--config", str(cfg), *TINY, "--n", "2", "--db", str(tmp_path / "x.db"))
    one_line_error(code, err, "did you mean 'reference_every'")


@pytest.mark.parametrize("kind", ["deep-list", "deep-object", "huge-number"])
def test_crafted_genotype_json_is_one_line(toy, run_cli, tmp_path: Path, kind: str) -> None:
    g = tmp_path / "g.json"
    if kind == "deep-list":
        g.write_text('{"ops": ' + "[" * 200_000 + "]" * 200_000 + "}")
    elif kind == "deep-object":
        g.write_text('{"ops": ' + '{"a": ' * 200_000 + "1" + "}" * 200_000 + "}")
    else:
        g.write_text('{"ops": [' + "9" * 5000 + "]}")
    code, _, err = run_cli("arch", "info", str(g), "--space", "toy", "--setting", "tiny")
    one_line_error(code, err, str(g))


@pytest.mark.parametrize("command", [
    ["collect", *TINY, "--n", "2", "--db", "{tmp}/x.db"],
    ["arch", "sample", "--space", "toy"],
    ["fit", "--db", "{tmp}/x.db", "--predictor", "ridge"],
    ["compare", "--db", "{tmp}/x.db"],
    ["search", "--out", "{tmp}/run"],
    ["train", "all-conv", "--space", "toy", "--out", "{tmp}/run"],
])
def test_a_negative_seed_is_a_usage_error(toy, run_cli, tmp_path: Path, command) -> None:
    code, _, err = run_cli(*[a.format(tmp=tmp_path) for a in command], "--seed", "-1")
    one_line_error(code, err, "--seed")
    assert not (tmp_path / "x.db").exists() and not (tmp_path / "run").exists()


@pytest.mark.parametrize("opt", ["hidden=[-1]", "hidden=[0]", "hidden=[8,0]"])
def test_lpm_hidden_widths_must_be_positive(cost_db: Path, run_cli, tmp_path: Path, opt: str) -> None:
    code, _, err = run_cli("fit", "--db", str(cost_db), "--predictor", "lpm", "--opt", opt, "-o", str(tmp_path / "p"))
    one_line_error(code, err, "hidden")
    assert not (tmp_path / "p").exists()


@pytest.mark.parametrize("opt", ["=5", " =5"])
def test_an_option_without_a_key_says_so(cost_db: Path, run_cli, opt: str) -> None:
    code, _, err = run_cli("fit", "--db", str(cost_db), "--predictor", "lpm", "--opt", opt)
    one_line_error(code, err, "KEY=VALUE")


def test_a_predictor_file_with_a_bad_lambda_names_it(toy, run_cli, tmp_path: Path) -> None:
    code, _, err = run_cli("search", "--cost", str(tmp_path / "p.nascost") + ":abc", "--out", str(tmp_path / "run"))
    one_line_error(code, err, "'abc' is not a lambda")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "0"])
def test_drift_threshold_must_be_finite_and_positive(toy, run_cli, tmp_path: Path, value: str) -> None:
    code, _, err = run_cli("collect", *TINY, "--n", "2", "--db", str(tmp_path / "x.db"), "--drift-threshold", value)
    one_line_error(code, err, "--drift-threshold")
    assert not (tmp_path / "x.db").exists()


@pytest.mark.parametrize("n", ["1000001", "99999999999999999999"])
def test_collect_n_has_an_upper_bound(toy, run_cli, tmp_path: Path, n: str) -> None:
    code, _, err = run_cli("collect", *TINY, "--n", n, "--db", str(tmp_path / "x.db"), "--quiet")
    one_line_error(code, err, "at most 1,000,000")
    assert not (tmp_path / "x.db").exists()


def test_sampling_more_than_the_space_stops_at_the_space() -> None:
    from nascost import plugins
    from nascost.collect import sample_architectures

    space = plugins.get_space("nb201")
    archs = sample_architectures(space, 10**6, seed=0)  # not 20 million draws for 15,625 cells
    assert len(archs) == len({a.key() for a in archs}) == space.num_architectures()


@pytest.mark.parametrize("lambdas", ["0,nan", "0,inf", "0,1e400", "0,-1", "0,x"])
def test_sweep_lambdas_are_checked_before_any_search(toy, run_cli, tmp_path: Path, lambdas: str) -> None:
    out = tmp_path / "sweep"
    code, _, err = run_cli("sweep", "--cost", "flops", "--lambdas", lambdas, "--out", str(out))
    one_line_error(code, err, "--lambdas")
    assert not out.exists()


def test_collect_rejected_input_size_leaves_no_database(run_cli, tmp_path: Path) -> None:
    db = tmp_path / "x.db"
    code, _, err = run_cli("collect", "--space", "darts", "--measurer", "flops", "--n", "2", "--db", str(db),
                           "--input-size", "1", "--quiet")
    one_line_error(code, err, "input size 1")
    assert not list(tmp_path.iterdir())


def test_interrupt_says_how_to_resume(toy, run_cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import nascost.collect

    def interrupted(*_a, **_k):
        raise KeyboardInterrupt

    monkeypatch.setattr(nascost.collect, "run_campaign", interrupted)
    code, _, err = run_cli("collect", *TINY, "--n", "2", "--db", str(tmp_path / "x.db"), "--quiet")
    assert code == 130 and "rerun the same command to continue" in err


@pytest.mark.parametrize("exc", [
    PermissionError(13, "Permission denied", "/some/where/x.db"),
    OSError(28, "No space left on device", "/some/where/x.db"),
    sqlite3.DatabaseError("database disk image is malformed"),
    UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte"),
])
def test_the_last_resort_maps_environment_errors_to_exit_2(cost_db: Path, run_cli, monkeypatch, exc) -> None:
    import nascost.data

    def failing(*_a, **_k):
        raise exc

    monkeypatch.setattr(nascost.data, "database_info", failing)
    code, _, err = run_cli("data", "info", str(cost_db))
    one_line_error(code, err)
    assert "internal error" not in err
    if isinstance(exc, OSError):
        assert "/some/where/x.db" in err


def test_a_real_bug_is_still_an_internal_error(cost_db: Path, run_cli, monkeypatch) -> None:
    import nascost.data

    def buggy(*_a, **_k):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(nascost.data, "database_info", buggy)
    code, _, err = run_cli("data", "info", str(cost_db))
    assert code == 1 and "internal error" in err and "this is a bug" in err


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes into read-only directories")
def test_a_read_only_directory_is_one_line(cost_db: Path, run_cli, tmp_path: Path) -> None:
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        code, _, err = run_cli("data", "export", str(cost_db), "-o", str(ro / "x.csv"))
        one_line_error(code, err, "Permission denied", "x.csv")
        code, _, err = run_cli("fit", "--db", str(cost_db), "--predictor", "ridge", "-o", str(ro / "p.nascost"))
        one_line_error(code, err, "Permission denied")
    finally:
        ro.chmod(0o700)
    assert not list(ro.iterdir())


def test_a_file_in_the_way_of_a_directory_is_one_line(cost_db: Path, run_cli, tmp_path: Path) -> None:
    """The read-only probe that works as root too: the output's parent is a regular file."""
    blocker = tmp_path / "blocker"
    blocker.write_text("x")
    code, _, err = run_cli("fit", "--db", str(cost_db), "--predictor", "ridge", "-o", str(blocker / "p.nascost"))
    one_line_error(code, err, "blocker")
    assert not temp_files(tmp_path)


def test_cost_setting_with_a_predictor_file_is_checked(cost_db: Path, run_cli, tmp_path: Path) -> None:
    pred = tmp_path / "p.nascost"
    assert run_cli("fit", "--db", str(cost_db), "--predictor", "ridge", "-o", str(pred))[0] == 0
    code, _, err = run_cli("search", "--space", "toy", "--cost", str(pred), "--cost-setting", "bogus",
                           "--out", str(tmp_path / "run"), "--quiet")
    one_line_error(code, err, "bogus")
    assert json.loads(json.dumps({"ok": True}))["ok"]


@pytest.mark.parametrize(("content", "needle"), [
    (b"hello\n", "not a torch archive"),
    (bytes(range(256)) * 10, "not a torch archive"),
    (b"PK\x03\x04" + b"\x00" * 100, "truncated, corrupt"),
])
def test_a_non_predictor_file_is_one_short_line(toy, run_cli, tmp_path: Path, content: bytes, needle: str) -> None:
    p = tmp_path / "p.nascost"
    p.write_bytes(content)
    code, _, err = run_cli("predict", "--cost", str(p), "--space", "toy", "all-conv")
    one_line_error(code, err, needle, str(p))
    assert len(err) < 300 and "PyTorch" not in err


def test_a_pickle_with_code_is_refused(toy, run_cli, tmp_path: Path) -> None:
    import pickle

    import torch

    class Evil:
        def __reduce__(self):
            return (os.system, ("touch " + str(tmp_path / "pwned"),))

    p = tmp_path / "evil.nascost"
    torch.save({"format": Evil()}, p, pickle_protocol=pickle.DEFAULT_PROTOCOL)
    code, _, err = run_cli("predict", "--cost", str(p), "--space", "toy", "all-conv")
    one_line_error(code, err, "refused")
    assert not (tmp_path / "pwned").exists()


def test_damaged_cost_store_entries_are_one_warning_line_each(toy, run_cli, tmp_path: Path) -> None:
    store = Path(os.environ["NASCOST_HOME"]) / "costs" / "broken"
    store.mkdir(parents=True)
    for name in ("a", "b", "c"):
        (store / f"{name}.nascost").write_text("junk")
    code, _, err = run_cli("costs", "list", "--json")
    assert code == 0
    lines = err.strip().splitlines()
    assert len(lines) == 3 and all(line.startswith("nascost: warning: cost store: skipping") for line in lines), err
