"""``nascost search``: a real pcdarts run with a predictor file, and every bad input (exit 2)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from nascost import plugins
from nascost.predict import make_metadata, save_predictor

TINY = ["--C", "4", "--layers", "3", "--epochs", "1", "--max-steps", "2", "--batch-size", "16",
        "--arch-frozen-epochs", "0", "--dataset", "synthetic", "--threads", "1",
        "--data-opt", "size=64", "--data-opt", "test_size=16", "--data-opt", "input_size=8"]


def lpm_file(tmp_path: Path, space_name: str, recorded_space: str | None = None, **fields: object) -> Path:
    """A real (tiny) LPM fitted on random costs of ``space_name``, saved as a predictor file.

    ``recorded_space`` is the space its metadata names (default: ``space_name``); ``fields``
    are more metadata (measurer, reference_latency, ...).
    """
    space = plugins.get_space(space_name)
    archs = space.sample_many(40, 0)
    x = space.encode(archs)
    y = x @ torch.linspace(0.5, 2.0, x.shape[1]) + 1.0  # ops later in the encoding cost more
    pred = plugins.get_predictor("lpm", {"epochs": 30})
    pred.fit(x, y)
    meta = make_metadata(
        pred, space=recorded_space or space.name, encoding_id=space.encoding_id, encoding_dim=space.encoding_dim,
        setting=space.setting("cifar-small", channels=4, layers=3), batch_size=1, unit="ms", n_train=40, **fields,
    )
    return save_predictor(pred, tmp_path / f"{space_name}-lpm.nascost", meta)


@pytest.fixture(scope="module")
def pcdarts_lpm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return lpm_file(tmp_path_factory.mktemp("pred"), "pcdarts")


def test_search_pcdarts_with_predictor_file_end_to_end(run_cli, tmp_path: Path, pcdarts_lpm: Path) -> None:
    out = tmp_path / "run"
    # --config keys are the long flag names (other search options: ``opt: ['key=value']``); flags win
    cfg = tmp_path / "search.yaml"
    cfg.write_text("space: pcdarts\nlambda: 0.5\nsamples: 7\n")
    code, stdout, err = run_cli(
        "search", "--config", str(cfg), "--cost", f"{pcdarts_lpm}:0.2", *TINY, "--out", str(out), "--json", "-q"
    )
    assert code == 0, err
    summary = json.loads(stdout)
    assert summary["space"] == "pcdarts" and len(summary["genotype"]["normal"]) == 8
    assert summary["predicted_cost"]["pcdarts-lpm"]["unit"] == "ms"
    assert summary["counts"]["params"] > 0 and summary["counts"]["macs"] > 0
    assert (out / "genotype.json").is_file() and (out / "genotypes" / "epoch_000.json").is_file()
    row = json.loads((out / "metrics.jsonl").read_text().splitlines()[0])
    assert row["cost_term"] > 0 and row["derived_cost"]["pcdarts-lpm"] > 0
    config = json.loads((out / "config.json").read_text())
    assert config["costs"][0]["lambda"] == 0.2  # the cost's own lambda beats --lambda from the file
    assert config["search"]["lambda"] == 0.5 and config["search"]["samples"] == 7
    assert config["search"]["batch_size"] == 16 and config["search"]["learning_rate"] == 0.1  # pcdarts default lr
    assert config["search"]["dataset_options"] == {"size": 64, "test_size": 16, "input_size": 8}
    # a second run into the same directory is refused
    code, _, err = run_cli("search", "--space", "pcdarts", "--cost", f"{pcdarts_lpm}:0.2", *TINY, "--out", str(out), "-q")
    assert code == 2 and "not empty" in err


def _one_line_exit_2(result: tuple[int, str, str], *words: str) -> None:
    code, _, err = result
    assert code == 2, err
    line = err.strip()
    assert "\n" not in line and line.startswith("nascost: error:")
    for w in words:
        assert w in line, line


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--space", "nope"], ["unknown search space", "pcdarts"]),
        (["--dataset", "nope"], ["unknown dataset", "digits"]),
        (["--cost", "nope-lpm"], ["unknown cost", "cpu-lpm"]),
        (["--cost", "cpu-lpm", "--lambda", "-1"], ["lambda"]),
        (["--cost", "cpu-lpm:-0.5"], ["lambda"]),
        (["--cost", "cpu-lpm", "--target", "25parsecs"], ["unknown unit", "parsecs"]),
        (["--cost", "cpu-lpm"], ["no cost 'cpu-lpm'", "nascost collect", "nascost fit", "--calibrate"]),
    ],
)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(run_cli, tmp_path: Path, args, words) -> None:
    out = tmp_path / "run"
    _one_line_exit_2(run_cli("search", *args, "--out", str(out), "-q"), *words)
    assert not out.exists() or not any(out.iterdir())


def test_cost_fitted_for_another_space_is_refused(run_cli, tmp_path: Path) -> None:
    # same encoding width, but fitted for a space outside the DARTS family
    other = lpm_file(tmp_path, "darts", recorded_space="nas-bench-201")
    out = tmp_path / "run"
    _one_line_exit_2(run_cli("search", "--space", "pcdarts", "--cost", str(other), "--out", str(out), "-q"),
                     "space 'nas-bench-201'", "pcdarts")
    assert not out.exists() or not any(out.iterdir())


def test_target_in_another_kind_of_unit_is_refused(run_cli, tmp_path: Path, pcdarts_lpm: Path) -> None:
    out = tmp_path / "run"
    _one_line_exit_2(
        run_cli("search", "--space", "pcdarts", "--cost", str(pcdarts_lpm), "--target", "3mJ", "--out", str(out), "-q"),
        "3mJ",
    )
    assert not out.exists() or not any(out.iterdir())


def test_corrupt_checkpoint_on_resume(run_cli, tmp_path: Path, pcdarts_lpm: Path) -> None:
    out = tmp_path / "run"
    out.mkdir()
    (out / "checkpoint.pt").write_bytes(b"\x80\x02garbage")
    (out / "metrics.jsonl").write_text('{"stage": 0, "epoch": 0}\n')
    _one_line_exit_2(
        run_cli("search", "--space", "pcdarts", "--cost", str(pcdarts_lpm), *TINY, "--out", str(out), "--resume", "-q"),
        "corrupt",
    )
    assert (out / "checkpoint.pt").read_bytes() == b"\x80\x02garbage"
    assert (out / "metrics.jsonl").read_text() == '{"stage": 0, "epoch": 0}\n'
    assert sorted(p.name for p in out.iterdir()) == ["checkpoint.pt", "metrics.jsonl"]


def test_final_measurement_of_a_paired_predictor_file_is_on_its_scale(run_cli, tmp_path: Path) -> None:
    """A predictor file fitted on paired timings: the derived cell is measured on its data's scale.

    Paired timing reports t_model / t_reference * anchor; the search once dropped a file's
    anchor, so the reference was re-measured on the spot (under load: 2-3x off the scale).
    """
    pred = lpm_file(tmp_path, "pcdarts", measurer="cpu-timer-paired", reference_latency=1000.0)
    out = tmp_path / "run"
    code, stdout, err = run_cli("search", "--cost", str(pred), "--space", "pcdarts", *TINY,
                                "--opt", "measure_final=true", "--opt", "measure_references=false",
                                "--out", str(out), "--json", "-q")
    assert code == 0, err
    measured = json.loads(stdout)["measured_cost"]["pcdarts-lpm"]
    assert measured["anchor"] == 1000.0
    # the tiny network's own latency is a few ms; on a 1000 ms reference's scale it is hundreds
    assert measured["value"] > 50


def test_calibrate_then_reinforce_with_non_differentiable_predictor(run_cli, register_plugin, tmp_path: Path) -> None:
    """--calibrate measures (flops measurer), fits xgboost, and REINFORCE lets it drive pcdarts."""
    from nascost.cost import Cost
    from nascost.hookspecs import hookimpl

    class Recipe:
        @hookimpl
        def register_costs(self, register) -> None:
            register(Cost.define("test-flops-xgb", measurer="flops", predictor="xgboost"))

    register_plugin(Recipe())
    out = tmp_path / "run"
    code, stdout, err = run_cli(
        "search", "--space", "pcdarts", "--cost", "test-flops-xgb", "--estimator", "reinforce", "--lambda", "1e-6",
        "--calibrate", "24", "--cost-setting", "cifar-small", "--opt", "measure_references=false",
        "--opt", 'cost_setting_overrides={"channels": 4, "layers": 3, "input_size": 8}',
        *TINY, "--out", str(out), "--json", "-q",
    )
    assert code == 0, err
    summary = json.loads(stdout)
    assert (out / "calibration.db").is_file() and (out / "costs" / "test-flops-xgb.nascost").is_file()
    assert summary["predicted_cost"]["test-flops-xgb"]["unit"] == "MACs"
    measured = summary["measured_cost"]["test-flops-xgb"]
    assert measured["value"] == summary["counts"]["macs"]  # the flops measurer counts the same MACs
    space = plugins.get_space("pcdarts")
    seen = space.decode(space.encode([space.validate(summary["genotype"])])[0])
    setting = space.setting("cifar-small", channels=4, layers=3, input_size=8)
    if space.count(seen, setting) != summary["counts"]:  # derived reduction cell != the encoding's fixed one
        assert measured["as_encoded"]["value"] == space.count(seen, setting)["macs"]
    else:
        assert "as_encoded" not in measured
    row = json.loads((out / "metrics.jsonl").read_text().splitlines()[0])
    assert row["expected_cost"]["test-flops-xgb"] > 0


def test_offline_cifar10_fails_before_writing(run_cli, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import urllib.error

    import torchvision.datasets

    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(torchvision.datasets, "CIFAR10", offline)
    out = tmp_path / "run"
    _one_line_exit_2(run_cli("search", "--dataset", "cifar10", "--out", str(out), "-q"), "imagefolder:PATH", "digits")
    assert not out.exists()


def test_quickstart_settings_are_a_valid_paired_search_and_its_help_says_so(run_cli) -> None:
    from nascost.cli.search import QUICKSTART
    from nascost.search import SearchConfig

    config = SearchConfig.build(dict(QUICKSTART))
    assert config.calibrate > 0 and config.dataset == "digits"
    (cost,) = config.costs
    recipe = plugins.get_cost(cost.name)
    assert plugins.get_measurer(recipe.measurer).paired, "the quick start calibrates with paired timing"
    code, out, err = run_cli("quickstart", "-h")
    assert code == 0, err
    help_text = " ".join(out.split())
    assert f"--cost {cost.name} " in help_text and f"--calibrate {QUICKSTART['calibrate']} " in help_text
    assert f"--lambda {QUICKSTART['lambda']} " in help_text and f"--epochs {QUICKSTART['epochs']} " in help_text


def test_final_measurement_also_measures_what_a_normal_cell_predictor_sees() -> None:
    """The paper's encoding holds the normal cell: the fixed reduction cell stands in for the derived one."""
    from nascost.search import _as_encoded

    space = plugins.get_space("darts", {"cells": "normal"})
    setting = space.setting("cifar-small", channels=4, layers=3, input_size=8)
    assert _as_encoded(space, space.resolve("DARTS_V2"), setting) is None  # its reduction cell is the fixed one
    pc = space.resolve("PC_DARTS_cifar")
    seen = _as_encoded(space, pc, setting)
    assert seen is not None and seen.spec["reduce"] == space.resolve("DARTS_V2").spec["reduce"]
    assert space.encode([seen]).equal(space.encode([pc]))  # the same normal cell, as the predictor sees it
    # by default the encoding holds both cells: the predictor sees the derived network itself
    both = plugins.get_space("darts")
    assert _as_encoded(both, pc, setting) is None and _as_encoded(both, both.resolve("DARTS_V2"), setting) is None


@pytest.fixture
def never_cost(register_plugin) -> str:
    """A cost recipe whose measurer never runs here (as gpu-lpm on a machine without CUDA)."""
    from measure.fakes import UnavailableMeasurer

    from nascost.cost import Cost
    from nascost.hookspecs import hookimpl

    class Recipe:
        @hookimpl
        def register_costs(self, register) -> None:
            register(Cost.define("never-lpm", measurer="never"))

        @hookimpl
        def register_cost_measurers(self, register) -> None:
            register(UnavailableMeasurer)

    register_plugin(Recipe())
    return "never-lpm"


@pytest.mark.parametrize("extra", [[], ["--calibrate", "5"]])
def test_a_cost_that_cannot_measure_here_says_so_first_and_names_what_can(run_cli, tmp_path: Path, never_cost,
                                                                          extra) -> None:
    out = tmp_path / "run"
    code, _, err = run_cli("search", "--cost", never_cost, *extra, *TINY, "--out", str(out))  # not quiet
    assert code == 2, err
    line = err.strip()
    assert "\n" not in line, line  # nothing announced ("output in ...") before the error
    assert line.startswith("nascost: error: cost 'never-lpm' cannot measure on this machine: "
                           "this test measurer is never available (its measurer is 'never')")
    assert "cpu-lpm" in line and "cpu-paired-lpm" in line and "cpu-timer-paired" in line
    assert "nascost collect" not in line  # no advice to collect with a measurer that cannot run
    assert not out.exists()


def test_sweep_validates_before_it_writes(run_cli, tmp_path: Path, never_cost) -> None:
    out = tmp_path / "sweep"
    code, _, err = run_cli("sweep", "--cost", never_cost, "--calibrate", "5", "--out", str(out))
    assert code == 2 and "cannot measure on this machine" in err and "\n" not in err.strip()
    assert not out.exists()


def test_output_is_announced_once_validated(run_cli, tmp_path: Path, pcdarts_lpm: Path) -> None:
    out = tmp_path / "run"
    code, _, err = run_cli("search", "--cost", str(pcdarts_lpm), *TINY, "--out", str(out))
    assert code == 0, err
    assert f"pcdarts on synthetic: output in {out}" in " ".join(err.split())  # rich wraps long lines


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_gpu_cost_without_cuda_names_the_cpu_costs(run_cli, tmp_path: Path) -> None:
    _one_line_exit_2(run_cli("search", "--cost", "gpu-lpm", "--out", str(tmp_path / "r")),
                     "cost 'gpu-lpm' cannot measure on this machine: no CUDA device", "cpu-paired-lpm", "cpu-timer")
