"""Probes: resuming after a kill, with changed options and with leftovers of the kill (items 6, 10)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from measure.fakes import CostModelMeasurer
from search.fakes import ChainSpace, LinearCost
from training.tiny import tiny_space  # noqa: F401  (fixture)

from nascost import plugins
from nascost.errors import NascostError
from nascost.search import ResolvedCost, SearchConfig, SearchInterrupted, run_search
from nascost.train import make_config, train

from .conftest import temp_files


class _Kill(Exception):
    pass


def _quick(**kw):
    return make_config("quick", **{"channels": 8, "layers": 2, "epochs": 2, "batch_size": 64, "lr": 0.1,
                                   "max_steps": 2, **kw})


def _killed_training(space, out: Path, cfg) -> None:
    def kill(msg: str) -> None:
        if msg.startswith("epoch 1/"):
            raise _Kill

    with pytest.raises(_Kill):
        train(space, space.presets()["ALLCONV"], plugins.get_dataset("digits"), out, cfg, log=kill)


@pytest.mark.parametrize(("change", "named"), [
    ({"lr": 0.2}, "lr 0.1 -> 0.2"),
    ({"epochs": 3}, "epochs 2 -> 3"),
    ({"channels": 12}, "channels 8 -> 12"),
])
def test_train_resume_with_changed_options_names_them(tiny_space, tmp_path: Path, change, named) -> None:  # noqa: F811
    out = tmp_path / "run"
    _killed_training(tiny_space, out, _quick())
    before = (out / "config.json").read_bytes()
    with pytest.raises(NascostError, match="started with other options") as info:
        train(tiny_space, tiny_space.presets()["ALLCONV"], plugins.get_dataset("digits"), out,
              _quick(**change), resume=True)
    assert named in str(info.value) and len(str(info.value)) < 400 and "\n" not in str(info.value)
    assert (out / "config.json").read_bytes() == before


def test_train_resume_removes_a_killed_checkpoint_write(tiny_space, tmp_path: Path) -> None:  # noqa: F811
    out = tmp_path / "run"
    _killed_training(tiny_space, out, _quick())
    (out / ".checkpoint.pt.k1ll3d.tmp").write_bytes(b"half a checkpoint")
    summary = train(tiny_space, tiny_space.presets()["ALLCONV"], plugins.get_dataset("digits"), out, _quick(),
                    resume=True)
    assert summary["epochs"] == 2 and not temp_files(out)


BASE = {"space": "chain", "dataset": "digits", "epochs": 2, "max_steps": 2, "batch_size": 16,
        "costs": ["fake-linear"]}


def _search(out: Path, resume: bool = False, on_epoch_end=None, **options):
    cfg = SearchConfig.build({**BASE, **options})
    costs = [ResolvedCost(name="fake-linear", fn=LinearCost(), unit="ms")]
    return run_search(cfg, out, costs=costs, space=ChainSpace(), show_progress=False, resume=resume,
                      on_epoch_end=on_epoch_end)


def _stop(row: dict) -> None:
    if row["epoch"] == 0:
        raise SearchInterrupted


def test_search_resume_with_changed_options_names_them(tmp_path: Path) -> None:
    out = tmp_path / "run"
    with pytest.raises(SearchInterrupted):
        _search(out, on_epoch_end=_stop)
    with pytest.raises(NascostError, match=r"started with other options \(batch_size 16 -> 32"):
        _search(out, resume=True, batch_size=32)


def test_search_resume_removes_a_killed_checkpoint_write(tmp_path: Path) -> None:
    out = tmp_path / "run"
    with pytest.raises(SearchInterrupted):
        _search(out, on_epoch_end=_stop)
    (out / ".checkpoint.pt.k1ll3d.tmp").write_bytes(b"half a checkpoint")
    _search(out, resume=True)
    assert (out / "genotype.json").is_file() and not temp_files(out)


class _KillingMeasurer(CostModelMeasurer):
    """Deterministic costs; raises KeyboardInterrupt (a Ctrl-C) at measurement ``kill_at``."""

    name = "killing-costmodel"
    kill_at: int | None = None
    calls = 0

    def measure(self, model, example_input):
        type(self).calls += 1
        if type(self).kill_at is not None and type(self).calls == type(self).kill_at:
            raise KeyboardInterrupt
        return super().measure(model, example_input)


@pytest.fixture
def killing_recipe(register_plugin) -> type[_KillingMeasurer]:
    from nascost.cost import Cost
    from nascost.hookspecs import hookimpl

    class Plugin:
        @hookimpl
        def register_cost_measurers(self, register) -> None:
            register(_KillingMeasurer)

        @hookimpl
        def register_costs(self, register) -> None:
            register(Cost.define("killing-ridge", measurer="killing-costmodel", predictor="ridge"))

        @hookimpl
        def register_search_spaces(self, register) -> None:
            register(ChainSpace)

    register_plugin(Plugin())
    _KillingMeasurer.calls, _KillingMeasurer.kill_at = 0, None
    return _KillingMeasurer


def _calibrated(out: Path, resume: bool = False, force: bool = False):
    cfg = SearchConfig.build({**BASE, "costs": ["killing-ridge"], "calibrate": 12})
    return run_search(cfg, out, space=ChainSpace(), show_progress=False, resume=resume, force=force)


def test_a_search_killed_while_calibrating_resumes_its_campaign(killing_recipe, tmp_path: Path) -> None:
    from nascost.data import CostDatabase

    full = _calibrated(tmp_path / "full")
    calls_full = killing_recipe.calls  # 12 calibration measurements and the derived cell's
    out = tmp_path / "killed"
    killing_recipe.calls, killing_recipe.kill_at = 0, 8
    with pytest.raises(KeyboardInterrupt):
        _calibrated(out)
    with CostDatabase(out / "calibration.db") as db:
        measured = db.count()
    assert 0 < measured < 12
    with pytest.raises(NascostError, match="not empty; use --resume"):
        _calibrated(out)
    killing_recipe.calls, killing_recipe.kill_at = 0, None
    resumed = _calibrated(out, resume=True)
    assert killing_recipe.calls == calls_full - measured  # only the rest was measured: nothing twice
    with CostDatabase(out / "calibration.db") as db:
        assert db.count() == 12
    assert resumed.architecture.spec == full.architecture.spec


def test_a_sweep_search_killed_after_its_checkpoint_keeps_epoch_0_of_its_weights(tmp_path: Path) -> None:
    import json

    from nascost.sweep import arch_weight_recorder

    out = tmp_path / "lambda_0"

    def killed_before_recording(row: dict) -> None:  # the kill lands between checkpoint and callback
        raise SearchInterrupted

    with pytest.raises(SearchInterrupted):
        _search(out, on_epoch_end=killed_before_recording)
    assert not (out / "arch_weights.jsonl").exists()
    _search(out, resume=True, on_epoch_end=arch_weight_recorder(out))
    rows = [json.loads(line) for line in (out / "arch_weights.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [0, 1] and all(r["weights"] for r in rows)


def test_a_checkpoint_of_the_wrong_shape_is_refused_before_anything_changes(tmp_path: Path) -> None:
    import torch

    from nascost.files import torch_save
    from nascost.search import CHECKPOINT

    out = tmp_path / "run"
    with pytest.raises(SearchInterrupted):
        _search(out, on_epoch_end=_stop)
    state = torch.load(out / CHECKPOINT, weights_only=True)
    state["supernet"] = {k: torch.zeros(7, 7) for k in state["supernet"]}
    torch_save(state, out / CHECKPOINT)
    before = (out / "metrics.jsonl").read_bytes()
    with pytest.raises(NascostError, match="does not fit this run's supernet") as info:
        _search(out, resume=True)
    assert len(str(info.value)) < 400
    assert (out / "metrics.jsonl").read_bytes() == before


def test_resume_accepts_a_run_started_before_an_option_existed(tmp_path):
    """A saved run lacking a newer option resumes when that option is at its default, not otherwise."""
    import pydantic
    import pytest

    from nascost.config import check_resume_options
    from nascost.errors import NascostError

    class Options(pydantic.BaseModel):
        lr: float = 0.1
        trust_region: str = "off"
        betas: tuple[float, float] = (0.5, 0.999)

    saved = {"lr": 0.1}  # written by an older version, before trust_region and betas existed
    check_resume_options(saved, Options().model_dump(mode="json"), out=tmp_path, model=Options)
    with pytest.raises(NascostError, match="trust_region"):
        check_resume_options(saved, Options(trust_region="penalty").model_dump(mode="json"), out=tmp_path,
                             model=Options)
    with pytest.raises(NascostError, match="trust_region"):  # without the model every new key is a change
        check_resume_options(saved, Options().model_dump(mode="json"), out=tmp_path)


@pytest.mark.parametrize("flag", [["--arch-lr", "1e38"], ["--lr", "1e30"]])
def test_a_diverging_search_stops_with_one_line_and_saves_nothing_of_it(run_cli, tmp_path, flag) -> None:
    """A NaN loss or architecture weight stops the search: no checkpoint, genotype or metrics row of NaN."""
    out = tmp_path / "run"
    code, _, err = run_cli("search", "--space", "darts", "--dataset", "synthetic", "--channels", "4", "--layers", "3",
                           "--epochs", "2", "--max-steps", "2", "--arch-frozen-epochs", "0", *flag, "--out", str(out),
                           "-q")
    assert code == 2
    assert "the search diverged at epoch 1/2" in err and "--force" in err and len(err.strip().splitlines()) == 1
    assert not (out / "checkpoint.pt").exists() and not (out / "genotype.json").exists()
    assert not (out / "metrics.jsonl").exists() or (out / "metrics.jsonl").read_text() == ""


def test_binary_bytes_in_a_runs_metrics_are_dropped_on_resume_and_named_by_report(run_cli, tmp_path: Path) -> None:
    out = tmp_path / "run"
    with pytest.raises(SearchInterrupted):
        _search(out, on_epoch_end=_stop)
    with (out / "metrics.jsonl").open("ab") as f:
        f.write(b"\x00\xff\xfe half a row written by a failing disk\n")
    code, _, err = run_cli("report", str(out), "-o", str(tmp_path / "r.html"))
    assert code == 2 and "metrics.jsonl" in err and "not text" in err and not (tmp_path / "r.html").exists()
    _search(out, resume=True)  # the damaged line goes, the epoch-0 row stays
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [0, 1]
