"""Costs: named recipes binding a measurer and a predictor (``cpu-lpm``, ``gpu-lpm``).

``nascost search --cost cpu-lpm`` resolves the name through the cost store to a
predictor fitted for this space, setting and device; the recipe says how to
create one when it is missing (which measurer to collect with, which predictor
to fit).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import sys
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from nascost.base import Plugin
from nascost.errors import NascostError
from nascost.files import atomic_write
from nascost.predict import PredictorMetadata, read_metadata
from nascost.records import DeviceInfo, Setting


class Cost(Plugin):
    """A named measurer + predictor recipe."""

    #: Name of the measurer that produces the training data.
    measurer: ClassVar[str] = ""
    #: Name of the predictor fitted on that data.
    predictor: ClassVar[str] = "lpm"
    #: Default setting name for collection (None: the space's search-matching default).
    setting: ClassVar[str | None] = None

    @classmethod
    def kind_label(cls) -> str:
        return "cost"

    @classmethod
    def define(
        cls,
        name: str,
        *,
        measurer: str,
        predictor: str = "lpm",
        setting: str | None = None,
        description: str = "",
    ) -> type[Cost]:
        """Make a Cost class without writing one: ``register(Cost.define("jetson-lpm", ...))``."""
        return type(
            f"Cost_{name.replace('-', '_')}",
            (cls,),
            {
                "name": name,
                "measurer": measurer,
                "predictor": predictor,
                "setting": setting,
                "description": description or f"{predictor} predictor fitted on {measurer} data",
                "__module__": cls.__module__,
            },
        )


# --- the cost store -------------------------------------------------------------------

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def user_data_dir() -> Path:
    """nascost's per-user data directory: ``$NASCOST_HOME``, else the platform's user data dir.

    Linux: ``$XDG_DATA_HOME/nascost`` or ``~/.local/share/nascost``; macOS:
    ``~/Library/Application Support/nascost``; Windows: ``%LOCALAPPDATA%\\nascost``.
    """
    env = os.environ.get("NASCOST_HOME")
    if env:
        return Path(env).expanduser()
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "nascost"
    if os.name == "nt":
        base = os.environ.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
        return Path(base) / "nascost"
    xdg = os.environ.get("XDG_DATA_HOME")
    return (Path(xdg) if xdg else Path.home() / ".local" / "share") / "nascost"


@dataclass
class CostEntry:
    """One predictor in the cost store."""

    name: str
    path: Path
    metadata: PredictorMetadata

    def to_dict(self) -> dict[str, Any]:
        m = self.metadata
        return {
            "name": self.name,
            "path": str(self.path),
            "predictor": m.predictor,
            "space": m.space,
            "setting": m.setting.name if m.setting else None,
            "setting_label": m.setting.label() if m.setting else None,
            "batch_size": m.batch_size,
            "device": m.device.fingerprint if m.device else None,
            "device_label": m.device.label() if m.device else None,
            "measurer": m.measurer,
            "unit": m.unit,
            "n_train": m.n_train,
            "metrics": m.metrics,
            "created": m.created,
        }


def _device_fp(device: DeviceInfo | str | None) -> str | None:
    if device is None:
        return None
    return device if isinstance(device, str) else device.fingerprint


class CostStore:
    """Fitted predictors by cost name, space, setting and device, in a per-user directory.

    Layout: ``ROOT/costs/NAME/SPACE-SETTINGHASH-DEVICE.nascost`` (``DEVICE`` is
    ``any`` for device-independent costs). The files are ordinary predictor
    files (see :mod:`nascost.predict`); the store only names and finds them.
    ``ROOT`` is :func:`user_data_dir` unless given.
    """

    def __init__(self, root: str | Path | None = None) -> None:
        self.root = Path(root) if root is not None else user_data_dir()
        self.costs_dir = self.root / "costs"

    @staticmethod
    def check_name(name: str) -> str:
        if not _NAME_RE.match(name):
            raise NascostError(
                f"invalid cost name {name!r}: use letters, digits, '-', '_' or '.' (e.g. 'cpu-lpm')"
            )
        return name

    def _file_name(self, meta: PredictorMetadata) -> str:
        setting = hashlib.sha256(meta.setting.key().encode()).hexdigest()[:10] if meta.setting else "anysetting"
        device = meta.device.fingerprint if meta.device else "any"
        return f"{meta.space}-{setting}-b{meta.batch_size or 0}-{device}.nascost"

    def put(self, name: str, predictor_file: str | Path, metadata: PredictorMetadata | None = None) -> Path:
        """Copy a verified predictor file into the store under ``name``; returns its new path.

        ``metadata`` (if given) must match the file's own; an entry with the same
        name, space, setting, batch size and device is replaced atomically.
        """
        self.check_name(name)
        src = Path(predictor_file)
        meta = read_metadata(src)
        if metadata is not None and metadata.sha256 and metadata.sha256 != meta.sha256:
            raise NascostError(f"{str(src)!r} does not match the metadata given for it")
        dest_dir = self.costs_dir / name
        try:
            dest_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise NascostError(f"cannot create the cost store at {str(dest_dir)!r}: {exc}") from None
        dest = dest_dir / self._file_name(meta)
        with atomic_write(dest, "wb") as out, open(src, "rb") as inp:
            shutil.copyfileobj(inp, out)
        return dest

    def entries(self, name: str | None = None) -> list[CostEntry]:
        """Every readable entry (of one name); damaged files are skipped with a warning."""
        if not self.costs_dir.is_dir():
            return []
        dirs = [self.costs_dir / name] if name else sorted(p for p in self.costs_dir.iterdir() if p.is_dir())
        out = []
        for d in dirs:
            if not d.is_dir():
                continue
            for f in sorted(d.glob("*.nascost")):
                try:
                    out.append(CostEntry(d.name, f, read_metadata(f)))
                except NascostError as exc:
                    warnings.warn(f"cost store: skipping a damaged entry ({exc}); remove it or refit it", stacklevel=2)
        return out

    def list(self) -> list[CostEntry]:
        """Every entry in the store, by name."""
        return self.entries()

    def find(
        self,
        name: str,
        *,
        space: str,
        setting: Setting | None = None,
        device: DeviceInfo | str | None = None,
        batch_size: int | None = None,
        family: Sequence[str] = (),
    ) -> Path:
        """The stored predictor file for ``name`` in this context.

        Entries must match the space, or failing that one of ``family`` (spaces
        sharing its evaluation networks, see ``SearchSpace.cost_family``), and
        the setting and batch size when given. Among those, one fitted on
        ``device`` wins; failing that, an entry of another device is returned
        (loading it warns) rather than none. Ties go to the newest. Nothing
        found: a :class:`NascostError` with the commands that create the cost.
        """
        self.check_name(name)
        entries = self.entries(name)
        found = [e for e in entries if e.metadata.space == space]
        if not found:
            found = [e for e in entries if e.metadata.space in family]
        if setting is not None:
            found = [e for e in found if e.metadata.setting is None or e.metadata.setting.key() == setting.key()]
        if batch_size is not None:
            found = [e for e in found if e.metadata.batch_size in (None, batch_size)]
        if not found:
            raise NascostError(self.missing_message(name, space=space, setting=setting))
        fp = _device_fp(device)
        same = [e for e in found if e.metadata.device is None or e.metadata.device.fingerprint == fp]
        pool = same or found
        pool.sort(key=lambda e: e.metadata.created, reverse=True)
        return pool[0].path

    def missing_message(self, name: str, *, space: str, setting: Setting | None = None) -> str:
        """What is missing and the exact commands that create it."""
        from nascost import plugins

        measurer, predictor, setting_name = "MEASURER", "lpm", None
        if name in plugins.registry("costs"):
            recipe = plugins.get_cost(name)
            measurer, predictor, setting_name = recipe.measurer, recipe.predictor, recipe.setting
        if setting is not None:
            setting_name = setting.name
        where = f" setting {setting_name!r}" if setting_name else ""
        s_opt = f" --setting {setting_name}" if setting_name else ""
        # Commands that build a network take a named setting plus --channels etc., never 'NAME+custom'
        # (fit --db selects rows by the stored name, which may be one).
        build_opt = s_opt
        if setting is not None and space in plugins.registry("spaces"):
            build_opt = " " + (plugins.get_space(space).setting_options(setting) or s_opt.strip())
        if predictor in ("lut", "flops"):
            how = (
                f"nascost fit --predictor {predictor} --space {space}{build_opt or ' --setting SETTING'} "
                f"--measurer {measurer} --as-cost {name}"
            )
        else:
            how = (
                f"nascost collect --space {space} --measurer {measurer}{build_opt} --n 5000 --db costs.db && "
                f"nascost fit --db costs.db --predictor {predictor} --space {space}{s_opt} --as-cost {name}"
            )
        return f"no cost {name!r} for space {space!r}{where} in the cost store {str(self.costs_dir)!r}; create it with: {how}"


def load_cost(
    ref: str | Path,
    *,
    space: Any,
    setting: Setting | None = None,
    device: DeviceInfo | str | None = None,
    batch_size: int | None = None,
    store: CostStore | None = None,
) -> tuple[Any, PredictorMetadata]:
    """A cost predictor from a predictor file path or a cost-store name, checked for ``space``.

    ``space`` is a :class:`~nascost.space.SearchSpace` (encoding checked too) or
    its name. Returns ``(predictor, metadata)``; another device or setting warns.
    """
    from nascost.predict import load_predictor

    space_name = space if isinstance(space, str) else space.name
    path = Path(ref)
    if not path.is_file():
        if any(sep in str(ref) for sep in ("/", "\\")) or path.suffix in (".nascost", ".pt"):
            raise NascostError(f"predictor file {str(ref)!r} does not exist")
        path = (store or CostStore()).find(
            str(ref), space=space_name, setting=setting, device=device, batch_size=batch_size,
            family=() if isinstance(space, str) else space.cost_family,
        )
    return load_predictor(path, space=space, device=device, setting=setting)
