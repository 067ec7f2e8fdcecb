"""The CLI's contract: --version, -h everywhere, JSON listings, one-line errors with exit 2."""

from __future__ import annotations

import json

import click
import pytest

from nascost import __version__
from nascost.cli import _add_commands, cli


def _all_command_paths() -> list[list[str]]:
    _add_commands()
    paths: list[list[str]] = []

    def walk(cmd: click.Command, path: list[str]) -> None:
        paths.append(path)
        if isinstance(cmd, click.Group):
            for name, sub in cmd.commands.items():
                walk(sub, [*path, name])

    walk(cli, [])
    return paths


def test_version(run_cli) -> None:
    code, out, _ = run_cli("--version")
    assert code == 0 and __version__ in out


@pytest.mark.parametrize("path", _all_command_paths(), ids=lambda p: " ".join(p) or "nascost")
def test_every_command_takes_h(run_cli, path: list[str]) -> None:
    code, out, err = run_cli(*path, "-h")
    assert code == 0, err
    assert "Usage:" in out


@pytest.mark.parametrize("kind", ["spaces", "measurers", "predictors", "costs", "datasets"])
def test_list_json_is_array_of_named_objects(run_cli, kind: str) -> None:
    code, out, err = run_cli("list", kind, "--json")
    assert code == 0, err
    rows = json.loads(out)
    assert isinstance(rows, list)
    for row in rows:
        assert row["name"] and isinstance(row["description"], str)


def test_list_without_a_kind_lists_every_kind(run_cli) -> None:
    from nascost import plugins

    code, out, err = run_cli("list")
    assert code == 0, err
    for kind in plugins.KINDS:
        assert kind in out
    for name in ("pcdarts", "cpu-timer-paired", "lpm", "cpu-paired-lpm", "digits"):
        assert name in out
    code, out, err = run_cli("list", "--json")
    listed = json.loads(out)
    assert set(listed) == set(plugins.KINDS)
    assert "pcdarts" in {r["name"] for r in listed["spaces"]}


def test_plugins_json_lists_builtins(run_cli) -> None:
    _code, out, _ = run_cli("plugins", "--json")
    rows = {r["name"]: r for r in json.loads(out)}
    assert {"darts", "timers", "lpm", "datasets"} <= set(rows)
    assert "darts" in rows["darts"]["spaces"]


@pytest.mark.parametrize(
    "args",
    [
        ["no-such-command"],
        ["list", "gadgets"],
        ["plugins", "--no-such-flag"],
        ["config", "schema", "no-such-command"],
    ],
)
def test_bad_input_is_one_line_exit_2(run_cli, args: list[str]) -> None:
    code, _out, err = run_cli(*args)
    assert code == 2
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("nascost: error:"), err
    assert "Traceback" not in err


def test_config_schema_covers_commands(run_cli) -> None:
    _code, out, _ = run_cli("config", "schema")
    schemas = json.loads(out)
    assert "plugins" in schemas and "list" in schemas
    assert schemas["list"]["additionalProperties"] is False


def test_config_file_sets_options_and_flags_override(run_cli, tmp_path) -> None:
    cfg = tmp_path / "cfg.toml"
    cfg.write_text("json = true\n")
    code, out, err = run_cli("plugins", "--config", str(cfg))
    assert code == 0, err
    assert isinstance(json.loads(out), list)  # the file turned --json on


@pytest.mark.parametrize(
    ("content", "suffix", "fragment"),
    [
        ("jsn = true\n", ".toml", "jsn"),
        ("json = [\n", ".toml", "malformed"),
        ("json: [unclosed\n", ".yaml", "malformed"),
        ("- 1\n- 2\n", ".yaml", "mapping"),
        ("json = 3\n", ".ini", ".toml"),
    ],
)
def test_bad_config_file_is_one_line_exit_2(run_cli, tmp_path, content, suffix, fragment) -> None:
    cfg = tmp_path / f"cfg{suffix}"
    cfg.write_text(content)
    code, _, err = run_cli("plugins", "--config", str(cfg))
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and fragment in err


def test_missing_config_file(run_cli, tmp_path) -> None:
    code, _, err = run_cli("plugins", "--config", str(tmp_path / "nope.toml"))
    assert code == 2 and "does not exist" in err


def test_yaml_config(run_cli, tmp_path) -> None:
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text("json: true\n")
    code, out, _ = run_cli("plugins", "--config", str(cfg))
    assert code == 0 and isinstance(json.loads(out), list)


def test_internal_errors_hide_traceback_unless_debug(run_cli, register_plugin) -> None:
    import types

    from nascost.hookspecs import hookimpl

    def register_commands(cli):
        @cli.command("explode")
        def explode():
            raise ZeroDivisionError("boom")

    register_plugin(types.SimpleNamespace(register_commands=hookimpl(register_commands)))
    code, _, err = run_cli("explode")
    assert code == 1 and "Traceback" not in err and "--debug" in err
    code, _, err = run_cli("--debug", "explode")
    assert code == 1 and "Traceback" in err
    cli.commands.pop("explode", None)
