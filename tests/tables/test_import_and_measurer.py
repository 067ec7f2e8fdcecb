"""Device tables as cost data: ``data import``, the ``table`` measurer, and bad tables (one line, exit 2)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from nb201_tables import DEVICES, write_csv

from nascost import plugins
from nascost.collect import run_campaign
from nascost.data import CostDatabase, database_info
from nascost.fit import load_data
from nascost.tables import read_accuracy_table, read_table


def test_import_makes_one_group_per_device_named_after_the_table(run_cli, tmp_path, device_table, cells) -> None:
    db = tmp_path / "nb.db"
    code, out, err = run_cli("data", "import", str(device_table), "--space", "nb201", "--db", str(db), "--json")
    assert code == 0, err
    report = json.loads(out)
    assert [d["device"] for d in report["devices"]] == list(DEVICES)
    assert all(d["added"] == len(cells) for d in report["devices"])
    with CostDatabase(db) as h:
        groups = h.groups()
        assert {g.device.name for g in groups} == set(DEVICES)
        assert all(g.measurer == "table" and g.setting.name == "cifar10" and g.batch_size == 1 for g in groups)
        assert h.group_info(groups[0])["measurer_options"] == {"path": str(device_table.resolve()), "device": "phone"}
    data = load_data(db, space="nb201", device="gpu")
    table = read_table(device_table, plugins.get_space("nb201"), columns=["gpu"])
    assert data.values.tolist() == pytest.approx(table.columns["gpu"].tolist())
    assert data.measurer_options["device"] == "gpu"
    # importing again adds nothing
    code, out, err = run_cli("data", "import", str(device_table), "--space", "nb201", "--db", str(db),
                             "--devices", "phone")
    assert code == 0 and "added 0 rows (300 already there)" in out
    assert database_info(db)["count"] == 3 * len(cells)


def test_the_table_measurer_finds_the_rows_an_import_wrote(tmp_path, full_tables, nb201) -> None:
    from nascost.data import import_table

    latency, _ = full_tables
    db = tmp_path / "nb.db"
    table = read_table(latency, nb201, columns=["phone"])
    import_table(table, db, space=nb201, setting=nb201.setting("cifar10"))
    measurer = plugins.get_measurer("table", {"path": str(latency), "device": "phone"})
    assert measurer.device_info() == table.device("phone")
    # a campaign on the same device finds every architecture already measured
    summary = run_campaign(db, space=nb201, measurer=measurer, setting="cifar10", n=20, seed=3, progress=False)
    assert summary.measured == 0 and summary.already_present == 20
    # into a new database it "measures" the table's values and records where they came from
    db2 = tmp_path / "new.db"
    summary = run_campaign(db2, space=nb201, measurer=measurer, setting="cifar10", n=20, seed=3, progress=False)
    assert summary.measured == 20
    data = load_data(db2, space="nb201", device="phone")
    values = table.values("phone")
    assert all(values[k] == pytest.approx(v) for k, v in zip(data.keys, data.values, strict=True))
    assert data.measurer_options == {"path": str(latency.resolve()), "device": "phone"}


def test_collect_with_the_table_measurer_and_a_missing_cell(run_cli, tmp_path, device_table, nb201, cells) -> None:
    db = tmp_path / "c.db"
    small = tmp_path / "few.csv"
    write_csv(small, ["arch", "dev"], [[nb201.format_arch(a), f"{i + 1}.5"] for i, a in enumerate(cells[:5])])
    opts = ["--measurer", "table", "--opt", f"path={small}", "--opt", "device=dev"]
    code, out, err = run_cli("collect", "--space", "nb201", "--n", "30", "--db", str(db), *opts, "--quiet")
    assert code == 2 and "is not in table 'few.csv'" in err and len(err.strip().splitlines()) == 1
    code, out, err = run_cli("measure", nb201.format_arch(cells[2]), "--space", "nb201", *opts, "--json")
    assert code == 0, err
    m = json.loads(out)
    assert m["median"] == 3.5 and m["device"]["runtime"] == "table" and m["n"] == 1


def test_help_latency_files_with_their_index(run_cli, tmp_path, nb201, cells) -> None:
    lat = torch.tensor([float(i) + 0.5 for i in range(len(cells))])
    torch.save(lat.tolist(), tmp_path / "pixel9.pt")
    torch.save({nb201.format_arch(a): i for i, a in enumerate(cells)}, tmp_path / "str_arch2idx.pt")
    db = tmp_path / "h.db"
    code, _out, err = run_cli("data", "import", str(tmp_path / "pixel9.pt"), "--space", "nb201", "--db", str(db),
                             "--index", str(tmp_path / "str_arch2idx.pt"))
    assert code == 0, err
    data = load_data(db, space="nb201", device="pixel9")
    by_key = dict(zip(data.keys, data.values, strict=True))
    assert by_key[cells[7].key()] == 7.5
    code, _out, err = run_cli("data", "import", str(tmp_path / "pixel9.pt"), "--space", "nb201", "--db",
                             str(tmp_path / "x.db"))
    assert code == 2 and "--index" in err and not (tmp_path / "x.db").exists()


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_a_pickle_that_runs_code_is_refused(run_cli, tmp_path, nb201, cells) -> None:
    import pickle

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    (tmp_path / "evil.pt").write_bytes(pickle.dumps(Evil()))
    torch.save({nb201.format_arch(a): i for i, a in enumerate(cells)}, tmp_path / "idx.pt")
    code, out, err = run_cli("data", "import", str(tmp_path / "evil.pt"), "--space", "nb201", "--db",
                             str(tmp_path / "e.db"), "--index", str(tmp_path / "idx.pt"))
    assert code == 2 and "safely" in err and "pwned" not in out + err


@pytest.mark.parametrize("rows, message", [
    ([["|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|", "1"]], "line 2: cell"),
    ([["ROW0", "abc"]], "'abc' is not a number"),
    ([["ROW0", "-1"]], "not a finite, non-negative cost"),
    ([["ROW0", "inf"]], "not a finite, non-negative cost"),
    ([["ROW0", "1"], ["ROW0", "2"]], "line 3: architecture .* is already on line 2"),
    ([["ROW0", "1", "2"]], "3 fields, the header has 2"),
])
def test_bad_tables_are_one_line_errors_and_write_nothing(run_cli, tmp_path, nb201, cells, rows, message) -> None:
    text = nb201.format_arch(cells[0])
    rows = [[text if c == "ROW0" else c for c in r] for r in rows]
    path = write_csv(tmp_path / "bad.csv", ["arch_str", "dev"], rows)
    db = tmp_path / "bad.db"
    code, _out, err = run_cli("data", "import", str(path), "--space", "nb201", "--db", str(db))
    assert code == 2 and len(err.strip().splitlines()) == 1
    import re

    assert re.search(message, err), err
    assert not db.exists()


def test_unknown_device_column_and_missing_space(run_cli, tmp_path, device_table) -> None:
    db = tmp_path / "u.db"
    code, _out, err = run_cli("data", "import", str(device_table), "--space", "nb201", "--db", str(db),
                             "--devices", "phon")
    assert code == 2 and "no device column 'phon'" in err and "did you mean 'phone'" in err and not db.exists()
    code, _out, err = run_cli("data", "import", str(device_table), "--db", str(db))
    assert code == 2 and "--space" in err


def test_a_failed_import_leaves_an_existing_database_as_it_was(tmp_path, device_table, nb201, cells) -> None:
    from nascost.data import import_table

    db = tmp_path / "keep.db"
    import_table(read_table(device_table, nb201, columns=["gpu"]), db, space=nb201, setting=nb201.setting("cifar10"))
    before = database_info(db)["count"]
    bad = write_csv(tmp_path / "b.csv", ["arch_str", "x"], [[nb201.format_arch(cells[0]), "1"], ["nope", "2"]])
    with pytest.raises(Exception, match="line 3"):
        import_table(read_table(bad, nb201), db, space=nb201, setting=nb201.setting("cifar10"))
    assert database_info(db)["count"] == before


def test_units_are_converted_to_milliseconds(tmp_path, nb201, cells) -> None:
    path = write_csv(tmp_path / "us.csv", ["cell", "d"], [[nb201.format_arch(a), "1500"] for a in cells[:3]])
    table = read_table(path, nb201, unit="us")
    assert table.unit == "ms" and table.columns["d"].tolist() == [1.5, 1.5, 1.5]
    energy = read_table(path, nb201, unit="mJ")
    assert energy.unit == "mJ" and energy.columns["d"][0] == 1500


def test_accuracy_tables_pick_a_column(accuracy_table, nb201, cells) -> None:
    first = read_accuracy_table(accuracy_table, nb201)
    assert first.column == "cifar10_test" and len(first.values) == len(cells)
    c100 = read_accuracy_table(f"{accuracy_table}:cifar100_test", nb201)
    key = cells[0].key()
    assert c100.values[key] == pytest.approx(first.values[key] - 20)
    assert first.names[key] == nb201.format_arch(cells[0])
    with pytest.raises(Exception, match="no accuracy column 'top1'"):
        read_accuracy_table(f"{accuracy_table}:top1", nb201)


def test_imported_table_rows_export_and_import_back(run_cli, tmp_path, device_table) -> None:
    db = tmp_path / "a.db"
    assert run_cli("data", "import", str(device_table), "--space", "nb201", "--db", str(db), "--devices", "gpu")[0] == 0
    out_csv = tmp_path / "rows.csv"
    assert run_cli("data", "export", str(db), "-o", str(out_csv))[0] == 0
    db2 = tmp_path / "b.db"
    code, out, err = run_cli("data", "import", str(out_csv), "--db", str(db2))
    assert code == 0 and "added 300 rows" in out, err
    assert Path(db2).exists()
