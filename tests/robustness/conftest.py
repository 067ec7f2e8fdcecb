"""Fixtures for the robustness probes: a small cost database made by a real ``collect``."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from measure.fakes import ToyPlugin

TINY = ["--space", "toy", "--measurer", "costmodel", "--setting", "tiny"]


@pytest.fixture
def toy(register_plugin) -> None:
    register_plugin(ToyPlugin, "toy-robustness")


@pytest.fixture(scope="session")
def _db_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One collect of 16 architectures per session; tests get copies."""
    from nascost import plugins
    from nascost.cli import main

    plugins.register_plugin(ToyPlugin, "toy-robustness-template")
    try:
        path = tmp_path_factory.mktemp("template") / "costs.db"
        try:
            main(["collect", *TINY, "--n", "16", "--db", str(path), "--reference-every", "0", "--quiet"])
        except SystemExit as exc:
            assert exc.code in (0, None), exc.code
    finally:
        plugins.unregister_plugin("toy-robustness-template")
        plugins.invalidate()
    return path


@pytest.fixture
def cost_db(toy, _db_template: Path, tmp_path: Path) -> Path:
    """A copy of a 16-row toy cost database (one group), in the test's directory."""
    dst = tmp_path / "costs.db"
    shutil.copyfile(_db_template, dst)
    return dst


def snapshot(path: Path) -> bytes | None:
    return path.read_bytes() if path.exists() else None


def temp_files(directory: Path) -> list[Path]:
    """Leftover temporary files of atomic writes (``.NAME.*.tmp``)."""
    return sorted(directory.rglob(".*.tmp"))


def one_line_error(code: int, err: str, *needles: str) -> None:
    """The CLI promise for bad input: exit 2, one line, naming what is wrong."""
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("nascost: error: "), err
    for needle in needles:
        assert needle in err, (needle, err)


RunCli = Callable[..., tuple[int, str, str]]
