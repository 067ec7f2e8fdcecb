"""The cost database: measured architectures in SQLite, one space per file.

Why SQLite: a campaign appends one row per architecture, for hours, and may be
killed at any moment. Each row is written in its own transaction (WAL mode), so
a kill loses at most the architecture being measured, never a written row, and
never leaves half a row. One database may hold several devices, settings,
measurers and batch sizes; rows are kept apart by their *group*
``(space, measurer, setting key, batch size, device fingerprint)``, and an
architecture is stored at most once per group, which is what makes campaigns
resumable.

Tables (schema version :data:`SCHEMA_VERSION`, recorded in ``meta``):

- ``meta(key, value)``: ``schema_version``, ``space``, ``created_at``, ``nascost_version``.
- ``settings(key, name, json)``: each :class:`~nascost.records.Setting` by its key.
- ``devices(fingerprint, label, json)``: each :class:`~nascost.records.DeviceInfo`.
- ``groups(id, space, measurer, setting_key, batch_size, device, unit)``.
- ``measurements(group_id, arch_key, arch, encoding, median, mean, std, iqr, p90,
  cv, n, noisy, attempts, samples, extra, measured_at, campaign, drift)``,
  unique per ``(group_id, arch_key)``.
- ``references(group_id, campaign, seq, arch_key, median, measured_at)``: the
  reference architecture re-measured during campaigns (drift detection).
- ``group_info(group_id, json)``: what else a group needs to be measured again
  the same way, e.g. ``{"measurer_options": {"path": ..., "device": ...}}`` of a
  table's column (created on first use; older databases lack it).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from nascost.errors import NascostError
from nascost.records import (
    Architecture,
    DeviceInfo,
    Measurement,
    Setting,
    pool_visits,
    visit_count,
    visit_summary,
)

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, name TEXT NOT NULL, json TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS devices (fingerprint TEXT PRIMARY KEY, label TEXT NOT NULL, json TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS groups (
    id INTEGER PRIMARY KEY,
    space TEXT NOT NULL,
    measurer TEXT NOT NULL,
    setting_key TEXT NOT NULL REFERENCES settings(key),
    batch_size INTEGER NOT NULL,
    device TEXT NOT NULL REFERENCES devices(fingerprint),
    unit TEXT NOT NULL,
    UNIQUE (space, measurer, setting_key, batch_size, device)
);
CREATE TABLE IF NOT EXISTS measurements (
    id INTEGER PRIMARY KEY,
    group_id INTEGER NOT NULL REFERENCES groups(id),
    arch_key TEXT NOT NULL,
    arch TEXT NOT NULL,
    encoding TEXT NOT NULL,
    median REAL NOT NULL,
    mean REAL NOT NULL,
    std REAL NOT NULL,
    iqr REAL NOT NULL,
    p90 REAL NOT NULL,
    cv REAL,
    n INTEGER NOT NULL,
    noisy INTEGER NOT NULL,
    attempts INTEGER NOT NULL,
    samples TEXT NOT NULL,
    extra TEXT NOT NULL,
    measured_at TEXT NOT NULL,
    campaign TEXT,
    drift INTEGER NOT NULL DEFAULT 0,
    UNIQUE (group_id, arch_key)
);
CREATE TABLE IF NOT EXISTS group_info (group_id INTEGER PRIMARY KEY REFERENCES groups(id), json TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS references_ (
    id INTEGER PRIMARY KEY,
    group_id INTEGER NOT NULL REFERENCES groups(id),
    campaign TEXT,
    seq INTEGER NOT NULL,
    arch_key TEXT NOT NULL,
    median REAL NOT NULL,
    measured_at TEXT NOT NULL
);
"""


@dataclass
class GroupInfo:
    """One group of comparable rows: same space, measurer, setting, batch size and device."""

    space: str
    measurer: str
    setting: Setting
    batch_size: int
    device: DeviceInfo
    unit: str
    count: int
    flagged: int
    id: int = 0

    def label(self) -> str:
        return (
            f"measurer={self.measurer} setting={self.setting.label()} batch={self.batch_size} "
            f"device={self.device.fingerprint} ({self.count} rows)"
        )


@dataclass
class CostData:
    """The rows of one group, ready for fitting: ``values`` are the medians."""

    archs: list[Architecture]
    values: np.ndarray
    unit: str
    space: str
    measurer: str
    setting: Setting
    batch_size: int
    device: DeviceInfo
    keys: list[str]
    #: ``[N, D]`` encodings as stored at collection time.
    encodings: np.ndarray | None = None
    #: Paired timing's anchor of these rows (None for unpaired measurements).
    reference_latency: float | None = None
    #: Options that make the group's measurer measure as these rows were (a table's path and column).
    measurer_options: dict[str, Any] = field(default_factory=dict)
    #: The space's options when the rows were collected (they can change the encoding);
    #: None for rows of an older nascost, which did not record them.
    space_options: dict[str, Any] | None = None

    def __len__(self) -> int:
        return len(self.archs)

    def check_encoding(self, space: Any, what: str = "the rows") -> None:
        """Refuse rows collected with other options of ``space``: they were sampled for another
        encoding (a cell that encoding leaves out is fixed in them), so a cost fitted on them
        would be blind to what this encoding adds."""
        from nascost.space import check_space_options

        check_space_options(space, self.space_options, what=f"{what} were collected")
        enc = self.encodings
        width = enc.shape[1] if enc is not None and enc.ndim == 2 and enc.size else space.encoding_dim
        if width != space.encoding_dim:
            raise NascostError(f"{what} were encoded with {width} values at collection, but space {space.name!r} "
                               f"encodes {space.encoding_dim} ({space.encoding_id}): give the space the options "
                               "they were collected with (--space-opt)")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class CostDatabase:
    """A nascost cost database (SQLite). Use as a context manager or call :meth:`close`."""

    def __init__(self, path: str | Path, *, create: bool = False) -> None:
        self.path = Path(path)
        if self.path.is_dir():
            raise NascostError(f"{str(self.path)!r} is a directory, not a cost database")
        try:
            size = self.path.stat().st_size if self.path.exists() else None
        except OSError as exc:
            from nascost.files import os_error

            raise os_error(exc, "read cost database", self.path) from None
        if size is None and not create:
            raise NascostError(
                f"cost database {str(self.path)!r} does not exist (create one with 'nascost collect')"
            )
        if size == 0 and not create:
            raise NascostError(f"{str(self.path)!r} is empty (0 bytes), not a nascost cost database; remove it, "
                               "or let 'nascost collect' create a database there")
        if size is None and not self.path.parent.exists():
            raise NascostError(f"directory {str(self.path.parent)!r} does not exist")
        try:
            self._conn = sqlite3.connect(str(self.path), isolation_level=None, timeout=30.0)
        except sqlite3.Error as exc:
            raise NascostError(f"cannot open {str(self.path)!r} as a database: {exc}") from None
        try:
            self._init_retrying(create)
        except NascostError:
            self._conn.close()
            raise
        except sqlite3.DatabaseError as exc:
            self._conn.close()
            if "not a database" in str(exc):
                raise NascostError(
                    f"{str(self.path)!r} is not a nascost cost database (SQLite says: {exc}); give another --db file"
                ) from None
            raise self.database_error(exc) from None

    # --- opening -----------------------------------------------------------
    def _init_retrying(self, create: bool, wait_s: float = 30.0) -> None:
        """:meth:`_init`, retried while another process is creating or converting the same file.

        SQLite answers "database is locked" at once, without waiting for its busy
        timeout, when two connections switch one new file to WAL mode together.
        """
        import random
        import time

        deadline = time.monotonic() + wait_s
        while True:
            try:
                self._init(create)
                return
            except sqlite3.OperationalError as exc:
                if ("locked" not in str(exc) and "busy" not in str(exc)) or time.monotonic() > deadline:
                    raise
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                time.sleep(random.uniform(0.01, 0.1))

    def _init(self, create: bool) -> None:
        """Check (and with ``create``, initialise) the schema.

        Creating takes the write lock first (``BEGIN IMMEDIATE``) and looks at
        the tables under it, so of two processes creating one new file the
        second waits for the first and then finds a complete database, never a
        half-made one. A read-only open takes no lock (a read-only file works).
        """
        c = self._conn
        c.execute("PRAGMA busy_timeout=30000")
        if not create:
            self._check_schema(self._tables(), create=False)
        c.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode: a committed row survives a killed process (SIGKILL);
        # only an OS crash or power loss could lose the last few commits.
        c.execute("PRAGMA synchronous=NORMAL")
        c.execute("PRAGMA foreign_keys=ON")
        if not create:
            return
        with self._transaction():
            tables = self._tables()
            if tables:
                self._check_schema(tables, create=True)
                return
            from nascost import __version__

            for stmt in _SCHEMA.split(";"):
                if stmt.strip():
                    c.execute(stmt)
            c.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
            c.execute("INSERT OR REPLACE INTO meta VALUES ('created_at', ?)", (_now(),))
            c.execute("INSERT OR REPLACE INTO meta VALUES ('nascost_version', ?)", (__version__,))

    def _tables(self) -> set[str]:
        return {r[0] for r in self._conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}

    def _check_schema(self, tables: set[str], *, create: bool) -> None:
        if not tables and not create:
            raise NascostError(f"{str(self.path)!r} is an empty SQLite file, not a nascost cost database; "
                               "remove it, or let 'nascost collect' create a database there")
        if "meta" not in tables:
            raise NascostError(
                f"{str(self.path)!r} is an SQLite file but not a nascost cost database (no meta table); "
                "give another --db file"
            )
        version = self._meta("schema_version")
        if version != str(SCHEMA_VERSION):
            raise NascostError(
                f"{str(self.path)!r} has cost-database schema version {version}, this nascost "
                f"reads version {SCHEMA_VERSION}; use a matching nascost version"
            )

    def _meta(self, key: str) -> str | None:
        row = self._conn.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return row[0] if row else None

    class _Tx:
        def __init__(self, conn: sqlite3.Connection) -> None:
            self.conn = conn

        def __enter__(self) -> sqlite3.Connection:
            self.conn.execute("BEGIN IMMEDIATE")
            return self.conn

        def __exit__(self, exc_type: Any, *_: Any) -> None:
            if exc_type is None:
                self.conn.execute("COMMIT")
            else:
                self.conn.execute("ROLLBACK")

    def _transaction(self) -> CostDatabase._Tx:
        return CostDatabase._Tx(self._conn)

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> CostDatabase:
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, _tb: Any) -> None:
        self.close()
        if isinstance(exc, sqlite3.DatabaseError) and not isinstance(exc, sqlite3.IntegrityError):
            raise self.database_error(exc) from None

    def database_error(self, exc: sqlite3.DatabaseError) -> NascostError:
        """One line for SQLite failing on this file: damaged pages, a read-only file, a full disk."""
        text = str(exc)
        if "malformed" in text or "not a database" in text:
            fix = "the file is damaged: restore it from a backup or re-import a 'nascost data export'"
        elif "readonly" in text or "read-only" in text:
            fix = "the file or its directory is read-only: check the permissions"
        elif "full" in text:
            fix = "the disk is full: free some space (committed rows are kept)"
        elif "locked" in text:
            fix = "another process holds it: wait for it, or use another --db file"
        else:
            fix = "check the file, its permissions and the free disk space"
        return NascostError(f"cost database {str(self.path)!r}: SQLite says {text!r}; {fix}")

    # --- space -------------------------------------------------------------
    @property
    def space(self) -> str | None:
        """The one search space this database holds (None while it is empty)."""
        return self._meta("space")

    def check_space(self, space: str) -> None:
        """Refuse a database written for another space, naming both."""
        current = self.space
        if current is not None and current != space:
            raise NascostError(
                f"{str(self.path)!r} holds architectures of space {current!r}, not {space!r}; "
                f"use another --db file for {space!r}"
            )

    # --- writing -----------------------------------------------------------
    def _group_id(self, c: sqlite3.Connection, space: str, measurer: str, setting: Setting,
                  batch_size: int, device: DeviceInfo, unit: str, create: bool) -> int | None:
        row = c.execute(
            "SELECT id, unit FROM groups WHERE space=? AND measurer=? AND setting_key=? AND batch_size=? AND device=?",
            (space, measurer, setting.key(), batch_size, device.fingerprint),
        ).fetchone()
        if row is not None:
            if row[1] != unit:
                raise NascostError(
                    f"measurer {measurer!r} reported unit {unit!r} but the database holds {row[1]!r} for it"
                )
            return int(row[0])
        if not create:
            return None
        c.execute(
            "INSERT OR IGNORE INTO settings VALUES (?, ?, ?)",
            (setting.key(), setting.name, setting.model_dump_json()),
        )
        c.execute(
            "INSERT OR IGNORE INTO devices VALUES (?, ?, ?)",
            (device.fingerprint, device.label(), device.model_dump_json()),
        )
        cur = c.execute(
            "INSERT INTO groups (space, measurer, setting_key, batch_size, device, unit) VALUES (?,?,?,?,?,?)",
            (space, measurer, setting.key(), batch_size, device.fingerprint, unit),
        )
        return int(cur.lastrowid)

    def _set_space(self, c: sqlite3.Connection, space: str) -> None:
        self.check_space(space)
        if self.space is None:
            c.execute("INSERT OR REPLACE INTO meta VALUES ('space', ?)", (space,))

    def bind_space(self, space: str) -> None:
        """Record the database's space (first campaign), or refuse another one."""
        self.check_space(space)
        if self.space is None:
            with self._transaction() as c:
                self._set_space(c, space)

    def add(
        self,
        arch: Architecture,
        encoding: Sequence[float],
        measurement: Measurement,
        *,
        measurer: str,
        setting: Setting,
        campaign: str | None = None,
        space_options: dict[str, Any] | None = None,
    ) -> None:
        """Store one measured architecture, atomically (its own transaction).

        The group comes from ``measurement.device`` and ``measurement.batch_size``
        (so rows from several workers land in their devices' groups). Adding an
        architecture already in its group is an error: nothing is measured twice.
        ``space_options`` are recorded with a group that has none recorded yet.
        """
        try:
            with self._transaction() as c:
                gid = self._insert(c, arch, encoding, measurement, measurer=measurer, setting=setting,
                                   campaign=campaign)
                if space_options is not None:
                    self._record_space_options(c, gid, space_options)
        except sqlite3.IntegrityError:
            batch = measurement.batch_size if measurement.batch_size is not None else 1
            raise NascostError(
                f"architecture {arch.key()} is already in the database for measurer {measurer!r}, "
                f"setting {setting.name!r}, batch {batch}, device {measurement.device.fingerprint}: is another "
                f"process writing to {str(self.path)!r}? Run one campaign per database and group at a time, "
                "then rerun to continue"
            ) from None

    def _insert(self, c: sqlite3.Connection, arch: Architecture, encoding: Sequence[float],
                measurement: Measurement, *, measurer: str, setting: Setting, campaign: str | None,
                measured_at: str | None = None, drift: bool = False) -> int:
        """Insert one row; returns its group's id."""
        batch = measurement.batch_size if measurement.batch_size is not None else 1
        self._set_space(c, arch.space)
        gid = self._group_id(c, arch.space, measurer, setting, batch, measurement.device,
                             measurement.unit, create=True)
        c.execute(
            "INSERT INTO measurements (group_id, arch_key, arch, encoding, median, mean, std, iqr, p90,"
            " cv, n, noisy, attempts, samples, extra, measured_at, campaign, drift)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                gid, arch.key(), json.dumps(arch.spec, sort_keys=True), _encoding_json(encoding),
                measurement.median, measurement.mean, measurement.std, measurement.iqr,
                measurement.p90, _finite(measurement.cv), measurement.n, int(measurement.noisy),
                measurement.attempts, json.dumps(measurement.samples),
                json.dumps(measurement.extra, default=str), measured_at or _now(), campaign, int(drift),
            ),
        )
        return gid

    def add_visit(self, arch: Architecture, measurement: Measurement, *, measurer: str, setting: Setting,
                  campaign: str | None = None, noisy_threshold: float | None = None) -> int:
        """Pool another visit of an architecture into its row, atomically; returns the row's visits.

        The row must exist (the first visit is :meth:`add`); see
        :func:`nascost.records.pool_visits` for how visits combine.
        """
        batch = measurement.batch_size if measurement.batch_size is not None else 1
        with self._transaction() as c:
            gid = self._group_id(c, arch.space, measurer, setting, batch, measurement.device,
                                 measurement.unit, create=False)
            row = None if gid is None else c.execute(
                "SELECT id, samples, noisy, attempts, extra, measured_at, campaign FROM measurements"
                " WHERE group_id=? AND arch_key=?", (gid, arch.key())).fetchone()
            if row is None:
                raise NascostError(f"architecture {arch.key()} has no first visit to add to in this group")
            rid, samples, noisy, attempts, extra, measured_at, first_campaign = row
            previous = Measurement.from_samples(
                json.loads(samples), unit=measurement.unit, device=measurement.device, noisy=bool(noisy),
                attempts=int(attempts), batch_size=batch, extra=json.loads(extra),
            )
            try:
                pooled = pool_visits(
                    previous, measurement,
                    previous_visit=visit_summary(previous, measured_at=measured_at, campaign=first_campaign),
                    new_visit=visit_summary(measurement, measured_at=_now(), campaign=campaign),
                    noisy_threshold=noisy_threshold,
                )
            except ValueError as exc:
                raise NascostError(f"architecture {arch.key()}: {exc}") from None
            c.execute(
                "UPDATE measurements SET median=?, mean=?, std=?, iqr=?, p90=?, cv=?, n=?, noisy=?, attempts=?,"
                " samples=?, extra=? WHERE id=?",
                (pooled.median, pooled.mean, pooled.std, pooled.iqr, pooled.p90, _finite(pooled.cv), pooled.n,
                 int(pooled.noisy), pooled.attempts, json.dumps(pooled.samples),
                 json.dumps(pooled.extra, default=str), rid),
            )
        return visit_count(pooled.extra)

    def add_reference(self, arch: Architecture, measurement: Measurement, *, measurer: str,
                      setting: Setting, campaign: str | None, seq: int) -> None:
        """Store one re-measurement of the campaign's reference architecture."""
        batch = measurement.batch_size if measurement.batch_size is not None else 1
        with self._transaction() as c:
            self._set_space(c, arch.space)
            gid = self._group_id(c, arch.space, measurer, setting, batch, measurement.device,
                                 measurement.unit, create=True)
            c.execute(
                "INSERT INTO references_ (group_id, campaign, seq, arch_key, median, measured_at)"
                " VALUES (?,?,?,?,?,?)",
                (gid, campaign, seq, arch.key(), measurement.median, _now()),
            )

    def references(self, group: GroupInfo, campaign: str | None = None) -> list[tuple[int, float]]:
        """``(seq, median)`` of the reference re-measurements of a group (one campaign or all)."""
        sql = "SELECT seq, median FROM references_ WHERE group_id=?"
        args: list[Any] = [group.id]
        if campaign is not None:
            sql += " AND campaign=?"
            args.append(campaign)
        return [(int(s), float(m)) for s, m in self._conn.execute(sql + " ORDER BY id", args)]

    def paired_anchor(self, group: GroupInfo) -> float | None:
        """The anchor of a group's paired-timing rows (``extra.paired.anchor``), if it has any."""
        row = self._conn.execute(
            "SELECT extra FROM measurements WHERE group_id=? AND extra LIKE '%\"paired\"%' ORDER BY id LIMIT 1",
            (group.id,),
        ).fetchone()
        if row is None:
            return None
        anchor = json.loads(row[0]).get("paired", {}).get("anchor")
        return float(anchor) if anchor else None

    def _has_table(self, name: str) -> bool:
        return self._conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (name,)).fetchone() is not None

    def group_info(self, group: GroupInfo) -> dict[str, Any]:
        """What ``group_info`` records for a group (``{}`` when nothing, or an older database)."""
        if not self._has_table("group_info"):
            return {}
        row = self._conn.execute("SELECT json FROM group_info WHERE group_id=?", (group.id,)).fetchone()
        return json.loads(row[0]) if row else {}

    def _set_group_info(self, c: sqlite3.Connection, group_id: int, info: dict[str, Any]) -> None:
        c.execute("CREATE TABLE IF NOT EXISTS group_info (group_id INTEGER PRIMARY KEY REFERENCES groups(id), "
                  "json TEXT NOT NULL)")
        c.execute("INSERT OR REPLACE INTO group_info VALUES (?, ?)", (group_id, json.dumps(info, sort_keys=True)))

    def record_measurer_options(self, group: GroupInfo, options: dict[str, Any]) -> None:
        """Remember how the group's measurer was configured (a table's file and column)."""
        with self._transaction() as c:
            info = self.group_info(group)
            if info.get("measurer_options") != options:
                self._set_group_info(c, group.id, {**info, "measurer_options": options})

    def _record_space_options(self, c: sqlite3.Connection, group_id: int, options: dict[str, Any]) -> None:
        """Remember the space's options a group's rows were collected with (their encoding)."""
        row = (c.execute("SELECT json FROM group_info WHERE group_id=?", (group_id,)).fetchone()
               if self._has_table("group_info") else None)
        info = json.loads(row[0]) if row else {}
        if "space_options" not in info:
            self._set_group_info(c, group_id, {**info, "space_options": options})

    def _check_recorded(self, c: sqlite3.Connection, group_id: int, options: dict[str, Any], *, where: str) -> None:
        """Refuse rows whose space options differ from those their group recorded."""
        row = (c.execute("SELECT json FROM group_info WHERE group_id=?", (group_id,)).fetchone()
               if self._has_table("group_info") else None)
        have = (json.loads(row[0]) if row else {}).get("space_options")
        if have is not None and have != options:
            raise NascostError(f"{where}: its rows were collected with space options {json.dumps(options, sort_keys=True)}"
                               f", the database's group with {json.dumps(have, sort_keys=True)}; import them into "
                               "another --db; nothing was imported")

    def check_group_space(self, group: GroupInfo | None, space: Any) -> None:
        """Refuse to add rows of ``space`` to a group collected with another encoding of it:
        one group, one encoding (a predictor is fitted on one)."""
        if group is None:
            return
        from nascost.space import check_space_options

        where = f"{group.label()} of {str(self.path)!r}"
        check_space_options(space, self.group_info(group).get("space_options"), what=f"{where} was collected")
        row = self._conn.execute("SELECT encoding FROM measurements WHERE group_id=? LIMIT 1", (group.id,)).fetchone()
        width = len(json.loads(row[0])) if row else space.encoding_dim
        if width != space.encoding_dim:
            raise NascostError(f"{where} holds rows encoded with {width} values, but space {space.name!r} encodes "
                               f"{space.encoding_dim} ({space.encoding_id}): collect into another --db, or give the "
                               "space the options the rows were collected with (--space-opt)")

    def space_options(self, space: str) -> dict[str, Any] | None:
        """The space options every group of ``space`` recorded (None: none recorded, or they differ)."""
        seen = [self.group_info(g).get("space_options") for g in self.groups() if g.space == space]
        seen = [o for o in seen if o is not None]
        return seen[0] if seen and all(o == seen[0] for o in seen) else None

    def flag_drift(self, group: GroupInfo, keys: Sequence[str]) -> int:
        """Mark rows of a group as measured during drift; returns how many changed."""
        if not keys:
            return 0
        with self._transaction() as c:
            changed = 0
            for key in keys:
                cur = c.execute(
                    "UPDATE measurements SET drift=1 WHERE group_id=? AND arch_key=? AND drift=0",
                    (group.id, key),
                )
                changed += cur.rowcount
        return changed

    # --- reading -----------------------------------------------------------
    def groups(self) -> list[GroupInfo]:
        """Every group of rows, with its size and number of drift-flagged rows."""
        rows = self._conn.execute(
            "SELECT g.id, g.space, g.measurer, s.json, g.batch_size, d.json, g.unit,"
            " (SELECT COUNT(*) FROM measurements m WHERE m.group_id = g.id),"
            " (SELECT COUNT(*) FROM measurements m WHERE m.group_id = g.id AND m.drift = 1)"
            " FROM groups g JOIN settings s ON s.key = g.setting_key JOIN devices d ON d.fingerprint = g.device"
            " ORDER BY g.id"
        ).fetchall()
        return [
            GroupInfo(
                space=space, measurer=measurer, setting=Setting.model_validate_json(sj),
                batch_size=int(batch), device=DeviceInfo.model_validate_json(dj), unit=unit,
                count=int(count), flagged=int(flagged), id=int(gid),
            )
            for gid, space, measurer, sj, batch, dj, unit, count, flagged in rows
        ]

    def find_group(self, *, space: str, measurer: str, setting: Setting, batch_size: int,
                   device: DeviceInfo) -> GroupInfo | None:
        """The exact group of a campaign, if it has been started."""
        for g in self.groups():
            if (g.space == space and g.measurer == measurer and g.setting.key() == setting.key()
                    and g.batch_size == batch_size and g.device.fingerprint == device.fingerprint):
                return g
        return None

    def select_group(
        self,
        *,
        space: str,
        measurer: str | None = None,
        setting: str | None = None,
        device: str | None = None,
        batch_size: int | None = None,
    ) -> GroupInfo:
        """The one group matching the filters; a clear error when none or several match."""
        self.check_space(space)
        groups = [g for g in self.groups() if g.space == space]
        if measurer is not None:
            groups = [g for g in groups if g.measurer == measurer]
        if setting is not None:
            groups = [g for g in groups if setting in (g.setting.name, g.setting.key())]
        if device is not None:
            groups = [g for g in groups if g.device.fingerprint.startswith(device) or g.device.name == device]
        if batch_size is not None:
            groups = [g for g in groups if g.batch_size == batch_size]
        if not groups:
            have = "; ".join(g.label() for g in self.groups()) or "none"
            raise NascostError(
                f"no rows in {str(self.path)!r} match space={space!r} measurer={measurer} "
                f"setting={setting} device={device} batch={batch_size} (groups: {have})"
            )
        if len(groups) > 1:
            raise NascostError(
                f"{len(groups)} groups in {str(self.path)!r} match; choose one with "
                f"--measurer/--setting/--device/--batch-size: " + "; ".join(g.label() for g in groups)
            )
        return groups[0]

    def query(
        self,
        *,
        space: str,
        measurer: str | None = None,
        setting: str | None = None,
        device: str | None = None,
        batch_size: int | None = None,
        include_flagged: bool = False,
        exclude_noisy: bool = False,
        campaign: str | None = None,
    ) -> CostData:
        """The rows of the one matching group. Drift-flagged rows are left out unless asked for.

        Noisy rows (still above the noise threshold after re-measurement) are kept
        unless ``exclude_noisy``: dropping them biases the data towards architectures
        that happen to time steadily, so it is an explicit choice (useful to see how
        much measurement noise costs a predictor). ``campaign`` keeps one campaign's rows.
        """
        g = self.select_group(space=space, measurer=measurer, setting=setting, device=device,
                              batch_size=batch_size)
        sql = "SELECT arch_key, arch, encoding, median FROM measurements WHERE group_id=?"
        params: list[Any] = [g.id]
        if not include_flagged:
            sql += " AND drift=0"
        if exclude_noisy:
            sql += " AND noisy=0"
        if campaign is not None:
            if not self._conn.execute("SELECT 1 FROM measurements WHERE group_id=? AND campaign=? LIMIT 1",
                                      (g.id, campaign)).fetchone():
                have = [r[0] for r in self._conn.execute(
                    "SELECT DISTINCT campaign FROM measurements WHERE group_id=? ORDER BY campaign", (g.id,))]
                raise NascostError(f"no rows of campaign {campaign!r} in {g.label()} (campaigns: "
                                   f"{', '.join(str(c) for c in have) or 'none'})")
            sql += " AND campaign=?"
            params.append(campaign)
        rows = self._conn.execute(sql + " ORDER BY id", params).fetchall()
        archs = [Architecture(space=g.space, spec=json.loads(a)) for _, a, _, _ in rows]
        enc = [json.loads(e) for _, _, e, _ in rows]
        return CostData(
            archs=archs,
            values=np.asarray([r[3] for r in rows], dtype=np.float64),
            unit=g.unit,
            space=g.space,
            measurer=g.measurer,
            setting=g.setting,
            batch_size=g.batch_size,
            device=g.device,
            keys=[r[0] for r in rows],
            encodings=np.asarray(enc, dtype=np.float32) if enc else np.zeros((0, 0), dtype=np.float32),
            reference_latency=self.paired_anchor(g),
            measurer_options=dict(self.group_info(g).get("measurer_options") or {}),
            space_options=self.group_info(g).get("space_options"),
        )

    def keys(self, group: GroupInfo | None) -> set[str]:
        """Architecture keys already stored in a group (empty for a group not started)."""
        if group is None:
            return set()
        return {r[0] for r in self._conn.execute("SELECT arch_key FROM measurements WHERE group_id=?", (group.id,))}

    def visit_counts(self, group: GroupInfo | None) -> dict[str, int]:
        """Architecture key -> number of visits pooled in its row (campaign passes)."""
        if group is None:
            return {}
        counts = {}
        for key, extra in self._conn.execute("SELECT arch_key, extra FROM measurements WHERE group_id=?",
                                             (group.id,)):
            counts[key] = visit_count(json.loads(extra)) if '"visits"' in extra else 1
        return counts

    def rows(self, group: GroupInfo | None = None) -> Iterator[dict[str, Any]]:
        """Every row as a flat dict (export, info), optionally of one group."""
        groups = {g.id: g for g in self.groups()}
        sql = (
            "SELECT group_id, arch_key, arch, encoding, median, mean, std, iqr, p90, cv, n, noisy, attempts,"
            " samples, extra, measured_at, campaign, drift FROM measurements"
        )
        args: tuple[Any, ...] = ()
        if group is not None:
            sql += " WHERE group_id=?"
            args = (group.id,)
        for r in self._conn.execute(sql + " ORDER BY id", args):
            g = groups[r[0]]
            yield {
                "group_id": g.id, "space": g.space, "measurer": g.measurer, "setting": g.setting.name,
                "setting_key": g.setting.key(), "batch_size": g.batch_size,
                "device": g.device.fingerprint, "unit": g.unit, "arch_key": r[1], "arch": r[2],
                "encoding": r[3], "median": r[4], "mean": r[5], "std": r[6], "iqr": r[7], "p90": r[8],
                "cv": r[9], "n": r[10], "noisy": bool(r[11]), "attempts": r[12], "samples": r[13],
                "extra": r[14], "measured_at": r[15], "campaign": r[16], "drift": bool(r[17]),
            }

    def count(self) -> int:
        return int(self._conn.execute("SELECT COUNT(*) FROM measurements").fetchone()[0])


def check_row(space: Any, arch: Architecture, encoding: Sequence[Any], measurement: Measurement, *,
              where: str) -> list[float]:
    """The one validation of a row before it is stored, whether a measurer or an import made it.

    ``space`` (a :class:`~nascost.space.SearchSpace`, or None when it is not
    installed) checks the architecture (known operations) and the encoding's
    width; the costs must be finite and >= 0 (a NaN would become NULL, an
    infinity or a negative value would break every predictor fitted later).
    Returns the encoding as floats; raises :class:`NascostError` naming ``where``.
    """
    try:
        values = [float(x) for x in encoding]
    except (TypeError, ValueError):
        raise NascostError(f"{where}: the encoding {_short(encoding)} is not a list of numbers") from None
    if not all(np.isfinite(values)):
        raise NascostError(f"{where}: the encoding {_short(encoding)} holds a non-finite number")
    if space is not None:
        if arch.space != space.name and not space.shares_costs_with(arch.space):
            raise NascostError(f"{where}: an architecture of space {arch.space!r}, not {space.name!r}")
        try:
            space.validate(dict(arch.spec))
        except NascostError as exc:
            raise NascostError(f"{where}: {exc}") from None
        width = space.encoding_dim
        if len(values) != width:
            raise NascostError(f"{where}: the encoding has {len(values)} values, space {space.name!r} encodes "
                               f"an architecture in {width} ({space.encoding_id}); if the rows were collected with "
                               "other options of the space, give them (--space-opt)")
    m = measurement
    for name in ("median", "mean", "p90", "std", "iqr"):
        v = getattr(m, name)
        if not np.isfinite(v) or v < 0:
            raise NascostError(f"{where}: {name} {v} is not a cost (costs are finite numbers >= 0)")
    if not all(np.isfinite(m.samples)) or any(s < 0 for s in m.samples):
        raise NascostError(f"{where}: a sample is not a cost (costs are finite numbers >= 0)")
    return values


def _short(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _encoding_json(encoding: Sequence[float]) -> str:
    """Compact JSON: one-hot encodings are written as integers (0/1), others as floats."""
    values = [float(x) for x in encoding]
    if all(v.is_integer() for v in values):
        return json.dumps([int(v) for v in values], separators=(",", ":"))
    return json.dumps(values, separators=(",", ":"))


def _finite(x: float) -> float | None:
    """SQLite has no infinity/NaN in NOT NULL columns: store them as NULL."""
    return float(x) if np.isfinite(x) else None


# --- summaries and exports -------------------------------------------------------

_QUANTILES = (0.1, 0.25, 0.5, 0.75, 0.9)


def database_info(path: str | Path) -> dict[str, Any]:
    """Counts, settings, devices, value distribution and noise statistics per group."""
    with CostDatabase(path) as db:
        groups = []
        for g in db.groups():
            rows = db._conn.execute(
                "SELECT median, cv, iqr, noisy, drift, attempts, extra FROM measurements WHERE group_id=?", (g.id,)
            ).fetchall()
            visits = [json.loads(r[6]).get("visits") if '"visits"' in r[6] else None for r in rows]
            counts = [len(v) if v else 1 for v in visits]
            pairs = [(v[0]["median"], v[1]["median"]) for v in visits if v and len(v) > 1]
            med = np.asarray([r[0] for r in rows], dtype=np.float64)
            cv = np.asarray([r[1] for r in rows if r[1] is not None], dtype=np.float64)
            rel_iqr = np.asarray([r[2] / r[0] for r in rows if r[0]], dtype=np.float64)
            dist: dict[str, Any] = {}
            if med.size:
                qs = np.quantile(med, _QUANTILES)
                dist = {"min": float(med.min()), "max": float(med.max()), "mean": float(med.mean()),
                        "median": float(np.median(med)),
                        "quantiles": {f"q{int(q * 100):02d}": float(v) for q, v in zip(_QUANTILES, qs, strict=True)}}
            refs = db.references(g)
            ref_medians = [m for _, m in refs]
            noise = {
                "median_cv": float(np.median(cv)) if cv.size else None,
                "median_relative_iqr": float(np.median(rel_iqr)) if rel_iqr.size else None,
                "share_noisy": float(np.mean([r[3] for r in rows])) if rows else 0.0,
                "remeasured": int(sum(1 for r, k in zip(rows, counts, strict=True) if r[5] > k)),
                "drift_flagged": g.flagged,
                "reference_measurements": len(refs),
                "reference_spread": (
                    float((max(ref_medians) - min(ref_medians)) / np.median(ref_medians))
                    if len(ref_medians) > 1 else None
                ),
                # Campaign passes: how much two visits of one architecture disagree
                # (the repeatability of a one-visit measurement, seen from inside one database).
                "visits": {
                    "min": min(counts, default=0), "max": max(counts, default=0), "rows_with_two": len(pairs),
                    "between_visits": (float(np.median([abs(a - b) / ((a + b) / 2) for a, b in pairs]))
                                       if pairs else None),
                },
            }
            # Runs per row tell a precise campaign (e.g. a test set measured with
            # more runs, for 'nascost compare --test-campaign') from the others.
            campaigns = [
                {"id": c, "count": n, "noisy": int(noisy), "first": first, "last": last,
                 "runs": {"min": lo, "max": hi}}
                for c, n, noisy, first, last, lo, hi in db._conn.execute(
                    "SELECT campaign, COUNT(*), SUM(noisy), MIN(measured_at), MAX(measured_at), MIN(n), MAX(n) "
                    "FROM measurements WHERE group_id=? GROUP BY campaign ORDER BY MIN(measured_at)", (g.id,))
            ]
            groups.append({
                "space": g.space, "measurer": g.measurer, "setting": g.setting.model_dump(),
                "setting_label": g.setting.label(), "batch_size": g.batch_size,
                "device": {"fingerprint": g.device.fingerprint, "label": g.device.label()},
                "unit": g.unit, "count": g.count, "distribution": dist, "noise": noise, "campaigns": campaigns,
            })
        settings = [json.loads(j) for (j,) in db._conn.execute("SELECT json FROM settings ORDER BY key")]
        devices = [
            {"fingerprint": fp, "label": label, **json.loads(j)}
            for fp, label, j in db._conn.execute("SELECT fingerprint, label, json FROM devices ORDER BY fingerprint")
        ]
        return {
            "path": str(db.path), "space": db.space, "schema_version": SCHEMA_VERSION,
            "created_at": db._meta("created_at"), "count": db.count(),
            "groups": groups, "settings": settings, "devices": devices,
        }


EXPORT_COLUMNS = [
    "space", "measurer", "setting", "setting_key", "batch_size", "device", "unit", "arch_key", "arch",
    "encoding", "median", "mean", "std", "iqr", "p90", "cv", "n", "noisy", "attempts", "samples",
    "measured_at", "campaign", "drift", "device_info", "extra", "space_options",
]  # fmt: skip


def _open_text(path: Path, mode: str):
    """Plain or gzip-compressed text (``.gz``), for CSV exports and imports."""
    import gzip

    if path.suffix == ".gz":
        return gzip.open(path, mode + "t", newline="")
    return path.open(mode, newline="")


def export_database(path: str | Path, output: str | Path, *, fmt: str = "csv", samples: bool = True,
                    campaign: str | None = None) -> int:
    """Write every row (or one ``campaign``'s) to ``output`` (CSV, gzip-compressed CSV for ``.gz``, or Parquet).

    The file is written atomically. Every row carries its group (setting name
    and key, batch, device fingerprint and the full ``device_info`` JSON), so
    :func:`import_csv` rebuilds the same groups. Parquet files also carry the
    devices and settings in the schema metadata (``nascost.devices``,
    ``nascost.settings``). ``samples=False`` leaves out the raw samples, and
    with them paired timing's raw per-run times. Returns the row count.
    """
    import csv
    import gzip
    import io

    from nascost.files import atomic_write, check_output

    output = Path(output)
    check_output(output, [path])
    if fmt not in ("csv", "parquet"):
        raise NascostError(f"unknown export format {fmt!r} (formats: csv, parquet)")
    if not output.parent.exists():
        raise NascostError(f"directory {str(output.parent)!r} does not exist")
    columns = [c for c in EXPORT_COLUMNS if samples or c != "samples"]
    with CostDatabase(path) as db:
        devices = {g.device.fingerprint: g.device.model_dump_json() for g in db.groups()}
        options = {g.id: db.group_info(g).get("space_options") for g in db.groups()}
        special = {"device_info": lambda r: devices[r["device"]],
                   "space_options": lambda r: "" if options[r["group_id"]] is None else
                   json.dumps(options[r["group_id"]], sort_keys=True)}
        rows = [{c: (special[c](r) if c in special else r[c]) for c in columns}
                for r in db.rows() if campaign is None or r["campaign"] == campaign]
        if campaign is not None and not rows:
            have = sorted({str(r["campaign"]) for r in db.rows()})
            raise NascostError(f"no rows of campaign {campaign!r} in {str(path)!r} (campaigns: "
                               f"{', '.join(have) or 'none'})")
        if not samples:
            for r in rows:
                r["extra"] = _without_raw_runs(r["extra"])
        meta = database_info(path)
    with atomic_write(output, "wb") as raw:
        if fmt == "csv":
            # mtime=0: the same rows give the same bytes (exports kept in git diff cleanly)
            zipped = gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) if output.suffix == ".gz" else None
            text = io.TextIOWrapper(zipped or raw, encoding="utf-8", newline="")
            w = csv.DictWriter(text, fieldnames=columns)
            w.writeheader()
            w.writerows(rows)
            text.flush()
            text.detach()  # leave the files open for atomic_write to finish
            if zipped is not None:
                zipped.close()
        else:
            try:
                import pyarrow as pa
                import pyarrow.parquet as pq
            except ImportError:
                raise NascostError("parquet export needs pyarrow: pip install 'nascost[parquet]'") from None
            table = pa.Table.from_pylist(rows) if rows else pa.table({c: [] for c in columns})
            table = table.replace_schema_metadata({
                "nascost.devices": json.dumps(meta["devices"]),
                "nascost.settings": json.dumps(meta["settings"]),
                "nascost.space": json.dumps(meta["space"]),
            })
            pq.write_table(table, raw)
    return len(rows)


def _without_raw_runs(extra_json: str) -> str:
    """``extra`` without paired timing's raw per-run times (kept: their medians)."""
    extra = json.loads(extra_json)
    paired = extra.get("paired")
    if not isinstance(paired, dict) or not {"model_samples", "reference_samples"} & set(paired):
        return extra_json
    extra["paired"] = {k: v for k, v in paired.items() if k not in ("model_samples", "reference_samples")}
    return json.dumps(extra)


_IMPORT_REQUIRED = ("space", "measurer", "setting", "setting_key", "batch_size", "unit", "arch", "encoding",
                    "median", "mean", "std", "iqr", "p90", "n", "noisy", "attempts", "device_info")


def import_csv(source: str | Path, db_path: str | Path, *,
               space_options: dict[str, Any] | None = None) -> tuple[int, int]:
    """Load a CSV written by :func:`export_database` into a database (created if missing).

    All rows go in one transaction: a malformed file changes nothing (and a new
    database file is not left behind). Rows already in their group are skipped.
    Rows are checked against their space with the options the file records
    (its ``space_options`` column); ``space_options`` gives them for files of an
    older nascost, which did not record them. Returns ``(added, skipped)``.
    """
    import csv

    source = Path(source)
    if not source.is_file():
        raise NascostError(f"{str(source)!r} does not exist")
    db_path = Path(db_path)
    existed = db_path.exists() and db_path.stat().st_size > 0
    parsed = []
    spaces: dict[str, Any] = {}
    try:
        with _open_text(source, "r") as f:
            reader = csv.DictReader(f)
            missing = [c for c in _IMPORT_REQUIRED if c not in (reader.fieldnames or [])]
            if missing:
                raise NascostError(
                    f"{str(source)!r} is not a nascost export: missing columns {', '.join(missing)}"
                )
            for i, r in enumerate(reader, 2):
                try:
                    setting = Setting(name=r["setting"], **json.loads(r["setting_key"]))
                    device = DeviceInfo.model_validate_json(r["device_info"])
                    samples = json.loads(r["samples"]) if r.get("samples") else []
                    m = Measurement(
                        unit=r["unit"], samples=samples, n=int(r["n"]), median=float(r["median"]),
                        mean=float(r["mean"]), std=float(r["std"]), iqr=float(r["iqr"]), p90=float(r["p90"]),
                        cv=float(r["cv"]) if r.get("cv") else float("inf"), noisy=r["noisy"] == "True",
                        attempts=int(r["attempts"]), batch_size=int(r["batch_size"]), device=device,
                        extra=json.loads(r["extra"]) if r.get("extra") else {},
                    )
                    arch = Architecture(space=r["space"], spec=json.loads(r["arch"]))
                    try:
                        encoding = json.loads(r["encoding"])
                    except ValueError:
                        raise NascostError(f"{str(source)!r} line {i}: the encoding {_short(r['encoding'])} is "
                                           "not a JSON list of numbers") from None
                    if not isinstance(encoding, list):
                        raise NascostError(f"{str(source)!r} line {i}: the encoding {_short(r['encoding'])} is "
                                           "not a JSON list of numbers")
                    recorded = json.loads(r["space_options"]) if r.get("space_options") else None
                    if recorded is not None and space_options is not None and recorded != {
                            **recorded, **space_options}:
                        raise NascostError(f"{str(source)!r} line {i}: the rows were collected with space options "
                                           f"{json.dumps(recorded, sort_keys=True)}; drop --space-opt")
                    options = recorded if recorded is not None else space_options
                    space = _installed_space(spaces, r["space"], options)
                    encoding = check_row(space, arch, encoding, m, where=f"{str(source)!r} line {i}")
                    if space is not None:  # all of them, defaults included: what the rows' encoding is
                        options = space.option_values()
                    parsed.append((arch, encoding, m, r["measurer"], setting,
                                   r.get("campaign") or None, r.get("measured_at") or None,
                                   r.get("drift") == "True", options))
                except (ValueError, TypeError, KeyError) as exc:
                    first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                    raise NascostError(f"{str(source)!r} line {i}: malformed row ({first})") from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise NascostError(f"cannot read {str(source)!r} as CSV: {exc}") from None
    added = skipped = 0
    try:
        with CostDatabase(db_path, create=True) as db, db._transaction() as c:
            for arch, enc, m, measurer, setting, campaign, measured_at, drift, options in parsed:
                try:
                    c.execute("SAVEPOINT row")
                    gid = db._insert(c, arch, enc, m, measurer=measurer, setting=setting, campaign=campaign,
                                     measured_at=measured_at, drift=drift)
                    if options is not None:
                        db._check_recorded(c, gid, options, where=f"{str(source)!r}")
                        db._record_space_options(c, gid, options)
                    c.execute("RELEASE row")
                    added += 1
                except sqlite3.IntegrityError as exc:
                    if "UNIQUE" not in str(exc):  # only a row already in its group is skipped
                        raise NascostError(f"{str(source)!r}: a row for architecture {arch.key()} cannot be "
                                           f"stored ({exc}); nothing was imported") from None
                    c.execute("ROLLBACK TO row")
                    c.execute("RELEASE row")
                    skipped += 1
    except BaseException:
        if not existed:
            for suffix in ("", "-wal", "-shm"):
                Path(str(db_path) + suffix).unlink(missing_ok=True)
        raise
    return added, skipped


def _installed_space(cache: dict[str, Any], name: str, options: dict[str, Any] | None = None) -> Any:
    """The search space ``name`` with ``options`` when installed (rows are then checked against it), else None."""
    key = (name, json.dumps(options, sort_keys=True))
    if key not in cache:
        from nascost import plugins
        from nascost.errors import UnknownNameError

        try:
            cache[key] = plugins.get_space(name, options or None)
        except UnknownNameError:
            cache[key] = None
    return cache[key]


def import_table(table: Any, db_path: str | Path, *, space: Any, setting: Setting, batch_size: int = 1,
                 measurer: str = "table", options: dict[str, dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """Write every column of a :class:`nascost.tables.Table` into a database as its own group.

    A column becomes the group ``(space, measurer, setting, batch_size, the column's
    table device)``; each architecture one row holding the table's value as its
    only sample (what the ``table`` measurer returns for it). ``options[column]``
    is stored as the group's measurer options (how the ``table`` measurer finds
    the same value). One transaction for the whole table: on any error nothing is
    written (and a new database file is removed). Rows already in their group are
    skipped. Returns per column ``{"device", "fingerprint", "added", "skipped"}``.
    """
    db_path = Path(db_path)
    existed = db_path.exists() and db_path.stat().st_size > 0
    arch_json = [json.dumps(a.spec, sort_keys=True) for a in table.archs]
    enc_json = [_encoding_json(e) for e in space.encode(table.archs).tolist()]
    campaign, now = f"table:{table.path.name}", _now()
    report = []
    try:
        with CostDatabase(db_path, create=True) as db:
            db.check_space(space.name)
            with db._transaction() as c:
                db._set_space(c, space.name)
                for column, values in table.columns.items():
                    device = table.device(column)
                    gid = db._group_id(c, space.name, measurer, setting, batch_size, device, table.unit, create=True)
                    have = db.keys(GroupInfo(space.name, measurer, setting, batch_size, device, table.unit, 0, 0, gid))
                    rows = []
                    for i, key in enumerate(table.keys):
                        if key in have:
                            continue
                        v = float(values[i])
                        rows.append((gid, key, arch_json[i], enc_json[i], v, v, 0.0, 0.0, v, 0.0, 1, 0, 1,
                                     json.dumps([v]), json.dumps({"table": {"line": table.lines[i]}}), now,
                                     campaign, 0))
                        have.add(key)
                    c.executemany(
                        "INSERT INTO measurements (group_id, arch_key, arch, encoding, median, mean, std, iqr, p90,"
                        " cv, n, noisy, attempts, samples, extra, measured_at, campaign, drift)"
                        " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)
                    if options and column in options:
                        db._set_group_info(c, gid, {"measurer_options": options[column]})
                    db._record_space_options(c, gid, space.option_values())
                    report.append({"device": column, "fingerprint": device.fingerprint, "added": len(rows),
                                   "skipped": len(table) - len(rows)})
    except BaseException:
        if not existed:
            for suffix in ("", "-wal", "-shm"):
                Path(str(db_path) + suffix).unlink(missing_ok=True)
        raise
    return report
