"""Shared output helpers for commands: JSON, tables, progress bars."""

from __future__ import annotations

import json
import math
import os
import sys
import time
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


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


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


class LineProgress(Progress):
    """Progress for a log file: a plain line every ``interval`` seconds and when a task ends.

    Rich draws nothing while stderr is not a terminal (``nohup nascost collect ... 2> log``),
    so a run of hours would show no sign of life; this keeps rich's task bookkeeping
    (speed, ETA) and prints what the bar would show, one line at a time.
    """

    def __init__(self, unit: str = "it", interval: float = 30.0) -> None:
        super().__init__(disable=True)
        self.unit = unit
        self.interval = interval
        self._last: dict[Any, float] = {}
        self._ended: set[Any] = set()

    def add_task(self, description: str, *args: Any, **kwargs: Any) -> Any:
        task_id = super().add_task(description, *args, **kwargs)
        self._last[task_id] = time.monotonic()
        return task_id

    def update(self, task_id: Any, *args: Any, **kwargs: Any) -> None:
        super().update(task_id, *args, **kwargs)
        self._maybe_log(task_id)

    def advance(self, task_id: Any, advance: float = 1) -> None:
        super().advance(task_id, advance)
        self._maybe_log(task_id)

    def _maybe_log(self, task_id: Any) -> None:
        task = self._tasks[task_id]
        now = time.monotonic()
        done = task.total is not None and task.completed >= task.total
        if task_id in self._ended or (not done and now - self._last.get(task_id, now) < self.interval):
            return
        self._last[task_id] = now
        if done:
            self._ended.add(task_id)
        console.print(self.line(task), markup=False, highlight=False, soft_wrap=True)

    def line(self, task: Task) -> str:
        """``measuring 389/2500 (15.6%) | 1210 arch/h | elapsed 0:19:30 | ETA 1:44:10 | 98.2 ms``."""
        total = f"/{task.total:g} ({100 * task.completed / task.total:.1f}%)" if task.total else ""
        parts = [f"{task.description} {task.completed:g}{total}", RateColumn(self.unit).render(task).plain,
                 f"elapsed {_hms(task.finished_time if task.finished else task.elapsed)}"]
        if not task.finished:
            eta = task.time_remaining
            parts.append(f"ETA {'-:--:--' if eta is None else _hms(eta)}")
        info = task.fields.get("info")
        if info:
            parts.append(str(info))
        return " | ".join(parts)


def _hms(seconds: float | None) -> str:
    s = int(seconds or 0)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


def progress(unit: str = "it", transient: bool = False) -> Progress:
    """A progress bar with count, rate, elapsed time and ETA, on stderr.

    Use ``task = bar.add_task("measuring", total=n, info="")`` and
    ``bar.update(task, advance=1, info="...")``. When stderr is not a terminal
    (a log file), a :class:`LineProgress` prints one line every
    ``NASCOST_PROGRESS_INTERVAL`` seconds (default 30) instead.
    """
    if not console.is_terminal:
        return LineProgress(unit, float(os.environ.get("NASCOST_PROGRESS_INTERVAL", "30")))
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
