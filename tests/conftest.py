"""Shared fixtures: throwaway plugins, an isolated cost store, a CLI runner."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import torch

from nascost import plugins

_counter = itertools.count()


def _register_builtin_plugins_missing_from_the_install() -> None:
    """Built-in plugins this checkout declares but the installed metadata lacks (an older editable install).

    Why: entry points are read from the installed metadata, so a plugin added to
    pyproject.toml after ``pip install -e`` would be silently left out of the suite.
    """
    import os
    from importlib import import_module
    from pathlib import Path

    import tomllib

    if os.environ.get("NASCOST_LOAD_PLUGINS") is not None:  # the user restricted what loads
        return
    pyproject = Path(__file__).resolve().parents[1] / "pyproject.toml"
    declared = tomllib.loads(pyproject.read_text())["project"]["entry-points"]["nascost"]
    plugins.load_plugins()
    for name, module in declared.items():
        if not plugins.pm.has_plugin(name) and name not in plugins.failed_plugins:
            plugins.pm.register(import_module(module), name=name)
    plugins.invalidate()


_register_builtin_plugins_missing_from_the_install()


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test gets its own NASCOST_HOME, so no test touches the user's cost store."""
    monkeypatch.setenv("NASCOST_HOME", str(tmp_path_factory.mktemp("nascost_home")))


@pytest.fixture(autouse=True, scope="session")
def _few_threads() -> None:
    torch.set_num_threads(1)


@pytest.fixture
def register_plugin() -> Iterator[Callable[..., str]]:
    """Register a throwaway plugin for one test: ``register_plugin(obj_or_module)``.

    The object holds ``@hookimpl`` functions. It is unregistered (and the
    registries rebuilt) when the test ends.
    """
    names: list[str] = []

    def _register(plugin: Any, name: str | None = None) -> str:
        name = name or f"throwaway-{next(_counter)}"
        plugins.register_plugin(plugin, name)
        names.append(name)
        return name

    yield _register
    for name in names:
        if plugins.pm.has_plugin(name):
            plugins.unregister_plugin(name)
    plugins.invalidate()


@pytest.fixture
def run_cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., tuple[int, str, str]]:
    """Run ``nascost ARGS`` in-process through :func:`nascost.cli.main`; return (code, out, err)."""
    from nascost.cli import main

    def _run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        try:
            main(list(args))
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        out, err = capsys.readouterr()
        return code, out, err

    return _run


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """GPU tests skip cleanly without CUDA; Ray tests without Ray."""
    has_cuda = torch.cuda.is_available()
    try:
        import ray  # noqa: F401

        has_ray = True
    except ImportError:
        has_ray = False
    for item in items:
        if "gpu" in item.keywords and not has_cuda:
            item.add_marker(pytest.mark.skip(reason="needs CUDA"))
        if "ray" in item.keywords and not has_ray:
            item.add_marker(pytest.mark.skip(reason="needs the optional 'ray' extra"))
