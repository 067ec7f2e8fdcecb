"""nascost built-in plugin: public device tables as a measurer and as a cost.

- ``table`` measurer: "measures" an architecture by looking it up in a device
  table (:mod:`nascost.tables`: CSV with one column per device, or a HELP
  latency file), so ``collect``, ``measure``, ``--calibrate`` and the final
  measurement of a search or sweep treat a public device (a phone, a GPU at
  batch 256) exactly like hardware on the desk. Options: ``path`` (the table),
  ``device`` (its column), ``unit`` (of the file's values; times are stored in
  ms), ``arch_column``, ``index`` (HELP ``.pt`` files). An architecture the table
  lacks is an error naming it.
- ``table`` predictor: the rows of a database group as an exact lookup; for a
  table covering the whole space (NAS-Bench-201) the exact cost, but not
  differentiable (search it with ``--estimator reinforce`` or ``exact``).
- ``table`` cost: the recipe binding the two.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from pydantic import Field
from torch import nn

from nascost.base import PluginOptions
from nascost.cost import Cost
from nascost.errors import NascostError
from nascost.hookspecs import hookimpl
from nascost.measure import CostMeasurer
from nascost.predict import CostPredictor
from nascost.records import DeviceInfo, Measurement
from nascost.tables import Table, file_sha256, read_table, stored_unit, table_device


class TableMeasurer(CostMeasurer):
    """Cost of an architecture as a device table publishes it (a lookup: no network runs)."""

    name = "table"
    unit = "ms"
    default_batch_size = 1
    measures_networks: ClassVar[bool] = False

    class Options(PluginOptions):
        path: str | None = Field(None, description="the table: CSV/CSV.gz with one column per device, or a HELP .pt")
        device: str | None = Field(None, description="the table's column to read (a HELP .pt: its file stem)")
        unit: str = Field("ms", description="unit of the file's values (s, ms, us are stored as ms)")
        arch_column: str | None = Field(None, description="the column naming architectures (default: found)")
        index: str | None = Field(None, description="HELP .pt files: the architectures' order (str_arch2idx.pt)")
        batch_size: int = Field(1, ge=1, description="batch size recorded with the rows (the table's own)")

    def __init__(self, options: Any = None, **kwargs: Any) -> None:
        super().__init__(options, **kwargs)
        self.unit = stored_unit(self.options.unit)  # type: ignore[misc]
        self._sha: str | None = None
        self._tables: dict[str, tuple[Table, dict[str, int]]] = {}

    @property
    def batch_size(self) -> int:
        return self.options.batch_size

    def _path(self) -> Path:
        return Path(self.options.path).expanduser().resolve()  # type: ignore[arg-type]

    def available(self) -> tuple[bool, str]:
        o = self.options
        if not o.path:
            return False, "no table given: pass --opt path=TABLE.csv --opt device=COLUMN"
        if not self._path().is_file():
            return False, f"table {o.path!r} does not exist"
        if not o.device and self._path().suffix != ".pt":
            return False, f"no column of {o.path!r} chosen: pass --opt device=COLUMN"
        return True, ""

    def _column(self) -> str:
        return self.options.device or self._path().stem

    def device_info(self) -> DeviceInfo:
        self.require_available()
        if self._sha is None:
            self._sha = file_sha256(self._path())
        return table_device(self._path(), self._sha, self._column())

    def measure(self, model: nn.Module, example_input: torch.Tensor) -> Measurement:
        raise NascostError(
            "the table measurer looks architectures up and cannot time a network; use it through "
            "'nascost collect', 'nascost measure' or a search (they pass the architecture)"
        )

    #: Tables read in this process, by file identity and options: a sweep measures many cells with
    #: new measurer objects, and a table of 15,625 rows takes a second to read and check.
    _read: ClassVar[dict[tuple, tuple[Table, dict[str, int]]]] = {}

    def table(self, space: Any) -> tuple[Table, dict[str, int]]:
        """The table read for ``space`` (cached) and its architecture key -> row index."""
        if space.name not in self._tables:
            self.require_available()
            o, path = self.options, self._path()
            stat = path.stat()
            key = (str(path), stat.st_mtime_ns, stat.st_size, self._column(), o.unit, o.arch_column, o.index,
                   space.name)
            if key not in self._read:
                t = read_table(path, space, columns=[self._column()], unit=o.unit, arch_column=o.arch_column,
                               index=o.index)
                if len(self._read) > 32:
                    self._read.clear()
                self._read[key] = (t, {k: i for i, k in enumerate(t.keys)})
            self._tables[space.name] = self._read[key]
            self._sha = self._tables[space.name][0].sha256
        return self._tables[space.name]

    def measure_architecture(self, space: Any, arch: Any, setting: Any, batch_size: int) -> Measurement:
        table, rows = self.table(space)
        i = rows.get(arch.key())
        if i is None:
            raise NascostError(
                f"architecture {space.format_arch(arch)} is not in table {table.path.name!r} (column "
                f"{self._column()!r}); the table holds {len(table)} architectures"
            )
        value = float(table.columns[self._column()][i])
        return Measurement.from_samples([value], unit=table.unit, device=table.device(self._column()),
                                        batch_size=batch_size, extra={"table": {"line": table.lines[i]}})

    def known_costs(self, space: Any) -> dict[str, float]:
        table, _ = self.table(space)
        return table.values(self._column())

    def recorded_options(self) -> dict[str, Any]:
        o = self.options
        out: dict[str, Any] = {"path": str(self._path()), "device": self._column()}
        for key in ("arch_column", "index"):
            if getattr(o, key):
                out[key] = getattr(o, key)
        if o.unit != "ms":
            out["unit"] = o.unit
        return out


class TablePredictor(CostPredictor):
    """The measured rows themselves as a cost: exact on the architectures they hold, not differentiable."""

    name = "table"
    differentiable = False
    requires_fit = True
    additive = False
    memorizes: ClassVar[bool] = True

    def __init__(self, options: Any = None, **kwargs: Any) -> None:
        super().__init__(options, **kwargs)
        self.encodings: torch.Tensor | None = None
        self.values: torch.Tensor | None = None
        self._index: dict[bytes, int] = {}

    @staticmethod
    def _rows(x: torch.Tensor) -> np.ndarray:
        arr = torch.as_tensor(x).detach().cpu().numpy()
        if arr.ndim == 1:
            arr = arr[None, :]
        if not np.all((arr == 0) | (arr == 1)):
            raise NascostError("the table cost holds architectures, not mixtures: it takes one-hot encodings only "
                               "(search with --estimator reinforce or exact)")
        return arr.astype(np.uint8)

    def _reindex(self) -> None:
        assert self.encodings is not None
        self._index = {bytes(row): i for i, row in enumerate(self.encodings.numpy())}

    def fit(self, x: torch.Tensor, y: torch.Tensor, **_: Any) -> TablePredictor:
        rows = self._rows(x)
        self.encodings = torch.from_numpy(rows.copy())
        self.values = torch.as_tensor(y, dtype=torch.float64).reshape(-1).clone()
        if len(self.values) != len(rows):
            raise NascostError(f"table: {len(rows)} encodings but {len(self.values)} costs")
        self._reindex()
        return self

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        if self.values is None:
            raise NascostError("table predictor is not fitted")
        rows = self._rows(x)
        if rows.shape[1] != self.encodings.shape[1]:  # type: ignore[union-attr]
            raise NascostError(f"table expects {self.encodings.shape[1]}-wide encodings, got {rows.shape[1]}")  # type: ignore[union-attr]
        idx = [self._index.get(bytes(r)) for r in rows]
        missing = [i for i, j in enumerate(idx) if j is None]
        if missing:
            raise NascostError(
                f"the table holds no cost for {len(missing)} of {len(rows)} architectures (the first is row "
                f"{missing[0]}); it predicts only what it holds"
            )
        return self.values[torch.as_tensor(idx)]

    def get_state(self) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
        if self.values is None:
            raise NascostError("table predictor is not fitted; nothing to save")
        return {"rows": len(self.values)}, {"encodings": self.encodings, "values": self.values}  # type: ignore[dict-item]

    def set_state(self, state: dict[str, Any], tensors: dict[str, torch.Tensor]) -> None:
        try:
            self.encodings = tensors["encodings"].to(torch.uint8)
            self.values = tensors["values"].to(torch.float64)
        except KeyError as exc:
            raise NascostError(f"table predictor file lacks {exc}") from None
        self._reindex()


@hookimpl
def register_cost_measurers(register: Any) -> None:
    register(TableMeasurer)


@hookimpl
def register_cost_predictors(register: Any) -> None:
    register(TablePredictor)


@hookimpl
def register_costs(register: Any) -> None:
    register(Cost.define("table", measurer="table", predictor="table",
                         description="a public device table as an exact, non-differentiable cost"))
