"""A full disk (a small tmpfs, where the test may mount one) and kill -9 in the middle of a search.

A full disk must give one line naming the file and the fix, exit 2, and leave no
half-written output; a search killed with SIGKILL after a checkpoint must resume to
the result of a run that was never interrupted.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import temp_files

SMALL = ["--space", "darts", "--measurer", "flops", "--channels", "4", "--layers", "3", "--input-size", "8"]


@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[Path]:
    """A 200 KB tmpfs (skipped where mounting is not allowed: not root, or no CAP_SYS_ADMIN)."""
    mount = tmp_path / "tmpfs"
    mount.mkdir()
    if shutil.which("mount") is None or os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=200k", "tmpfs", str(mount)],
                          capture_output=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], capture_output=True, check=False)


def test_a_full_disk_is_one_line_and_nothing_half_written(run_cli, tmp_path: Path, full_disk: Path) -> None:
    db = full_disk / "costs.db"
    code, _, err = run_cli("collect", *SMALL, "--n", "400", "--db", str(db), "--quiet")
    assert code == 2 and "disk is full" in err and len(err.strip().splitlines()) == 1
    code, out, err = run_cli("data", "info", str(db), "--json")  # committed rows are kept and readable
    assert code == 0, err
    kept = json.loads(out)["count"]
    assert kept > 0
    small = tmp_path / "small.db"
    assert run_cli("collect", *SMALL, "--n", "20", "--db", str(small), "--quiet")[0] == 0
    for args, target in ((["data", "export", str(small), "-o"], "x.csv"),
                         (["fit", "--db", str(small), "--predictor", "ridge", "-o"], "p.nascost"),
                         (["search", "--space", "darts", "--dataset", "synthetic", "--channels", "4", "--layers", "3",
                           "--epochs", "1", "--max-steps", "1", "-q", "--out"], "run")):
        code, _, err = run_cli(*args, str(full_disk / target))
        assert code == 2, (args, err)
        assert "No space left on device" in err and "free some disk space" in err, err
        assert not temp_files(full_disk)
        assert not (full_disk / target).is_file()
    assert not (full_disk / "run" / "checkpoint.pt").exists()


SEARCH = ["search", "--space", "darts", "--dataset", "digits", "--channels", "4", "--layers", "3", "--epochs", "3",
          "--max-steps", "1", "--batch-size", "16", "--arch-frozen-epochs", "0", "--order", "first", "--seed", "3",
          "--threads", "1", "-q"]


def _nascost(*args: str) -> list[str]:
    return [sys.executable, "-m", "nascost", *args]


@pytest.mark.slow
def test_a_search_killed_with_sigkill_resumes_to_the_uninterrupted_result(tmp_path: Path) -> None:
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    subprocess.run(_nascost(*SEARCH, "--out", str(whole)), check=True, capture_output=True, env=env)
    proc = subprocess.Popen(_nascost(*SEARCH, "--out", str(killed)), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env=env)
    try:
        deadline = time.monotonic() + 300
        while not (killed / "checkpoint.pt").exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    if proc.returncode != -signal.SIGKILL:
        pytest.skip("the search finished before it could be killed")
    assert not (killed / "genotype.json").exists()
    done = subprocess.run(_nascost(*SEARCH, "--out", str(killed), "--resume"), capture_output=True, text=True,
                          env=env, check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads((killed / "genotype.json").read_text()) == json.loads((whole / "genotype.json").read_text())
    rows = [json.loads(line) for line in (killed / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [0, 1, 2]
    assert not temp_files(killed)
