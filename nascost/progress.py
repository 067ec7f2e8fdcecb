"""Progress display for long library work: count, rate, elapsed time and ETA on stderr.

A library service, not the command line's: collect, search, sweep and train draw
their own bars through :func:`progress`; the CLI only decides whether they are
shown (``--quiet``). On a terminal it is a rich bar; in a log file, one line
every ``NASCOST_PROGRESS_INTERVAL`` seconds.
"""

from __future__ import annotations

import os
import time
from typing import Any

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
from rich.text import Text

#: Where progress and the CLI's status lines go (stderr, so stdout stays data).
console = Console(stderr=True)


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


class NullBar:
    """A stand-in for a rich ``Progress`` that draws nothing (progress turned off)."""

    def __enter__(self) -> NullBar:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def add_task(self, *args: Any, **kwargs: Any) -> int:
        return 0

    def update(self, *args: Any, **kwargs: Any) -> None:
        return None

    def advance(self, *args: Any, **kwargs: Any) -> None:
        return None

    def start(self) -> None:
        return None

    def stop(self) -> None:
        return None

    def __bool__(self) -> bool:  # ``if bar:`` skips work done only for display
        return False


def maybe_progress(show: bool, unit: str = "it", transient: bool = False) -> Progress | NullBar:
    """:func:`progress` when ``show``, else a :class:`NullBar` with the same methods."""
    return progress(unit, transient) if show else NullBar()


class StepBar:
    """A ``progress(done, total, info)`` callback drawing a bar; closes itself when done."""

    def __init__(self, label: str, unit: str = "it") -> None:
        self.bar = progress(unit, transient=True)
        self.label = label
        self.task: Any = None

    def __call__(self, done: int, total: int, info: str = "") -> None:
        if self.task is None:
            self.bar.start()
            self.task = self.bar.add_task(self.label, total=total, info=info)
        self.bar.update(self.task, completed=done, info=info)
        if done >= total:
            self.bar.stop()
