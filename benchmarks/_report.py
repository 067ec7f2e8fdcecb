"""Shared helper of the benchmark scripts: append a dated table row to docs/benchmarks.md."""

from __future__ import annotations

import os
from pathlib import Path

from nascost.device import cpu_device_info

DOC = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"


def machine_line() -> str:
    d = cpu_device_info(1)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return f"{d.cpu_model}, {d.cpu_cores} cores, torch {d.torch_version}, load {load:.1f}"


def append_section(title: str, header: str, row: str) -> None:
    """Add ``row`` under ``## title`` (created with ``header`` when missing)."""
    text = DOC.read_text() if DOC.exists() else "# Benchmarks\n"
    marker = f"## {title}"
    if marker not in text:
        sep = "|" + "|".join("---" for _ in header.strip("|").split("|")) + "|"
        text = text.rstrip("\n") + f"\n\n{marker}\n\n{header}\n{sep}\n"
        text += f"{row}\n"
    else:
        head, rest = text.split(marker, 1)
        lines = rest.split("\n")
        end = next((i for i, line in enumerate(lines) if i > 0 and line.startswith("## ")), len(lines))
        # insert after the last table line of this section (not of a later one)
        last = max(i for i, line in enumerate(lines[:end]) if line.startswith("|"))
        lines.insert(last + 1, row)
        text = head + marker + "\n".join(lines)
    DOC.write_text(text)
