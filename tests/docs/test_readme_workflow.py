"""The README's workflow runs as written, on a fresh checkout, at a tiny scale.

Each command of the README's "The workflow" block runs in order in one empty
directory, through the real CLI. Only the scale changes: options appended after
the README's own (click keeps the last value of an option) shrink networks, runs,
epochs and steps. A command added to the README without a scale here fails the
test, so the two stay together.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"
TINY_NET = ["--C", "4", "--layers", "3", "--epochs", "1", "--max-steps", "2", "--batch-size", "16"]
TINY_TRAIN = ["--train-set", "epochs=1", "--train-set", "max_steps=2", "--train-set", "channels=4",
              "--train-set", "layers=3"]
#: README command (its first two words) -> options appended to it.
SCALE: dict[str, list[str]] = {
    "list": [],
    "arch info": [],
    "collect": ["--n", "24", "--channels", "4", "--layers", "3", "--input-size", "8", "--runs", "3",
                "--warmup", "1", "--quiet"],
    "data info": [],
    "fit": ["--opt", "epochs=40"],
    "compare": ["--opt", "lpm.epochs=40"],
    "search": [*TINY_NET, "--arch-frozen-epochs", "0", "--quiet"],
    "measure": ["--runs", "3", "--warmup", "1"],
    "train": ["--epochs", "1", "--max-steps", "2", "--channels", "4", "--layers", "3"],
    "report": [],
    "sweep": ["--lambdas", "0,0.5", *TINY_NET, "--search-opt", "arch_frozen_epochs=0", *TINY_TRAIN,
              "--measurer-opt", "runs=3", "--measurer-opt", "warmup=1", "--quiet"],
}


def workflow() -> list[list[str]]:
    """The commands of the README's first code block under "## The workflow"."""
    text = README.read_text()
    section = text[text.index("## The workflow"):]
    block = re.search(r"```bash\n(.*?)```", section, flags=re.S).group(1)
    return [shlex.split(line.split(" #", 1)[0]) for line in block.splitlines() if line.startswith("nascost ")]


def _key(args: list[str]) -> str:
    two = " ".join(args[1:3])
    return two if two in SCALE else args[1]


def test_every_workflow_command_has_a_scale() -> None:
    commands = workflow()
    assert len(commands) >= 10
    assert [_key(c) for c in commands if _key(c) not in SCALE] == []
    joined = [" ".join(c) for c in commands]
    assert any("--measurer cpu-timer-paired" in c for c in joined if c.startswith("nascost collect"))
    assert any(c.startswith("nascost sweep") for c in joined)
    for c in joined:  # datasets that exist in a fresh clone
        assert "imagefolder:" not in c and "--dataset cifar" not in c


@pytest.mark.slow
def test_the_readme_workflow_runs_as_written(run_cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for args in workflow():
        code, _, err = run_cli(*args[1:], *SCALE[_key(args)])
        assert code == 0, f"`{' '.join(args)}` failed: {err[-2000:]}"
    assert Path("costs.db").is_file() and Path("runs/la/genotype.json").is_file()
    assert json.loads(Path("runs/la-train/summary.json").read_text())["test_samples"] == 128  # 2 test batches of 64
    assert Path("report.html").is_file() and Path("runs/sweep/report.html").is_file()
    sweep = json.loads(Path("runs/sweep/sweep.json").read_text())
    assert sweep["lambdas"] == [0.0, 0.5] and sweep["train_preset"] == "quick"
