"""Probes: an output path that is an input, and writes that must be whole or not at all (item 1, 10)."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest

from nascost.errors import NascostError
from nascost.files import atomic_write, check_output, torch_save, write_text

from .conftest import TINY, one_line_error, snapshot, temp_files


def _links(src: Path, kind: str) -> Path:
    """``src`` itself, a symlink to it, or a hard link to it."""
    if kind == "same":
        return src
    dst = src.parent / f"alias-{kind}{src.suffix}"
    if kind == "symlink":
        dst.symlink_to(src)
    else:
        os.link(src, dst)
    return dst


@pytest.mark.parametrize("kind", ["same", "symlink", "hardlink"])
def test_fit_output_over_its_database_is_refused(cost_db: Path, run_cli, kind: str) -> None:
    before = snapshot(cost_db)
    out = _links(cost_db, kind)
    code, _, err = run_cli("fit", "--db", str(cost_db), "--predictor", "ridge", "-o", str(out), "--json")
    one_line_error(code, err, "would destroy the input", str(out))
    assert snapshot(cost_db) == before and not temp_files(cost_db.parent)


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
@pytest.mark.parametrize("kind", ["same", "symlink", "hardlink"])
def test_export_over_its_database_is_refused(cost_db: Path, run_cli, fmt: str, kind: str) -> None:
    before = snapshot(cost_db)
    out = _links(cost_db, kind)
    code, _, err = run_cli("data", "export", str(cost_db), "--format", fmt, "-o", str(out))
    one_line_error(code, err, "would destroy the input")
    assert snapshot(cost_db) == before and not temp_files(cost_db.parent)


def test_import_into_its_own_source_is_refused(cost_db: Path, run_cli, tmp_path: Path) -> None:
    csv = tmp_path / "rows.csv"
    assert run_cli("data", "export", str(cost_db), "-o", str(csv))[0] == 0
    before = snapshot(csv)
    code, _, err = run_cli("data", "import", str(csv), "--db", str(csv))
    one_line_error(code, err, "would destroy the input")
    assert snapshot(csv) == before


@pytest.mark.parametrize("victim", ["genotype.json", "costs.db"])
def test_report_over_a_non_html_file_is_refused(cost_db: Path, run_cli, tmp_path: Path, victim: str) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "genotype.json").write_text(json.dumps({"space": "toy", "ops": ["conv3"] * 4}))
    target = run / victim if victim == "genotype.json" else cost_db
    before = snapshot(target)
    code, _, err = run_cli("report", str(run), "-o", str(target))
    one_line_error(code, err, "not an HTML report")
    assert snapshot(target) == before


def test_draw_over_its_genotype_file_is_refused(run_cli, tmp_path: Path) -> None:
    g = tmp_path / "cell.json"
    g.write_text(json.dumps({"space": "nb201", "arch": "|nor_conv_3x3~0|+|skip_connect~0|none~1|+|none~0|none~1|none~2|"}))
    before = snapshot(g)
    code, _, err = run_cli("arch", "draw", str(g), "--space", "nb201", "-o", str(g))
    one_line_error(code, err, "would destroy the input")
    assert snapshot(g) == before


def test_check_output_allows_a_different_file(tmp_path: Path) -> None:
    (tmp_path / "a").write_text("a")
    check_output(tmp_path / "b", [tmp_path / "a", None])
    (tmp_path / "b").write_text("b")
    check_output(tmp_path / "b", [tmp_path / "a"])  # an existing unrelated file is the caller's choice


def test_a_failed_write_leaves_the_old_file_and_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "x.json"
    target.write_text("old")
    with pytest.raises(KeyboardInterrupt), atomic_write(target) as fh:
        fh.write("half")
        raise KeyboardInterrupt
    assert target.read_text() == "old" and not temp_files(tmp_path)


def test_a_full_disk_names_the_file_and_the_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "predictor.nascost"
    target.write_bytes(b"old")

    def full(_fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(NascostError, match=r"cannot write .*predictor.nascost.*No space left.*free some disk space"):
        torch_save({"a": 1}, target)
    assert target.read_bytes() == b"old" and not temp_files(tmp_path)


def test_an_unwritable_directory_names_the_file(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("a regular file, so nothing can be created below it (works as root too)")
    with pytest.raises(NascostError, match=r"cannot write .*file/x.json"):
        write_text(blocker / "x.json", "{}")


def test_stale_temps_of_a_killed_write_go_with_the_next_write(tmp_path: Path) -> None:
    target = tmp_path / "checkpoint.pt"
    stale = tmp_path / ".checkpoint.pt.abc123.tmp"
    old = tmp_path / ".summary.json.def456.tmp"
    stale.write_bytes(b"half a checkpoint")
    old.write_bytes(b"half a summary")
    os.utime(old, (1, 1))  # a day-old leftover
    torch_save({"epoch": 1}, target, sole_writer=True)  # a run directory's only writer
    write_text(tmp_path / "summary.json", "{}")  # anyone: only old leftovers
    assert not stale.exists() and not old.exists()
    fresh = tmp_path / ".shared.json.aaa.tmp"
    fresh.write_text("another process's write in flight")
    write_text(tmp_path / "shared.json", "{}")
    assert fresh.exists()


def test_export_into_a_path_below_a_file_exits_2(cost_db: Path, run_cli, tmp_path: Path) -> None:
    blocker = tmp_path / "plain"
    blocker.write_text("x")
    code, _, err = run_cli("data", "export", str(cost_db), "-o", str(blocker / "out.csv"))
    one_line_error(code, err, "plain/out.csv")


def test_collect_template_is_the_toy_space(cost_db: Path, run_cli) -> None:
    code, out, err = run_cli("data", "info", str(cost_db), "--json")
    assert code == 0, err
    assert json.loads(out)["count"] == 16 and TINY[1] == "toy"


def test_atomic_write_keeps_the_callers_own_file_errors(tmp_path):
    """An OSError about another file raised inside the block is not relabelled 'cannot write TARGET'."""
    import pytest

    from nascost.files import atomic_write

    target = tmp_path / "out.txt"
    with pytest.raises(FileNotFoundError) as info, atomic_write(target) as fh:
        fh.write("x")
        (tmp_path / "missing.txt").read_text()
    assert info.value.filename == str(tmp_path / "missing.txt")
    assert not target.exists() and not list(tmp_path.glob(".out.txt.*.tmp"))
