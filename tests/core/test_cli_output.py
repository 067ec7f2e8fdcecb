"""Tables printed to a pipe or file keep every header whole (rich assumes 80 columns there)."""

from __future__ import annotations

from nascost.cli.output import print_table


def test_tables_are_not_truncated_when_stdout_is_not_a_terminal(capsys, monkeypatch) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)
    columns = [f"a_rather_long_column_header_{i}" for i in range(8)]  # ~260 characters wide
    print_table("wide", columns, [[f"value_{i}" for i in range(8)]])
    out = capsys.readouterr().out
    for header in columns:
        assert header in out
    assert "…" not in out
