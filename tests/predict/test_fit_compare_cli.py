"""Fitting from databases, fair comparisons, device agreement, and the fit/compare/costs commands."""

from __future__ import annotations

import json

import pytest
from conftest import OTHER_DEVICE, make_db

from nascost.cost import CostStore
from nascost.errors import NascostError
from nascost.fit import (
    compare_devices,
    compare_predictors,
    fit_from_database,
    load_data,
    plot_comparison,
)
from nascost.predict import load_predictor, read_metadata


def test_fit_from_database_records_context_and_held_out_metrics(tmp_path, toy_space) -> None:
    db = make_db(tmp_path / "c.db", toy_space, 60)
    _, meta = fit_from_database(db, space="toy", predictor="ridge", options={"alpha": 1e-6}, val_fraction=0.25)
    assert meta.n_train == 45 and meta.metrics["n_test"] == 15
    assert meta.space == "toy" and meta.encoding_id == toy_space.encoding_id and meta.unit == "ms"
    assert meta.measurer == "cpu-timer" and meta.batch_size == 1 and meta.setting.name == "tiny"
    # the target has one interaction term, so a linear fit is close but not exact
    assert meta.metrics["mape"] < 5 and meta.metrics["kendall_tau"] > 0.8


def test_fit_records_the_cost_range_of_its_training_rows(tmp_path, toy_space) -> None:
    from nascost.fit import split_indices
    from nascost.predict import save_predictor

    db = make_db(tmp_path / "c.db", toy_space, 60)
    data = load_data(db, space="toy")
    model, meta = fit_from_database(db, space="toy", predictor="ridge", val_fraction=0.25, seed=3)
    train, _ = split_indices(len(data), 0.25, 3)
    lo, hi = meta.train_range
    assert lo == pytest.approx(float(data.values[train].min())) and hi == pytest.approx(float(data.values[train].max()))
    assert lo < hi
    save_predictor(model, tmp_path / "p.nascost", meta)
    assert read_metadata(tmp_path / "p.nascost").train_range == (lo, hi)  # what the search reads back


def test_fit_refuses_built_predictors_and_empty_selections(tmp_path, toy_space) -> None:
    db = make_db(tmp_path / "c.db", toy_space, 20)
    with pytest.raises(NascostError, match="built from the space"):
        fit_from_database(db, space="toy", predictor="flops")
    with pytest.raises(NascostError, match="no rows"):
        fit_from_database(db, space="toy", predictor="ridge", setting="imagenet")


def test_compare_uses_one_split_and_reports_every_metric(tmp_path, toy_space) -> None:
    db = make_db(tmp_path / "c.db", toy_space, 64)
    data = load_data(db, space="toy")
    res = compare_predictors(
        data, ["ridge", ("lpm", {"epochs": 30, "batch_size": 16, "lr": 0.05}), "flops", "lut", ("xgboost", {"n_estimators": 30})],
        space=toy_space, train_sizes=[20, 44], seed=3, test_fraction=0.3,
    )
    assert set(res) == {"ridge", "lpm", "flops", "lut", "xgboost"}
    for name in ("ridge", "lpm", "flops", "xgboost"):
        r = res[name]
        assert r["available"] and r["n_test"] == 19 and r["n_train"] == 44
        for key in ("mae", "mape", "kendall_tau", "spearman", "within_10pct", "fit_time_s", "predict_ms_per_1000"):
            assert r[key] is not None, (name, key)
        assert [c["n_train"] for c in r["learning_curve"]] == [20, 44]
        assert r["test_true"] == res["ridge"]["test_true"]  # the same test set for all
    assert res["ridge"]["mape"] < 5
    assert res["flops"]["calibration"]["slope"] != 0
    assert not res["lut"]["available"] and "nascost fit --predictor lut" in res["lut"]["reason"]
    plots = plot_comparison(res, tmp_path / "plots")
    names = sorted(p.name for p in plots)
    assert "learning-curve.png" in names and "scatter-ridge.png" in names and "scatter-lut.png" not in names
    assert all(p.stat().st_size > 1000 for p in plots)


def test_compare_counts_a_built_predictors_build_as_its_fit_time(tmp_path, toy_space, run_cli,
                                                                 monkeypatch) -> None:
    """``flops`` is built (every design network counted), not fitted: its "fit s" is that build."""
    import types

    import nascost.fit
    from nascost import plugins

    db = make_db(tmp_path / "c.db", toy_space, 40)
    res = compare_predictors(load_data(db, space="toy"), ["flops"], space=toy_space, train_sizes=[10, 30])
    r = res["flops"]
    assert r["build_time_s"] > 0
    assert all(c["fit_time_s"] >= r["build_time_s"] for c in r["learning_curve"])
    assert r["fit_time_s"] == r["learning_curve"][-1]["fit_time_s"]
    # the time is the build's: a clock that only the build moves
    clock = [0.0]
    monkeypatch.setattr(nascost.fit, "time", types.SimpleNamespace(perf_counter=lambda: clock[0]))
    cls = plugins.get("predictors", "flops")
    build = cls.build

    def slow_build(self, *a, **k):
        clock[0] += 125.0
        return build(self, *a, **k)

    monkeypatch.setattr(cls, "build", slow_build)
    import shutil

    from nascost.cost import user_data_dir

    shutil.rmtree(user_data_dir() / "cache")  # the first compare's build is cached: build again
    r = compare_predictors(load_data(db, space="toy"), ["flops"], space=toy_space)["flops"]
    assert r["build_time_s"] == r["fit_time_s"] == 125.0
    code, out, err = run_cli("compare", "--db", str(db), "--predictors", "flops")
    assert code == 0, err
    row = next(x for x in out.splitlines() if "flops" in x)
    assert "125" in row


def test_compare_rejects_impossible_sizes(tmp_path, toy_space) -> None:
    data = load_data(make_db(tmp_path / "c.db", toy_space, 30), space="toy")
    with pytest.raises(NascostError, match="exceed the 24 rows left after holding out 6"):
        compare_predictors(data, ["ridge"], space=toy_space, train_sizes=[1000])
    # sizes that fit are still compared; the others are reported as skipped
    res = compare_predictors(data, ["ridge"], space=toy_space, train_sizes=[10, 20, 1000])
    assert [c["n_train"] for c in res["ridge"]["learning_curve"]] == [10, 20]
    assert res["ridge"]["skipped_train_sizes"] == [1000] and res["ridge"]["n_train"] == 20


def test_compare_devices_kendall_tau(tmp_path, toy_space) -> None:
    a = make_db(tmp_path / "a.db", toy_space, 40)
    b = make_db(tmp_path / "b.db", toy_space, 40, device=OTHER_DEVICE, noise=0.02, seed=0)
    res = compare_devices(a, b)
    assert res["n_common"] == 40
    assert 0.5 < res["kendall_tau"] < 1.0 and res["median_rel_diff"] < 0.05
    assert res["a"]["device"] != res["b"]["device"]


def test_cli_fit_store_and_list(tmp_path, toy_space, run_cli) -> None:
    db = make_db(tmp_path / "c.db", toy_space, 50)
    out = tmp_path / "lpm.nascost"
    code, stdout, err = run_cli("fit", "--db", str(db), "--predictor", "lpm", "--opt", "epochs=5",
                                "-o", str(out), "--as-cost", "cpu-lpm")
    assert code == 0, err
    assert "wrote" in stdout and out.is_file()
    assert read_metadata(out).options["epochs"] == 5
    code, stdout, _ = run_cli("costs", "list", "--json")
    rows = json.loads(stdout)
    assert code == 0 and [(r["name"], r["space"], r["predictor"]) for r in rows] == [("cpu-lpm", "toy", "lpm")]
    path = CostStore().find("cpu-lpm", space="toy")
    pred, _ = load_predictor(path, space=toy_space)
    assert pred.name == "lpm"


def test_cli_builds_flops_into_the_store(tmp_path, toy_space, run_cli) -> None:
    code, stdout, err = run_cli("fit", "--predictor", "flops", "--space", "toy", "--setting", "tiny",
                                "--as-cost", "toy-flops", "--json")
    assert code == 0, err
    meta = json.loads(stdout)["metadata"]
    assert meta["unit"] == "MACs" and meta["device"] is None and meta["metrics"]["check_mape"] < 1e-9


def test_cli_compare_json_and_plots(tmp_path, toy_space, run_cli) -> None:
    db = make_db(tmp_path / "c.db", toy_space, 60)
    code, stdout, err = run_cli("compare", "--db", str(db), "--predictors", "ridge,flops,lut",
                                "--train-sizes", "20,40", "--json", "--plot", str(tmp_path / "plots"))
    assert code == 0, err
    res = json.loads(stdout)
    assert set(res) == {"ridge", "flops", "lut"}
    for key in ("mae", "mape", "kendall_tau", "spearman", "within_10pct"):
        assert key in res["ridge"]
    assert res["lut"]["available"] is False
    assert (tmp_path / "plots" / "learning-curve.png").is_file()


def test_cli_compare_skips_sizes_that_do_not_fit_with_a_note(tmp_path, toy_space, run_cli) -> None:
    db = make_db(tmp_path / "c.db", toy_space, 30)
    code, stdout, err = run_cli("compare", "--db", str(db), "--predictors", "ridge", "--train-sizes", "10,200")
    assert code == 0, err
    assert "training sizes [200] skipped: only 24 rows are left after holding out 6" in err
    assert "ridge" in stdout


def test_cli_compare_devices(tmp_path, toy_space, run_cli) -> None:
    a = make_db(tmp_path / "a.db", toy_space, 30)
    b = make_db(tmp_path / "b.db", toy_space, 30, device=OTHER_DEVICE, noise=0.05)
    code, stdout, err = run_cli("compare", "--db", str(a), "--db", str(b), "--devices", "--json")
    assert code == 0, err
    assert json.loads(stdout)["n_common"] == 30


@pytest.mark.parametrize(
    "args, message",
    [
        (["fit", "--db", "{db}", "--predictor", "nope"], "unknown cost predictor 'nope'"),
        (["fit", "--db", "{tmp}/missing.db", "--predictor", "ridge"], "does not exist"),
        (["fit", "--db", "{db}", "--predictor", "lpm", "--opt", "epoch=3"], "invalid option"),
        (["fit", "--db", "{db}", "--predictor", "ridge", "-o", "{tmp}/no/dir/x.nascost"], "does not exist"),
        (["fit", "--db", "{db}", "--predictor", "ridge", "--as-cost", "bad name"], "invalid cost name"),
        (["fit", "--predictor", "flops", "--space", "toy"], "needs --setting"),
        (["fit", "--predictor", "lut", "--space", "toy", "--setting", "tiny"], "needs --measurer"),
        (["fit", "--db", "{db}", "--predictor", "ridge", "--setting", "huge"], "no rows"),
        (["compare", "--db", "{db}", "--predictors", "ridge", "--train-sizes", "a,b"], "comma-separated"),
        (["compare", "--db", "{db}", "--devices"], "exactly two"),
        (["compare", "--db", "{db}", "--predictors", "ridge", "--opt", "lpm.epochs=3"], "PREDICTOR.KEY"),
    ],
)
def test_cli_bad_input_is_one_line_and_exit_2(tmp_path, toy_space, run_cli, args, message) -> None:
    db = make_db(tmp_path / "c.db", toy_space, 12)
    before = sorted(p.name for p in tmp_path.rglob("*"))
    argv = [a.format(db=db, tmp=tmp_path) for a in args]
    code, _, err = run_cli(*argv)
    assert code == 2, err
    assert message in err and len(err.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.rglob("*")) == before
    assert CostStore().list() == []


def test_drift_flagged_rows_are_used_only_when_asked(tmp_path, toy_space, run_cli) -> None:
    from nascost.data import CostDatabase

    db = make_db(tmp_path / "c.db", toy_space, 20)
    with CostDatabase(db) as handle:
        group = handle.groups()[0]
        handle.flag_drift(group, sorted(handle.keys(group)))
    code, _, err = run_cli("fit", "--db", str(db), "--predictor", "ridge", "-o", str(tmp_path / "r.nascost"))
    assert code == 2 and "--include-flagged" in err
    code, _, err = run_cli("fit", "--db", str(db), "--predictor", "ridge", "-o", str(tmp_path / "r.nascost"),
                           "--include-flagged")
    assert code == 0, err
    assert read_metadata(tmp_path / "r.nascost").n_train == 18


def test_cli_builds_a_lut_in_a_custom_setting_that_compare_finds(tmp_path, toy_space, run_cli, register_plugin) -> None:
    """A lut built on the data's device and setting (overrides included) is used by compare."""
    from conftest import ParamCounter

    from nascost.hookspecs import hookimpl

    class P:
        @hookimpl
        def register_cost_measurers(self, register):
            register(ParamCounter)

    register_plugin(P())
    code, _, err = run_cli("fit", "--predictor", "lut", "--space", "toy", "--setting", "tiny", "--channels", "6",
                           "--measurer", "param-counter", "--as-cost", "toy-lut")
    assert code == 0, err
    (entry,) = CostStore().list()
    assert entry.metadata.setting.channels == 6 and entry.metadata.unit == "params"
    device = ParamCounter().device_info()
    assert entry.metadata.device.fingerprint == device.fingerprint
    db = make_db(tmp_path / "c.db", toy_space, 40, device=device, setting=toy_space.setting("tiny", channels=6),
                 measurer="param-counter")
    res = compare_predictors(load_data(db, space="toy"), ["lut"], space=toy_space)
    assert res["lut"]["available"] and res["lut"]["kendall_tau"] is not None
    assert res["lut"]["fit_time_s"] is None and res["lut"]["build_time_s"] is None  # built elsewhere: not timed
    # data of another measurer on the same device and setting is not the table's
    timed = make_db(tmp_path / "t.db", toy_space, 40, device=device, setting=toy_space.setting("tiny", channels=6))
    res = compare_predictors(load_data(timed, space="toy"), ["lut"], space=toy_space)
    assert not res["lut"]["available"] and "--measurer cpu-timer" in res["lut"]["reason"]
    other = make_db(tmp_path / "o.db", toy_space, 40, device=device)  # channels 4: no table for it
    assert not compare_predictors(load_data(other, space="toy"), ["lut"], space=toy_space)["lut"]["available"]


def test_cli_fit_and_compare_select_noisy_rows_and_campaigns(tmp_path, toy_space, run_cli) -> None:
    import sqlite3

    db = make_db(tmp_path / "c.db", toy_space, 40)
    conn = sqlite3.connect(db)
    conn.execute("UPDATE measurements SET campaign = CASE WHEN id <= 30 THEN 'a' ELSE 'b' END")
    conn.execute("UPDATE measurements SET noisy = 1 WHERE id % 4 = 0")
    conn.commit()
    conn.close()
    out = tmp_path / "r.nascost"
    base = ("fit", "--db", str(db), "--predictor", "ridge", "--val-fraction", "0", "-o", str(out))
    for extra, n_train in (((), 40), (("--exclude-noisy",), 30), (("--campaign", "a"), 30),
                           (("--campaign", "a", "--exclude-noisy"), 23)):
        code, _, err = run_cli(*base, *extra)
        assert code == 0, err
        assert read_metadata(out).n_train == n_train
    code, _, err = run_cli(*base, "--campaign", "c")
    assert code == 2 and "no rows of campaign 'c'" in err and "campaigns: a, b" in err
    code, stdout, err = run_cli("compare", "--db", str(db), "--predictors", "ridge", "--exclude-noisy",
                                "--test-fraction", "0.5", "--json")
    assert code == 0, err
    assert json.loads(stdout)["ridge"]["n_test"] == 15


def test_cli_builds_a_lut_with_measurer_options(tmp_path, toy_space, run_cli) -> None:
    out = tmp_path / "lut.nascost"
    base = ("fit", "--predictor", "lut", "--space", "toy", "--setting", "tiny", "--measurer", "cpu-timer", "-o", str(out))
    code, _, err = run_cli(*base, "--measurer-opt", "runs=0")
    assert code == 2 and "runs" in err and not out.exists()  # the options reach the measurer
    code, _, err = run_cli(*base, "--measurer-opt", "runs=3", "--measurer-opt", "warmup=1")
    assert code == 0, err
    assert read_metadata(out).measurer == "cpu-timer"
    db = make_db(tmp_path / "c.db", toy_space, 20)
    code, _, err = run_cli("fit", "--db", str(db), "--predictor", "ridge", "--measurer-opt", "runs=3")
    assert code == 2 and "--measurer-opt is for building a lut" in err


def test_compare_holds_out_given_architectures(tmp_path, toy_space) -> None:
    data = load_data(make_db(tmp_path / "c.db", toy_space, 40), space="toy")
    held = data.keys[-8:]
    res = compare_predictors(data, ["ridge"], space=toy_space, test_keys=held, train_sizes=[10, 32])
    r = res["ridge"]
    assert r["n_test"] == 8 and r["n_train"] == 32 and r["test_set"] == "given"
    by_key = dict(zip(data.keys, data.values.tolist(), strict=True))
    assert r["test_true"] == [by_key[k] for k in held]  # exactly those rows, none trained on
    with pytest.raises(NascostError, match="leaves 0 rows to train on"):
        compare_predictors(data, ["ridge"], space=toy_space, test_keys=data.keys)


def test_cli_compare_on_a_test_campaign(tmp_path, toy_space, run_cli) -> None:
    import sqlite3

    db = make_db(tmp_path / "c.db", toy_space, 40)
    conn = sqlite3.connect(db)
    conn.execute("UPDATE measurements SET campaign = CASE WHEN id <= 30 THEN 'train' ELSE 'precise' END")
    conn.commit()
    conn.close()
    code, stdout, err = run_cli("compare", "--db", str(db), "--predictors", "ridge", "--test-campaign", "precise",
                                "--json")
    assert code == 0, err
    r = json.loads(stdout)["ridge"]
    assert (r["n_test"], r["n_train"], r["test_set"]) == (10, 30, "given")
    code, stdout, err = run_cli("compare", "--db", str(db), "--predictors", "ridge", "--test-campaign", "precise")
    assert code == 0 and "10 held out (campaign precise)" in stdout
    code, _, err = run_cli("compare", "--db", str(db), "--test-campaign", "nope")
    assert code == 2 and "no rows of campaign 'nope'" in err
    code, _, err = run_cli("compare", "--db", str(db), "--campaign", "train", "--test-campaign", "precise")
    assert code == 2 and "exclude each other" in err


def test_cli_fit_and_compare_with_op_count_inputs(tmp_path, toy_space, run_cli) -> None:
    db = make_db(tmp_path / "c.db", toy_space, 40)
    out = tmp_path / "ridge.nascost"
    code, _, err = run_cli("fit", "--db", str(db), "--predictor", "ridge", "--opt", "inputs=op-counts", "-o", str(out))
    assert code == 0, err
    ridge, meta = load_predictor(out, space=toy_space)
    assert meta.options["inputs"] == "op-counts" and ridge.coef.shape == (4,)  # one cost per operation
    code, stdout, err = run_cli("compare", "--db", str(db), "--predictors", "ridge,lpm", "--opt",
                                "ridge.inputs=op-counts", "--opt", "lpm.epochs=5", "--json")
    assert code == 0, err
    assert json.loads(stdout)["ridge"]["kendall_tau"] is not None
    code, _, err = run_cli("compare", "--db", str(db), "--predictors", "ridge", "--opt", "ridge.inputs=counts")
    assert code == 2 and "inputs" in err
    # a hyphenated predictor name takes options too
    code, stdout, err = run_cli("compare", "--db", str(db), "--predictors", "random-forest", "--opt",
                                "random-forest.inputs=op-counts", "--opt", "random-forest.n-estimators=5", "--json")
    assert code == 0, err
    assert json.loads(stdout)["random-forest"]["kendall_tau"] is not None


def test_every_figure_of_fit_and_compare_has_its_unit(tmp_path, toy_space, run_cli, monkeypatch) -> None:
    import re

    monkeypatch.delenv("COLUMNS", raising=False)  # headers whole (a narrow COLUMNS wraps them)

    db = make_db(tmp_path / "c.db", toy_space, 40)
    code, out, err = run_cli("fit", "--db", str(db), "--predictor", "ridge", "-o", str(tmp_path / "r.nascost"))
    assert code == 0, err
    line = next(x for x in out.splitlines() if x.startswith("trained on"))
    assert re.search(r"MAE [\d.e-]+ ms, MAPE [\d.e-]+%, bias -?[\d.e-]+%, Kendall tau", line), line
    assert re.search(r"within 10%: [\d.]+% of them$", line), line
    code, out, err = run_cli("compare", "--db", str(db), "--predictors", "ridge")
    assert code == 0, err
    for header in ("MAE ms", "MAPE %", "bias %", "within 10% (%)", "fit s"):
        assert header in out


def test_some_drift_flagged_rows_are_left_out_with_a_warning_that_says_how_many(tmp_path, toy_space,
                                                                                 run_cli) -> None:
    from nascost.data import CostDatabase

    db = make_db(tmp_path / "c.db", toy_space, 30)
    with CostDatabase(db) as handle:
        group = handle.groups()[0]
        handle.flag_drift(group, sorted(handle.keys(group))[:10])
    code, _, err = run_cli("fit", "--db", str(db), "--predictor", "ridge", "-o", str(tmp_path / "r.nascost"))
    assert code == 0, err
    warning = [line for line in err.splitlines() if line.startswith("nascost: warning:")]
    assert len(warning) == 1
    assert "10 of 30 rows" in warning[0] and "20 are used" in warning[0]
    assert "cpu-timer-paired" in warning[0] and "--include-flagged" in warning[0]
    assert read_metadata(tmp_path / "r.nascost").n_train == 18  # 20 rows, 10% held out
