"""Evaluation training: presets, schedules, a real (tiny) training run, resume, summary, CLI."""

from __future__ import annotations

import json
import math

import pytest
import torch

from nascost import plugins
from nascost.counting import count_params
from nascost.errors import NascostError
from nascost.train import (
    PRESETS,
    cutout_,
    drop_path_at,
    learning_rate,
    load_checkpoint,
    make_config,
    train,
)


def test_cifar_preset_is_the_reference_protocol() -> None:
    c = make_config("cifar")
    assert (c.channels, c.layers, c.batch_size, c.epochs) == (36, 20, 96, 600)
    assert (c.lr, c.lr_min, c.schedule, c.momentum, c.weight_decay) == (0.025, 0.0, "cosine", 0.9, 3e-4)
    assert (c.cutout, c.drop_path_prob, c.auxiliary, c.auxiliary_weight, c.grad_clip) == (16, 0.2, True, 0.4, 5.0)


def test_imagenet_preset() -> None:
    c = make_config("imagenet")
    assert (c.family, c.channels, c.layers, c.epochs) == ("imagenet", 48, 14, 250)
    assert (c.label_smoothing, c.weight_decay, c.warmup_epochs, c.schedule) == (0.1, 3e-5, 5, "linear")


def test_unknown_preset_and_bad_option_are_clear_errors() -> None:
    with pytest.raises(NascostError, match=r"unknown training preset 'cifarr'.*did you mean 'cifar'"):
        make_config("cifarr")
    with pytest.raises(NascostError, match="invalid training option 'epochs'"):
        make_config("quick", epochs=0)
    with pytest.raises(NascostError, match="invalid training option 'nope'"):
        make_config("quick", nope=1)


def test_schedules() -> None:
    c = make_config("cifar", epochs=10)
    assert learning_rate(c, 0) == pytest.approx(0.025)
    assert learning_rate(c, 5) == pytest.approx(0.0125)
    assert learning_rate(c, 9) == pytest.approx(0.025 * 0.5 * (1 + math.cos(math.pi * 0.9)))
    i = make_config("imagenet")  # 250 epochs, lr 0.5, 5 warm-up epochs, linear decay
    assert learning_rate(i, 0) == pytest.approx(0.5 * 245 / 245 * 1 / 5)
    assert learning_rate(i, 4) == pytest.approx(0.5 * 241 / 245)
    assert learning_rate(i, 100) == pytest.approx(0.5 * 145 / 245)
    assert learning_rate(i, 247) == pytest.approx(0.5 * 3 / (245 * 5))
    s = make_config("imagenet", schedule="step", warmup_epochs=0, lr=0.1)
    assert learning_rate(s, 3) == pytest.approx(0.1 * 0.97**3)
    assert drop_path_at(c, 0) == 0.0 and drop_path_at(c, 5) == pytest.approx(0.1)


def test_cutout_zeroes_one_clipped_square_per_image() -> None:
    images = torch.ones(64, 3, 32, 32)
    cutout_(images, 16, torch.Generator().manual_seed(0))
    zeros = (images[:, 0] == 0).sum(dim=(1, 2))
    assert (zeros > 0).all() and (zeros <= 256).all()
    assert (images[:, 0] == images[:, 2]).all()  # the same square on every channel
    assert (zeros < 256).any()  # some squares are clipped at the border


def _quick(**kw):
    base = {"channels": 8, "layers": 2, "epochs": 2, "batch_size": 64, "lr": 0.1}
    return make_config("quick", **{**base, **kw})


def test_tiny_training_learns_digits(tiny_space, tmp_path) -> None:
    arch = tiny_space.presets()["ALLCONV"]
    summary = train(tiny_space, arch, plugins.get_dataset("digits"), tmp_path / "run", _quick(epochs=3))
    assert summary["test_acc"] > 50  # chance is 10%
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2, 3]
    assert rows[-1]["train_loss"] < rows[0]["train_loss"]
    assert {"lr", "train_acc", "test_acc", "test_loss", "epoch_time_s", "drop_path_prob"} <= set(rows[0])
    saved = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert saved["test_acc"] == summary["test_acc"]
    assert saved["setting"]["num_classes"] == 10 and saved["setting"]["in_channels"] == 1
    # digits are 8x8: the stand-in's auxiliary head runs there, so it is part of the network
    net = tiny_space.build(arch, tiny_space.setting("cifar10", **{k: saved["setting"][k] for k in (
        "channels", "layers", "num_classes", "input_size", "in_channels")}))  # fmt: skip
    assert saved["params_with_aux"] == count_params(net) > saved["params"] == count_params(net, exclude=("auxiliary",))
    assert saved["macs"] > 0 and saved["epochs"] == 3


def test_auxiliary_head_dropped_where_it_cannot_run(tiny_space, tmp_path) -> None:
    data = plugins.get_dataset("synthetic", {"size": 64, "test_size": 32, "input_size": 16})
    summary = train(tiny_space, tiny_space.presets()["ALLCONV"], data, tmp_path, _quick(epochs=1, max_steps=1))
    assert summary["setting"]["auxiliary"] is False and "auxiliary head off" in summary["note"]
    assert summary["params_with_aux"] == summary["params"]


def test_drop_path_ramps_linearly(tiny_space, tmp_path) -> None:
    cfg = _quick(epochs=3, max_steps=1, drop_path_prob=0.3)
    train(tiny_space, tiny_space.presets()["ALLCONV"], plugins.get_dataset("digits"), tmp_path, cfg)
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["drop_path_prob"] for r in rows] == pytest.approx([0.0, 0.1, 0.2])


class _Kill(Exception):
    pass


def test_resume_after_a_kill_continues_exactly(tiny_space, tmp_path) -> None:
    arch = tiny_space.presets()["ALLCONV"]
    digits = plugins.get_dataset("digits")
    cfg = _quick(epochs=3, max_steps=4, cutout=3)
    full = train(tiny_space, arch, digits, tmp_path / "full", cfg)

    def kill_after_first_epoch(msg: str) -> None:
        if msg.startswith("epoch 2/"):
            raise _Kill

    with pytest.raises(_Kill):
        train(tiny_space, arch, digits, tmp_path / "killed", cfg, log=kill_after_first_epoch)
    assert load_checkpoint(tmp_path / "killed" / "checkpoint.pt")["epoch"] == 2
    assert not (tmp_path / "killed" / "summary.json").exists()
    with pytest.raises(NascostError, match="already holds a training run; add --resume"):
        train(tiny_space, arch, digits, tmp_path / "killed", cfg)
    resumed = train(tiny_space, arch, digits, tmp_path / "killed", cfg, resume=True)
    assert resumed["epochs"] == 3
    a = (tmp_path / "full" / "metrics.jsonl").read_text().splitlines()
    b = (tmp_path / "killed" / "metrics.jsonl").read_text().splitlines()
    strip = lambda rows: [{k: v for k, v in json.loads(r).items() if k != "epoch_time_s"} for r in rows]  # noqa: E731
    assert strip(a) == strip(b)
    assert resumed["test_acc"] == full["test_acc"]
    saved = json.loads((tmp_path / "killed" / "config.json").read_text())
    assert saved["environment"]["torch"] == torch.__version__ and "resumed_environment" not in saved  # same machine


def test_resume_refuses_another_architecture_and_a_corrupt_checkpoint(tiny_space, tmp_path) -> None:
    digits = plugins.get_dataset("digits")
    cfg = _quick(epochs=1, max_steps=1)
    train(tiny_space, tiny_space.presets()["ALLCONV"], digits, tmp_path, cfg)
    with pytest.raises(NascostError, match="another architecture"):
        train(tiny_space, tiny_space.presets()["ALLSKIP"], digits, tmp_path, cfg, resume=True)
    (tmp_path / "checkpoint.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(NascostError, match="unreadable"):
        train(tiny_space, tiny_space.presets()["ALLCONV"], digits, tmp_path, cfg, resume=True)


def test_cli_train_json_summary(tiny_space, run_cli, tmp_path) -> None:
    code, out, err = run_cli(
        "train", "ALLCONV", "--space", "tiny", "--dataset", "digits", "--preset", "quick",
        "--channels", "4", "--layers", "2", "--epochs", "1", "--max-steps", "2",
        "--out", str(tmp_path / "r"), "--json",
    )  # fmt: skip
    assert code == 0, err
    summary = json.loads(out)
    assert {"test_acc", "params", "params_with_aux", "macs", "setting", "architecture"} <= set(summary)
    code, _, err = run_cli("train", "NOPE", "--space", "tiny", "--dataset", "digits", "--out", str(tmp_path / "x"))
    assert code == 2 and "unknown architecture 'NOPE'" in err and "\n" not in err.strip()


def test_cli_train_genotype_file_names_its_space(tiny_space, run_cli, tmp_path) -> None:
    path = tmp_path / "genotype.json"
    path.write_text(json.dumps({"space": "tiny", "ops": ["conv", "skip", "pool", "conv"]}))
    code, out, err = run_cli(
        "train", str(path), "--dataset", "digits", "--preset", "quick", "--channels", "4",
        "--layers", "4", "--epochs", "1", "--max-steps", "1", "--out", str(tmp_path / "r"), "--json",
    )  # fmt: skip
    assert code == 0, err
    assert json.loads(out)["architecture"] == {"ops": ["conv", "skip", "pool", "conv"]}


def test_presets_are_known() -> None:
    assert set(PRESETS) == {"cifar", "imagenet", "quick"}


def test_a_dataset_that_cannot_load_leaves_nothing(tiny_space, tmp_path) -> None:
    class Offline:
        name, argument, num_classes, input_size, in_channels = "offline", None, 10, 8, 3

        def load(self, split: str, augment: bool = False):
            raise NascostError("cannot load dataset 'offline' (no internet)")

    with pytest.raises(NascostError, match="cannot load"):
        train(tiny_space, tiny_space.presets()["ALLCONV"], Offline(), tmp_path / "run", _quick())
    assert not (tmp_path / "run").exists()


def test_cli_train_max_steps_caps_the_test_pass_and_shows_its_progress(tiny_space, run_cli, tmp_path,
                                                                         monkeypatch) -> None:
    monkeypatch.setenv("NASCOST_PROGRESS_INTERVAL", "0")  # every progress update is a log line
    out = tmp_path / "r"
    code, _, err = run_cli(
        "train", "ALLCONV", "--space", "tiny", "--dataset", "digits", "--preset", "quick",
        "--channels", "4", "--layers", "2", "--epochs", "1", "--batch-size", "16", "--max-steps", "2",
        "--threads", "1", "--out", str(out),
    )  # fmt: skip
    assert code == 0, err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["test_samples"] == 32  # two test batches of 16, not the whole test split
    assert "test 2/2 (100.0%)" in err  # the test pass has its own progress, with a rate
    assert "epoch 1/1 2/2 (100.0%)" in err
    assert json.loads((out / "config.json").read_text())["train"]["threads"] == 1


def test_training_runs_at_its_threads_and_restores_torch_s(tiny_space, tmp_path) -> None:
    seen: list[int] = []
    digits = plugins.get_dataset("digits")
    saved = torch.get_num_threads()
    cfg = make_config("quick", channels=4, layers=2, epochs=1, max_steps=1, threads=2)
    train(tiny_space, tiny_space.presets()["ALLCONV"], digits, tmp_path, cfg,
          log=lambda _msg: seen.append(torch.get_num_threads()))
    assert seen == [2] and torch.get_num_threads() == saved
    assert make_config("quick").threads == 1  # the default never collapses on a shared machine


def _search_run(path, ops, *, finished: bool = True):
    """A search run directory as 'nascost search' leaves it (the parts train reads)."""
    path.mkdir(parents=True)
    (path / "config.json").write_text(json.dumps({"search": {"space": "tiny", "space_options": {}}, "costs": []}))
    (path / "genotype.json").write_text(json.dumps({"space": "tiny", "ops": ops}))
    if finished:
        (path / "summary.json").write_text(json.dumps({"space": "tiny", "genotype": {"ops": ops}}))
    return path


TINY_CLI = ["--dataset", "digits", "--preset", "quick", "--channels", "4", "--layers", "4", "--epochs", "1",
            "--max-steps", "1", "--json"]


def test_training_records_the_search_its_genotype_came_from(tiny_space, run_cli, tmp_path) -> None:
    search = _search_run(tmp_path / "search", ["conv", "skip", "pool", "conv"])
    code, out, err = run_cli("train", str(search / "genotype.json"), *TINY_CLI, "--out", str(tmp_path / "a"))
    assert code == 0, err
    assert json.loads(out)["search_dir"] == str(search.resolve())
    assert json.loads((tmp_path / "a" / "config.json").read_text())["search_dir"] == str(search.resolve())
    code, out, err = run_cli("train", "--from-search", str(search), *TINY_CLI, "--out", str(tmp_path / "b"))
    assert code == 0, err
    summary = json.loads(out)
    assert summary["search_dir"] == str(search.resolve()) and summary["architecture"]["ops"] == ["conv", "skip", "pool", "conv"]
    assert json.loads((tmp_path / "b" / "summary.json").read_text())["search_dir"] == str(search.resolve())
    # a genotype that is not a search's (a preset, a loose file) records no origin
    code, out, err = run_cli("train", "ALLCONV", "--space", "tiny", *TINY_CLI, "--out", str(tmp_path / "c"))
    assert code == 0, err
    assert "search_dir" not in json.loads(out)


def test_from_search_needs_a_finished_search(tiny_space, run_cli, tmp_path) -> None:
    unfinished = _search_run(tmp_path / "unfinished", ["conv"] * 4, finished=False)
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "config.json").write_text(json.dumps({"train": {}}))
    cases = [
        (["--from-search", str(tmp_path / "missing")], "is not a directory"),
        (["--from-search", str(tmp_path / "plain")], "is not a search run directory"),
        (["--from-search", str(unfinished)], "has not finished"),
        (["ALLCONV", "--from-search", str(unfinished)], "not both"),
        ([], "--from-search DIR"),
        (["--from-search", str(_search_run(tmp_path / "s", ["conv"] * 4)), "--space", "darts"], "drop --space"),
    ]
    for args, words in cases:
        code, _, err = run_cli("train", *args, *TINY_CLI, "--out", str(tmp_path / "out"))
        assert code == 2 and words in err and "\n" not in err.strip(), (args, err)
    assert not (tmp_path / "out").exists()
