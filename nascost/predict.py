"""Cost predictors and their files: map architecture encodings to a cost.

``differentiable`` predictors are autograd-friendly in their input encoding,
so the search can add ``lambda * E[cost]`` to its loss and backpropagate.

Predictor files never execute code when loaded. A file is one
``torch.save`` archive of a plain dict holding only strings, integers and
tensors, read back with ``torch.load(weights_only=True)`` (PyTorch's
restricted unpickler, which refuses any class or function reference). The
dict is::

    {"format": "nascost-predictor", "format_version": 1,
     "metadata": <JSON of PredictorMetadata>,   # includes "sha256"
     "state": <JSON of the predictor's own configuration>,
     "tensors": {name: tensor, ...}}

``metadata.sha256`` is the SHA-256 of the canonical metadata JSON (with an
empty ``sha256``), the state JSON and every tensor's name, dtype, shape and
bytes; :func:`load_predictor` recomputes it, so a truncated or edited file is
an error, never a silently different predictor.

Fitted predictors may learn from the space's per-operation counts instead of
the encoding (``inputs="op-counts"``, see :meth:`CostPredictor.map_inputs`);
the ``[D, K]`` count matrix is then stored with them (tensor ``INPUT_MAP``),
so they still take encodings and stay differentiable in them.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from nascost.base import Plugin, PluginOptions
from nascost.errors import NascostError
from nascost.files import torch_save
from nascost.records import DeviceInfo, Setting
from nascost.space import check_space_options

if TYPE_CHECKING:
    from nascost.measure import CostMeasurer
    from nascost.space import SearchSpace

FILE_FORMAT = "nascost-predictor"
FORMAT_VERSION = 1

#: ``progress(done, total, info)``: called while fitting or building.
ProgressFn = Callable[[int, int, str], None]


#: Tensor name of a predictor's input map in its file (see :meth:`CostPredictor.map_inputs`).
INPUT_MAP = "nascost.input_map"


class FittedOptions(PluginOptions):
    """Options every built-in fitted predictor shares."""

    inputs: Literal["encoding", "op-counts"] = Field(
        default="encoding",
        description=(
            "what the predictor learns from: the encoding (the paper), or the space's per-operation "
            "counts (encoding @ space.op_count_matrix(): one cost per operation and edge shape, far fewer "
            "numbers to estimate; topology is not seen)"
        ),
    )


class PredictorWarning(UserWarning):
    """A predictor is used outside the context it was fitted in (another device or setting)."""


class CostPredictor(Plugin, ABC):
    """Predicts a cost from ``[N, D]`` encodings.

    Subclasses implement :meth:`fit` (or :meth:`build` when ``requires_fit`` is
    False), :meth:`predict`, and :meth:`get_state` / :meth:`set_state`, which
    turn the fitted predictor into JSON plus tensors and back; :meth:`save`
    and :meth:`load` use those to write one code-free file.
    """

    #: True if ``predict`` is differentiable with respect to its input.
    differentiable: ClassVar[bool] = False
    #: True if the predictor is fitted on (encoding, cost) data; False for
    #: predictors built otherwise (a lookup table measured in context, FLOPs).
    requires_fit: ClassVar[bool] = True
    #: True if the predicted cost is a sum over encoding bits (exact expectation possible).
    additive: ClassVar[bool] = False
    #: True if it predicts exactly the rows it was fitted on and nothing else (the
    #: ``table`` cost): fitted on every row, never scored on held-out ones.
    memorizes: ClassVar[bool] = False
    #: True if it is built from the space alone and depends on no device (MACs): the same
    #: space, options and setting always build the same predictor, so builds are cached.
    device_independent: ClassVar[bool] = False

    #: ``[D, K]``: what :meth:`map_inputs` multiplies encodings by (``inputs="op-counts"``), else None.
    input_map: torch.Tensor | None = None

    @classmethod
    def kind_label(cls) -> str:
        return "cost predictor"

    def map_inputs(self, x: torch.Tensor, space: SearchSpace | None = None) -> torch.Tensor:
        """What the model sees of encodings ``x`` ``[N, D]``: ``x`` itself, or ``x @ input_map``.

        Fitted predictors call this first in ``fit`` (with the ``space=`` they
        are given) and in ``predict``. When fitting with ``inputs="op-counts"``
        the map is the space's :meth:`~nascost.space.SearchSpace.op_count_matrix`;
        it is kept, saved with the predictor, and linear, so predictions stay
        differentiable in (and additive predictors additive in) the encoding.
        """
        kind = getattr(self.options, "inputs", "encoding")
        if space is not None:
            self.input_map = None
            if kind == "op-counts":
                matrix = space.op_count_matrix()
                if matrix is None:
                    raise NascostError(
                        f"space {space.name!r} defines no operation counts; fit {self.name!r} with inputs=encoding"
                    )
                self.input_map = torch.as_tensor(matrix, dtype=torch.float32)
        elif kind == "op-counts" and self.input_map is None:
            raise NascostError(
                f"{self.name} with inputs=op-counts needs the search space when fitting (fit(x, y, space=...))"
            )
        if self.input_map is None:
            return x
        x = torch.as_tensor(x)
        if x.shape[-1] != self.input_map.shape[0]:
            raise NascostError(f"{self.name} expects {self.input_map.shape[0]}-wide encodings, got {x.shape[-1]}")
        dtype = x.dtype if x.is_floating_point() else torch.float32
        return x.to(dtype) @ self.input_map.to(device=x.device, dtype=dtype)

    @abstractmethod
    def fit(self, x: torch.Tensor, y: torch.Tensor, **kwargs: Any) -> CostPredictor:
        """Fit on encodings ``x`` ``[N, D]`` and costs ``y`` ``[N]``; return self.

        Predictors accept ``progress=`` (a :data:`ProgressFn`) and ignore
        keywords they do not use.
        """

    @abstractmethod
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """``[N]`` predicted costs for ``[N, D]`` encodings, in the unit of the training costs."""

    def build(
        self,
        space: SearchSpace,
        setting: Setting,
        measurer: CostMeasurer | None = None,
        *,
        batch_size: int | None = None,
        progress: ProgressFn | None = None,
    ) -> CostPredictor:
        """Build a predictor that is made from the space itself, not fitted (``requires_fit=False``).

        Context predictors (``flops``, ``lut``) override this: they build
        networks of ``space`` in ``setting`` and count or measure them
        (``measurer``, at ``batch_size``). Fitted predictors do not build.
        """
        raise NascostError(f"predictor {self.name!r} is fitted on measured data, not built; use fit()")

    def get_state(self) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
        """The fitted predictor as ``(JSON-able dict, named tensors)``; no code, no objects."""
        raise NascostError(f"predictor {self.name!r} does not support saving to a file")

    def set_state(self, state: dict[str, Any], tensors: dict[str, torch.Tensor]) -> None:
        """Restore what :meth:`get_state` returned."""
        raise NascostError(f"predictor {self.name!r} does not support loading from a file")

    def to(self, device: torch.device | str) -> CostPredictor:
        """Move tensors to ``device`` (predictors holding none ignore this)."""
        return self

    def save(self, path: Path, metadata: dict[str, Any] | PredictorMetadata | None = None) -> Path:
        """Write weights and metadata to one code-free file (see :func:`save_predictor`)."""
        if metadata is None:
            raise NascostError("saving a predictor needs its metadata (space, encoding, unit, ...)")
        meta = metadata if isinstance(metadata, PredictorMetadata) else PredictorMetadata(**metadata)
        return save_predictor(self, path, meta)

    @classmethod
    def load(cls, path: Path) -> CostPredictor:
        """Read a file written by :meth:`save`, never executing code from it."""
        predictor, _ = load_predictor(path)
        if not isinstance(predictor, cls):
            raise NascostError(f"{path} holds a {predictor.name!r} predictor, not {cls.name!r}")
        return predictor


class PredictorMetadata(BaseModel):
    """What a predictor file says about the predictor: where its numbers are valid."""

    model_config = ConfigDict(extra="forbid")

    predictor: str
    options: dict[str, Any] = Field(default_factory=dict)
    space: str
    encoding_id: str
    encoding_dim: int
    #: The space's options at fitting time (they can change the encoding; ``--space-opt``).
    space_options: dict[str, Any] = Field(default_factory=dict)
    setting: Setting | None = None
    batch_size: int | None = None
    #: ``None`` for device-independent costs (MACs).
    device: DeviceInfo | None = None
    measurer: str | None = None
    #: Options that make ``measurer`` measure as the training data were (a table's file and column).
    measurer_options: dict[str, Any] = Field(default_factory=dict)
    unit: str
    target_scaling: str = "none"
    n_train: int = 0
    #: ``(min, max)`` cost of the training rows, in ``unit``: where the predictor interpolates
    #: (the search's trust region). None: unknown (older files, costs built from the space).
    train_range: tuple[float, float] | None = None
    metrics: dict[str, float | None] = Field(default_factory=dict)
    #: Transferred costs: the source devices they were fitted from (``nascost fit --transfer-from``).
    sources: list[dict[str, Any]] = Field(default_factory=list)
    #: Paired timing's anchor (the reference network's latency) of the training
    #: data: measure with this anchor to compare measurements with predictions.
    reference_latency: float | None = None
    nascost_version: str = ""
    created: str = ""
    sha256: str = ""

    def context(self) -> str:
        """One line: space, setting, device, measurer."""
        setting = self.setting.label() if self.setting else "any setting"
        device = self.device.label() if self.device else "any device"
        return f"space={self.space} setting={setting} batch={self.batch_size} device={device} measurer={self.measurer}"


def make_metadata(predictor: CostPredictor, **fields: Any) -> PredictorMetadata:
    """Metadata with the predictor's name/options, this nascost version and the time filled in."""
    from nascost import __version__

    base: dict[str, Any] = {
        "predictor": predictor.name,
        "options": predictor.options.model_dump(mode="json"),
        "nascost_version": __version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    base.update(fields)
    return PredictorMetadata(**base)


def _digest(meta_json: str, state_json: str, tensors: dict[str, torch.Tensor]) -> str:
    h = hashlib.sha256()
    h.update(meta_json.encode())
    h.update(b"\0")
    h.update(state_json.encode())
    for name in sorted(tensors):
        t = tensors[name].detach().cpu().contiguous()
        h.update(f"\0{name}\0{t.dtype}\0{tuple(t.shape)}\0".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def _canonical_meta(meta: PredictorMetadata | dict[str, Any]) -> str:
    """The metadata the checksum covers: as stored in the file, ``sha256`` emptied.

    Reading hashes the stored JSON, not a re-dump of the model, so files written
    before a metadata field was added still verify.
    """
    data = dict(meta) if isinstance(meta, dict) else meta.model_dump(mode="json")
    data["sha256"] = ""
    return json.dumps(data, sort_keys=True, separators=(",", ":"))


def save_predictor(predictor: CostPredictor, path: str | Path, metadata: PredictorMetadata) -> Path:
    """Write ``predictor`` and ``metadata`` to one file, atomically (temp file + rename).

    The file holds only JSON strings and tensors; ``metadata.sha256`` is filled
    in here and covers everything in the file.
    """
    path = Path(path)
    if not path.parent.exists():
        raise NascostError(f"directory {str(path.parent)!r} does not exist")
    if metadata.predictor != predictor.name:
        raise NascostError(f"metadata names predictor {metadata.predictor!r} but it is {predictor.name!r}")
    state, tensors = predictor.get_state()
    if predictor.input_map is not None:
        tensors = {**tensors, INPUT_MAP: predictor.input_map}
    tensors = {k: v.detach().cpu().contiguous().clone() for k, v in tensors.items()}
    state_json = json.dumps(state, sort_keys=True, separators=(",", ":"))
    meta = metadata.model_copy(update={"sha256": ""})
    meta = meta.model_copy(update={"sha256": _digest(_canonical_meta(meta), state_json, tensors)})
    payload = {
        "format": FILE_FORMAT,
        "format_version": FORMAT_VERSION,
        "metadata": meta.model_dump_json(),
        "state": state_json,
        "tensors": tensors,
    }
    torch_save(payload, path)
    return path


def _read(path: Path) -> tuple[PredictorMetadata, dict[str, Any], dict[str, torch.Tensor]]:
    """Read and verify a predictor file: format, metadata schema, checksum."""
    if not path.is_file():
        raise NascostError(f"predictor file {str(path)!r} does not exist")
    try:
        with warnings.catch_warnings():  # torch warns about crafted pickles before refusing them
            warnings.simplefilter("ignore")
            payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated zip, pickle with code, random bytes
        raise NascostError(f"{str(path)!r} {_unreadable(path, exc)}; give a file written by 'nascost fit -o'") from None
    if not isinstance(payload, dict) or payload.get("format") != FILE_FORMAT:
        raise NascostError(f"{str(path)!r} is not a nascost predictor file")
    if payload.get("format_version") != FORMAT_VERSION:
        raise NascostError(
            f"{str(path)!r} has predictor file format {payload.get('format_version')}, this nascost reads "
            f"{FORMAT_VERSION}; refit it with 'nascost fit'"
        )
    meta_json, state_json, tensors = payload.get("metadata"), payload.get("state"), payload.get("tensors")
    if not isinstance(meta_json, str) or not isinstance(state_json, str) or not isinstance(tensors, dict):
        raise NascostError(f"{str(path)!r} is a damaged nascost predictor file (missing parts)")
    if not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in tensors.items()):
        raise NascostError(f"{str(path)!r} is a damaged nascost predictor file (tensors)")
    try:
        meta = PredictorMetadata.model_validate_json(meta_json)
        state = json.loads(state_json)
    except (ValidationError, json.JSONDecodeError) as exc:
        raise NascostError(f"{str(path)!r} has damaged predictor metadata ({type(exc).__name__})") from None
    if _digest(_canonical_meta(json.loads(meta_json)), state_json, tensors) != meta.sha256:
        raise NascostError(
            f"{str(path)!r} fails its SHA-256 check: the file was modified or damaged after it was written"
        )
    return meta, state, tensors


def _unreadable(path: Path, exc: Exception) -> str:
    """Why torch could not load ``path``, in nascost's words (torch's own text is pages long)."""
    try:
        with path.open("rb") as fh:
            magic = fh.read(4)
    except OSError as err:
        return f"cannot be read ({err.strerror})"
    if magic != b"PK\x03\x04":
        return "is not a nascost predictor file (not a torch archive: another kind of file, or a corrupt or unsafe one)"
    if "weights_only" in str(exc) or "Unsupported global" in str(exc):
        return "is not a nascost predictor file (unsafe: it holds objects a predictor file never holds; refused unread)"
    return "is not a readable nascost predictor file (truncated, corrupt or unsafe)"


def read_metadata(path: str | Path) -> PredictorMetadata:
    """The verified metadata of a predictor file, without building the predictor."""
    return _read(Path(path))[0]


def _space_name(space: Any) -> str:
    return space if isinstance(space, str) else space.name


def check_context(
    meta: PredictorMetadata,
    *,
    where: str,
    space: SearchSpace | str | None = None,
    encoding_id: str | None = None,
    device: DeviceInfo | str | None = None,
    setting: Setting | None = None,
) -> None:
    """Refuse another space or encoding; warn (``PredictorWarning``) for another device or setting."""
    if space is not None:
        name = _space_name(space)
        same = name == meta.space if isinstance(space, str) else space.shares_costs_with(meta.space)
        if not same:
            raise NascostError(
                f"{where} predicts costs for space {meta.space!r}, not {name!r}; fit one for {name!r} "
                f"with 'nascost fit --space {name}'"
            )
        if not isinstance(space, str):
            check_space_options(space, meta.space_options, what=f"{where} was fitted")
            encoding_id = encoding_id or space.encoding_id
            if space.encoding_dim != meta.encoding_dim:
                raise NascostError(
                    f"{where} expects {meta.encoding_dim}-wide encodings (encoding {meta.encoding_id!r}) but "
                    f"space {name!r} encodes {space.encoding_dim} ({space.encoding_id!r}); give the space the "
                    "options it was fitted with (--space-opt), or refit it for this encoding"
                )
    if encoding_id is not None and encoding_id != meta.encoding_id:
        raise NascostError(
            f"{where} was fitted on encoding {meta.encoding_id!r}, not {encoding_id!r}; give the space the options "
            "it was fitted with (--space-opt), or refit it with 'nascost fit'"
        )
    if device is not None and meta.device is not None:
        fp = device if isinstance(device, str) else device.fingerprint
        if not meta.device.fingerprint.startswith(fp) and fp != meta.device.fingerprint:
            warnings.warn(
                f"{where} was fitted on device {meta.device.label()}, not {fp}; its costs may not hold here",
                PredictorWarning,
                stacklevel=3,
            )
    if setting is not None and meta.setting is not None and setting.key() != meta.setting.key():
        warnings.warn(
            f"{where} was fitted for setting {meta.setting.label()}, not {setting.label()}; "
            "its costs may not hold in this setting",
            PredictorWarning,
            stacklevel=3,
        )


def load_predictor(
    path: str | Path,
    *,
    space: SearchSpace | str | None = None,
    encoding_id: str | None = None,
    device: DeviceInfo | str | None = None,
    setting: Setting | None = None,
) -> tuple[CostPredictor, PredictorMetadata]:
    """Load a predictor file, checking it against the context it will be used in.

    Another space or encoding raises :class:`NascostError`; another device
    (``DeviceInfo`` or fingerprint) or setting loads with a
    :class:`PredictorWarning`. The predictor class is looked up by name in
    the predictor registry, so a file of a plugin that is not installed is a
    clear error.
    """
    from nascost import plugins

    path = Path(path)
    meta, state, tensors = _read(path)
    check_context(meta, where=str(path), space=space, encoding_id=encoding_id, device=device, setting=setting)
    cls = plugins.get("predictors", meta.predictor)
    predictor = cls(meta.options)
    bad = sorted(k for k, t in tensors.items() if t.is_floating_point() and bool(torch.isnan(t).any()))
    if bad:  # a NaN weight makes every prediction NaN, and the search fails epochs later
        raise NascostError(f"{str(path)!r} is a damaged predictor file: tensor {bad[0]!r} holds NaN values; "
                           "refit it with 'nascost fit'")
    input_map = tensors.pop(INPUT_MAP, None)
    if meta.options.get("inputs") == "op-counts" and input_map is None:
        raise NascostError(f"{str(path)!r} is a damaged predictor file: inputs=op-counts but no input map")
    if input_map is not None and (input_map.ndim != 2 or input_map.shape[0] != meta.encoding_dim):
        raise NascostError(f"{str(path)!r} has an input map that does not fit its {meta.encoding_dim}-wide encoding")
    try:
        predictor.set_state(state, tensors)
    except (KeyError, TypeError, ValueError, RuntimeError, IndexError) as exc:
        why = (str(exc).splitlines() or [type(exc).__name__])[0][:120]
        raise NascostError(f"{str(path)!r} is a damaged predictor file: its {meta.predictor} state does not load "
                           f"({type(exc).__name__}: {why}); refit it with 'nascost fit'") from None
    predictor.input_map = input_map
    return predictor, meta


# --- metrics shared by fit and compare ---------------------------------------------


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float | None]:
    """MAE (unit), MAPE (%), Kendall tau, Spearman rho, share within +-10% (0..1), and
    ``bias``: the mean signed relative error (%), the part of MAPE that is a level offset
    (e.g. test rows measured at another time than the training rows)."""
    from scipy import stats

    y_true = np.asarray(y_true, dtype=np.float64)
    y_pred = np.asarray(y_pred, dtype=np.float64)
    if y_true.size == 0:
        return {"mae": None, "mape": None, "kendall_tau": None, "spearman": None, "within_10pct": None,
                "bias": None, "n": 0}
    err = y_pred - y_true
    nonzero = y_true != 0
    rel = np.abs(err[nonzero] / y_true[nonzero])
    tau = rho = None
    if y_true.size > 1 and np.ptp(y_true) > 0 and np.ptp(y_pred) > 0:
        tau = float(stats.kendalltau(y_true, y_pred).statistic)
        rho = float(stats.spearmanr(y_true, y_pred).statistic)
    return {
        "mae": float(np.mean(np.abs(err))),
        "mape": float(100.0 * rel.mean()) if rel.size else None,
        "kendall_tau": tau,
        "spearman": rho,
        "within_10pct": float(np.mean(rel <= 0.10)) if rel.size else None,
        "bias": float(100.0 * np.mean(err[nonzero] / y_true[nonzero])) if rel.size else None,
        "n": int(y_true.size),
    }
