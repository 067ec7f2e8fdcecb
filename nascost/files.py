"""Writing files whole or not at all, and never over the command's own input.

Every file nascost writes that a later run reads (checkpoints, genotypes,
predictor files, reports, summaries) goes through :func:`atomic_write`: the
bytes go to a temporary file beside the target, are flushed to disk, and the
temporary file is renamed over the target. A kill at any moment leaves the old
file or the new one, never half of one; the temporary file of a killed write
(``.NAME.*.tmp``) is removed by the next successful write of ``NAME``.

:func:`check_output` is the one guard every command with an output option
calls: it refuses an output path that is one of the command's inputs (the same
path, a symlink to it, or a hard link), before anything is read or written.
"""

from __future__ import annotations

import errno
import io
import json
import math
import os
import tempfile
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from nascost.errors import NascostError

#: A temporary file older than this is a leftover of a killed write, not another writer's.
STALE_TMP_S = 3600.0


def os_error_hint(exc: OSError) -> str:
    """What the user can do about an OSError, by its errno."""
    if exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", -1)):
        return "free some disk space or write elsewhere"
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return "check the permissions or write elsewhere"
    if exc.errno in (errno.ENOENT, errno.ENOTDIR):
        return "check the path"
    if exc.errno == errno.EISDIR:
        return "give a file name, not a directory"
    return "check the path, permissions and free space"


def os_error(exc: OSError, what: str, path: str | Path | None = None) -> NascostError:
    """One line for a failed file operation: ``cannot write 'x': No space left on device (free ...)``."""
    where = path if path is not None else exc.filename
    reason = exc.strerror or str(exc) or type(exc).__name__
    target = f" {str(where)!r}" if where is not None else ""
    return NascostError(f"cannot {what}{target}: {reason} ({os_error_hint(exc)})")


def _same(a: Path, b: Path) -> bool:
    try:
        if a.resolve() == b.resolve():
            return True
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def check_output(output: str | Path, inputs: Iterable[str | Path | None], *, option: str = "-o") -> None:
    """Refuse to write ``output`` over one of the command's ``inputs`` (path, symlink or hard link).

    Why: writing a predictor, an export or a report over the database or run
    file it is made from destroys that input, and an atomic write would do so
    cleanly and with exit 0. Directory inputs protect every file inside them.
    """
    out = Path(output)
    for inp in inputs:
        if inp is None:
            continue
        src = Path(inp)
        if src.is_dir():
            if out.exists() and out.is_file() and any(_same(out, f) for f in src.rglob("*") if f.is_file()):
                raise NascostError(f"{option} {str(output)!r} is a file of the input directory {str(inp)!r}: "
                                   "writing it would destroy that input; choose another output file")
            continue
        if _same(out, src):
            raise NascostError(f"{option} {str(output)!r} is the input {str(inp)!r}: writing it would destroy "
                               "the input; choose another output file")


def remove_stale_temps(path: str | Path, *, max_age_s: float | None = STALE_TMP_S) -> int:
    """Remove ``.NAME.*.tmp`` files beside ``path`` left by killed writes; returns how many.

    ``max_age_s=None`` removes all of them (the caller is the only writer of
    ``path``, e.g. a run directory's checkpoint); otherwise only those older than
    that, so another process's write in flight is left alone.
    """
    path = Path(path)
    removed = 0
    now = time.time()
    try:
        candidates = list(path.parent.glob(f".{path.name}.*.tmp"))
    except OSError:
        return 0
    for tmp in candidates:
        try:
            if max_age_s is None or now - tmp.stat().st_mtime > max_age_s:
                tmp.unlink()
                removed += 1
        except OSError:
            pass
    return removed


@contextmanager
def atomic_write(path: str | Path, mode: str = "w", *, sole_writer: bool = False) -> Iterator[IO[Any]]:
    """Open a temporary file for writing; on success it replaces ``path``.

    The temporary file is removed on every failure (an exception, Ctrl-C); an
    ``OSError`` (read-only directory, full disk) becomes a :class:`NascostError`
    naming ``path``. ``sole_writer``: this process is the only one writing
    ``path``, so every leftover temporary file of it is removed after success.
    """
    path = Path(path)
    tmp: str | None = None
    in_body = False  # an OSError of the caller's own reading is not a failure to write ``path``
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        # mkstemp creates the file private (0600); give it the mode a plain open() would
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        with os.fdopen(fd, mode) as fh:
            in_body = True
            yield fh
            in_body = False
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        tmp = None
    except OSError as exc:
        if in_body and exc.filename not in (None, tmp):
            raise  # raised by the caller's code about another file: its own message names that file
        raise os_error(exc, "write", path) from None
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
    remove_stale_temps(path, max_age_s=None if sole_writer else STALE_TMP_S)


def write_text(path: str | Path, text: str, *, sole_writer: bool = False) -> None:
    with atomic_write(path, "w", sole_writer=sole_writer) as fh:
        fh.write(text)


def finite_json(data: Any) -> Any:
    """``data`` with every non-finite float (NaN, inf, numpy's too) replaced by None.

    ``json.dumps`` writes NaN as ``NaN``, which is not JSON: ``jq`` and strict
    parsers reject the whole document.
    """
    if isinstance(data, dict):
        return {k: finite_json(v) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [finite_json(v) for v in data]
    if isinstance(data, float) or type(data).__name__ in ("float32", "float64", "float16"):
        return float(data) if math.isfinite(data) else None
    return data


def write_json(path: str | Path, data: Any, *, sole_writer: bool = False) -> None:
    write_text(path, json.dumps(data, indent=2, default=str) + "\n", sole_writer=sole_writer)


def torch_save(obj: Any, path: str | Path, *, sole_writer: bool = False) -> None:
    """``torch.save`` atomically (state dicts and tensors only; read back with weights_only=True).

    Serialised in memory first: torch's own writer turns a full disk into a
    confusing "unexpected pos" error, a plain write names the real cause.
    """
    import torch

    buf = io.BytesIO()
    torch.save(obj, buf)
    with atomic_write(path, "wb", sole_writer=sole_writer) as fh:
        fh.write(buf.getbuffer())
