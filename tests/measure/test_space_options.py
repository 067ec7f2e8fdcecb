"""``--space-opt``: space options that change the encoding travel with rows and predictors.

A database group records the options its rows were collected with, a predictor
file the options it was fitted with; every command that meets another encoding
of the same space refuses it in one line naming the ``--space-opt`` flags.
"""

from __future__ import annotations

import csv
import gzip
import json
from pathlib import Path

from nascost.data import CostDatabase
from nascost.predict import read_metadata

SMALL = ["--space", "darts", "--measurer", "flops", "--channels", "4", "--layers", "3", "--input-size", "8"]
PAPER = ["--space-opt", "cells=normal"]


def _collect(run_cli, db: Path, *extra: str, n: int = 8) -> tuple[int, str, str]:
    return run_cli("collect", *SMALL, *extra, "--n", str(n), "--db", str(db), "--quiet")


def test_a_group_records_its_encoding_and_refuses_another(run_cli, tmp_path: Path) -> None:
    db = tmp_path / "paper.db"
    code, _, err = _collect(run_cli, db, *PAPER)
    assert code == 0, err
    with CostDatabase(db) as handle:
        data = handle.query(space="darts")
    assert data.space_options == {"cells": "normal", "sample_reduce": None}
    assert data.encodings.shape == (8, 112)
    assert len({json.dumps(a.spec["reduce"]) for a in data.archs}) == 1  # the paper's fixed reduction cell
    # the default (both cells) is another encoding: refused, the database untouched
    code, _, err = _collect(run_cli, db, n=12)
    assert code == 2
    assert "collected with space options cells=normal" in err and "--space-opt cells=normal" in err
    assert len(err.strip().splitlines()) == 1
    with CostDatabase(db) as handle:
        assert handle.count() == 8


def test_fit_takes_the_options_the_rows_were_collected_with(run_cli, tmp_path: Path) -> None:
    paper, both = tmp_path / "paper.db", tmp_path / "both.db"
    assert _collect(run_cli, paper, *PAPER)[0] == 0
    assert _collect(run_cli, both)[0] == 0
    for db, dim, cells in ((paper, 112, "normal"), (both, 224, "both")):
        out = tmp_path / f"{db.stem}.nascost"
        code, _, err = run_cli("fit", "--db", str(db), "--predictor", "ridge", "-o", str(out))
        assert code == 0, err
        meta = read_metadata(out)
        assert meta.encoding_dim == dim and meta.space_options["cells"] == cells
    # asking for another encoding than the rows' is an error naming theirs
    code, _, err = run_cli("fit", "--db", str(paper), "--predictor", "ridge", "--space-opt", "cells=both",
                           "-o", str(tmp_path / "x.nascost"))
    assert code == 2 and "--space-opt cells=normal" in err
    assert not (tmp_path / "x.nascost").exists()


def test_a_predictor_refuses_a_space_with_other_options(run_cli, tmp_path: Path) -> None:
    db, pred = tmp_path / "paper.db", tmp_path / "paper.nascost"
    assert _collect(run_cli, db, *PAPER)[0] == 0
    assert run_cli("fit", "--db", str(db), "--predictor", "ridge", "-o", str(pred))[0] == 0
    code, _, err = run_cli("predict", "--cost", str(pred), "--space", "darts", "DARTS_V2")
    assert code == 2 and "was fitted with space options cells=normal" in err and "--space-opt cells=normal" in err
    code, out, err = run_cli("predict", "--cost", str(pred), "--space", "darts", *PAPER, "DARTS_V2", "--json")
    assert code == 0, err
    assert json.loads(out)["predictions"][0]["predicted"] > 0
    # a search with the default encoding is refused before its output directory exists
    run = tmp_path / "run"
    code, _, err = run_cli("search", "--space", "darts", "--cost", str(pred), "--dataset", "synthetic",
                           "--channels", "4", "--layers", "3", "--epochs", "1", "--max-steps", "1", "--out", str(run))
    assert code == 2 and "--space-opt cells=normal" in err
    assert not run.exists()


def test_exports_carry_the_options_and_old_exports_take_them_at_import(run_cli, tmp_path: Path) -> None:
    db = tmp_path / "paper.db"
    assert _collect(run_cli, db, *PAPER)[0] == 0
    export = tmp_path / "paper.csv.gz"
    assert run_cli("data", "export", str(db), "-o", str(export))[0] == 0
    with gzip.open(export, "rt", newline="") as f:
        rows = list(csv.DictReader(f))
    assert json.loads(rows[0]["space_options"]) == {"cells": "normal", "sample_reduce": None}
    again = tmp_path / "again.db"
    code, _, err = run_cli("data", "import", str(export), "--db", str(again))
    assert code == 0, err
    with CostDatabase(again) as handle:
        assert handle.space_options("darts") == {"cells": "normal", "sample_reduce": None}
    # a file of an older nascost has no such column: the rows' width tells, and --space-opt gives them
    old = tmp_path / "old.csv"
    with old.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=[c for c in rows[0] if c != "space_options"])
        w.writeheader()
        w.writerows({k: v for k, v in r.items() if k != "space_options"} for r in rows)
    code, _, err = run_cli("data", "import", str(old), "--db", str(tmp_path / "old.db"))
    assert code == 2 and "112 values" in err and "--space-opt" in err
    assert not (tmp_path / "old.db").exists()
    code, _, err = run_cli("data", "import", str(old), "--db", str(tmp_path / "old.db"), *PAPER)
    assert code == 0, err
    with CostDatabase(tmp_path / "old.db") as handle:
        assert handle.space_options("darts") == {"cells": "normal", "sample_reduce": None}


def test_varied_sampling_reaches_the_corners_and_is_resumable(run_cli, tmp_path: Path) -> None:
    """--sampling varied: seeded, valid, and far more often made of few operations than uniform draws."""
    from collections import Counter

    import numpy as np

    from nascost import plugins

    space = plugins.get_space("darts")
    gen = np.random.default_rng(0)
    varied = [space.sample_varied(gen) for _ in range(300)]
    uniform = space.sample_many(300, 2)

    def concentrated(arch) -> bool:  # 6 or more of a cell's 8 operations the same
        return max(Counter(op for op, _ in arch.spec["normal"]).values()) >= 6

    assert sum(map(concentrated, varied)) > 10 * max(1, sum(map(concentrated, uniform)))
    for arch in varied[:20]:
        space.validate(arch.spec)
    db = tmp_path / "v.db"
    code, _, err = _collect(run_cli, db, "--sampling", "varied", n=5)
    assert code == 0, err
    code, _, err = _collect(run_cli, db, "--sampling", "varied", n=7)  # resumes: the same first 5
    assert code == 0, err
    with CostDatabase(db) as handle:
        keys = handle.query(space="darts").keys
    from nascost.collect import sample_architectures

    assert sorted(keys) == sorted(a.key() for a in sample_architectures(space, 7, 0, "varied"))
    # a space without a varied sampler says so before anything is written
    code, _, err = run_cli("collect", "--space", "nb201", "--measurer", "flops", "--n", "3", "--db",
                           str(tmp_path / "nb.db"), "--sampling", "varied", "--quiet")
    assert code == 2 and "has no varied sampler" in err and not (tmp_path / "nb.db").exists()
