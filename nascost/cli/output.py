"""Shared output helpers for commands: JSON, tables; progress comes from :mod:`nascost.progress`."""

from __future__ import annotations

import functools
import json
import math
import os
import sys
from collections.abc import Iterable, Sequence
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from nascost.files import finite_json
from nascost.progress import LineProgress, RateColumn, console, progress  # noqa: F401  (the CLI's names for them)

#: The type of every ``--seed``: numpy and torch take seeds >= 0, so a negative one is a usage error.
SEED = click.IntRange(min=0)


class FiniteFloat(click.types.FloatParamType):
    """A float that must be finite and within ``[lo, hi]`` (``lo_open``: above ``lo``).

    click's ``FloatRange`` lets ``nan`` through (every comparison with NaN is
    false), and a NaN threshold or lambda silently turns a feature off.
    """

    name = "float"

    def __init__(self, lo: float | None = None, hi: float | None = None, *, lo_open: bool = False) -> None:
        self.lo, self.hi, self.lo_open = lo, hi, lo_open

    def convert(self, value: Any, param: Any, ctx: Any) -> float:
        try:
            x = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number", param, ctx)
        if not math.isfinite(x):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        if self.lo is not None and (x < self.lo or (self.lo_open and x == self.lo)):
            self.fail(f"{value!r} must be {'>' if self.lo_open else '>='} {self.lo:g}", param, ctx)
        if self.hi is not None and x > self.hi:
            self.fail(f"{value!r} must be <= {self.hi:g}", param, ctx)
        return x


THREADS_HELP = ("CPU threads for torch [1: never collapses when the machine is doing anything else; more can be "
                "faster on an idle machine, see docs/search.md#threads].")


SPACE_OPT_HELP = ("Search-space option KEY=VALUE (repeatable; a space's options are in docs/spaces.md). Options that "
                  "change the encoding are recorded with rows and predictors, which refuse other options.")


def space_opt_option(f: Any) -> Any:
    """``--space-opt KEY=VALUE`` (one definition for every command that takes ``--space``)."""
    return click.option("--space-opt", "space_opts", multiple=True, metavar="KEY=VALUE", help=SPACE_OPT_HELP)(f)


def space_opt_option_with_alias(f: Any) -> Any:
    """``--space-opt``, with ``--opt`` (the ``arch`` commands' old spelling) as a hidden alias."""
    return click.option("--space-opt", "--opt", "space_opts", cls=DeprecatedAliasOption, hidden_aliases=("--opt",),
                        multiple=True, metavar="KEY=VALUE", help=SPACE_OPT_HELP)(f)


def get_space(name: str, space_opts: Sequence[str] = (), *, db: str | None = None) -> Any:
    """The space ``name`` with its ``--space-opt`` options; given none and a database, the
    options its rows were collected with (a database fixes its rows' encoding)."""
    from nascost import plugins

    options = parse_kv(space_opts, "--space-opt")
    if not options and db is not None:
        from pathlib import Path

        from nascost.data import CostDatabase

        if Path(db).is_file():
            with CostDatabase(db) as handle:
                options = handle.space_options(name) or {}
    return plugins.get_space(name, options or None)


def threads_option(f: Any) -> Any:
    """``--threads N`` (one definition for every command that computes); None when not given."""
    return click.option("--threads", type=click.IntRange(min=1), default=None, metavar="N", help=THREADS_HELP)(f)


def combine_option(f: Any) -> Any:
    """``--combine mean|median``: how several searches' architecture probabilities combine (derive, sweep)."""
    return click.option(
        "--combine", type=click.Choice(["mean", "median"]), default="mean", show_default=True,
        help="How several runs' architecture probabilities are combined: their mean, or their median "
             "(one run whose weights went elsewhere, e.g. a collapsed seed, cannot move it).")(f)


def computes(f: Any) -> Any:
    """``--threads N`` for a command whose whole body computes: it runs at N torch threads (default 1)."""

    @functools.wraps(f)
    def wrapper(*args: Any, threads: int | None = None, **kwargs: Any) -> Any:
        # torch loads only when a command runs, not for --help
        from nascost.device import DEFAULT_THREADS, torch_threads

        with torch_threads(threads or DEFAULT_THREADS):
            return f(*args, **kwargs)

    return threads_option(wrapper)


def echo_json(data: Any) -> None:
    """Print ``data`` as strict JSON: a non-finite float (NaN, inf) becomes ``null``, never ``NaN``."""
    click.echo(json.dumps(finite_json(data), indent=2, default=str, allow_nan=False))


def print_table(title: str | None, columns: Sequence[str], rows: Iterable[Sequence[Any]], *,
                max_width: int | None = None) -> None:
    """A rich table; ``max_width`` caps its width (long cells wrap) on a terminal and in a file alike."""
    table = Table(title=title)
    for col in columns:
        table.add_column(col)
    for row in rows:
        table.add_row(*(str(c) for c in row))
    # Piped or redirected, rich assumes 80 columns and truncates headers; a file
    # has no width, so give the table what it needs (COLUMNS still wins).
    width = None if sys.stdout.isatty() or "COLUMNS" in os.environ else 400
    if max_width is not None:
        width = min(width or Console().width, max_width)
    Console(width=width).print(table)


def parse_kv(pairs: Sequence[str], what: str = "option") -> dict[str, Any]:
    """``["lr=0.1", "depth=3"]`` -> ``{"lr": 0.1, "depth": 3}`` (values parsed as JSON when they can be)."""
    out: dict[str, Any] = {}
    for pair in pairs:
        if "=" not in pair or not pair.split("=", 1)[0].strip():
            raise click.BadParameter(f"{what} {pair!r} must look like KEY=VALUE (a key, '=', then the value)")
        key, value = pair.split("=", 1)
        try:
            out[key.strip().replace("-", "_")] = json.loads(value)
        except json.JSONDecodeError:
            out[key.strip().replace("-", "_")] = value
    return out


class DeprecatedAliasOption(click.Option):
    """An option with old spellings that still work but are not shown in ``--help`` or the docs.

    Why: one concept has one flag in every command (``--channels``); old
    command lines (``search --C 8``) keep working.
    """

    def __init__(self, *args: Any, hidden_aliases: Sequence[str] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.hidden_aliases = tuple(hidden_aliases)

    def get_help_record(self, ctx: click.Context) -> tuple[str, str] | None:
        shown, self.opts = self.opts, [o for o in self.opts if o not in self.hidden_aliases]
        try:
            return super().get_help_record(ctx)
        finally:
            self.opts = shown


def channels_option(help: str = "Supernet channels.") -> Any:
    """``--channels`` (dest ``C``), with ``--C`` kept as a hidden deprecated alias."""
    return click.option("--channels", "--C", "C", cls=DeprecatedAliasOption, hidden_aliases=("--C",),
                        type=click.IntRange(min=1), default=None, help=help)
