"""A report answers "which cell for my budget": every run beside the reference cells, trainings joined to
their searches, each cost's predictor quality, the search's options and the as-encoded measurement."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from search.fakes import ChainPlugin

from nascost.report import build_report, expand, gather_references, pareto_figure
from report.runs import search_dir

REFS = [{"name": n, "cost": "tiny-lat", "predicted": {"tiny-lat": v * 0.9}, "counts": {"params": 10, "macs": 20},
         "measured": {"median": v, "unit": "ms", "iqr": 0.2, "n": 20, "device_label": "cpu: test [abc]",
                      "fingerprint": "abc"}}
        for n, v in (("ALLCONV", 9.0), ("ALLSKIP", 2.0))]  # fmt: skip
MEASURED = {"tiny-lat": {"value": 5.0, "unit": "ms", "iqr": 0.1, "n": 20, "device": "cpu: test [abc]",
                         "as_encoded": {"value": 4.2, "iqr": 0.1, "n": 20, "spec": {"ops": ["conv"] * 4}}}}  # fmt: skip
COST = {"source": "cost store: tiny-lat", "predictor": "lpm", "n_train": 300, "train_range": [4.0, 10.0],
        "metrics": {"mape": 3.25, "kendall_tau": 0.812}, "device": "cpu: test [abc]", "batch_size": 1,
        "setting": {"name": "cifar10", "family": "cifar", "channels": 8, "layers": 4, "num_classes": 10,
                    "input_size": 8}}  # fmt: skip


def _search(path: Path, ops: list[str] | None = None) -> Path:
    """A search that measured its derived cell and the reference cells itself (no sweep, no training)."""
    return search_dir(path, ops or ["conv", "skip", "pool", "conv"], 0.2, 5.0, None, weights=False,
                      measurement=False, summary={"measured_cost": MEASURED, "references": REFS}, cost=COST)


def _train(tiny_space, search: Path, out: Path, search_dir_: Path | None = None) -> dict:
    """A real (tiny) training of the search's cell that records where it came from."""
    from nascost import plugins
    from nascost.train import make_config, train

    arch = tiny_space.resolve(search / "genotype.json")
    data = plugins.get_dataset("synthetic", {"size": 32, "test_size": 16, "input_size": 8})
    cfg = make_config("quick", channels=4, layers=2, epochs=1, max_steps=1)
    return train(tiny_space, arch, data, out, cfg, search_dir=search_dir_ or search)


def test_a_single_search_is_placed_beside_its_reference_cells(tmp_path: Path, tiny_space) -> None:
    run_dir = _search(tmp_path / "search")
    result = build_report([run_dir], tmp_path / "r.html")
    assert "r-pareto.png" in {Path(p).name for p in result["images"]}
    runs, refs = expand([run_dir])
    fig = pareto_figure(runs, gather_references(runs, refs))
    ax = fig.axes[0]
    # no training: the search's final validation accuracy (45%: 0.45 in metrics.jsonl), said so
    (point,) = ax.collections
    assert point.get_offsets().tolist() == [[5.0, pytest.approx(45.0)]]
    assert ax.get_ylabel() == "search validation accuracy (%)"
    assert any("validation accuracy" in t.get_text() for t in ax.get_legend().get_texts())
    ref_lines = [line for line in ax.lines if line.get_linestyle() == ":"]
    assert sorted(float(line.get_xdata()[0]) for line in ref_lines) == [2.0, 9.0]
    assert {t.get_text() for t in ax.texts} >= {"ALLCONV", "ALLSKIP", "search"}


def test_the_page_shows_predictor_quality_options_device_and_the_as_encoded_measurement(tmp_path: Path,
                                                                                        tiny_space) -> None:
    build_report([_search(tmp_path / "search")], tmp_path / "r.html")
    page = (tmp_path / "r.html").read_text()
    for text in ("Costs and their predictors", "held-out MAPE (%)", "3.2", "held-out Kendall τ", "0.812", "300",
                 "4–10 ms", "cpu: test [abc]", "cifar10(C=8,L=4,8x8,10 classes,cifar)", "Search configuration",
                 "measured as the encoding describes it", "4.2 ± 0.1 ms (n=20)", "5 ± 0.1 ms (n=20)",
                 "Reference cells", "ALLCONV", "ALLSKIP"):  # fmt: skip
        assert text in page, text


def test_a_training_given_with_its_search_joins_it(tmp_path: Path, tiny_space) -> None:
    search = _search(tmp_path / "search")
    summary = _train(tiny_space, search, tmp_path / "train")
    result = build_report([search, tmp_path / "train"], tmp_path / "r.html")
    assert result["runs"] == [str(search)]  # one row, not two
    runs, refs = expand([search, tmp_path / "train"])
    (run,) = runs
    assert run.accuracy == pytest.approx(summary["test_acc"]) and run.linked == [tmp_path / "train"]
    ax = pareto_figure(runs, gather_references(runs, refs)).axes[0]
    assert ax.collections[0].get_offsets().tolist() == [[5.0, pytest.approx(summary["test_acc"])]]
    assert ax.get_ylabel() == "test accuracy (%)"
    page = (tmp_path / "r.html").read_text()
    assert "search + training" in page and f"{summary['test_acc']:.2f}" in page and str(tmp_path / "train") in page


def test_a_training_alone_or_of_another_cell_stays_on_its_own(tmp_path: Path, tiny_space) -> None:
    search = _search(tmp_path / "search")
    _train(tiny_space, search, tmp_path / "train")
    result = build_report([tmp_path / "train"], tmp_path / "alone.html")
    assert result["runs"] == [str(tmp_path / "train")]
    assert "Its genotype came from the search in" in (tmp_path / "alone.html").read_text()
    # the search was run again and derived another cell: the old training is not its accuracy
    again = _search(tmp_path / "again", ["skip"] * 4)
    _train(tiny_space, search, tmp_path / "old", search_dir_=again)
    runs, _ = expand([again, tmp_path / "old"])
    assert [r.kind for r in runs] == ["search", "train"] and runs[0].accuracy is None


def test_search_train_from_search_report_end_to_end(tmp_path: Path, run_cli, register_plugin) -> None:
    """Real runs through the CLI: a chain search measured with flops, its cell trained --from-search, one report."""
    register_plugin(ChainPlugin())
    search, train = tmp_path / "search", tmp_path / "train"
    code, _, err = run_cli("search", "--space", "chain", "--dataset", "digits", "--cost", "flops:0.0001",
                           "--cost-setting", "tiny", "--epochs", "1", "--max-steps", "2", "--batch-size", "16",
                           "--arch-frozen-epochs", "0", "--out", str(search), "-q")  # fmt: skip
    assert code == 0, err
    summary = json.loads((search / "summary.json").read_text())
    assert [r["name"] for r in summary["references"]] == ["all-conv"]
    code, out, err = run_cli("train", "--from-search", str(search), "--dataset", "digits", "--preset", "quick",
                             "--channels", "4", "--layers", "3", "--epochs", "1", "--max-steps", "1",
                             "--out", str(train), "--json")  # fmt: skip
    assert code == 0, err
    acc = json.loads(out)["test_acc"]
    code, out, err = run_cli("report", str(search), str(train), "-o", str(tmp_path / "r.html"), "--json")
    assert code == 0, err
    assert json.loads(out)["runs"] == [str(search)]
    runs, refs = expand([search, train])
    ax = pareto_figure(runs, gather_references(runs, refs)).axes[0]
    assert ax.collections[0].get_offsets().tolist() == [[summary["measured_cost"]["flops"]["value"], pytest.approx(acc)]]
    assert [float(line.get_xdata()[0]) for line in ax.lines if line.get_linestyle() == ":"] == [
        summary["references"][0]["measured"]["median"]
    ]
