"""Turning ``--cost`` specs into cost functions for a search, calibrating on the spot if asked.

A spec names a cost recipe (``cpu-lpm``: a measurer plus a predictor), found in
the cost store for this space, setting and device, or a predictor file path.
With ``calibrate=N`` the recipe's measurer measures ``N`` sampled architectures
on this machine (a resumable campaign into ``OUT/calibration.db``), the
recipe's predictor is fitted on them and saved to ``OUT/costs/NAME.nascost``;
a resumed run reuses that file.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nascost import plugins
from nascost.errors import NascostError, UnavailableError
from nascost.progress import StepBar
from nascost.records import Setting
from nascost.search import ResolvedCost, SearchConfig


def _is_path(ref: str) -> bool:
    return Path(ref).is_file() or "/" in ref or "\\" in ref or Path(ref).suffix in (".nascost", ".pt")


def cost_setting(config: SearchConfig, space: Any, recipe: Any, dataset: Any, *, calibrating: bool) -> Setting | None:
    """The setting a cost is looked up (or calibrated) in.

    ``--cost-setting`` wins, then the recipe's own setting. A calibration with
    neither uses the space's calibration setting (``SearchSpace.calibration_setting``,
    DARTS: ``cifar-small``) adapted to the dataset (classes, input size, channels):
    the network one would train on this data.
    """
    name = config.cost_setting or getattr(recipe, "setting", None)
    overrides = dict(config.cost_setting_overrides)
    if name is None and not calibrating:
        return space.setting(next(iter(space.settings())), **overrides) if overrides else None
    if name is None:
        name = space.calibration_setting_name()
        overrides = {
            "num_classes": dataset.num_classes,
            "input_size": dataset.input_size,
            "in_channels": dataset.in_channels,
            **overrides,
        }
    return space.setting(name, **overrides)


def _measurer_device(measurer_name: str) -> Any:
    """The device the recipe's measurer measures here (None where it cannot run here)."""
    try:
        measurer = plugins.get_measurer(measurer_name)
    except NascostError:
        return None
    ok, _why = measurer.available()
    return measurer.device_info() if ok else None


def runnable_here() -> tuple[list[str], list[str]]:
    """The cost recipes and measurers that can measure on this machine (sorted names)."""
    ok = plugins.runnable_measurers()
    costs = [c for c in sorted(plugins.registry("costs").names()) if plugins.get_cost(c).measurer in ok]
    return costs, ok


def unavailable_cost(ref: str, why_not: str = "") -> UnavailableError | None:
    """The error for a cost recipe whose measurer cannot run here, naming what can; None if it can.

    Why first: a user without a GPU who asks for ``gpu-lpm`` needs to hear that
    before any advice to collect with ``cuda-timer``, which fails the same way.
    """
    if ref not in plugins.registry("costs"):
        return None
    recipe = plugins.get_cost(ref)
    try:
        ok, why = plugins.get_measurer(recipe.measurer).available()
    except NascostError:
        return None
    if ok:
        return None
    costs, measurers = runnable_here()
    return UnavailableError(
        f"cost {ref!r} cannot measure on this machine: {why} (its measurer is {recipe.measurer!r}){why_not}; "
        f"costs that measure on this machine: {', '.join(costs) or 'none'} "
        f"(measurers: {', '.join(measurers) or 'none'}), or give a predictor file fitted elsewhere"
    )


def check_costs_runnable(config: SearchConfig) -> None:
    """Before anything is written: ``--calibrate`` needs each recipe's measurer to run here."""
    if config.calibrate <= 0:
        return
    for spec in config.costs:
        err = unavailable_cost(spec.name, ", and --calibrate measures with it")
        if err is not None:
            raise err


def resolve_costs(
    config: SearchConfig,
    space: Any,
    dataset: Any,
    out_dir: Path,
    *,
    progress: bool = True,
    log: Callable[[str], None] | None = None,
) -> list[ResolvedCost]:
    """One :class:`ResolvedCost` per ``config.costs`` entry (see the module docstring)."""
    from nascost.cost import load_cost

    say = log or (lambda msg: None)
    resolved: list[ResolvedCost] = []
    for spec in config.costs:
        ref = spec.name
        if _is_path(ref):
            if not Path(ref).is_file():
                raise NascostError(f"predictor file {ref!r} does not exist")
            # --cost-setting names the setting the file must be for (an unknown name is an error,
            # another setting a warning), never an option silently ignored
            wanted = (space.setting(config.cost_setting, **config.cost_setting_overrides)
                      if config.cost_setting else None)
            pred, meta = _load_quietly(load_cost, ref, space=space, setting=wanted)
            resolved.append(
                ResolvedCost(
                    name=Path(ref).stem, fn=pred, unit=meta.unit, lam=spec.lam, setting=meta.setting,
                    source=str(ref), measurer=meta.measurer, info=_cost_info(meta), train_range=meta.train_range,
                )
            )
            continue
        if ref not in plugins.registry("costs"):
            resolved.append(_stored_cost(ref, spec, config, space))
            continue
        recipe = plugins.get_cost(ref)
        calibrating = config.calibrate > 0
        setting = cost_setting(config, space, recipe, dataset, calibrating=calibrating)
        device = _measurer_device(recipe.measurer)
        calibrated = out_dir / "costs" / f"{ref}.nascost"
        if calibrated.is_file():
            pred, meta = _load_quietly(load_cost, calibrated, space=space)
            source = str(calibrated)
            say(f"cost {ref}: using the predictor calibrated earlier in this run ({calibrated})")
        elif calibrating:
            pred, meta = calibrate(
                ref, recipe, space, setting, out_dir, n=config.calibrate, seed=config.seed,
                batch_size=config.cost_batch_size, progress=progress, say=say,
                measurer_options=config.calibrate_measurer_options,
                predictor_options=config.calibrate_predictor_options,
            )
            source = str(calibrated)
        else:
            predictor_cls = plugins.get("predictors", recipe.predictor)
            try:
                pred, meta = _load_quietly(
                    load_cost, ref, space=space, setting=setting, device=device, batch_size=config.cost_batch_size
                )
            except NascostError as exc:
                missing = unavailable_cost(ref, ", and no fitted predictor for it is in the cost store")
                if missing is not None and "no cost" in str(exc):
                    raise missing from None
                if predictor_cls.requires_fit or "no cost" not in str(exc):
                    raise NascostError(f"{exc}; or add '--calibrate 300' to measure and fit one here now") from None
                # built, not fitted (flops): cheap to build on the spot
                from nascost.fit import build_predictor

                pred, meta = build_predictor(
                    space=space, predictor=recipe.predictor, setting=setting or space.setting(space.calibration_setting_name()),
                    measurer=recipe.measurer, batch_size=config.cost_batch_size,
                )
            source = f"cost store: {ref}"
        info = _cost_info(meta)
        if config.calibrate_measurer_options and source == str(calibrated):
            info["measurer_options"] = dict(config.calibrate_measurer_options)
        resolved.append(
            ResolvedCost(
                name=ref, fn=pred, unit=meta.unit, lam=spec.lam, setting=meta.setting, source=source,
                measurer=recipe.measurer, info=info, train_range=meta.train_range,
            )
        )
    return resolved


def _stored_cost(ref: str, spec: Any, config: SearchConfig, space: Any) -> ResolvedCost:
    """A cost named only in the cost store (``nascost fit --as-cost NAME``): its file says the rest."""
    from nascost.cost import CostStore, load_cost

    store = CostStore()
    if not store.entries(ref):
        known = sorted(plugins.registry("costs").names())
        stored = sorted({e.name for e in store.list()})
        from nascost.plugins import closest

        raise NascostError(
            f"unknown cost {ref!r}: neither a cost recipe ({', '.join(known)}) nor a name in the cost store "
            f"{str(store.costs_dir)!r} ({', '.join(stored) or 'empty'}){closest(ref, known + stored)}; "
            f"create it with 'nascost fit --db DB --predictor lpm --as-cost {ref}'"
        )
    if config.calibrate:
        raise NascostError(f"--calibrate needs a cost recipe (measurer + predictor); {ref!r} is only a fitted "
                           "predictor in the cost store")
    setting = space.setting(config.cost_setting, **config.cost_setting_overrides) if config.cost_setting else None
    pred, meta = _load_quietly(load_cost, ref, space=space, setting=setting, batch_size=config.cost_batch_size)
    return ResolvedCost(name=ref, fn=pred, unit=meta.unit, lam=spec.lam, setting=meta.setting,
                        source=f"cost store: {ref}", measurer=meta.measurer, info=_cost_info(meta),
                        train_range=meta.train_range)


def _cost_info(meta: Any) -> dict[str, Any]:
    """What the final measurement needs from a predictor's metadata to measure as its data were,
    and what the report shows of the predictor's quality (its held-out metrics)."""
    info: dict[str, Any] = {"batch_size": meta.batch_size, "n_train": meta.n_train, "predictor": meta.predictor}
    if meta.metrics:
        info["metrics"] = dict(meta.metrics)
    if meta.reference_latency:  # paired timing: measure on the training data's scale
        info["reference_latency"] = meta.reference_latency
    if meta.measurer_options:  # e.g. a public device's table: the final measurement looks the cell up there
        info["measurer_options"] = dict(meta.measurer_options)
    if meta.device is not None:
        info["device"] = meta.device.label()
    return info


def _load_quietly(load: Callable[..., Any], ref: Any, **kwargs: Any) -> Any:
    """Load, turning another-device/setting warnings into plain log lines on stderr."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = load(ref, **kwargs)
    for w in caught:
        import sys

        print(f"nascost: warning: {w.message}", file=sys.stderr)
    return result


def calibrate(
    name: str,
    recipe: Any,
    space: Any,
    setting: Setting | None,
    out_dir: Path,
    *,
    n: int,
    seed: int,
    batch_size: int | None,
    progress: bool,
    say: Callable[[str], None],
    measurer_options: dict[str, Any] | None = None,
    predictor_options: dict[str, Any] | None = None,
) -> tuple[Any, Any]:
    """Measure ``n`` architectures with the recipe's measurer here, fit its predictor, save it."""
    from nascost.collect import run_campaign
    from nascost.fit import build_predictor, fit_from_database
    from nascost.predict import save_predictor

    if setting is None:
        setting = space.setting(space.calibration_setting_name())
    measurer = plugins.get_measurer(recipe.measurer, measurer_options or None)
    measurer.require_available()
    predictor_cls = plugins.get("predictors", recipe.predictor)
    (out_dir / "costs").mkdir(parents=True, exist_ok=True)
    path = out_dir / "costs" / f"{name}.nascost"
    if not predictor_cls.requires_fit:
        say(f"calibrating {name}: building the {recipe.predictor} predictor in {setting.label()}")
        pred, meta = build_predictor(
            space=space, predictor=recipe.predictor, setting=setting, measurer=measurer, batch_size=batch_size,
            progress=_bar_fn(progress, f"building {recipe.predictor}"),
        )
    else:
        db = out_dir / "calibration.db"
        say(f"calibrating {name}: measuring {n} architectures with {recipe.measurer} in {setting.label()}")
        # no drift references: a quick calibration on a shared machine would flag (and drop) its rows
        run_campaign(
            db, space=space, measurer=measurer, setting=setting, n=n, seed=seed, batch_size=batch_size,
            progress=progress, reference_every=0,
        )
        say(f"calibrating {name}: fitting {recipe.predictor} on them")
        pred, meta = fit_from_database(
            db, space=space, predictor=recipe.predictor, progress=_bar_fn(progress, f"fitting {recipe.predictor}"),
            seed=seed, options=predictor_options or None,
        )
        metrics = ", ".join(f"{k} {v:.3g}" for k, v in meta.metrics.items() if isinstance(v, float))
        if metrics:
            say(f"calibrating {name}: held-out {metrics}")
        warning = poor_calibration_warning(name, recipe.measurer, meta.metrics)
        if warning:
            say(warning)
    save_predictor(pred, path, meta)
    return pred, meta


#: Below this held-out Kendall tau a calibrated predictor barely ranks architectures.
POOR_TAU = 0.5


def poor_calibration_warning(name: str, measurer: str, metrics: dict) -> str | None:
    """A warning line when a calibrated predictor ranks held-out architectures poorly, else None.

    A search trusts its cost's ranking; a tau this low usually means the
    measurements were noise (a shared or virtual machine), which paired
    timing fixes, or too few of them.
    """
    tau = metrics.get("kendall_tau")
    if not isinstance(tau, float) or tau >= POOR_TAU:
        return None
    if measurer == "cpu-timer":
        fix = ("on a shared or virtual machine use paired timing (--cost cpu-paired-lpm), "
               "or measure more architectures (--calibrate N)")
    else:
        fix = "measure more architectures (--calibrate N), on a quieter device"
    return (f"warning: the calibrated {name} ranks held-out architectures poorly (Kendall tau {tau:.2f} < "
            f"{POOR_TAU}): its measurements were noisy or too few, so the search has little to go on; {fix}")


def _bar_fn(enabled: bool, label: str) -> Any:
    return StepBar(label, "epoch") if enabled else None
