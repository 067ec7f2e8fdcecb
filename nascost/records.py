"""Records exchanged between plugins: architectures, settings, measurements, devices.

They are pydantic models so that they serialise to JSON (databases, predictor
files, ``--json`` output) and validate on the way back in.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator


def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


class Architecture(BaseModel):
    """One discrete architecture of a search space.

    ``spec`` is the space's own JSON-serialisable description (for the DARTS
    family: a genotype); the core never looks inside it. Build, encode and
    validate through :class:`~nascost.space.SearchSpace`.
    """

    model_config = ConfigDict(frozen=True)

    space: str
    spec: dict[str, Any]

    def key(self) -> str:
        """A stable hash identifying this architecture (for de-duplication)."""
        return hashlib.sha256(_canonical({"space": self.space, "spec": self.spec}).encode()).hexdigest()[:20]

    def to_json(self, **kwargs: Any) -> str:
        return json.dumps({"space": self.space, **self.spec}, **kwargs)


class Setting(BaseModel):
    """The network an architecture is built into: the context of every cost.

    A latency is only meaningful for one setting (channels, depth, input size)
    and batch size, so settings are part of every database row and predictor.
    ``family`` tells the space which macro-structure to use (e.g. ``cifar``
    stem or ``imagenet`` stem); the space's :meth:`settings` names the presets.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = "custom"
    family: str = "cifar"
    channels: int = Field(gt=0)
    layers: int = Field(gt=0)
    num_classes: int = Field(gt=0)
    input_size: int = Field(gt=0)
    in_channels: int = Field(default=3, gt=0)
    auxiliary: bool = True

    def key(self) -> str:
        """Identity of the setting, independent of its display name."""
        return _canonical(self.model_dump(exclude={"name"}))

    def label(self) -> str:
        return (
            f"{self.name}(C={self.channels},L={self.layers},{self.input_size}x{self.input_size},"
            f"{self.num_classes} classes,{self.family})"
        )


class DeviceInfo(BaseModel):
    """A fingerprint of the hardware and software a cost was measured on.

    Two measurements are comparable only when their fingerprints are equal;
    predictors carry the fingerprint of their training data so that one
    fitted on a device is never silently used on another.
    """

    model_config = ConfigDict(frozen=True)

    runtime: str = Field(description="'cpu', 'cuda' or a third party's runtime name")
    cpu_model: str = "unknown"
    cpu_cores: int = 0
    gpu_name: str | None = None
    gpu_driver: str | None = None
    torch_version: str = ""
    cuda_version: str | None = None
    cudnn_version: str | None = None
    threads: int | None = None
    platform: str = ""
    extra: dict[str, str] = Field(
        default_factory=dict,
        description="more fields that change timings (runtime version, opset, board revision); "
                    "numbers and booleans are stored as their text, other values are rejected")

    @field_validator("extra", mode="before")
    @classmethod
    def _extra_as_text(cls, value: Any) -> Any:
        """Numbers become text (``4`` -> ``"4"``), so a fingerprint never depends on a value's type."""
        if not isinstance(value, dict):
            return value
        out = {}
        for k, v in value.items():
            if isinstance(v, bool):
                v = "true" if v else "false"
            elif isinstance(v, (int, float)):
                v = str(v)
            elif not isinstance(v, str):
                raise ValueError(f"DeviceInfo.extra[{k!r}] must be a string or a number, not "
                                 f"{type(v).__name__} (put a short text there)")
            out[str(k)] = v
        return out

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> DeviceInfo:
        """A copy with ``update`` applied and validated (pydantic's own copy skips validation)."""
        if not update:
            return super().model_copy(deep=deep)
        return type(self).model_validate({**self.model_dump(), **update})

    @property
    def name(self) -> str | None:
        """A short name ``--device`` also accepts (``extra["name"]``: a table's column, e.g. ``pixel3``)."""
        return self.extra.get("name")

    @property
    def fingerprint(self) -> str:
        """Short stable hash of every field: equal iff the device is the same."""
        return hashlib.sha256(_canonical(self.model_dump()).encode()).hexdigest()[:12]

    def label(self) -> str:
        if self.runtime == "table":
            return f"table {self.extra.get('table', '?')}: {self.name or self.cpu_model} [{self.fingerprint}]"
        what = self.gpu_name if self.runtime == "cuda" and self.gpu_name else self.cpu_model
        threads = f", {self.threads} threads" if self.threads else ""
        return f"{self.runtime}: {what}{threads} [{self.fingerprint}]"


class Measurement(BaseModel):
    """Raw samples of one cost plus their summary statistics.

    Build with :meth:`from_samples` so the statistics always match the samples.
    """

    unit: str
    samples: list[float]
    n: int
    median: float
    mean: float
    std: float
    iqr: float
    p90: float
    cv: float = Field(description="coefficient of variation: std / mean")
    noisy: bool = False
    attempts: int = 1
    batch_size: int | None = None
    device: DeviceInfo
    extra: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def from_samples(
        cls,
        samples: list[float] | np.ndarray,
        *,
        unit: str,
        device: DeviceInfo,
        noisy: bool = False,
        attempts: int = 1,
        batch_size: int | None = None,
        extra: dict[str, Any] | None = None,
    ) -> Measurement:
        arr = np.asarray(samples, dtype=np.float64)
        if arr.size == 0 or not np.all(np.isfinite(arr)):
            raise ValueError("a measurement needs at least one finite sample")
        q1, med, q3, p90 = np.percentile(arr, [25, 50, 75, 90])
        mean = float(arr.mean())
        std = float(arr.std(ddof=1)) if arr.size > 1 else 0.0
        return cls(
            unit=unit,
            samples=[float(s) for s in arr],
            n=int(arr.size),
            median=float(med),
            mean=mean,
            std=std,
            iqr=float(q3 - q1),
            p90=float(p90),
            cv=std / mean if mean else (0.0 if std == 0 else math.inf),
            noisy=noisy,
            attempts=attempts,
            batch_size=batch_size,
            device=device,
            extra=extra or {},
        )

    @property
    def relative_iqr(self) -> float:
        return self.iqr / self.median if self.median else 0.0

    @property
    def value(self) -> float:
        """The robust point estimate nascost uses as the cost: the median."""
        return self.median


def visit_summary(m: Measurement, *, measured_at: str | None = None, campaign: str | None = None) -> dict[str, Any]:
    """What a pooled row keeps of each visit: enough to tell the visits apart later."""
    return {"median": m.median, "iqr": m.iqr, "n": m.n, "noisy": m.noisy, "attempts": m.attempts,
            "measured_at": measured_at, "campaign": campaign}


def pool_visits(previous: Measurement, new: Measurement, *, previous_visit: dict[str, Any],
                new_visit: dict[str, Any], noisy_threshold: float | None = None) -> Measurement:
    """One measurement from two visits of the same architecture: the samples pooled.

    Why visits: the runs of one visit share a few seconds of the machine's
    state and one build of the network; a second visit at another time, with
    the network rebuilt, draws both again (how much that buys is measured in
    ``docs/benchmarks.md``, "Campaign passes"). The pooled statistics are those of all
    samples; ``extra.visits`` keeps one summary per visit (oldest first) and
    paired timing's raw times are concatenated in visit order, so each visit
    can still be read back. ``noisy``: the pooled IQR/median above
    ``noisy_threshold`` (the measurer's threshold); without one, any visit noisy.
    """
    if new.unit != previous.unit:
        raise ValueError(f"cannot pool visits in {previous.unit!r} and {new.unit!r}")
    if new.device.fingerprint != previous.device.fingerprint:
        raise ValueError("cannot pool visits measured on different devices")
    visits = [*(previous.extra.get("visits") or [previous_visit]), new_visit]
    extra = {**new.extra, "visits": visits}
    old_p, new_p = previous.extra.get("paired"), new.extra.get("paired")
    if (old_p is None) != (new_p is None):
        raise ValueError("cannot pool a paired visit with an unpaired one")
    if old_p is not None and new_p is not None:
        if not math.isclose(old_p["anchor"], new_p["anchor"], rel_tol=1e-9):
            raise ValueError(f"cannot pool paired visits with anchors {old_p['anchor']} and {new_p['anchor']}")
        extra["paired"] = dict(new_p)
        if "model_samples" in old_p and "model_samples" in new_p:  # raw times of every visit, in order
            for k, raw in (("model_median_raw", "model_samples"), ("reference_median_raw", "reference_samples")):
                extra["paired"][raw] = [*old_p[raw], *new_p[raw]]
                extra["paired"][k] = float(np.median(extra["paired"][raw]))
        else:  # an earlier visit's raw times were not kept (an export without samples): keep none
            for raw in ("model_samples", "reference_samples"):
                extra["paired"].pop(raw, None)
    pooled = Measurement.from_samples(
        [*previous.samples, *new.samples], unit=new.unit, device=new.device,
        attempts=previous.attempts + new.attempts, batch_size=new.batch_size, extra=extra,
    )
    if noisy_threshold is not None:
        noisy = pooled.relative_iqr > noisy_threshold
    else:
        noisy = previous.noisy or new.noisy
    return pooled.model_copy(update={"noisy": bool(noisy)})


def visit_count(extra: dict[str, Any]) -> int:
    """How many visits a stored measurement pools (1 unless ``extra.visits`` says more)."""
    return len(extra.get("visits") or []) or 1
