"""Probes: one row validation for measurer results and imports (item 3)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from measure.fakes import CostModelMeasurer

from nascost.data import CostDatabase
from nascost.hookspecs import hookimpl
from nascost.records import Measurement

from .conftest import TINY, one_line_error, snapshot


def _export(cost_db: Path, run_cli, tmp_path: Path) -> tuple[Path, list[dict[str, str]], list[str]]:
    out = tmp_path / "rows.csv"
    code, _, err = run_cli("data", "export", str(cost_db), "-o", str(out))
    assert code == 0, err
    with out.open(newline="") as f:
        reader = csv.DictReader(f)
        return out, list(reader), list(reader.fieldnames or [])


def _write(path: Path, rows: list[dict[str, str]], fields: list[str]) -> None:
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        w.writerows(rows)


def _bad_op(r: dict[str, str]) -> None:
    r["arch"] = json.dumps({"ops": ["warp-drive", "conv3", "conv3", "conv3"]})


BAD_ROWS = {
    "unknown operation": (_bad_op, "a toy architecture is"),
    "encoding too short": (lambda r: r.update(encoding="[1,0,0]"), "encoding has 3 values"),
    "encoding not numbers": (lambda r: r.update(encoding='["abc"]'), "not a list of numbers"),
    "encoding not JSON": (lambda r: r.update(encoding="abc"), "not a JSON list of numbers"),
    "NaN median": (lambda r: r.update(median="nan"), "median nan"),
    "infinite median": (lambda r: r.update(median="inf"), "median inf"),
    "negative median": (lambda r: r.update(median="-3"), "median -3"),
    "NaN sample": (lambda r: r.update(samples="[NaN]"), "sample"),
}


@pytest.mark.parametrize("case", list(BAD_ROWS))
@pytest.mark.parametrize("into", ["new", "existing"])
def test_import_rejects_a_bad_row_and_writes_nothing(cost_db: Path, run_cli, tmp_path: Path, case: str,
                                                     into: str) -> None:
    src, rows, fields = _export(cost_db, run_cli, tmp_path)
    edit, needle = BAD_ROWS[case]
    edit(rows[5])
    _write(src, rows, fields)
    db = tmp_path / "new.db" if into == "new" else cost_db
    before = snapshot(db)
    if into == "existing":
        with CostDatabase(cost_db) as handle:
            handle._conn.execute("DELETE FROM measurements WHERE arch_key=?", (rows[0]["arch_key"],))
        before = snapshot(db)
    code, out, err = run_cli("data", "import", str(src), "--db", str(db))
    one_line_error(code, err, "line 7", needle)
    assert "already there" not in out
    assert snapshot(db) == before  # a new file is not left behind; an existing one is unchanged


def test_a_measurer_returning_nan_stores_nothing(toy, register_plugin, run_cli, tmp_path: Path) -> None:
    class NaNMeasurer(CostModelMeasurer):
        name = "nan-timer"

        def measure(self, model, example_input) -> Measurement:
            return super().measure(model, example_input).model_copy(update={"median": float("nan")})

    class Plugin:
        @staticmethod
        @hookimpl
        def register_cost_measurers(register):
            register(NaNMeasurer)

    register_plugin(Plugin, "nan-measurer")
    db = tmp_path / "x.db"
    code, _, err = run_cli("collect", "--space", "toy", "--measurer", "nan-timer", "--setting", "tiny",
                           "--n", "3", "--db", str(db), "--quiet", "--reference-every", "0")
    one_line_error(code, err, "measurer 'nan-timer'", "not a cost")
    assert not db.exists()


def test_a_good_import_still_works(cost_db: Path, run_cli, tmp_path: Path) -> None:
    src, _, _ = _export(cost_db, run_cli, tmp_path)
    code, out, err = run_cli("data", "import", str(src), "--db", str(tmp_path / "copy.db"))
    assert code == 0 and "added 16 rows" in out, err
    code, out, err = run_cli("data", "import", str(src), "--db", str(tmp_path / "copy.db"))
    assert code == 0 and "added 0 rows" in out and "16 already there" in out, err
    assert TINY[0] == "--space"
