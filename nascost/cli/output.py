"""Shared output helpers for commands: JSON, tables, progress bars."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Sequence
from typing import Any

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

console = Console(stderr=True)


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


def print_table(title: str | None, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    table = Table(title=title)
    for col in columns:
        table.add_column(col)
    for row in rows:
        table.add_row(*(str(c) for c in row))
    # Piped or redirected, rich assumes 80 columns and truncates headers; a file
    # has no width, so give the table what it needs (COLUMNS still wins).
    width = None if sys.stdout.isatty() or "COLUMNS" in os.environ else 400
    Console(width=width).print(table)


class RateColumn(ProgressColumn):
    """Items per second (or per hour when slow), from rich's speed estimate."""

    def __init__(self, unit: str = "it") -> None:
        super().__init__()
        self.unit = unit

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        if not speed:
            return Text(f"-- {self.unit}/s", style="progress.data.speed")
        if speed < 0.1:
            return Text(f"{speed * 3600:.0f} {self.unit}/h", style="progress.data.speed")
        return Text(f"{speed:.2f} {self.unit}/s", style="progress.data.speed")


def progress(unit: str = "it", transient: bool = False) -> Progress:
    """A progress bar with count, rate, elapsed time and ETA, on stderr.

    Use ``task = bar.add_task("measuring", total=n, info="")`` and
    ``bar.update(task, advance=1, info="...")``.
    """
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        RateColumn(unit),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        TextColumn("{task.fields[info]}"),
        console=console,
        transient=transient,
    )


def parse_kv(pairs: Sequence[str], what: str = "option") -> dict[str, Any]:
    """``["lr=0.1", "depth=3"]`` -> ``{"lr": 0.1, "depth": 3}`` (values parsed as JSON when they can be)."""
    out: dict[str, Any] = {}
    for pair in pairs:
        if "=" not in pair:
            raise click.BadParameter(f"{what} {pair!r} must look like KEY=VALUE")
        key, value = pair.split("=", 1)
        try:
            out[key.strip().replace("-", "_")] = json.loads(value)
        except json.JSONDecodeError:
            out[key.strip().replace("-", "_")] = value
    return out
