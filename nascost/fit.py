"""Fitting cost predictors on cost databases, and comparing them fairly.

``fit_from_database`` fits one predictor on one group of a database (one
space, measurer, setting, batch size and device) and returns it with its
metadata; ``build_predictor`` makes the predictors that are built from the
space instead (``flops``, ``lut``). ``compare_predictors`` runs several
predictors on the same split and seed and reports the same metrics for all;
``compare_devices`` measures how two measurement groups of the same
architectures agree (two devices, or two campaigns on one device: the noise
floor).
"""

from __future__ import annotations

import hashlib
import importlib
import json
import time
import warnings
from collections.abc import Callable, Collection, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from nascost import plugins
from nascost.data import CostData, CostDatabase
from nascost.errors import NascostError
from nascost.files import atomic_write
from nascost.predict import (
    CostPredictor,
    PredictorMetadata,
    ProgressFn,
    load_predictor,
    make_metadata,
    regression_metrics,
    save_predictor,
)
from nascost.records import Setting

#: ``progress(what, done, total, info)`` for multi-step work (compare).
StepProgressFn = Callable[[str, int, int, str], None]


def _space(space: Any) -> Any:
    return plugins.get_space(space) if isinstance(space, str) else space


def _predictor(predictor: str | CostPredictor, options: dict[str, Any] | None = None) -> CostPredictor:
    if isinstance(predictor, CostPredictor):
        if options:
            raise NascostError("pass options when naming a predictor, not with an instance")
        return predictor
    return plugins.get_predictor(predictor, options)


def encode(space: Any, data: CostData) -> torch.Tensor:
    """``[N, D]`` encodings of the data's architectures by the space (as fitting and search use them)."""
    if data.space != space.name:
        raise NascostError(f"the data holds architectures of space {data.space!r}, not {space.name!r}")
    if len(data) == 0:
        raise NascostError("no architectures to encode: the selected rows are empty")
    data.check_encoding(space)
    return space.encode(data.archs).to(torch.float32)


def load_data(
    db_path: str | Path,
    *,
    space: str,
    setting: str | None = None,
    device: str | None = None,
    measurer: str | None = None,
    batch_size: int | None = None,
    include_flagged: bool = False,
    exclude_noisy: bool = False,
    campaign: str | None = None,
) -> CostData:
    """The rows of the one database group matching the filters (see :meth:`CostDatabase.query`)."""
    with CostDatabase(db_path) as db:
        data = db.query(space=space, measurer=measurer, setting=setting, device=device, batch_size=batch_size,
                        include_flagged=include_flagged, exclude_noisy=exclude_noisy, campaign=campaign)
        if len(data) == 0 and exclude_noisy:
            raise NascostError(f"every selected row of {str(db_path)!r} is flagged noisy; drop --exclude-noisy")
        if include_flagged:
            return data
        every = len(db.query(space=space, measurer=measurer, setting=setting, device=device, batch_size=batch_size,
                             exclude_noisy=exclude_noisy, campaign=campaign, include_flagged=True))
        flagged = every - len(data)
        fix = ("re-measure them on a quieter machine or with --measurer cpu-timer-paired (robust to load), "
               "or use them anyway with --include-flagged")
        if flagged and len(data) == 0:
            raise NascostError(f"all {every} selected rows of {str(db_path)!r} are flagged as measured during "
                               f"drift (the machine's speed changed while timing); {fix}")
        if flagged:
            warnings.warn(f"{flagged} of {every} rows of {str(db_path)!r} are flagged as measured during drift and "
                          f"left out, {len(data)} are used; {fix}", stacklevel=2)
        return data


def split_indices(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``(train, held_out)`` index arrays: a seeded permutation, the first ``fraction`` held out."""
    if not 0 <= fraction < 1:
        raise NascostError(f"the held-out fraction must be in [0, 1), got {fraction}")
    perm = np.random.default_rng(seed).permutation(n)
    n_out = round(n * fraction)
    return perm[n_out:], perm[:n_out]


def fit_predictor(
    data: CostData,
    *,
    space: Any,
    predictor: str | CostPredictor,
    options: dict[str, Any] | None = None,
    progress: ProgressFn | None = None,
    val_fraction: float = 0.1,
    seed: int = 0,
    train_size: int | None = None,
) -> tuple[CostPredictor, PredictorMetadata]:
    """Fit on the data, holding out ``val_fraction`` (seeded) for the metrics stored with it.

    The predictor is trained on the remaining rows only (``n_train`` in the
    metadata), so the stored metrics are honest held-out figures. ``train_size``
    trains on a seeded random subset of that many of them (e.g. 1,000 rows of an
    imported table of 15,625: what a campaign on the device would give).
    """
    space = _space(space)
    model = _predictor(predictor, options)
    if not model.requires_fit:
        raise NascostError(
            f"predictor {model.name!r} is built from the space, not fitted: run 'nascost fit --predictor "
            f"{model.name} --space {space.name}' without --db"
        )
    x = encode(space, data)
    y = torch.as_tensor(data.values, dtype=torch.float64)
    # a lookup of the rows themselves has no held-out rows to be scored on
    train, held = split_indices(len(data), 0.0 if model.memorizes else val_fraction, seed)
    if train_size is not None:
        if train_size < 2:
            raise NascostError(f"--train-size must be at least 2 (got {train_size})")
        if train_size > len(train):
            raise NascostError(f"--train-size {train_size} exceeds the {len(train)} training rows "
                               f"({len(held)} of {len(data)} are held out)")
        train = train[:train_size]
    if len(train) < 2:
        raise NascostError(f"too few rows to fit ({len(data)}); collect more with 'nascost collect'")
    model.fit(x[train], y[train], progress=progress, space=space)
    metrics: dict[str, float | None] = {}
    if len(held):
        with torch.no_grad():
            pred = model.predict(x[held]).detach().cpu().numpy()
        metrics = regression_metrics(data.values[held], pred)
        metrics["n_test"] = metrics.pop("n")
    meta = make_metadata(
        model,
        space=space.name,
        encoding_id=space.encoding_id,
        encoding_dim=space.encoding_dim,
        space_options=space.option_values(),
        setting=data.setting,
        batch_size=data.batch_size,
        device=data.device,
        measurer=data.measurer,
        unit=data.unit,
        target_scaling=getattr(model.options, "target_scaling", "none"),
        n_train=len(train),
        train_range=(float(data.values[train].min()), float(data.values[train].max())),
        metrics=metrics,
        reference_latency=data.reference_latency,
        measurer_options=dict(data.measurer_options),
    )
    return model, meta


def fit_from_database(
    db_path: str | Path,
    *,
    space: Any,
    predictor: str | CostPredictor,
    setting: str | None = None,
    device: str | None = None,
    measurer: str | None = None,
    batch_size: int | None = None,
    options: dict[str, Any] | None = None,
    progress: ProgressFn | None = None,
    val_fraction: float = 0.1,
    seed: int = 0,
    include_flagged: bool = False,
    exclude_noisy: bool = False,
    campaign: str | None = None,
    train_size: int | None = None,
) -> tuple[CostPredictor, PredictorMetadata]:
    """Fit ``predictor`` on one group of a cost database (see :func:`fit_predictor`)."""
    space_obj = _space(space)
    data = load_data(db_path, space=space_obj.name, setting=setting, device=device, measurer=measurer,
                     batch_size=batch_size, include_flagged=include_flagged, exclude_noisy=exclude_noisy,
                     campaign=campaign)
    return fit_predictor(data, space=space_obj, predictor=predictor, options=options, progress=progress,
                         val_fraction=val_fraction, seed=seed, train_size=train_size)


def build_predictor(
    *,
    space: Any,
    predictor: str | CostPredictor,
    setting: Setting,
    measurer: str | Any | None = None,
    batch_size: int | None = None,
    options: dict[str, Any] | None = None,
    progress: ProgressFn | None = None,
    cache: bool = True,
) -> tuple[CostPredictor, PredictorMetadata]:
    """Build a context predictor (``flops``, ``lut``) for ``space`` in ``setting``.

    A device-independent one (``flops``) is read from the build cache when the
    same space, space options, setting and predictor options built it before
    (``cache=False`` builds anew); its metadata's ``build_time_s`` is what the
    first build took.
    """
    space = _space(space)
    model = _predictor(predictor, options)
    if model.requires_fit:
        raise NascostError(f"predictor {model.name!r} is fitted on data: pass --db with measured costs")
    if model.device_independent:
        return _device_independent_build(model, space, setting, progress, cache=cache)
    meas = plugins.get_measurer(measurer) if isinstance(measurer, str) else measurer
    t0 = time.perf_counter()
    model.build(space, setting, meas, batch_size=batch_size, progress=progress)
    build_s = time.perf_counter() - t0
    device, unit, bs = None, "MACs", batch_size
    if meas is not None:
        device, unit = meas.device_info(), meas.unit
        bs = batch_size or meas.default_batch_size
    return model, _built_metadata(model, space, setting, build_s, batch_size=bs, device=device,
                                  measurer=meas.name if meas is not None else None, unit=unit,
                                  reference_latency=_anchor(meas))


def _built_metadata(model: CostPredictor, space: Any, setting: Setting, build_s: float, **fields: Any) -> PredictorMetadata:
    info = getattr(model, "info", {})
    metrics = {k: float(v) for k, v in info.items() if isinstance(v, (int, float))}
    return make_metadata(
        model, space=space.name, encoding_id=space.encoding_id, encoding_dim=space.encoding_dim,
        space_options=space.option_values(), setting=setting, n_train=int(info.get("design_size", 0)),
        metrics={**metrics, "build_time_s": build_s}, **fields,
    )


def build_cache_path(model: CostPredictor, space: Any, setting: Setting) -> Path:
    """Where the build cache keeps ``model`` built for ``space`` in ``setting``.

    The key covers everything the build depends on: the predictor and its
    options, the space (its class and version), its options and encoding, the
    setting, and this nascost version (a new version builds anew).
    """
    from nascost import __version__
    from nascost.cost import user_data_dir

    module = type(space).__module__
    key = json.dumps({
        "predictor": model.name, "options": model.options.model_dump(mode="json"),
        "space": space.name, "space_class": f"{module}.{type(space).__qualname__}",
        "space_version": str(getattr(importlib.import_module(module.split(".")[0]), "__version__", "")),
        "encoding_id": space.encoding_id, "space_options": space.option_values(),
        "setting": setting.model_dump(mode="json"), "nascost": __version__,
    }, sort_keys=True, default=str)
    digest = hashlib.sha256(key.encode()).hexdigest()[:20]
    return user_data_dir() / "cache" / "built" / f"{model.name}-{space.name}-{digest}.nascost"


def _device_independent_build(
    model: CostPredictor, space: Any, setting: Setting, progress: ProgressFn | None, *, cache: bool,
) -> tuple[CostPredictor, PredictorMetadata]:
    """Build ``model`` (no device, no measurer), or read the build cache's copy of the same build.

    A damaged cache file is built anew and replaced; a cache directory that
    cannot be written only costs the next run the build again.
    """
    path = build_cache_path(model, space, setting)
    if cache and path.exists():
        try:
            cached, meta = load_predictor(path, space=space)
            if meta.setting is not None and meta.setting.key() == setting.key():
                return cached, meta
        except NascostError as exc:
            warnings.warn(f"build cache: rebuilding {model.name!r} ({exc})", stacklevel=3)
    t0 = time.perf_counter()
    model.build(space, setting, None, progress=progress)
    meta = _built_metadata(model, space, setting, time.perf_counter() - t0, unit="MACs")
    if cache:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            save_predictor(model, path, meta)
        except (OSError, NascostError) as exc:
            warnings.warn(f"build cache: cannot keep the {model.name!r} build in {str(path.parent)!r} ({exc})",
                          stacklevel=3)
    return model, meta


def _anchor(measurer: Any) -> float | None:
    """The paired-timing anchor a measurer used (None for unpaired measurers)."""
    return measurer.reference_anchor if getattr(measurer, "paired", False) else None


# --- comparison --------------------------------------------------------------------


def _timed_predict(model: CostPredictor, x: torch.Tensor) -> tuple[np.ndarray, float]:
    """Predictions and wall time per 1000 architectures (ms), from a warm second call."""
    with torch.no_grad():
        model.predict(x[: min(len(x), 8)])
        t0 = time.perf_counter()
        pred = model.predict(x)
        dt = time.perf_counter() - t0
    return pred.detach().cpu().numpy().astype(np.float64), 1000.0 * dt * 1000.0 / max(1, len(x))


def _find_lut(data: CostData, space: Any) -> tuple[CostPredictor | None, str, float]:
    """A ``lut`` built on the data's device, setting and measurer, from the cost store."""
    from nascost.cost import CostStore

    store = CostStore()
    for entry in store.list():
        m = entry.metadata
        if (m.predictor == "lut" and m.space == space.name and m.setting is not None
                and m.setting.key() == data.setting.key() and m.device is not None
                and m.device.fingerprint == data.device.fingerprint and m.batch_size == data.batch_size
                and m.measurer in (None, data.measurer)):
            model, meta = load_predictor(entry.path, space=space)
            return model, "", _rescale(data, meta)
    return None, (
        f"no lookup table built on device {data.device.fingerprint} for setting {data.setting.name!r} at batch "
        f"{data.batch_size}: build one on that device with 'nascost fit --predictor lut --space {space.name} "
        f"{space.setting_options(data.setting) or '--setting ' + data.setting.name} --measurer {data.measurer} "
        f"--batch-size {data.batch_size} --as-cost NAME'"
    ), 1.0


def _rescale(data: CostData, meta: PredictorMetadata) -> float:
    """Factor from a paired-timing table's scale to the data's (their anchors' ratio; 1 otherwise).

    Paired values are ratios times an anchor measured once per campaign or
    build, so two scales differ by exactly the anchors' ratio.
    """
    if data.reference_latency and meta.reference_latency:
        return data.reference_latency / meta.reference_latency
    return 1.0


def compare_predictors(
    data: CostData,
    predictors: Sequence[str | tuple[str, dict[str, Any]]],
    *,
    space: Any = None,
    train_sizes: Sequence[int] | None = None,
    seed: int = 0,
    test_fraction: float = 0.2,
    lut: CostPredictor | str | Path | None = None,
    progress: StepProgressFn | None = None,
    test_keys: Collection[str] | None = None,
) -> dict[str, dict[str, Any]]:
    """Every predictor on the same seeded split: metrics, timings and a learning curve.

    The test set is the same for all predictors and sizes; training sets are
    nested prefixes of one seeded permutation of the rest, so a larger size
    only adds architectures. The headline metrics are those of the largest
    training size. ``flops`` predicts MACs: it is mapped to the cost's unit by
    a least-squares line fitted on the training rows (rank metrics do not
    depend on that map). ``lut`` uses ``lut`` (a predictor or file) or a table
    from the cost store built on the data's device; else it is reported
    unavailable with the reason.

    ``test_keys`` holds out exactly those architectures instead of a random
    ``test_fraction``: e.g. a campaign measured with more runs, so that the
    metrics are not capped by the noise of the test labels themselves.

    ``fit_time_s`` is what having the predictor took: its fit, or for one built
    here (``flops``) its build (``build_time_s``) plus the line to the unit, so
    a built predictor is not shown as free; None for a ``lut`` built elsewhere.
    """
    space = _space(space or data.space)
    x = encode(space, data)
    y = np.asarray(data.values, dtype=np.float64)
    if test_keys is None:
        pool, test = split_indices(len(data), test_fraction, seed)
    else:
        pool, test = _held_out_keys(data, test_keys, seed)
    if len(test) < 2:
        raise NascostError(f"only {len(test)} of {len(data)} rows held out for testing (at least 2 needed); "
                          "collect more rows or hold out more")
    sizes = sorted({int(s) for s in (train_sizes or [len(pool)])})
    if any(s < 2 for s in sizes):
        raise NascostError(f"training sizes must be at least 2, got {sizes}")
    too_big = [s for s in sizes if s > len(pool)]
    if too_big and len(too_big) == len(sizes):
        raise NascostError(
            f"training sizes {too_big} exceed the {len(pool)} rows left after holding out {len(test)} for testing; "
            f"use sizes up to {len(pool)} or collect more"
        )
    # Sizes that do not fit are left out of the learning curve (and reported in
    # 'skipped_train_sizes'): a curve over the sizes that fit is still the answer.
    sizes = [s for s in sizes if s <= len(pool)]
    results: dict[str, dict[str, Any]] = {}
    common = {"unit": data.unit, "n_test": len(test), "seed": seed, "skipped_train_sizes": too_big,
              "test_set": "random" if test_keys is None else "given"}
    for spec in predictors:
        name, options = (spec, {}) if isinstance(spec, str) else spec
        cls = plugins.get("predictors", name)
        entry: dict[str, Any] = {"predictor": name, **common}
        if cls.memorizes:
            results[name] = {**entry, "available": False, "reason": (
                "it looks up the rows it holds, so held-out rows have no prediction; the other predictors "
                "are scored against the rows instead")}
            continue
        if not cls.requires_fit:
            model, reason, scale, build_s = _context_model(name, options, data, space, lut, progress)
            if model is None:
                results[name] = {**entry, "available": False, "reason": reason}
                continue
            raw, ms = _timed_predict(model, x[test])
            raw = raw * scale
            curve = []
            for size in sizes:
                t0 = time.perf_counter()
                train_raw = scale * model.predict(x[pool[:size]]).detach().cpu().numpy().astype(np.float64)
                pred, calib = _calibrate(name, train_raw, y[pool[:size]], raw)
                # built here: what it took to have it, in the cost's unit (build, then flops' line);
                # a table read from a file or the store was built elsewhere (None)
                fit_s = None if build_s is None else build_s + time.perf_counter() - t0
                curve.append({"n_train": size, **_clean(regression_metrics(y[test], pred)), "fit_time_s": fit_s})
            entry.update(curve[-1])
            entry.update({"available": True, "build_time_s": build_s, "predict_ms_per_1000": ms,
                          "learning_curve": curve, "calibration": calib, "test_pred": pred.tolist()})
        else:
            curve = []
            for size in sizes:
                model = plugins.get_predictor(name, options)
                step = _step(progress, name, size)
                t0 = time.perf_counter()
                model.fit(x[pool[:size]], torch.as_tensor(y[pool[:size]]), progress=step, space=space)
                fit_s = time.perf_counter() - t0
                pred, ms = _timed_predict(model, x[test])
                curve.append({"n_train": size, **_clean(regression_metrics(y[test], pred)),
                              "fit_time_s": fit_s, "predict_ms_per_1000": ms})
            entry.update(curve[-1])
            entry.update({"available": True, "learning_curve": curve, "test_pred": pred.tolist()})
        entry["n_train_for_tau_0.9"] = next(
            (c["n_train"] for c in curve if c.get("kendall_tau") is not None and c["kendall_tau"] >= 0.9), None
        )
        results[name] = entry
    for entry in results.values():
        entry["test_true"] = y[test].tolist()
    return results


def _held_out_keys(data: CostData, test_keys: Collection[str], seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``(pool, test)``: the rows of ``test_keys`` held out, the others seeded-shuffled for training."""
    wanted = set(test_keys)
    test = np.array([i for i, k in enumerate(data.keys) if k in wanted], dtype=np.int64)
    rest = np.array([i for i, k in enumerate(data.keys) if k not in wanted], dtype=np.int64)
    if len(rest) < 2:
        raise NascostError(
            f"holding out the {len(test)} given architectures leaves {len(rest)} rows to train on; "
            "the test rows must be a part of the selected rows, not all of them"
        )
    return rest[np.random.default_rng(seed).permutation(len(rest))], test


def _clean(metrics: dict[str, Any]) -> dict[str, Any]:
    metrics = dict(metrics)
    metrics.pop("n", None)
    return metrics


def _step(progress: StepProgressFn | None, name: str, size: int) -> ProgressFn | None:
    if progress is None:
        return None

    def step(done: int, total: int, info: str) -> None:
        progress(f"{name} n={size}", done, total, info)

    return step


def _calibrate(name: str, train_raw: np.ndarray, train_y: np.ndarray, test_raw: np.ndarray) -> tuple[np.ndarray, Any]:
    """MACs -> cost unit by a least-squares line on the training rows (``flops`` only)."""
    if name != "flops":
        return test_raw, None
    a, b = np.polyfit(train_raw, train_y, 1) if np.ptp(train_raw) > 0 else (0.0, float(np.mean(train_y)))
    return a * test_raw + b, {"slope": float(a), "intercept": float(b)}


def _context_model(
    name: str, options: dict[str, Any], data: CostData, space: Any,
    lut: CostPredictor | str | Path | None, progress: StepProgressFn | None,
) -> tuple[CostPredictor | None, str, float, float | None]:
    """``(model, reason it is unavailable, factor to the data's scale, seconds its build took here)``.

    The build time is None for a ``lut`` read from a file or the cost store: it was built elsewhere.
    """
    if name == "lut":
        if lut is None:
            return (*_find_lut(data, space), None)
        if isinstance(lut, CostPredictor):
            return lut, "", 1.0, None
        model, meta = load_predictor(lut, space=space)
        if meta.device is None or meta.device.fingerprint != data.device.fingerprint:
            return None, f"the lookup table {str(lut)!r} was built on another device than the data's", 1.0, None
        return model, "", _rescale(data, meta), None
    model = plugins.get_predictor(name, options)
    t0 = time.perf_counter()
    try:
        if model.device_independent:  # the build cache's copy, when this space and setting built it before
            model, meta = _device_independent_build(model, space, data.setting, _step(progress, name, 0), cache=True)
            return model, "", 1.0, float(meta.metrics.get("build_time_s") or time.perf_counter() - t0)
        model.build(space, data.setting, None, batch_size=data.batch_size, progress=_step(progress, name, 0))
    except NascostError as exc:
        return None, str(exc), 1.0, None
    return model, "", 1.0, time.perf_counter() - t0


def compare_devices(
    db_a: str | Path,
    db_b: str | Path,
    *,
    space: str | None = None,
    setting: str | None = None,
    measurer: str | None = None,
    device_a: str | None = None,
    device_b: str | None = None,
    include_flagged: bool = False,
) -> dict[str, Any]:
    """Agreement of two measurement groups on their common architectures.

    Two devices: how transferable a latency ranking is (the paper: tau 0.37
    between its CPU and GPU). Two campaigns on one device: the noise floor
    every predictor should be compared with.
    """
    groups = []
    for path, dev in ((db_a, device_a), (db_b, device_b)):
        with CostDatabase(path) as db:
            sp = space or db.space
        if sp is None:
            raise NascostError(f"{str(path)!r} holds no measurements")
        groups.append(load_data(path, space=sp, setting=setting, measurer=measurer, device=dev,
                                include_flagged=include_flagged))
    a, b = groups
    if a.space != b.space:
        raise NascostError(f"the databases hold different spaces ({a.space!r}, {b.space!r})")
    index_b = {k: i for i, k in enumerate(b.keys)}
    pairs = [(i, index_b[k]) for i, k in enumerate(a.keys) if k in index_b]
    if len(pairs) < 3:
        raise NascostError(f"only {len(pairs)} architectures are in both databases; need at least 3")
    ia, ib = (np.asarray(p) for p in zip(*pairs, strict=True))
    va, vb = a.values[ia], b.values[ib]
    m = regression_metrics(va, vb)
    rel = np.abs(vb - va) / np.abs(va)
    # Rank agreement where it matters to a search: how many of A's cheapest tenth are B's too.
    k = max(1, len(va) // 10)
    top = len(set(np.argsort(va, kind="stable")[:k]) & set(np.argsort(vb, kind="stable")[:k])) / k
    return {
        "n_common": len(pairs),
        "kendall_tau": m["kendall_tau"],
        "spearman": m["spearman"],
        "top10_overlap": float(top),
        # Relative differences only mean something on one scale: the same device and unit (repeats).
        "same_scale": a.device.fingerprint == b.device.fingerprint and a.unit == b.unit,
        "median_ratio": float(np.median(vb / va)),
        "median_rel_diff": float(np.median(rel)),
        "mape": m["mape"],
        "a": {"db": str(db_a), "device": a.device.label(), "setting": a.setting.label(), "unit": a.unit,
              "median": float(np.median(va)), "measurer": a.measurer, "batch_size": a.batch_size},
        "b": {"db": str(db_b), "device": b.device.label(), "setting": b.setting.label(), "unit": b.unit,
              "median": float(np.median(vb)), "measurer": b.measurer, "batch_size": b.batch_size},
    }


def plot_comparison(results: dict[str, dict[str, Any]], out_dir: str | Path) -> list[Path]:
    """Predicted-vs-measured scatter per available predictor and the learning curves, as PNGs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    avail = {k: v for k, v in results.items() if v.get("available")}
    for name, r in avail.items():
        fig, ax = plt.subplots(figsize=(4.5, 4.5))
        yt, yp = np.asarray(r["test_true"]), np.asarray(r["test_pred"])
        ax.scatter(yt, yp, s=6, alpha=0.5)
        lo, hi = float(min(yt.min(), yp.min())), float(max(yt.max(), yp.max()))
        ax.plot([lo, hi], [lo, hi], "k--", lw=1)
        tau = r.get("kendall_tau")
        ax.set_title(f"{name}: MAPE {r.get('mape') or float('nan'):.2f}%, tau {tau if tau is not None else float('nan'):.3f}")
        ax.set_xlabel(f"measured ({r['unit']})")
        ax.set_ylabel(f"predicted ({r['unit']})")
        fig.tight_layout()
        path = out / f"scatter-{name}.png"
        with atomic_write(path, "wb") as fh:
            fig.savefig(fh, dpi=110, format="png")
        plt.close(fig)
        written.append(path)
    if avail:
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 4))
        for name, r in avail.items():
            curve = r["learning_curve"]
            n = [c["n_train"] for c in curve]
            ax1.plot(n, [c.get("kendall_tau") or np.nan for c in curve], marker="o", label=name)
            ax2.plot(n, [c.get("mape") or np.nan for c in curve], marker="o", label=name)
        ax1.axhline(0.9, color="grey", lw=0.8, ls=":")
        ax1.set_xlabel("training architectures")
        ax1.set_ylabel("Kendall tau (test)")
        ax2.set_xlabel("training architectures")
        ax2.set_ylabel("MAPE % (test)")
        for ax in (ax1, ax2):
            ax.set_xscale("log")
            ax.legend(fontsize=8)
        fig.tight_layout()
        path = out / "learning-curve.png"
        with atomic_write(path, "wb") as fh:
            fig.savefig(fh, dpi=110, format="png")
        plt.close(fig)
        written.append(path)
    return written
