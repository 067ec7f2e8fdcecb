"""The plugin manager: registration, duplicates, unknown names, broken plugins."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import types

import pytest
import torch

from nascost import plugins
from nascost.errors import NascostError, UnknownNameError
from nascost.hookspecs import hookimpl
from nascost.measure import CostMeasurer
from nascost.records import DeviceInfo, Measurement


class CountingMeasurer(CostMeasurer):
    """Counts parameters: a measurer that needs no hardware."""

    name = "test-param-count"
    unit = "params"

    class Options(CostMeasurer.Options):
        scale: float = 1.0

    def available(self) -> tuple[bool, str]:
        return True, ""

    def device_info(self) -> DeviceInfo:
        return DeviceInfo(runtime="cpu")

    def measure(self, model: torch.nn.Module, example_input: torch.Tensor) -> Measurement:
        n = sum(p.numel() for p in model.parameters()) * self.options.scale
        return Measurement.from_samples([n], unit=self.unit, device=self.device_info())


def _plugin(*classes: type, hook: str = "register_cost_measurers") -> types.SimpleNamespace:
    def impl(register):
        for cls in classes:
            register(cls)

    impl.__name__ = hook
    return types.SimpleNamespace(**{hook: hookimpl(impl)})


def test_throwaway_plugin_registers_and_is_removed(register_plugin) -> None:
    name = register_plugin(_plugin(CountingMeasurer))
    assert plugins.registry("measurers").owners["test-param-count"] == name
    m = plugins.get_measurer("test-param-count", {"scale": 2.0})
    out = m.measure(torch.nn.Linear(3, 2), torch.zeros(1, 3))
    assert out.median == 16.0
    plugins.unregister_plugin(name)
    assert "test-param-count" not in plugins.registry("measurers")


def test_duplicate_name_names_both_plugins(register_plugin) -> None:
    register_plugin(_plugin(CountingMeasurer), name="first-board")
    register_plugin(_plugin(CountingMeasurer), name="second-board")
    with pytest.raises(NascostError) as err:
        plugins.registry("measurers")
    assert "first-board" in str(err.value) and "second-board" in str(err.value)


def test_unknown_name_lists_available_and_closest(register_plugin) -> None:
    register_plugin(_plugin(CountingMeasurer))
    with pytest.raises(UnknownNameError) as err:
        plugins.get_measurer("test-param-cuont")
    msg = str(err.value)
    assert "test-param-count" in msg and "did you mean 'test-param-count'" in msg


def test_invalid_options_are_one_clear_error(register_plugin) -> None:
    register_plugin(_plugin(CountingMeasurer))
    with pytest.raises(NascostError, match=r"invalid option 'scael'.*options: scale"):
        plugins.get_measurer("test-param-count", {"scael": 2})


def test_plugin_failing_in_its_hook_is_skipped_not_fatal(register_plugin, capsys) -> None:
    def register_cost_measurers(register):
        raise RuntimeError("driver missing")

    broken = types.SimpleNamespace(register_cost_measurers=hookimpl(register_cost_measurers))
    name = register_plugin(broken)
    register_plugin(_plugin(CountingMeasurer))
    reg = plugins.registry("measurers")
    assert "test-param-count" in reg
    assert "driver missing" in plugins.failed_plugins[name]
    assert "failed in register_cost_measurers" in capsys.readouterr().err


def test_class_without_name_is_rejected(register_plugin) -> None:
    class Nameless(CountingMeasurer):
        name = ""

    register_plugin(_plugin(Nameless))
    with pytest.raises(NascostError, match="without a name"):
        plugins.registry("measurers")


def _run_nascost(args: list[str], env_extra: dict[str, str], tmp_path) -> subprocess.CompletedProcess:
    import os

    env = {**os.environ, **env_extra}
    return subprocess.run(
        [sys.executable, "-c", "from nascost.cli import main; main()", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )


def test_broken_entry_point_plugin_is_reported_and_cli_survives(tmp_path) -> None:
    """A third-party plugin that fails to import: reported by name, the CLI still works."""
    site = tmp_path / "site"
    pkg = site / "nascost_broken_board"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("raise ImportError('libboard.so not found')\n")
    dist = site / "nascost_broken_board-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: nascost-broken-board\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[nascost]\nbrokenboard = nascost_broken_board\n")
    proc = _run_nascost(["plugins", "--json"], {"PYTHONPATH": str(site)}, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "plugin 'brokenboard' failed to load" in proc.stderr
    rows = {r["name"]: r for r in json.loads(proc.stdout)}
    assert "libboard.so not found" in rows["brokenboard"]["error"]


def test_load_plugins_env_restricts_loading(tmp_path) -> None:
    proc = _run_nascost(["plugins", "--json"], {"NASCOST_LOAD_PLUGINS": ""}, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == []
    proc = _run_nascost(["plugins", "--json"], {"NASCOST_LOAD_PLUGINS": "darts"}, tmp_path)
    assert [r["name"] for r in json.loads(proc.stdout)] == ["darts"]


def test_every_builtin_plugin_loads() -> None:
    """All built-in plugins are declared as entry points and import cleanly."""
    from importlib.metadata import entry_points

    names = {ep.name for ep in entry_points(group="nascost") if ep.value.startswith("nascost_")}
    assert {"darts", "timers", "flops", "power", "lpm", "baselines", "datasets"} <= names
    rows = {r["name"]: r for r in plugins.installed_plugins()}
    for name in names:
        assert rows[name]["error"] is None, rows[name]
        assert rows[name]["version"], name


def test_hookspecs_are_docstring_only() -> None:
    import inspect

    from nascost import hookspecs

    for name in plugins.KINDS.values():
        spec = getattr(hookspecs, name[0])
        src = textwrap.dedent(inspect.getsource(spec))
        body = src.split('"""')[-1].strip()
        assert body == "", f"{name[0]} has code besides its docstring"
        assert inspect.getdoc(spec)


def test_a_plugin_implementing_a_hook_twice_registers_both(register_plugin) -> None:
    """Two implementations of one hook in one plugin (``@hookimpl(specname=...)``): both register."""

    class Other(CountingMeasurer):
        name = "test-param-count-2"

    class TwoHooks:
        @hookimpl
        def register_cost_measurers(self, register):
            register(CountingMeasurer)

        @hookimpl(specname="register_cost_measurers")
        def more_measurers(self, register):
            register(Other)

    register_plugin(TwoHooks(), "two-hooks")
    names = plugins.registry("measurers").names()
    assert "test-param-count" in names and "test-param-count-2" in names


def test_nascost_plugin_modules_registers_a_module_without_an_entry_point(tmp_path) -> None:
    (tmp_path / "my_board_plugin.py").write_text(textwrap.dedent('''
        from nascost.hookspecs import hookimpl
        from nascost_timers import CpuTimer

        class BoardTimer(CpuTimer):
            name = "my-board"

        @hookimpl
        def register_cost_measurers(register):
            register(BoardTimer)
    '''))
    import os

    path = os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])
    proc = _run_nascost(["plugins", "--json"], {"NASCOST_PLUGIN_MODULES": "board=my_board_plugin",
                                                 "PYTHONPATH": path}, tmp_path)
    assert proc.returncode == 0, proc.stderr
    rows = {r["name"]: r for r in json.loads(proc.stdout)}
    assert rows["board"]["measurers"] == ["my-board"]
