"""Public tables as data: per-device cost tables and accuracy tables of a search space.

A *device table* gives the cost of architectures on devices one cannot measure
oneself (phones, boards, other GPUs): one row per architecture, keyed by the
space's text form (:meth:`~nascost.space.SearchSpace.format_arch`, e.g. a
NAS-Bench-201 string), one column per device. Two formats are read:

- CSV, plain or gzip-compressed (``.gz``): the architecture in one column
  (``arch_str``, ``arch``, ``architecture`` or ``cell``, else the first; or
  ``arch_column``), every other column a device;
- the per-device latency files of the HELP repository (``latency/<device>.pt``):
  a list or tensor of latencies in benchmark index order, read with
  ``torch.load(weights_only=True)``; the order comes from ``index``: HELP's
  ``str_arch2idx.pt`` (architecture string -> index) or any table whose rows are
  in index order.

``nascost data import`` turns each column into a group of a cost database, and
the ``table`` measurer looks architectures up in the same files, so a public
device is used exactly like hardware on the desk. Both describe a column by
:func:`table_device`: its fingerprint names the file (by content hash) and the
column. An *accuracy table* has the same layout with accuracy columns
(:func:`read_accuracy_table`).

Every problem is one :class:`~nascost.errors.NascostError` naming the file, line
and column; nothing is written before the whole table has been read.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nascost.errors import NascostError
from nascost.records import Architecture, DeviceInfo

#: Column names taken as the architecture column when none is named.
ARCH_COLUMNS = ("arch_str", "arch", "architecture", "cell", "genotype")
#: Time units a table may be given in; values are stored in milliseconds.
TIME_UNITS = {"ms": 1.0, "s": 1000.0, "us": 1e-3, "µs": 1e-3, "ns": 1e-6}


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file's bytes (hex)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def table_device(path: Path, sha256: str, column: str) -> DeviceInfo:
    """The fingerprint of one column of a device table: the file's name and content, and the column."""
    return DeviceInfo(
        runtime="table", cpu_model=column, platform=f"table {path.name}",
        extra={"table": path.name, "name": column, "sha256": sha256[:16]},
    )


def stored_unit(unit: str) -> str:
    """The unit values are stored in: milliseconds for any time unit, else the unit given."""
    return "ms" if unit in TIME_UNITS else unit


@dataclass
class Table:
    """A table read and checked: architectures in row order and one value array per column."""

    path: Path
    sha256: str
    arch_column: str
    archs: list[Architecture]
    lines: list[int]
    columns: dict[str, np.ndarray]
    unit: str = "ms"
    keys: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.keys:
            self.keys = [a.key() for a in self.archs]

    def device(self, column: str) -> DeviceInfo:
        return table_device(self.path, self.sha256, column)

    def values(self, column: str) -> dict[str, float]:
        """Architecture key -> value of one column."""
        return dict(zip(self.keys, (float(v) for v in self.columns[column]), strict=True))

    def __len__(self) -> int:
        return len(self.archs)


def _open_text(path: Path):
    if path.suffix == ".gz":
        return gzip.open(path, "rt", newline="", encoding="utf-8")
    return path.open("r", newline="", encoding="utf-8")


def _read_csv(path: Path) -> tuple[list[str], list[tuple[int, list[str]]]]:
    try:
        with _open_text(path) as f:
            reader = csv.reader(f)
            header = next(reader, None)
            if not header:
                raise NascostError(f"{str(path)!r} is empty: expected a CSV header naming the columns")
            rows = [(reader.line_num, row) for row in reader if row]
    except (OSError, UnicodeDecodeError, EOFError, csv.Error, gzip.BadGzipFile) as exc:
        raise NascostError(f"cannot read {str(path)!r} as a CSV table ({exc})") from None
    return [h.strip() for h in header], rows


def _arch_column(path: Path, header: list[str], arch_column: str | None) -> int:
    if arch_column is not None:
        if arch_column not in header:
            raise NascostError(f"{str(path)!r} has no column {arch_column!r} (columns: {', '.join(header)})")
        return header.index(arch_column)
    for name in ARCH_COLUMNS:
        if name in header:
            return header.index(name)
    return 0


def _parse_archs(path: Path, space: Any, texts: list[tuple[int, str]]) -> list[Architecture]:
    archs, seen = [], {}
    for line, text in texts:
        try:
            arch = space.parse_arch(text)
        except NascostError as exc:
            raise NascostError(f"{str(path)!r} line {line}: {exc}") from None
        key = arch.key()
        if key in seen:
            raise NascostError(f"{str(path)!r} line {line}: architecture {text!r} is already on line {seen[key]}")
        seen[key] = line
        archs.append(arch)
    return archs


def _number(path: Path, line: int, column: str, text: str, *, negative_ok: bool = False) -> float:
    try:
        value = float(text)
    except ValueError:
        raise NascostError(f"{str(path)!r} line {line}, column {column!r}: {text!r} is not a number") from None
    if not math.isfinite(value) or (value < 0 and not negative_ok):
        raise NascostError(f"{str(path)!r} line {line}, column {column!r}: {text!r} is not a finite, non-negative cost")
    return value


def _select(path: Path, have: list[str], wanted: list[str] | None, what: str) -> list[str]:
    if not have:
        raise NascostError(f"{str(path)!r} has no {what} columns besides the architecture column")
    if not wanted:
        return list(have)
    unknown = [w for w in wanted if w not in have]
    if unknown:
        import difflib

        close = difflib.get_close_matches(unknown[0], have, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise NascostError(
            f"{str(path)!r} has no {what} column {unknown[0]!r} ({what} columns: {', '.join(have)}){hint}"
        )
    return list(dict.fromkeys(wanted))


def read_table(
    path: str | Path,
    space: Any,
    *,
    columns: list[str] | None = None,
    unit: str = "ms",
    arch_column: str | None = None,
    index: str | Path | None = None,
    what: str = "device",
) -> Table:
    """Read a device table (CSV, CSV.gz, or a HELP ``.pt`` with ``index``); see the module docstring.

    ``columns`` picks columns (default: all); values in a time ``unit`` are
    converted to milliseconds.
    """
    path = Path(path)
    if not path.is_file():
        raise NascostError(f"table {str(path)!r} does not exist")
    if path.suffix == ".pt":
        return _read_help(path, space, columns=columns, unit=unit, index=index)
    if index is not None:
        raise NascostError("--index gives the row order of a HELP .pt latency file; a CSV table names its rows")
    header, rows = _read_csv(path)
    a = _arch_column(path, header, arch_column)
    names = [h for i, h in enumerate(header) if i != a]
    chosen = _select(path, names, columns, what)
    width = len(header)
    for line, row in rows:
        if len(row) != width:
            raise NascostError(f"{str(path)!r} line {line}: {len(row)} fields, the header has {width}")
    archs = _parse_archs(path, space, [(line, row[a]) for line, row in rows])
    if not archs:
        raise NascostError(f"{str(path)!r} has a header but no rows")
    factor = TIME_UNITS.get(unit, 1.0)
    values = {}
    for name in chosen:
        c = header.index(name)
        values[name] = np.asarray(
            [_number(path, line, name, row[c]) * factor for line, row in rows], dtype=np.float64
        )
    return Table(path=path, sha256=file_sha256(path), arch_column=header[a], archs=archs,
                 lines=[line for line, _ in rows], columns=values, unit=stored_unit(unit))


def _load_weights_only(path: Path) -> Any:
    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a pickle with code, a truncated file
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
        raise NascostError(f"cannot read {str(path)!r} safely as tensors ({first})") from None


def _index_order(index: Path, space: Any) -> list[tuple[int, str]]:
    """``(row, architecture text)`` in index order, from HELP's ``str_arch2idx.pt`` or a table."""
    if not index.is_file():
        raise NascostError(f"index file {str(index)!r} does not exist")
    if index.suffix == ".pt":
        mapping = _load_weights_only(index)
        if not isinstance(mapping, dict) or not all(isinstance(k, str) for k in mapping):
            raise NascostError(f"{str(index)!r} is not a mapping of architecture strings to indices")
        try:
            order = sorted(((int(v), k) for k, v in mapping.items()))
        except (TypeError, ValueError):
            raise NascostError(f"{str(index)!r} maps architectures to something other than indices") from None
        if [i for i, _ in order] != list(range(len(order))):
            raise NascostError(f"{str(index)!r} does not number its architectures 0..{len(order) - 1}")
        return [(i + 1, k) for i, k in order]
    header, rows = _read_csv(index)
    a = _arch_column(index, header, None)
    return [(line, row[a]) for line, row in rows]


def _read_help(path: Path, space: Any, *, columns: list[str] | None, unit: str, index: str | Path | None) -> Table:
    import torch

    if index is None:
        raise NascostError(
            f"{str(path)!r} is a HELP latency file: give the architectures' order with --index "
            "(HELP's str_arch2idx.pt, or a table whose rows are in benchmark index order)"
        )
    device = path.stem
    if columns and columns != [device]:
        raise NascostError(f"{str(path)!r} holds one device, {device!r}; drop --devices or name that one")
    raw = _load_weights_only(path)
    try:
        values = torch.as_tensor(raw, dtype=torch.float64).reshape(-1).numpy()
    except (TypeError, ValueError, RuntimeError):
        raise NascostError(f"{str(path)!r} is not a list or tensor of latencies") from None
    order = _index_order(Path(index), space)
    if len(order) != len(values):
        raise NascostError(f"{str(path)!r} holds {len(values)} latencies but {str(index)!r} orders {len(order)} architectures")
    archs = _parse_archs(Path(index), space, order)
    factor = TIME_UNITS.get(unit, 1.0)
    for i, v in enumerate(values):
        if not math.isfinite(float(v)) or v < 0:
            raise NascostError(f"{str(path)!r} entry {i}: {float(v)!r} is not a finite, non-negative cost")
    return Table(path=path, sha256=file_sha256(path), arch_column="index", archs=archs,
                 lines=[i for i in range(len(values))], columns={device: values * factor}, unit=stored_unit(unit))


# --- accuracy tables --------------------------------------------------------------------


@dataclass
class AccuracyTable:
    """True accuracy of architectures: one column of an accuracy table."""

    path: Path
    column: str
    values: dict[str, float]
    #: architecture key -> the space's text form
    names: dict[str, str] = field(default_factory=dict)

    def get(self, arch: Architecture) -> float | None:
        return self.values.get(arch.key())

    def label(self) -> str:
        return f"{self.path.name}:{self.column}"


def split_table_spec(spec: str | Path) -> tuple[Path, str | None]:
    """``FILE[:COLUMN]`` -> (file, column); a file whose name holds ':' is taken whole."""
    text = str(spec)
    if Path(text).is_file() or ":" not in text:
        return Path(text), None
    head, tail = text.rsplit(":", 1)
    return Path(head), tail or None


def read_accuracy_table(spec: str | Path, space: Any) -> AccuracyTable:
    """``FILE[:COLUMN]``: one accuracy column (default: the first besides the architecture column)."""
    path, column = split_table_spec(spec)
    if not path.is_file():
        raise NascostError(f"accuracy table {str(path)!r} does not exist")
    table = read_table(path, space, columns=[column] if column else None, unit="%", what="accuracy")
    name = column or next(iter(table.columns))
    names = {k: space.format_arch(a) for k, a in zip(table.keys, table.archs, strict=True)}
    return AccuracyTable(path=path, column=name, values=table.values(name), names=names)
