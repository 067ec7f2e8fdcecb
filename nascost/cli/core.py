"""Commands about nascost itself: ``plugins``, ``list``, ``config schema``."""

from __future__ import annotations

import click

from nascost import plugins
from nascost.cli.output import echo_json, print_table
from nascost.config import all_command_schemas, config_option, model_for_command
from nascost.errors import UnknownNameError


def _describe(kind: str, name: str, cls: type) -> dict:
    row = {"name": name, "description": cls.summary(), "plugin": plugins.registry(kind).owners[name]}
    for attr in ("unit", "differentiable", "requires_fit", "encoding_id", "measurer", "predictor"):
        if hasattr(cls, attr) and getattr(cls, attr) not in ("", None):
            row[attr] = getattr(cls, attr)
    if kind == "measurers":
        try:
            ok, why = cls().available()
        except Exception as exc:  # report, never crash the listing
            ok, why = False, f"{type(exc).__name__}: {exc}"
        row["available"] = ok
        if not ok:
            row["unavailable_reason"] = why
    return row


@click.command("plugins")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@config_option
def plugins_cmd(as_json: bool) -> None:
    """Installed plugins: name, version, and what each registers."""
    rows = plugins.installed_plugins()
    if as_json:
        echo_json(rows)
        return
    kinds = list(plugins.KINDS)
    # one "registers" cell per plugin, wrapped: a column per kind was ~250 columns wide
    print_table(
        "nascost plugins",
        ["plugin", "version", "registers", *(["error"] if any(r["error"] for r in rows) else [])],
        [
            [r["name"], r["version"], "\n".join(f"{k}: {', '.join(r[k])}" for k in kinds if r[k]) or "-",
             *([r["error"] or ""] if any(x["error"] for x in rows) else [])]
            for r in rows
        ],
        max_width=100,
    )


@click.command("list")
@click.argument("kind", type=click.Choice(list(plugins.KINDS)), required=False)
@click.option("--json", "as_json", is_flag=True,
              help="Print JSON: an array of objects (without KIND: an object of such arrays, keyed by kind).")
@config_option
def list_cmd(kind: str | None, as_json: bool) -> None:
    """Registered spaces, measurers, predictors, costs or datasets (without KIND: every kind)."""
    kinds = [kind] if kind else list(plugins.KINDS)
    listed = {k: [_describe(k, name, cls) for name, cls in sorted(plugins.registry(k))] for k in kinds}
    if as_json:
        echo_json(listed[kind] if kind else listed)
        return
    for k, rows in listed.items():
        _print_kind(k, rows)


def _print_kind(kind: str, rows: list[dict]) -> None:
    extra = [k for k in ("unit", "differentiable", "available", "measurer", "predictor") if any(k in r for r in rows)]
    print_table(
        f"{kind}",
        ["name", "plugin", *extra, "description"],
        [[r["name"], r["plugin"], *(r.get(k, "") for k in extra), r["description"]] for r in rows],
    )


@click.command("check-plugin")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print JSON: one object per check.")
@config_option
def check_plugin_cmd(name: str, as_json: bool) -> None:
    """Run the contract checks on everything plugin NAME registers; exit 2 if one fails.

    The same checks as nascost's own suite (nascost.testing), from the
    installed package: no checkout needed. NAME is a plugin name from
    'nascost plugins'.
    """
    import sys

    from nascost.testing import run_contract

    results = run_contract(name)
    failed = [r for r in results if not r.ok]
    if as_json:
        echo_json([{"plugin": r.case.plugin, "kind": r.case.kind, "name": r.case.name, "check": r.case.check,
                    "ok": r.ok, "message": r.message} for r in results])
    else:
        for r in results:
            click.echo(f"{'PASS' if r.ok else 'FAIL'}  {r.case.check:<16} {r.case.name}"
                       + (f": {r.message}" if r.message else ""))
        if not results:
            click.echo(f"plugin {name!r} registers nothing to check")
        else:
            click.echo(f"{len(results) - len(failed)} passed, {len(failed)} failed")
    if failed:
        sys.exit(2)


@click.group("config")
def config_group() -> None:
    """Configuration files: their schema."""


@config_group.command("schema")
@click.argument("command", required=False, nargs=-1)
def schema_cmd(command: tuple[str, ...]) -> None:
    """JSON schema of the config file of COMMAND (default: every command)."""
    root = click.get_current_context().find_root().command
    schemas = all_command_schemas(root)
    if not command:
        echo_json(schemas)
        return
    path = " ".join(command)
    if path not in schemas:
        raise UnknownNameError(
            f"unknown command {path!r} (commands with config files: {', '.join(schemas)}"
            f"{plugins.closest(path, schemas)})"
        )
    echo_json(schemas[path])


def register(cli: click.Group) -> None:
    cli.add_command(plugins_cmd)
    cli.add_command(list_cmd)
    cli.add_command(check_plugin_cmd)
    cli.add_command(config_group)


__all__ = ["model_for_command", "register"]
