"""Measuring architectures as a cost's training data were measured: derived networks and reference cells.

A predicted cost is only comparable with a measurement taken in the cost's
setting, at its batch size, and (paired timing) on its anchor's scale. The
search's final measurement, the sweep's and the reference cells' all go
through :func:`measure_for_cost`, so a derived network and the space's
published cells (``SearchSpace.presets``) land on one axis of the report.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from nascost.errors import NascostError
from nascost.records import Measurement, Setting


def cost_batch_size(cost: Any, measurer: Any) -> int:
    """The batch size the cost's data were measured at (else the measurer's default)."""
    return int((cost.info or {}).get("batch_size") or measurer.default_batch_size)


def measure_for_cost(space: Any, measurer: Any, arch: Any, cost: Any, setting: Setting) -> tuple[Measurement, int]:
    """Measure ``arch`` in ``setting`` at the cost's batch size and anchor; returns (measurement, batch)."""
    from nascost.collect import measure_one

    batch = cost_batch_size(cost, measurer)
    m, _ = measure_one(space, measurer, arch, setting, batch, anchor=(cost.info or {}).get("reference_latency"))
    return m, batch


def measurement_record(m: Measurement, cost: Any, batch: int, setting: Setting) -> dict[str, Any]:
    """What ``measurement.json`` and the reference cells record of one measurement."""
    return {
        "measurer": cost.measurer,
        "unit": m.unit,
        "median": m.median,
        "mean": m.mean,
        "iqr": m.iqr,
        "cv": m.cv,
        "n": m.n,
        "noisy": m.noisy,
        "samples": m.samples,
        "batch_size": batch,
        "setting": setting.model_dump(),
        "fingerprint": m.device.fingerprint,
        "device_label": m.device.label(),
    }


def measure_architecture(space: Any, arch: Any, cost: Any, measurer_options: dict[str, Any] | None = None) -> dict[str, Any]:
    """Measure ``arch`` with the cost's measurer in the cost's setting and batch size (a sweep's step)."""
    from nascost import plugins

    if not cost.measurer:
        raise NascostError(f"cost {cost.name!r} names no measurer, so its architectures cannot be measured")
    measurer = plugins.get_measurer(cost.measurer, measurer_options or None)
    measurer.require_available()
    setting = cost.setting or space.setting(next(iter(space.settings())))
    m, batch = measure_for_cost(space, measurer, arch, cost, setting)
    return measurement_record(m, cost, batch, setting)


def predict_cost(space: Any, arch: Any, cost: Any) -> float | None:
    """The cost's prediction for ``arch`` in its own unit (None where it cannot score it)."""
    try:
        with torch.no_grad():
            return float(torch.as_tensor(cost.fn.predict(space.encode([arch]))).reshape(-1)[0])
    except Exception:
        return None


def _counts(space: Any, arch: Any, setting: Setting) -> dict[str, int] | None:
    try:
        return space.count(arch, setting)
    except Exception:  # counting is a report, not the measurement
        return None


def measure_references(
    space: Any,
    cost: Any,
    measure: Callable[[Any], dict[str, Any]],
    setting: Setting | None,
    say: Callable[[str], None] | None = None,
) -> list[dict[str, Any]]:
    """Each of the space's published cells measured by ``measure`` (as the derived one is), with the
    cost's prediction and its counts; a cell the measurer cannot measure (a table without it) is left out."""
    log = say or (lambda _msg: None)
    refs = []
    for name, arch in space.presets().items():
        try:
            m = measure(arch)
        except NascostError as exc:
            log(f"reference {name}: not measured ({exc})")
            continue
        refs.append({"name": name, "cost": cost.name, "measured": m,
                     "predicted": {cost.name: predict_cost(space, arch, cost)},
                     "counts": _counts(space, arch, setting) if setting is not None else None})  # fmt: skip
        log(f"reference {name}: measured {m['median']:.4g} {m['unit']}")
    return refs
