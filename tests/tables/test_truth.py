"""Ground truth: the table cost, the true Pareto front, and searches scored against both."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from nascost.data import import_table
from nascost.pareto import build_front
from nascost.search import SearchConfig, run_search
from nascost.tables import read_table


@pytest.fixture
def full_db(tmp_path, full_tables, nb201):
    latency, _ = full_tables
    db = tmp_path / "full.db"
    table = read_table(latency, nb201)
    options = {c: {"path": str(latency.resolve()), "device": c} for c in table.columns}
    import_table(table, db, space=nb201, setting=nb201.setting("cifar10"), options=options)
    return db


def test_front_and_regret_by_hand() -> None:
    costs = {"a": 1.0, "b": 2.0, "c": 3.0, "d": 2.5, "e": 4.0}
    accs = {"a": 50.0, "b": 70.0, "c": 80.0, "d": 60.0, "e": 79.0}
    front = build_front(costs, accs)
    assert [front.keys[i] for i in front.front] == ["a", "b", "c"]
    assert front.regret(2.5, 60.0) == pytest.approx(10.0)  # b is cheaper and 10 points better
    assert front.regret(4.0, 79.0) == pytest.approx(1.0)
    assert front.regret(3.0, 80.0) == 0.0 and front.regret(0.5, 10.0) == 0.0
    assert front.keys[front.best_within(2.9)] == "b" and front.best_within(0.9) is None
    judged = front.judge("d", 2.5, 60.0)
    assert judged["front_pick"]["key"] == "b" and judged["cheapest_as_accurate"]["key"] == "b" and not judged["on_front"]


def test_table_cost_is_exact_and_compare_leaves_it_out(run_cli, tmp_path, device_table, nb201, cells) -> None:
    db = tmp_path / "t.db"
    assert run_cli("data", "import", str(device_table), "--space", "nb201", "--db", str(db))[0] == 0
    code, out, err = run_cli("fit", "--db", str(db), "--device", "phone", "--predictor", "table", "--json",
                             "-o", str(tmp_path / "phone.nascost"))
    assert code == 0, err
    meta = json.loads(out)["metadata"]
    assert meta["n_train"] == len(cells) and meta["measurer"] == "table"
    assert meta["measurer_options"]["device"] == "phone"
    from nascost.cost import load_cost

    pred, _ = load_cost(tmp_path / "phone.nascost", space=nb201)
    table = read_table(device_table, nb201, columns=["phone"])
    got = pred.predict(nb201.encode(cells[:50])).numpy()
    assert np.allclose(got, table.columns["phone"][:50])
    with pytest.raises(Exception, match="holds no cost"):
        pred.predict(nb201.encode([a for a in nb201.sample_many(200, 99) if a.key() not in set(table.keys)][:1]))
    code, out, err = run_cli("compare", "--db", str(db), "--device", "phone", "--predictors", "ridge,table", "--json")
    assert code == 0, err
    res = json.loads(out)
    assert res["table"]["available"] is False and res["ridge"]["kendall_tau"] > 0.8


def test_pareto_command_prints_the_front_and_regrets(run_cli, tmp_path, full_db, full_tables, nb201) -> None:
    _, accuracy = full_tables
    resnet = nb201.format_arch(nb201.resolve("resnet"))
    code, out, err = run_cli("pareto", "--space", "nb201", "--accuracy-table", str(accuracy), "--db", str(full_db),
                             "--device", "phone", "--arch", resnet, "--arch", "all-conv3x3", "--plot",
                             str(tmp_path / "front.png"), "--json")
    assert code == 0, err
    res = json.loads(out)
    assert res["cells"] == 15625 and res["front_size"] >= 5
    costs = [p["cost"] for p in res["front"]]
    accs = [p["accuracy"] for p in res["front"]]
    assert costs == sorted(costs) and accs == sorted(accs)
    conv = res["judged"][1]
    assert conv["regret"] == 0.0 and conv["on_front"]  # the most accurate cell is on the front
    assert res["judged"][0]["regret"] >= 0 and (tmp_path / "front.png").stat().st_size > 1000
    code, out, err = run_cli("pareto", "--space", "nb201", "--accuracy-table", str(accuracy), "--db", str(full_db),
                             "--device", "gpu", "--budget", "8", "--budget", "1", "--json")
    assert code == 0, err
    within = json.loads(out)["front"]
    assert [r["budget"] for r in within] == [8.0, 1.0] and within[1]["arch"] is None and within[0]["cost"] <= 8.0
    # a budget with a unit, as --target takes it: 0.008s is the table's 8 ms
    code, out, err = run_cli("pareto", "--space", "nb201", "--accuracy-table", str(accuracy), "--db", str(full_db),
                             "--device", "gpu", "--budget", "0.008s", "--budget", "1ms", "--json")
    assert code == 0, err
    assert [r["budget"] for r in json.loads(out)["front"]] == pytest.approx([8.0, 1.0])
    assert json.loads(out)["front"][0]["arch"] == within[0]["arch"]
    code, out, err = run_cli("pareto", "--space", "nb201", "--accuracy-table", str(accuracy), "--db", str(full_db),
                             "--device", "gpu", "--budget", "8mJ")
    assert code == 2 and "--budget '8mJ'" in err and "Traceback" not in err
    # a config file may give a budget as a number or as a text with a unit, not as a boolean
    config = tmp_path / "pareto.toml"
    config.write_text('budget = [8, "0.001s"]\njson = true\n')
    code, out, err = run_cli("pareto", "--config", str(config), "--space", "nb201", "--accuracy-table", str(accuracy),
                             "--db", str(full_db), "--device", "gpu")
    assert code == 0, err
    assert [r["arch"] for r in json.loads(out)["front"]] == [within[0]["arch"], None]
    config.write_text("budget = [true]\n")
    code, out, err = run_cli("pareto", "--config", str(config), "--space", "nb201", "--accuracy-table", str(accuracy),
                             "--db", str(full_db), "--device", "gpu")
    assert code == 2 and "budget" in err and "Traceback" not in err
    code, out, err = run_cli("pareto", "--space", "nb201", "--accuracy-table", str(accuracy), "--db", str(full_db),
                             "--device", "gpu", "--budget", "8", "--budget", "1")
    assert code == 0, err
    assert "none within budget" in out
    code, out, err = run_cli("pareto", "--space", "nb201", "--accuracy-table", str(accuracy), "--db", str(full_db),
                             "--device", "watch")
    assert code == 2 and "no rows" in err


def test_pareto_merges_cells_that_compute_the_same_function(run_cli, full_db, full_tables, nb201) -> None:
    from nascost.tables import read_accuracy_table
    from nascost_nb201.cell import isomorphism_key

    _, accuracy = full_tables
    # node 1 receives nothing, so the 3x3 convolution on 2<-1 computes nothing: the cell is a skip
    dead = "|none~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|none~2|"
    acc = read_accuracy_table(accuracy, nb201)
    key = isomorphism_key(nb201.cell(nb201.resolve(dead)))
    mates = [a for a in nb201.enumerate() if isomorphism_key(nb201.cell(a)) == key]
    assert len(mates) > 1 and len({acc.values[a.key()] for a in mates}) > 1  # one function, several accuracies
    expected = float(np.mean([acc.values[a.key()] for a in mates]))

    def judged(*extra):
        code, out, err = run_cli("pareto", "--space", "nb201", "--accuracy-table", str(accuracy), "--db", str(full_db),
                                 "--device", "phone", "--arch", dead, "--json", *extra)
        assert code == 0, err
        return json.loads(out)

    plain, merged = judged(), judged("--merge-equivalent")
    assert plain["judged"][0]["accuracy"] == pytest.approx(acc.values[nb201.resolve(dead).key()])
    assert merged["judged"][0]["accuracy"] == pytest.approx(expected)
    assert plain["merged_functions"] is None and merged["merged_functions"] == 6466
    # the front's points are class means too: each equals the mean over its own class
    for point in merged["front"][:3]:
        k = isomorphism_key(nb201.cell(nb201.resolve(point["arch"])))
        assert point["accuracy"] == pytest.approx(np.mean(
            [acc.values[a.key()] for a in nb201.enumerate() if isomorphism_key(nb201.cell(a)) == k]))


def test_a_space_without_equivalences_merges_nothing() -> None:
    from nascost import plugins
    from nascost.pareto import merge_equivalent

    darts = plugins.get_space("darts")
    archs = darts.sample_many(5, 0)
    accs = {a.key(): float(i) for i, a in enumerate(archs)}
    merged, functions = merge_equivalent(accs, {a.key(): darts.format_arch(a) for a in archs}, darts)
    assert merged == accs and functions == 5


def test_truth_judges_a_cell_again_with_class_means(full_tables, nb201) -> None:
    """A derived cell with class-mates: its truth carries the class mean and the regret on the merged front."""
    from types import SimpleNamespace

    from nascost import plugins
    from nascost.pareto import merge_equivalent
    from nascost.search import ground_truth, truth_lines
    from nascost.tables import read_accuracy_table

    latency, accuracy = full_tables
    acc = read_accuracy_table(accuracy, nb201)
    dead = nb201.resolve("|none~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|none~2|")  # a skip in disguise
    measurer = plugins.get_measurer("table", {"path": str(latency), "device": "phone"})
    table = measurer.known_costs(nb201)
    value = table[dead.key()]
    measured = {"phone-table": {"value": value, "unit": "ms", "device": "phone"}}
    truth = ground_truth(nb201, dead, [SimpleNamespace(name="phone-table")], measured, {"phone-table": measurer}, acc)

    merged, functions = merge_equivalent(acc.values, acc.names, nb201)
    mates = [a for a in nb201.enumerate() if nb201.equivalence_key(a) == nb201.equivalence_key(dead)]
    assert truth["accuracy"]["value"] == pytest.approx(acc.values[dead.key()])
    assert truth["accuracy"]["merged"] == {"value": pytest.approx(merged[dead.key()]), "cells": len(mates),
                                           "functions": functions}
    assert len(mates) > 1 and merged[dead.key()] != acc.values[dead.key()]
    entry = truth["costs"]["phone-table"]
    raw, merged_front = build_front(table, acc.values), build_front(table, merged)
    assert entry["regret"] == pytest.approx(raw.regret(value, acc.values[dead.key()]))
    assert entry["merged"]["regret"] == pytest.approx(merged_front.regret(value, merged[dead.key()]))
    assert entry["merged"]["regret"] != pytest.approx(entry["regret"])  # the class mean moves the judgement
    lines = truth_lines(truth)
    assert f"over the {len(mates)} cells that compute its function" in lines[0]
    assert "with each function's mean accuracy" in lines[1]


def _search(tmp_path, name, extra):
    config = SearchConfig.build({
        "space": "nb201", "dataset": "synthetic", "C": 4, "layers": 1, "epochs": 2, "batch_size": 8, "max_steps": 2,
        "max_train_samples": 32, "threads": 1, "arch_learning_rate": 0.05, **extra,
    })
    return run_search(config, tmp_path / name, show_progress=False)


def test_a_search_records_true_accuracy_cost_and_regret(run_cli, tmp_path, full_db, full_tables, nb201) -> None:
    _, accuracy = full_tables
    assert run_cli("fit", "--db", str(full_db), "--device", "phone", "--predictor", "ridge", "--train-size", "300",
                   "--as-cost", "phone-ridge")[0] == 0
    result = _search(tmp_path, "run", {"costs": ["phone-ridge"], "lambda": 0.5, "accuracy_table": str(accuracy)})
    truth = result.summary["truth"]
    arch = result.architecture
    with accuracy.open() as fh:
        acc = {r["arch_str"]: float(r["cifar10_test"]) for r in csv.DictReader(fh)}
    assert truth["accuracy"]["value"] == pytest.approx(acc[nb201.format_arch(arch)])
    cost = truth["costs"]["phone-ridge"]
    table = read_table(full_tables[0], nb201, columns=["phone"]).values("phone")
    assert cost["value"] == pytest.approx(table[arch.key()])
    front = build_front(table, {nb201.parse_arch(k).key(): v for k, v in acc.items()})
    assert cost["regret"] == pytest.approx(front.regret(cost["value"], truth["accuracy"]["value"]))
    assert cost["front"] and cost["front_pick"]["cost"] <= cost["value"] + 1e-9
    assert "merged" in truth["accuracy"] and "regret" in cost["merged"]  # nb201 knows equivalent cells
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["truth"] == truth


def test_the_exact_estimator_searches_on_the_table_itself(run_cli, tmp_path, full_db, full_tables, nb201) -> None:
    assert run_cli("fit", "--db", str(full_db), "--device", "gpu", "--predictor", "table", "--as-cost", "gpu-table")[0] == 0
    result = _search(tmp_path, "exact", {"costs": ["gpu-table"], "lambda": 2.0, "estimator": "exact"})
    rows = [json.loads(line) for line in (tmp_path / "exact" / "metrics.jsonl").read_text().splitlines()]
    table = read_table(full_tables[0], nb201, columns=["gpu"])
    mean = float(np.mean(table.columns["gpu"]))
    # a nearly uniform alpha: the expected cost is the mean over all cells, and lambda pulls it down
    assert rows[0]["expected_cost"]["gpu-table"] == pytest.approx(mean, rel=0.05)
    assert rows[-1]["expected_cost"]["gpu-table"] < rows[0]["expected_cost"]["gpu-table"]
    assert result.summary["measured_cost"]["gpu-table"]["value"] == pytest.approx(table.values("gpu")[result.architecture.key()])
    with pytest.raises(Exception, match="straight-through"):
        _search(tmp_path, "st", {"costs": ["gpu-table"], "lambda": 1.0})


def test_a_sweep_and_its_report_are_judged_against_the_truth(run_cli, tmp_path, full_db, full_tables, nb201) -> None:
    from nascost.report import build_report
    from nascost.sweep import run_sweep

    _, accuracy = full_tables
    assert run_cli("fit", "--db", str(full_db), "--device", "phone", "--predictor", "ridge", "--train-size", "300",
                   "--as-cost", "phone-ridge")[0] == 0
    search = {"C": 4, "layers": 1, "epochs": 1, "batch_size": 8, "max_steps": 2, "max_train_samples": 32,
              "threads": 1, "accuracy_table": str(accuracy)}
    record = run_sweep(space="nb201", costs=["phone-ridge"], lambdas=[0.0, 1.0], out=tmp_path / "sw",
                       dataset="synthetic", search_options=search, show_progress=False)
    table = read_table(full_tables[0], nb201, columns=["phone"]).values("phone")
    for lam in ("0", "1"):
        run = tmp_path / "sw" / "runs" / f"lambda_{lam}"
        summary = json.loads((run / "summary.json").read_text())
        measured = json.loads((run / "measurement.json").read_text())
        arch = nb201.validate(summary["genotype"])
        # the sweep's measurement of the derived cell is the device's table value: its true cost
        assert measured["median"] == pytest.approx(table[arch.key()])
        assert summary["truth"]["costs"]["phone-ridge"]["regret"] >= 0
    html = (tmp_path / "sw" / "report.html").read_text()
    assert "Against the truth" in html and record["report"]
    assert "regret, class means" in html  # nb201 knows equivalent cells: the search judged them both ways
    # a report over runs of its own, scoring them with an accuracy table
    out = build_report([tmp_path / "sw"], tmp_path / "again.html", accuracy_table=str(accuracy))
    assert any(p.endswith("again-truth-0.png") for p in out["images"])


def test_a_sweeps_combined_seeds_are_judged_against_the_truth(run_cli, tmp_path, full_db, full_tables, nb201) -> None:
    """--seeds: the cell the seeds' mean weights derive gets its true accuracy, true cost and regret."""
    from nascost.sweep import run_sweep

    _, accuracy = full_tables
    assert run_cli("fit", "--db", str(full_db), "--device", "phone", "--predictor", "ridge", "--train-size", "300",
                   "--as-cost", "phone-ridge")[0] == 0
    search = {"C": 4, "layers": 1, "epochs": 1, "batch_size": 8, "max_steps": 2, "max_train_samples": 32,
              "threads": 1, "arch_learning_rate": 0.05, "accuracy_table": str(accuracy)}
    run_sweep(space="nb201", costs=["phone-ridge"], lambdas=[1.0], out=tmp_path / "sw", dataset="synthetic",
              search_options=search, seeds=2, references=False, show_progress=False)
    run = tmp_path / "sw" / "runs" / "lambda_1-combined"
    summary = json.loads((run / "summary.json").read_text())
    arch = nb201.validate(summary["genotype"])
    with accuracy.open() as fh:
        acc = {r["arch_str"]: float(r["cifar10_test"]) for r in csv.DictReader(fh)}
    table = read_table(full_tables[0], nb201, columns=["phone"]).values("phone")
    assert summary["truth"]["accuracy"]["value"] == pytest.approx(acc[nb201.format_arch(arch)])
    cost = summary["truth"]["costs"]["phone-ridge"]
    assert cost["value"] == pytest.approx(table[arch.key()])
    front = build_front(table, {nb201.parse_arch(k).key(): v for k, v in acc.items()})
    assert cost["regret"] == pytest.approx(front.regret(cost["value"], summary["truth"]["accuracy"]["value"]))
    assert json.loads((run / "measurement.json").read_text())["median"] == pytest.approx(table[arch.key()])


def test_search_refuses_bad_truth_options_before_writing(run_cli, tmp_path) -> None:
    out = tmp_path / "never"
    code, _, err = run_cli("search", "--space", "nb201", "--dataset", "synthetic", "--accuracy-table",
                           str(tmp_path / "missing.csv"), "--out", str(out), "--quiet")
    assert code == 2 and "accuracy table" in err and not out.exists()
    code, _, err = run_cli("search", "--space", "darts", "--dataset", "synthetic", "--cost", "flops",
                           "--estimator", "exact", "--out", str(out), "--quiet", "--C", "4", "--layers", "3")
    assert code == 2 and "exact" in err and "enumerate" in err and not out.exists()


def test_cost_scales_put_costs_on_a_common_footing(nb201) -> None:
    """paper: random cells cost 30 on average; spread: they vary with a standard deviation of 10."""
    import torch as _torch

    from nascost.penalty import PAPER_REFERENCE_COST, PAPER_SPREAD, REFERENCE_SEED
    from nascost.search import ResolvedCost, make_cost_terms

    class Affine:
        differentiable, additive = True, True

        def __init__(self, scale: float, offset: float) -> None:
            self.w = _torch.linspace(0, 1, 30) * scale
            self.offset = offset

        def predict(self, x):
            return _torch.as_tensor(x, dtype=_torch.float32) @ self.w + self.offset

    for kind, target in (("paper", PAPER_REFERENCE_COST), ("spread", PAPER_SPREAD)):
        config = SearchConfig.build({"space": "nb201", "cost_scale": kind})
        for fn in (Affine(1.0, 10.0), Affine(5.0, 2.0)):
            (term,), _ = make_cost_terms(config, [ResolvedCost(name="c", fn=fn, unit="ms")], nb201)
            enc = nb201.encode(nb201.sample_many(256, REFERENCE_SEED))
            costs = fn.predict(enc) * term.scale
            measured = float(costs[:64].mean()) if kind == "paper" else float(costs.double().std())
            assert measured == pytest.approx(target, rel=1e-4)
            # every search seed gets the same scale: the seeds of one lambda face one pressure
            for seed in (1, 7):
                other = SearchConfig.build({"space": "nb201", "cost_scale": kind, "seed": seed})
                (again,), _ = make_cost_terms(other, [ResolvedCost(name="c", fn=fn, unit="ms")], nb201)
                assert again.scale == term.scale
