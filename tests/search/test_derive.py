"""``nascost derive``: one architecture from several finished searches' final weights."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from nascost.derive import derive_from_runs
from nascost.errors import NascostError
from nascost.search import CHECKPOINT, ResolvedCost, SearchConfig, run_search
from search.fakes import OPS, ChainPlugin, ChainSpace, LinearCost

BASE = {"space": "chain", "dataset": "digits", "epochs": 2, "max_steps": 4, "batch_size": 16,
        "arch_learning_rate": 0.05, "costs": ["fake-linear"], "lambda": 0.3}


@pytest.fixture
def runs(tmp_path: Path, register_plugin) -> list[Path]:
    register_plugin(ChainPlugin())
    out = []
    for seed in (0, 1, 2):
        run = tmp_path / f"seed{seed}"
        run_search(SearchConfig.build({**BASE, "seed": seed}), run, space=ChainSpace(), show_progress=False,
                   costs=[ResolvedCost(name="fake-linear", fn=LinearCost(), unit="ms")])
        out.append(run)
    return out


def _alpha(run: Path) -> torch.Tensor:
    return torch.load(run / CHECKPOINT, weights_only=True)["supernet"]["alpha"]


def test_the_mean_probabilities_of_the_runs_derive_the_architecture(runs: list[Path]) -> None:
    arch, report = derive_from_runs(runs)
    mean = torch.stack([torch.softmax(_alpha(r), -1) for r in runs]).mean(0)
    assert arch.spec["ops"] == [OPS[int(i)] for i in mean.argmax(-1)]
    space = ChainSpace()
    assert report["each"] == [space.format_arch(space.validate(json.loads((r / "genotype.json").read_text())))
                              for r in runs]
    top = mean.topk(2, -1).values
    assert report["weights"]["min_gap"] == pytest.approx(float((top[:, 0] - top[:, 1]).min()), abs=1e-6)
    one, _ = derive_from_runs(runs[:1])  # one run: its own architecture again
    assert one.spec["ops"] == json.loads((runs[0] / "genotype.json").read_text())["ops"]


def test_the_median_is_not_moved_by_one_run_that_went_elsewhere(runs: list[Path]) -> None:
    """Two runs agree, the third is peaked on other operations (a collapsed seed): the mean follows
    the peaked run, the median the two that agree."""
    agree = _alpha(runs[0])
    peaked = torch.full_like(agree, -20.0)
    other = (agree.argmax(-1) + 1) % len(OPS)  # on every edge an operation the two do not pick
    peaked[torch.arange(len(agree)), other] = 20.0
    for run, alpha in ((runs[1], agree), (runs[2], peaked)):
        state = torch.load(run / CHECKPOINT, weights_only=True)
        state["supernet"]["alpha"] = alpha.clone()
        torch.save(state, run / CHECKPOINT)
    mean, _ = derive_from_runs(runs)
    median, report = derive_from_runs(runs, combine="median")
    assert mean.spec["ops"] == [OPS[int(i)] for i in other]
    assert median.spec["ops"] == [OPS[int(i)] for i in agree.argmax(-1)]
    # the reported probabilities: each row the operations' medians, renormalised
    probs = torch.stack([torch.softmax(a.double(), -1) for a in (agree, agree, peaked)])
    expect = probs.median(0).values
    assert report["combine"] == "median"
    assert torch.tensor(report["probabilities"]["alpha"]) == pytest.approx(expect / expect.sum(-1, keepdim=True),
                                                                           abs=1e-6)
    # two runs: the median is their mean
    two_mean, _ = derive_from_runs(runs[1:])
    two_median, _ = derive_from_runs(runs[1:], combine="median")
    assert two_mean.spec == two_median.spec
    with pytest.raises(NascostError, match="unknown combination"):
        derive_from_runs(runs, combine="mode")  # type: ignore[arg-type]


def test_runs_that_cannot_be_combined_are_one_line_errors(runs: list[Path], tmp_path: Path) -> None:
    with pytest.raises(NascostError, match="not a finished search"):
        derive_from_runs([runs[0], tmp_path / "nothing"])
    config = json.loads((runs[1] / "config.json").read_text())
    config["search"]["space"] = "nb201"
    (runs[1] / "config.json").write_text(json.dumps(config))
    with pytest.raises(NascostError, match="combine runs of one space"):
        derive_from_runs(runs[:2])
    state = torch.load(runs[2] / CHECKPOINT, weights_only=True)
    state["supernet"]["alpha"] = torch.zeros(2, len(OPS))
    torch.save(state, runs[2] / CHECKPOINT)
    with pytest.raises(NascostError, match="does not fit"):
        derive_from_runs([runs[0], runs[2]])


def test_cli_derives_writes_the_genotype_and_refuses_bad_runs(runs: list[Path], run_cli, tmp_path: Path) -> None:
    out = tmp_path / "combined.json"
    code, stdout, _ = run_cli("derive", *map(str, runs), "-o", str(out))
    assert code == 0 and "derived from 3 run(s)" in stdout
    arch, _ = derive_from_runs(runs)
    assert json.loads(out.read_text()) == {"space": "chain", **arch.spec}
    code, stdout, _ = run_cli("derive", *map(str, runs), "--combine", "median", "--json")
    assert code == 0 and json.loads(stdout)["combine"] == "median"
    assert json.loads(stdout)["genotype"] == derive_from_runs(runs, combine="median")[0].spec
    code, _, err = run_cli("derive", *map(str, runs), "--combine", "mode")
    assert code == 2 and "mode" in err
    code, stdout, _ = run_cli("derive", str(runs[0]), "--json")
    assert code == 0 and json.loads(stdout)["genotype"]["ops"] == json.loads((runs[0] / "genotype.json").read_text())["ops"]
    code, _, err = run_cli("derive", str(tmp_path / "missing"), "-o", str(tmp_path / "never.json"))
    assert code == 2 and len(err.strip().splitlines()) == 1 and not (tmp_path / "never.json").exists()


def test_multi_stage_runs_are_rebuilt_stage_by_stage(tmp_path: Path, register_plugin) -> None:
    register_plugin(ChainPlugin())
    runs = []
    for seed in (0, 1):
        run = tmp_path / f"staged{seed}"
        run_search(SearchConfig.build({**BASE, "seed": seed, "stages": [{}, {}], "epochs": 1}), run,
                   space=ChainSpace(), show_progress=False,
                   costs=[ResolvedCost(name="fake-linear", fn=LinearCost(), unit="ms")])
        runs.append(run)
    one, _ = derive_from_runs(runs[:1])
    assert one.spec["ops"] == json.loads((runs[0] / "genotype.json").read_text())["ops"]
    both, report = derive_from_runs(runs)
    mean = torch.stack([torch.softmax(_alpha(r), -1) for r in runs]).mean(0)
    assert both.spec["ops"] == [OPS[int(i)] for i in mean.argmax(-1)] and len(report["each"]) == 2


def test_load_supernet_rebuilds_the_final_weights_of_a_run(runs: list[Path]) -> None:
    from nascost.derive import load_supernet

    model, config, dataset = load_supernet(runs[1])
    assert torch.equal(model.alpha.detach(), _alpha(runs[1]))
    assert config.seed == 1 and dataset["num_classes"] == 10
    assert model.derive().spec["ops"] == json.loads((runs[1] / "genotype.json").read_text())["ops"]
    with pytest.raises(NascostError, match="not a finished search"):
        load_supernet(runs[1].parent / "nothing")
