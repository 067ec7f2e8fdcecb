"""Output to pipes and files: tables keep every header whole; progress becomes log lines."""

from __future__ import annotations

import re

from nascost.cli import output
from nascost.cli.output import LineProgress, print_table


def test_tables_are_not_truncated_when_stdout_is_not_a_terminal(capsys, monkeypatch) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)
    columns = [f"a_rather_long_column_header_{i}" for i in range(8)]  # ~260 characters wide
    print_table("wide", columns, [[f"value_{i}" for i in range(8)]])
    out = capsys.readouterr().out
    for header in columns:
        assert header in out
    assert "…" not in out


def test_progress_in_a_log_file_prints_lines_with_count_rate_and_eta(capsys, monkeypatch) -> None:
    monkeypatch.setenv("NASCOST_PROGRESS_INTERVAL", "0")
    bar = output.progress("arch")
    assert isinstance(bar, LineProgress)  # pytest's stderr is not a terminal
    with bar:
        task = bar.add_task("measuring", total=4, info="")
        for i in range(4):
            bar.update(task, advance=1, info=f"{10 + i} ms")
        bar.update(task, info="again")  # a finished task is reported once
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 4
    assert lines[0].startswith("measuring 1/4 (25.0%) | ") and lines[0].endswith(" | 10 ms")
    assert "ETA -:--:--" in lines[0] and "arch/" in lines[0] and "elapsed 0:00:00" in lines[0]  # one sample: no rate
    assert re.search(r"\| [\d.]+ arch/s \| .* \| ETA \d+:\d\d:\d\d \| 12 ms$", lines[2])
    assert lines[-1].startswith("measuring 4/4 (100.0%)") and "ETA" not in lines[-1]


def test_progress_lines_are_spaced_by_the_interval(capsys) -> None:
    bar = LineProgress("step", interval=3600)
    task = bar.add_task("epoch 1", total=100, info="")
    for _ in range(99):
        bar.advance(task)
    assert capsys.readouterr().err == ""  # an hour has not passed
    bar.advance(task)
    assert capsys.readouterr().err.startswith("epoch 1 100/100 (100.0%)")
