"""Reports: run directories in, one self-contained HTML page and its PNGs out."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import pytest

from nascost.errors import NascostError
from nascost.report import build_report, expand, load_run, pareto_front
from report.runs import search_dir as _search_dir

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def sweep_dir(tmp_path: Path) -> Path:
    sweep = tmp_path / "sweep"
    _search_dir(sweep / "runs" / "lambda_0", ["conv"] * 4, 0.0, 8.0, 80.0, weights=True)
    _search_dir(sweep / "runs" / "lambda_0.2", ["conv", "skip", "pool", "conv"], 0.2, 5.0, 78.0, weights=False)
    _search_dir(sweep / "runs" / "lambda_0.4", ["skip", "skip", "pool", "conv"], 0.4, 6.0, 70.0, weights=False)
    (sweep / "sweep.json").write_text(json.dumps({"runs": ["runs/lambda_0", "runs/lambda_0.2", "runs/lambda_0.4"]}))
    (sweep / "references.json").write_text(json.dumps([
        {"name": "ALLCONV", "measured": {"median": 9.0, "unit": "ms"}, "predicted": {"tiny-lat": 8.5}, "counts": {"params": 99}},
    ]))  # fmt: skip
    return sweep


def test_pareto_front() -> None:
    pts = [(8.0, 80.0), (5.0, 78.0), (6.0, 70.0), (5.0, 78.0 - 1e-9), (9.0, 80.0)]
    assert pareto_front(pts) == [1, 0]


def test_load_run_reads_a_search_directory(sweep_dir: Path, tiny_space) -> None:
    run = load_run(sweep_dir / "runs" / "lambda_0.2")
    assert run.kind == "search" and run.space_name == "tiny" and run.spec == {"ops": ["conv", "skip", "pool", "conv"]}
    assert len(run.rows) == 3  # the torn last line is skipped
    assert run.accuracy == 78.0 and run.lambdas == {"tiny-lat": 0.2}
    assert run.predicted() == {"tiny-lat": (4.5, "ms")}
    assert len(run.genotypes) == 3 and "λ=0.2" in run.name


def test_sweep_expands_to_runs_and_references(sweep_dir: Path) -> None:
    runs, refs = expand([sweep_dir])
    assert [r.path.name for r in runs] == ["lambda_0", "lambda_0.2", "lambda_0.4"]
    assert refs[0]["name"] == "ALLCONV"


def test_report_is_self_contained_with_every_plot(sweep_dir: Path, tmp_path: Path, tiny_space) -> None:
    out = tmp_path / "out" / "report.html"
    result = build_report([sweep_dir], out, title="lambda sweep")
    page = out.read_text()
    names = {Path(p).name for p in result["images"]}
    for expected in ("report-pareto.png", "report-predicted-vs-measured.png", "report-00-lambda_0-cells.png",
                     "report-00-lambda_0-curves.png", "report-00-lambda_0-cost.png",
                     "report-00-lambda_0-arch-weights.png", "report-01-lambda_0.2-derived.png",
                     "report-01-lambda_0.2-final-weights.png"):  # fmt: skip
        assert expected in names, sorted(names)
    for p in result["images"]:
        assert Path(p).read_bytes().startswith(PNG) and Path(p).parent == out.parent
    embedded = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(embedded) == len(result["images"])
    assert all(base64.b64decode(e).startswith(PNG) for e in embedded)
    assert "src=\"http" not in page and "<script" not in page  # nothing to fetch
    assert "lambda sweep" in page and "ALLCONV" in page and "λ=0.4" in page


def test_report_of_a_training_run(tiny_space, tmp_path: Path) -> None:
    from nascost import plugins
    from nascost.train import make_config, train

    cfg = make_config("quick", channels=4, layers=2, epochs=2, max_steps=2)
    data = plugins.get_dataset("synthetic", {"size": 32, "test_size": 16, "input_size": 8})
    train(tiny_space, tiny_space.presets()["ALLCONV"], data, tmp_path / "t", cfg)
    result = build_report([tmp_path / "t"], tmp_path / "r.html")
    assert {Path(p).name for p in result["images"]} == {"r-00-t-cells.png", "r-00-t-curves.png"}
    assert "test acc" in (tmp_path / "r.html").read_text()


def test_not_a_run_directory_is_a_clear_error(tmp_path: Path, run_cli) -> None:
    with pytest.raises(NascostError, match="not a nascost run directory"):
        load_run(tmp_path)
    code, _out, err = run_cli("report", str(tmp_path / "missing"), "-o", str(tmp_path / "r.html"))
    assert code == 2 and "does not exist" in err
    assert not (tmp_path / "r.html").exists()


def test_cli_report(sweep_dir: Path, tmp_path: Path, run_cli, tiny_space) -> None:
    code, out, err = run_cli("report", str(sweep_dir / "runs" / "lambda_0.4"), "-o", str(tmp_path / "one.html"), "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["runs"] == [str(sweep_dir / "runs" / "lambda_0.4")] and (tmp_path / "one.html").exists()
