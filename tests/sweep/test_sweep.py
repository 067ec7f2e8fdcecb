"""Lambda sweeps end to end on the chain test space with the flops cost: searches, measurements, report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from search.fakes import OPS, ChainSpace

from nascost.errors import NascostError
from nascost.hookspecs import hookimpl
from nascost.sweep import parse_lambdas, run_sweep

SEARCH = {"epochs": 2, "max_steps": 3, "batch_size": 16, "cost_setting": "tiny", "arch_learning_rate": 0.05}


@pytest.fixture
def chain(register_plugin) -> None:
    class P:
        @hookimpl
        def register_search_spaces(register):
            register(ChainSpace)

    register_plugin(P)


def test_parse_lambdas() -> None:
    assert parse_lambdas("0, 0.1,0.2") == [0.0, 0.1, 0.2]
    for bad, msg in (("0,x", "comma-separated"), ("", "empty"), ("0,-1", ">= 0"), ("0.1,0.1", "repeats")):
        with pytest.raises(NascostError, match=msg):
            parse_lambdas(bad)


def test_sweep_searches_measures_trains_and_reports(chain, tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    record = run_sweep(
        space="chain", costs=["flops"], lambdas=[0.0, 1e-3], out=out, dataset="digits", search_options=SEARCH,
        train_preset="quick", train_options={"channels": 4, "layers": 3, "epochs": 1, "max_steps": 2},
        show_progress=False,
    )  # fmt: skip
    assert record["runs"] == ["runs/lambda_0", "runs/lambda_0.001"]
    measured, conv_prob = {}, {}
    for run in record["runs"]:
        d = out / run
        m = json.loads((d / "measurement.json").read_text())
        assert m["measurer"] == "flops" and m["unit"] == "MACs" and m["fingerprint"]
        # flops: the predictor is exact, so measured and predicted agree to the MAC
        assert m["predicted"]["flops"] == pytest.approx(m["median"])
        measured[run] = m["median"]
        weights = [json.loads(line) for line in (d / "arch_weights.jsonl").read_text().splitlines()]
        assert [w["epoch"] for w in weights] == [0, 1] and len(weights[0]["weights"]["alpha"]) == 3
        alpha = torch.tensor(weights[-1]["weights"]["alpha"])
        conv_prob[run] = float(torch.softmax(alpha, -1)[:, OPS.index("conv")].mean())
        assert json.loads((d / "train" / "summary.json").read_text())["epochs"] == 1
    # a MACs penalty steers the architecture weights away from the costly conv
    assert conv_prob["runs/lambda_0.001"] < conv_prob["runs/lambda_0"] - 0.02
    assert measured["runs/lambda_0.001"] <= measured["runs/lambda_0"]
    refs = json.loads((out / "references.json").read_text())
    assert [r["name"] for r in refs] == ["all-conv"] and refs[0]["measured"]["median"] > max(measured.values())
    page = (out / "report.html").read_text()
    assert page.count("data:image/png;base64,") >= 6 and (out / "report-pareto.png").is_file()

    # running it again resumes: nothing is searched, measured or trained twice
    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("*.json") if p.name != "sweep.json"}
    (out / "runs" / "lambda_0.001" / "measurement.json").unlink()
    run_sweep(space="chain", costs=["flops"], lambdas=[0.0, 1e-3], out=out, dataset="digits",
              search_options=SEARCH, train_preset="quick",
              train_options={"channels": 4, "layers": 3, "epochs": 1, "max_steps": 2}, show_progress=False)  # fmt: skip
    for p, stamp in stamps.items():
        if p.name != "measurement.json" or "lambda_0.001" not in str(p):
            assert p.stat().st_mtime_ns == stamp, p
    assert (out / "runs" / "lambda_0.001" / "measurement.json").is_file()


def test_sweep_refuses_other_options_and_foreign_dirs(chain, tmp_path: Path) -> None:
    out = tmp_path / "x"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(NascostError, match="not empty and holds no sweep"):
        run_sweep(space="chain", costs=["flops"], lambdas=[0.0], out=out, search_options=SEARCH)
    out2 = tmp_path / "y"
    out2.mkdir()
    (out2 / "sweep.json").write_text(json.dumps({"space": "chain", "costs": ["flops"], "dataset": "digits",
                                                  "search": {"other": 1}, "calibrate": 0}))  # fmt: skip
    with pytest.raises(NascostError, match="other search options"):
        run_sweep(space="chain", costs=["flops"], lambdas=[0.0], out=out2, search_options=SEARCH)
    with pytest.raises(NascostError, match="unknown executor"):
        run_sweep(space="chain", costs=["flops"], lambdas=[0.0], out=tmp_path / "z", executor="slurm")


def test_cli_sweep_bad_lambdas_is_one_line(run_cli, tmp_path: Path) -> None:
    code, _out, err = run_cli("sweep", "--cost", "flops", "--lambdas", "0,-0.1", "--out", str(tmp_path / "s"))
    assert code == 2 and "lambda must be >= 0" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "s").exists()
    code, _out, err = run_cli("sweep", "--cost", "cpu-lpmm", "--out", str(tmp_path / "s"))
    assert code == 2 and "unknown cost 'cpu-lpmm'" in err and "did you mean 'cpu-lpm'" in err
    assert not (tmp_path / "s").exists()


@pytest.mark.ray
def test_sweep_on_a_local_ray_instance(chain, tmp_path: Path) -> None:
    import ray

    tests_dir = str(Path(__file__).resolve().parents[1])  # workers import the chain space from search.fakes
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": tests_dir}})  # fmt: skip
    try:
        record = run_sweep(space="chain", costs=["flops"], lambdas=[1e-3], out=tmp_path / "s",
                           dataset="digits", search_options=SEARCH, references=False, executor="ray",
                           resources={"cpu": 1}, show_progress=False)  # fmt: skip
    finally:
        ray.shutdown()
    for run in record["runs"]:
        assert (tmp_path / "s" / run / "genotype.json").is_file()
        assert (tmp_path / "s" / run / "measurement.json").is_file()


def test_sweep_trains_each_derived_cell_with_several_seeds(chain, tmp_path: Path) -> None:
    """--train-seeds: one training per seed, and the report shows their mean and spread."""
    from nascost.report import load_run

    out = tmp_path / "sweep"
    train_options = {"channels": 4, "layers": 3, "epochs": 1, "max_steps": 2, "seed": 5}
    record = run_sweep(space="chain", costs=["flops"], lambdas=[0.0], out=out, dataset="digits",
                       search_options=SEARCH, train_preset="quick", train_options=train_options, train_seeds=3,
                       references=False, show_progress=False)  # fmt: skip
    assert record["train_seeds"] == 3
    run = out / "runs" / "lambda_0"
    seeds = [json.loads((run / d / "summary.json").read_text())["config"]["seed"]
             for d in ("train", "train-seed1", "train-seed2")]  # fmt: skip
    assert seeds == [5, 6, 7]
    accs = [json.loads((run / d / "summary.json").read_text())["test_acc"] for d in ("train", "train-seed1", "train-seed2")]
    loaded = load_run(run)
    assert loaded.train_accuracies == accs
    assert loaded.accuracy == pytest.approx(sum(accs) / 3)
    assert f"{loaded.accuracy:.2f} ± " in (out / "report.html").read_text()
    with pytest.raises(NascostError, match="at least 1"):
        run_sweep(space="chain", costs=["flops"], lambdas=[0.0], out=tmp_path / "z", train_seeds=0)


def test_sweep_with_seeds_combines_each_lambdas_searches(chain, tmp_path: Path) -> None:
    """--seeds: several searches per lambda, and the cell their mean weights derive, measured and reported."""
    from nascost.derive import derive_from_runs

    out = tmp_path / "sweep"
    options = {**SEARCH, "seed": 4}
    record = run_sweep(space="chain", costs=["flops"], lambdas=[1e-3], out=out, dataset="digits",
                       search_options=options, seeds=2, references=False, show_progress=False)  # fmt: skip
    assert record["seeds"] == 2
    assert record["runs"] == ["runs/lambda_0.001", "runs/lambda_0.001-seed1", "runs/lambda_0.001-combined"]
    seeds = [json.loads((out / r / "config.json").read_text())["search"]["seed"] for r in record["runs"][:2]]
    assert seeds == [4, 5]
    combined = out / "runs" / "lambda_0.001-combined"
    arch, report = derive_from_runs([out / r for r in record["runs"][:2]])
    assert json.loads((combined / "genotype.json").read_text()) == {"space": "chain", **arch.spec}
    summary = json.loads((combined / "summary.json").read_text())
    assert summary["combined"]["runs"] == ["lambda_0.001", "lambda_0.001-seed1"]
    assert summary["combined"]["each"] == report["each"]
    alphas = [torch.load(out / r / "checkpoint.pt", weights_only=True)["supernet"]["alpha"] for r in record["runs"][:2]]
    mean = torch.stack([torch.softmax(a.double(), -1) for a in alphas]).mean(0)
    assert torch.tensor(summary["combined"]["probabilities"]["alpha"]) == pytest.approx(mean, abs=1e-6)
    assert summary["weights"] == report["weights"] and "flops" in summary["predicted_cost"]
    assert (out / "report-02-lambda_0.001-combined-final-weights.png").is_file()  # the mean weights, drawn
    for run in record["runs"]:  # each seed's cell and the combined one measured alike
        m = json.loads((out / run / "measurement.json").read_text())
        assert m["predicted"]["flops"] == pytest.approx(m["median"])
    assert "lambda_0.001-combined" in (out / "report.html").read_text()

    # resuming changes nothing; a third seed is searched and the combination redone from all three
    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("*.json") if p.name != "sweep.json"}
    run_sweep(space="chain", costs=["flops"], lambdas=[1e-3], out=out, dataset="digits",
              search_options=options, seeds=2, references=False, show_progress=False)  # fmt: skip
    assert all(p.stat().st_mtime_ns == stamp for p, stamp in stamps.items())
    record = run_sweep(space="chain", costs=["flops"], lambdas=[1e-3], out=out, dataset="digits",
                       search_options=options, seeds=3, references=False, show_progress=False)  # fmt: skip
    assert "runs/lambda_0.001-seed2" in record["runs"]
    summary = json.loads((combined / "summary.json").read_text())
    assert summary["combined"]["runs"] == ["lambda_0.001", "lambda_0.001-seed1", "lambda_0.001-seed2"]
    assert (combined / "measurement.json").is_file()

    # a combination that changes its cell drops the trainings of the older cell
    summary = json.loads((combined / "summary.json").read_text())
    summary["genotype"] = {"ops": ["other"]}
    (combined / "summary.json").write_text(json.dumps(summary))
    (combined / "measurement.json").unlink()
    (combined / "train").mkdir()
    (combined / "train" / "summary.json").write_text("{}")
    run_sweep(space="chain", costs=["flops"], lambdas=[1e-3], out=out, dataset="digits",
              search_options=options, seeds=3, references=False, show_progress=False)  # fmt: skip
    assert not (combined / "train").exists() and (combined / "measurement.json").is_file()

    # --combine median: the combinations are derived again, nothing is searched again
    searched = {p: p.stat().st_mtime_ns for r in record["runs"] if not r.endswith("combined")
                for p in (out / r).rglob("*")}
    record = run_sweep(space="chain", costs=["flops"], lambdas=[1e-3], out=out, dataset="digits",
                       search_options=options, seeds=3, combine="median", references=False,
                       show_progress=False)  # fmt: skip
    assert record["combine"] == "median"
    assert all(p.stat().st_mtime_ns == stamp for p, stamp in searched.items())
    summary = json.loads((combined / "summary.json").read_text())
    arch, _ = derive_from_runs([out / r for r in record["runs"][:3]], combine="median")
    assert summary["combined"]["combine"] == "median" and summary["genotype"] == arch.spec
    assert (combined / "measurement.json").is_file()
    with pytest.raises(NascostError, match="unknown --combine"):
        run_sweep(space="chain", costs=["flops"], lambdas=[0.0], out=tmp_path / "z", combine="mode")
    with pytest.raises(NascostError, match="--seeds must be at least 1"):
        run_sweep(space="chain", costs=["flops"], lambdas=[0.0], out=tmp_path / "z", seeds=0)
