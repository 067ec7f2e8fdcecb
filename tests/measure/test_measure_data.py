"""The cost database API: groups, queries, refusals, exports."""

from __future__ import annotations

import csv
import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from nascost.data import CostDatabase, database_info, export_database, import_csv
from nascost.errors import NascostError
from nascost.records import DeviceInfo, Measurement

from .fakes import ToySpace

SPACE = ToySpace()
DEV_A = DeviceInfo(runtime="cpu", cpu_model="A", cpu_cores=2, threads=1)
DEV_B = DeviceInfo(runtime="cpu", cpu_model="B", cpu_cores=8, threads=4)


def _m(value: float, device: DeviceInfo = DEV_A, batch: int = 1, noisy: bool = False) -> Measurement:
    return Measurement.from_samples([value * 0.99, value, value * 1.01], unit="ms", device=device,
                                    batch_size=batch, noisy=noisy)


def _fill(db: CostDatabase, n: int, setting: str = "tiny", device: DeviceInfo = DEV_A, batch: int = 1,
          seed: int = 0) -> list:
    archs = list({a.key(): a for a in SPACE.sample_many(n, seed)}.values())
    st = SPACE.setting(setting)
    for i, a in enumerate(archs):
        db.add(a, SPACE.encode([a])[0].tolist(), _m(1.0 + i, device, batch), measurer="cpu-timer", setting=st)
    return archs


def test_round_trip_of_one_group(tmp_path: Path) -> None:
    with CostDatabase(tmp_path / "c.db", create=True) as db:
        archs = _fill(db, 10)
    with CostDatabase(tmp_path / "c.db") as db:
        data = db.query(space="toy")
        assert data.archs == archs
        assert data.keys == [a.key() for a in archs]
        np.testing.assert_allclose(data.values, 1.0 + np.arange(len(archs)))
        np.testing.assert_array_equal(data.encodings, SPACE.encode(archs).numpy())
        assert data.unit == "ms" and data.measurer == "cpu-timer" and data.batch_size == 1
        assert data.setting == SPACE.setting("tiny") and data.device == DEV_A
        (g,) = db.groups()
        assert g.count == len(archs) and g.flagged == 0 and g.space == "toy"


def test_wal_mode_and_schema_version(tmp_path: Path) -> None:
    CostDatabase(tmp_path / "c.db", create=True).close()
    conn = sqlite3.connect(tmp_path / "c.db")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0] == "1"
    conn.execute("UPDATE meta SET value='99' WHERE key='schema_version'")
    conn.commit()
    conn.close()
    with pytest.raises(NascostError, match="schema version 99"):
        CostDatabase(tmp_path / "c.db")


def test_same_architecture_twice_in_a_group_is_refused(tmp_path: Path) -> None:
    with CostDatabase(tmp_path / "c.db", create=True) as db:
        a = SPACE.sample(0)
        db.add(a, [0.0], _m(1.0), measurer="cpu-timer", setting=SPACE.setting("tiny"))
        with pytest.raises(NascostError, match="already in the database"):
            db.add(a, [0.0], _m(2.0), measurer="cpu-timer", setting=SPACE.setting("tiny"))
        # ... but the same architecture on another device, setting or batch is another row
        db.add(a, [0.0], _m(3.0, DEV_B), measurer="cpu-timer", setting=SPACE.setting("tiny"))
        db.add(a, [0.0], _m(4.0), measurer="cpu-timer", setting=SPACE.setting("small"))
        db.add(a, [0.0], _m(5.0, batch=8), measurer="cpu-timer", setting=SPACE.setting("tiny"))
        assert len(db.groups()) == 4 and db.count() == 4


def test_query_selects_and_reports_ambiguity(tmp_path: Path) -> None:
    with CostDatabase(tmp_path / "c.db", create=True) as db:
        _fill(db, 5, "tiny", DEV_A)
        _fill(db, 4, "tiny", DEV_B, seed=1)
        _fill(db, 3, "small", DEV_A, seed=2)
        with pytest.raises(NascostError, match=r"3 groups .* --measurer/--setting/--device/--batch-size"):
            db.query(space="toy")
        assert len(db.query(space="toy", setting="small")) == 3
        assert len(db.query(space="toy", setting=SPACE.setting("small").key())) == 3
        assert len(db.query(space="toy", setting="tiny", device=DEV_B.fingerprint[:5])) == 4
        with pytest.raises(NascostError, match="2 groups"):
            db.query(space="toy", setting="tiny")
        with pytest.raises(NascostError, match="no rows"):
            db.query(space="toy", measurer="cuda-timer")
        with pytest.raises(NascostError, match="holds architectures of space 'toy', not 'darts'"):
            db.query(space="darts")


def test_drift_flagged_rows_are_left_out_unless_asked(tmp_path: Path) -> None:
    with CostDatabase(tmp_path / "c.db", create=True) as db:
        archs = _fill(db, 6)
        (g,) = db.groups()
        assert db.flag_drift(g, [archs[0].key(), archs[2].key()]) == 2
        assert db.groups()[0].flagged == 2
        assert len(db.query(space="toy")) == len(archs) - 2
        assert len(db.query(space="toy", include_flagged=True)) == len(archs)


def test_noisy_rows_and_campaigns_can_be_selected(tmp_path: Path) -> None:
    st = SPACE.setting("tiny")
    archs = list({a.key(): a for a in SPACE.sample_many(8, 3)}.values())
    with CostDatabase(tmp_path / "c.db", create=True) as db:
        for i, a in enumerate(archs):
            db.add(a, SPACE.encode([a])[0].tolist(), _m(1.0 + i, noisy=i % 3 == 0), measurer="cpu-timer",
                   setting=st, campaign="first" if i < 5 else "second")
        assert len(db.query(space="toy")) == len(archs)  # noisy rows are kept by default
        clean = db.query(space="toy", exclude_noisy=True)
        assert clean.keys == [a.key() for i, a in enumerate(archs) if i % 3]
        second = db.query(space="toy", campaign="second")
        np.testing.assert_allclose(second.values, 1.0 + np.arange(5, len(archs)))
        both = db.query(space="toy", campaign="first", exclude_noisy=True)
        assert both.keys == [archs[i].key() for i in (1, 2, 4)]
        with pytest.raises(NascostError, match=r"no rows of campaign 'third'.*campaigns: first, second"):
            db.query(space="toy", campaign="third")
    (g,) = database_info(tmp_path / "c.db")["groups"]
    assert [(c["id"], c["count"], c["noisy"]) for c in g["campaigns"]] == [("first", 5, 2), ("second", 3, 1)]
    assert [c["runs"] for c in g["campaigns"]] == [{"min": 3, "max": 3}] * 2  # three samples per row


def test_one_space_per_database(tmp_path: Path) -> None:
    with CostDatabase(tmp_path / "c.db", create=True) as db:
        _fill(db, 2)
        other = SPACE.sample(5).model_copy(update={"space": "darts"})
        with pytest.raises(NascostError, match="'toy', not 'darts'"):
            db.add(other, [0.0], _m(1.0), measurer="cpu-timer", setting=SPACE.setting("tiny"))
        assert db.count() == 2


@pytest.mark.parametrize("content", [b"hello, this is not sqlite" * 40, b"SQLite format 3\x00" + b"\xff" * 200])
def test_corrupt_or_foreign_file_is_refused_untouched(tmp_path: Path, content: bytes) -> None:
    bad = tmp_path / "bad.db"
    bad.write_bytes(content)
    with pytest.raises(NascostError, match="not a nascost cost database"):
        CostDatabase(bad)
    with pytest.raises(NascostError, match="not a nascost cost database"):
        CostDatabase(bad, create=True)
    assert bad.read_bytes() == content


def test_other_sqlite_database_is_refused(tmp_path: Path) -> None:
    other = tmp_path / "other.db"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE t (x)")
    conn.commit()
    conn.close()
    with pytest.raises(NascostError, match="no meta table"):
        CostDatabase(other, create=True)


def test_missing_file_without_create(tmp_path: Path) -> None:
    with pytest.raises(NascostError, match="does not exist"):
        CostDatabase(tmp_path / "nope.db")
    assert not (tmp_path / "nope.db").exists()


def test_info_and_exports(tmp_path: Path) -> None:
    with CostDatabase(tmp_path / "c.db", create=True) as db:
        archs = _fill(db, 8)
        a = SPACE.sample(99)
        db.add(a, [0.0], _m(100.0, noisy=True), measurer="cpu-timer", setting=SPACE.setting("tiny"))
    info = database_info(tmp_path / "c.db")
    assert info["count"] == len(archs) + 1 and info["space"] == "toy"
    (g,) = info["groups"]
    assert g["distribution"]["max"] == 100.0 and g["distribution"]["min"] == 1.0
    assert g["noise"]["share_noisy"] == pytest.approx(1 / (len(archs) + 1))
    assert g["noise"]["median_cv"] == pytest.approx(0.01, rel=1e-6)
    assert info["devices"][0]["fingerprint"] == DEV_A.fingerprint

    n = export_database(tmp_path / "c.db", tmp_path / "out.csv", fmt="csv")
    with (tmp_path / "out.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert n == len(rows) == len(archs) + 1
    assert json.loads(rows[0]["arch"]) == archs[0].spec
    assert float(rows[0]["median"]) == 1.0 and len(json.loads(rows[0]["samples"])) == 3

    pq = pytest.importorskip("pyarrow.parquet")
    export_database(tmp_path / "c.db", tmp_path / "out.parquet", fmt="parquet", samples=False)
    table = pq.read_table(tmp_path / "out.parquet")
    assert table.num_rows == n and "samples" not in table.column_names
    assert json.loads(table.schema.metadata[b"nascost.devices"])[0]["cpu_model"] == "A"


def test_csv_export_import_round_trip_keeps_groups_and_values(tmp_path: Path) -> None:
    with CostDatabase(tmp_path / "c.db", create=True) as db:
        _fill(db, 6, "tiny", DEV_A)
        _fill(db, 4, "small", DEV_B, batch=8, seed=1)
        (g,) = [g for g in db.groups() if g.device == DEV_A]
        db.flag_drift(g, db.query(space="toy", setting="tiny").keys[:2])
    for name in ("out.csv", "out.csv.gz"):
        assert export_database(tmp_path / "c.db", tmp_path / name, samples=(name == "out.csv")) == 10
        added, skipped = import_csv(tmp_path / name, tmp_path / f"{name}.db")
        assert (added, skipped) == (10, 0)
        with CostDatabase(tmp_path / "c.db") as a, CostDatabase(tmp_path / f"{name}.db") as b:
            assert [(g.setting, g.device, g.batch_size, g.count, g.flagged) for g in a.groups()] == [
                (g.setting, g.device, g.batch_size, g.count, g.flagged) for g in b.groups()
            ]
            for setting in ("tiny", "small"):
                x, y = a.query(space="toy", setting=setting), b.query(space="toy", setting=setting)
                assert x.keys == y.keys and np.array_equal(x.values, y.values)
                np.testing.assert_array_equal(x.encodings, y.encodings)
    assert import_csv(tmp_path / "out.csv", tmp_path / "out.csv.db") == (0, 10)  # nothing twice


def test_import_of_a_malformed_file_writes_nothing(tmp_path: Path) -> None:
    (tmp_path / "bad.csv").write_text("a,b\n1,2\n")
    with pytest.raises(NascostError, match="not a nascost export"):
        import_csv(tmp_path / "bad.csv", tmp_path / "new.db")
    with CostDatabase(tmp_path / "c.db", create=True) as db:
        _fill(db, 3)
    export_database(tmp_path / "c.db", tmp_path / "ok.csv")
    lines = (tmp_path / "ok.csv").read_text().splitlines()
    (tmp_path / "broken.csv").write_text("\n".join([*lines, lines[-1].replace("toy", "toy", 1).replace(",1,", ",x,")]))
    with pytest.raises(NascostError, match="line 5"):
        import_csv(tmp_path / "broken.csv", tmp_path / "new.db")
    assert not (tmp_path / "new.db").exists()
