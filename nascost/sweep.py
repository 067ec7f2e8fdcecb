"""Lambda sweeps: several searches, each derived architecture measured (and optionally trained), one report.

``nascost sweep --space pcdarts --cost cpu-lpm --lambdas 0,0.1,0.2 --out DIR``
is the experiment behind the paper's accuracy-latency trade-off:

1. the cost is resolved once (from the cost store, or calibrated here with
   ``calibrate=N`` into ``DIR/costs/``), so every search uses the same predictor;
2. one search per lambda into ``DIR/runs/lambda_<L>/`` (the search library,
   resumable; the architecture weights of every epoch go to
   ``arch_weights.jsonl`` for the report); with ``seeds`` > 1, that many per
   lambda and the architecture their mean weights derive
   (``DIR/runs/lambda_<L>-combined/``);
3. each derived architecture is measured with the cost's measurer, in the cost's
   setting and batch size, on this machine (``measurement.json``), and so are
   the space's published cells (``DIR/references.json``);
4. with ``train_preset`` each derived architecture is trained from scratch
   (``runs/lambda_<L>/train/``);
5. ``DIR/report.html``.

Every step skips what a previous, interrupted invocation finished, so running
the same command again resumes the sweep. With ``executor="ray"`` the searches
run as Ray Tune trials (one per lambda, ``resources`` each) on whatever Ray
cluster ``ray.init`` connects to; measurement, training and the report then
run here, so all measurements come from one device.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from nascost.errors import NascostError, UnavailableError
from nascost.files import write_json, write_text
from nascost.progress import progress
from nascost.reference_cells import measure_architecture, measure_references, predict_cost


def run_dir_name(lam: float, k: int = 0) -> str:
    """``lambda_<L>`` for a lambda's (first) search, ``lambda_<L>-seed<K>`` for its ``k``-th other seed."""
    return f"lambda_{lam:g}" if k == 0 else f"lambda_{lam:g}-seed{k}"


def combined_dir_name(lam: float) -> str:
    """Where the architecture a lambda's seeds combine to goes (``--seeds`` > 1)."""
    return f"lambda_{lam:g}-combined"


def sweep_run_dirs(lambdas: list[float], seeds: int) -> list[str]:
    """Every run directory of a sweep, relative to it: per lambda its seeds, then their combination."""
    out = []
    for lam in lambdas:
        out += [f"runs/{run_dir_name(lam, k)}" for k in range(seeds)]
        out += [f"runs/{combined_dir_name(lam)}"] if seeds > 1 else []
    return out


def train_dir(run: Path, k: int) -> Path:
    """Where the ``k``-th evaluation training of a run goes (``train/``, then ``train-seed1/``, ...)."""
    return run / ("train" if k == 0 else f"train-seed{k}")


def parse_lambdas(text: str) -> list[float]:
    """``"0,0.1,0.2"`` -> ``[0.0, 0.1, 0.2]``; negative or malformed values are errors."""
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise NascostError(f"--lambdas {text!r}: use comma-separated numbers, e.g. 0,0.1,0.2") from None
    if not values:
        raise NascostError("--lambdas is empty: give at least one value, e.g. 0,0.1,0.2")
    bad = [v for v in values if not math.isfinite(v)]
    if bad:
        raise NascostError(f"--lambdas {text!r}: {bad[0]} is not a finite number; give values like 0,0.1,0.2")
    if any(v < 0 for v in values):
        raise NascostError(f"--lambdas {text!r}: lambda must be >= 0")
    if len(set(values)) != len(values):
        raise NascostError(f"--lambdas {text!r} repeats a value")
    return values


def arch_weight_recorder(out: Path) -> Callable[[dict[str, Any]], None]:
    """An ``on_epoch_end`` callback saving the epoch's architecture weights from the checkpoint.

    The search writes its checkpoint before calling back, so the weights are
    the ones the epoch ended with. Only 2-D tensors whose name contains
    ``alpha`` are kept (softmax rows per edge, as the report plots them).

    The file is resumable state: a kill between a checkpoint and its callback
    would lose that epoch's row, so on creation the row of the checkpoint's
    last finished epoch is written when missing, and rows beyond it dropped.
    """
    _reconcile_arch_weights(out, _weights_row)

    def record(row: dict[str, Any]) -> None:
        _weights_row(out, row)

    return record


def _weights_row(out: Path, row: dict[str, Any]) -> None:
    """Append the checkpoint's architecture weights as the row of ``row``'s stage and epoch."""
    ckpt = out / "checkpoint.pt"
    if not ckpt.is_file():
        return
    state = torch.load(ckpt, map_location="cpu", weights_only=True)
    sd = state.get("supernet", {}) if isinstance(state, dict) else {}
    weights = {k: v.tolist() for k, v in sd.items() if "alpha" in k.lower() and torch.is_tensor(v) and v.dim() == 2}
    if weights:
        entry = {"stage": row.get("stage", 0), "epoch": row.get("epoch"), "weights": weights}
        with open(out / "arch_weights.jsonl", "a") as f:
            f.write(json.dumps(entry) + "\n")


def _reconcile_arch_weights(out: Path, append: Callable[[Path, dict[str, Any]], None]) -> None:
    """Make ``arch_weights.jsonl`` agree with the checkpoint a resumed search starts from."""
    ckpt = out / "checkpoint.pt"
    if not ckpt.is_file():
        return
    state = torch.load(ckpt, map_location="cpu", weights_only=True)
    if not isinstance(state, dict) or "epoch" not in state:
        return
    last = (int(state.get("stage", 0)), int(state["epoch"]) - 1)  # the checkpoint holds epoch+1
    path = out / "arch_weights.jsonl"
    rows = []
    if path.is_file():
        for line in path.read_text().splitlines():
            try:
                r = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut by a kill
            if (r.get("stage", 0), r.get("epoch", 0)) <= last:
                rows.append(r)
    have = {(r.get("stage", 0), r.get("epoch", 0)) for r in rows}
    write_text(path, "".join(json.dumps(r) + "\n" for r in rows))
    if last[1] >= 0 and last not in have:
        append(out, {"stage": last[0], "epoch": last[1]})


@dataclasses.dataclass
class SweepPlan:
    """Everything a sweep needs, resolved once."""

    space: Any
    dataset: Any
    costs: list[Any]
    lambdas: list[float]
    search: dict[str, Any]


def _search_config(search: dict[str, Any], lam: float, k: int = 0) -> Any:
    """The search of ``lam`` with the ``k``-th seed (the options' ``seed`` plus ``k``)."""
    from nascost.search import SearchConfig

    # the sweep measures the reference cells once, into DIR/references.json
    data = {"measure_references": False, **search, "lambda": lam}
    if k:
        data["seed"] = int(search.get("seed", 0)) + k
    data.pop("calibrate", None)
    return SearchConfig.build(data)


def _without_threads(record: dict[str, Any]) -> dict[str, Any]:
    """The record's options less ``threads``, which changes the speed of a run, not its result."""
    search = {k: v for k, v in (record.get("search") or {}).items() if k != "threads"}
    return {**record, "search": search}


def _run_one_search(plan: SweepPlan, lam: float, k: int, out: Path, show_progress: bool,
                    log: Callable[[str], None]) -> None:
    from nascost.search import CHECKPOINT, run_search

    if (out / "summary.json").is_file() and (out / "genotype.json").is_file():
        log(f"{out.name}: search already finished")
        return
    resume = (out / CHECKPOINT).is_file()
    config = _search_config(plan.search, lam, k)
    costs = [dataclasses.replace(c, lam=None) for c in plan.costs]
    run_search(
        config, out, costs=costs, space=plan.space, dataset=plan.dataset, resume=resume,
        force=not resume and out.exists(), show_progress=show_progress,
        log=lambda msg: log(f"{out.name}: {msg}"), on_epoch_end=arch_weight_recorder(out),
    )  # fmt: skip


def _ray_searches(plan: SweepPlan, root: Path, seeds: int, resources: dict[str, float],
                  log: Callable[[str], None]) -> None:
    """One Ray Tune trial per lambda and seed; each trial resumes its own run directory."""
    try:
        import ray
        from ray import tune
    except ImportError:
        raise UnavailableError(
            "--executor ray needs the optional 'ray' extra: pip install 'nascost[ray]' (or use --executor local)"
        ) from None
    if not ray.is_initialized():
        ray.init(address=os.environ.get("RAY_ADDRESS"), include_dashboard=False, log_to_driver=False)
    search, space = plan.search, plan.space
    costs = [dataclasses.replace(c, lam=None) for c in plan.costs]

    def trial(config: dict[str, Any]) -> dict[str, Any]:
        from nascost.search import CHECKPOINT, run_search

        lam, k = float(config["lam"]), int(config["k"])
        out = root / run_dir_name(lam, k)
        if not (out / "summary.json").is_file():
            resume = (out / CHECKPOINT).is_file()
            run_search(
                _search_config(search, lam, k), out, costs=costs, space=space,
                resume=resume, force=not resume and out.exists(), show_progress=False,
                on_epoch_end=arch_weight_recorder(out),
            )  # fmt: skip
        return {"done": 1}

    tuner = tune.Tuner(
        tune.with_resources(trial, resources),
        param_space={"lam": tune.grid_search(plan.lambdas), "k": tune.grid_search(list(range(seeds)))},
        run_config=tune.RunConfig(name="nascost-sweep", storage_path=str((root.parent / "ray").resolve()), verbose=0),
    )
    results = tuner.fit()
    errors = [str(r.error) for r in results if r.error is not None]
    if errors:
        last = re.sub(r"\x1b\[[0-9;]*m", "", errors[0]).strip().splitlines()[-1]
        raise NascostError(f"{len(errors)} Ray trial(s) failed; the first with: {last[:300]}")
    log(f"ray: {len(results)} search trial(s) finished")


def _combine_seeds(plan: SweepPlan, lam: float, seeds: int, root: Path, log: Callable[[str], None],
                   combine: str = "mean") -> None:
    """The architecture of ``lam``'s seeds combined, unless already derived from the same runs the same way."""
    from nascost.derive import write_combined

    out = root / combined_dir_name(lam)
    runs = [root / run_dir_name(lam, k) for k in range(seeds)]
    previous = _read_summary(out)
    done = previous.get("combined") or {}
    if (done.get("runs") == [r.name for r in runs] and done.get("combine", "mean") == combine
            and (out / "measurement.json").is_file()):
        log(f"{out.name}: already derived from its {seeds} seeds ({combine})")
        return
    (out / "measurement.json").unlink(missing_ok=True)  # of an older combination
    costs = [dataclasses.replace(c, lam=None) for c in plan.costs]
    result = write_combined(runs, out, costs=costs, log=log, combine=combine)
    if previous.get("genotype") not in (None, result["architecture"].spec):
        stale = [d for d in out.glob("train*") if d.is_dir()]
        for d in stale:  # they trained the older combination's cell, no longer this lambda's
            shutil.rmtree(d)
        if stale:
            log(f"{out.name}: the combined cell changed; removed the trainings of the previous one")
    log(f"{out.name}: the {combine} weights of {seeds} seeds derive {plan.space.format_arch(result['architecture'])} "
        f"(the seeds: {'; '.join(result['each'])})")


def _read_summary(run: Path) -> dict[str, Any]:
    try:
        data = json.loads((run / "summary.json").read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def run_sweep(
    *,
    space: str,
    costs: list[str],
    lambdas: list[float],
    out: str | Path,
    dataset: str = "digits",
    search_options: dict[str, Any] | None = None,
    calibrate: int = 0,
    train_preset: str | None = None,
    train_dataset: str | None = None,
    train_options: dict[str, Any] | None = None,
    train_seeds: int = 1,
    seeds: int = 1,
    combine: str = "mean",
    references: bool = True,
    measurer_options: dict[str, Any] | None = None,
    executor: str = "local",
    resources: dict[str, float] | None = None,
    show_progress: bool = True,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Run (or resume) a lambda sweep into ``out``; return the sweep record (also ``out/sweep.json``).

    ``train_seeds`` > 1 trains each derived architecture that many times (seeds ``seed``,
    ``seed + 1``, ...; ``train/``, ``train-seed1/``, ...): a short evaluation training's
    accuracy varies by points between seeds, as much as the differences a sweep looks for.

    ``seeds`` > 1 searches each lambda that many times (search seeds ``seed``, ``seed + 1``, ...;
    ``runs/lambda_<L>/``, ``runs/lambda_<L>-seed1/``, ...) and derives one architecture from the
    mean of their final architecture probabilities (:func:`nascost.derive.write_combined`, into
    ``runs/lambda_<L>-combined/``), which is measured, trained and reported as the lambda's
    cell. Why: at CPU scale a search's cell is one draw from nearly flat weights; on
    NAS-Bench-201 the seeds' combination found cells no single seed did (docs/benchmarks.md).
    ``combine="median"`` combines them by their median instead (one collapsed seed cannot
    move it); a later invocation with the other one re-derives the combinations, searching
    nothing. A resumed sweep keeps the most seeds any invocation asked for.
    """
    from nascost import plugins
    from nascost.report import build_report
    from nascost.search import SearchConfig
    from nascost.search_costs import check_costs_runnable, resolve_costs

    say = log or (lambda _msg: None)
    if executor not in ("local", "ray"):
        raise NascostError(f"unknown executor {executor!r} (executors: local, ray)")
    if not costs:
        raise NascostError("a sweep needs a cost: add --cost NAME (e.g. --cost cpu-lpm)")
    if train_seeds < 1:
        raise NascostError(f"--train-seeds must be at least 1 (got {train_seeds})")
    if seeds < 1:
        raise NascostError(f"--seeds must be at least 1 (got {seeds})")
    from nascost.derive import COMBINE

    if combine not in COMBINE:
        raise NascostError(f"unknown --combine {combine!r}; use one of {', '.join(COMBINE)}")
    out = Path(out)
    record_path = out / "sweep.json"
    search = {"space": space, "dataset": dataset, **(search_options or {}), "costs": list(costs)}
    record = {
        "space": space,
        "costs": list(costs),
        "lambdas": lambdas,
        "dataset": dataset,
        "search": search,
        "calibrate": calibrate,
        "train_preset": train_preset,
        "train_dataset": train_dataset or dataset,
        "train_options": train_options or {},
        "train_seeds": train_seeds,
        "executor": executor,
        "seeds": seeds,
        "combine": combine,
        "runs": sweep_run_dirs(lambdas, seeds),
    }
    if record_path.is_file():
        previous = json.loads(record_path.read_text())
        keys = ("space", "costs", "dataset", "search", "calibrate")
        if _without_threads({k: previous.get(k) for k in keys}) != _without_threads({k: record[k] for k in keys}):
            raise NascostError(
                f"{out} holds a sweep with other search options (see its sweep.json); use another --out"
            )
        # a second invocation may add lambdas; the report covers all of them
        record["lambdas"] = sorted(set(previous.get("lambdas", [])) | set(lambdas))
        if int(previous.get("seeds", 1)) > seeds:
            seeds = record["seeds"] = int(previous["seeds"])
            say(f"{out} is a sweep of {seeds} seeds per lambda: searching all {seeds}")
        record["runs"] = sweep_run_dirs(record["lambdas"], seeds)
    elif out.exists() and any(out.iterdir()):
        raise NascostError(f"{out} is not empty and holds no sweep; choose another --out")
    # names are checked before anything is written
    space_obj = plugins.get_space(space, search.get("space_options") or None)
    dataset_obj = plugins.get_dataset(dataset, search.get("dataset_options") or None)
    for name in costs:
        if not Path(name).suffix and "/" not in name and name not in plugins.registry("costs"):
            from nascost.cost import CostStore

            if not CostStore().entries(name):
                plugins.get_cost(name)  # the unknown-name error, with the known names
    base = SearchConfig.build({**search, "calibrate": calibrate})
    resolved = None
    if calibrate:  # calibration writes into DIR/costs: only check that its measurers run here
        check_costs_runnable(base)
    else:  # a stored or file cost loads without writing: a missing one fails before DIR exists
        resolved = resolve_costs(base, space_obj, dataset_obj, out, progress=show_progress, log=say)
    out.mkdir(parents=True, exist_ok=True)
    write_json(record_path, record)
    say(f"sweep of {len(lambdas)} lambda(s): output in {out}")
    if resolved is None:
        resolved = resolve_costs(base, space_obj, dataset_obj, out, progress=show_progress, log=say)
    plan = SweepPlan(space_obj, dataset_obj, resolved, lambdas, {**search})

    runs_root = out / "runs"
    runs_root.mkdir(exist_ok=True)
    if executor == "ray":
        _ray_searches(plan, runs_root.resolve(), seeds, resources or {"cpu": 1}, say)
    else:
        for lam in lambdas:
            for k in range(seeds):
                say(f"search with lambda {lam:g}" + (f", seed {k + 1} of {seeds}" if seeds > 1 else ""))
                _run_one_search(plan, lam, k, runs_root / run_dir_name(lam, k), show_progress, say)
    if seeds > 1:
        for lam in lambdas:
            _combine_seeds(plan, lam, seeds, runs_root, say, combine)

    cost = resolved[0]
    for run in (out / r for r in sweep_run_dirs(lambdas, seeds)):
        if (run / "measurement.json").is_file():
            continue
        arch = space_obj.resolve(run / "genotype.json")
        m = measure_architecture(space_obj, arch, cost, measurer_options or cost.info.get("measurer_options"))
        m["predicted"] = {cost.name: predict_cost(space_obj, arch, cost)}
        write_json(run / "measurement.json", m)
        say(f"{run.name}: measured {m['median']:.4g} {m['unit']} ({cost.measurer}); predicted "
            f"{m['predicted'][cost.name]:.4g}")  # fmt: skip

    if references and not (out / "references.json").is_file():
        options = measurer_options or cost.info.get("measurer_options")
        refs = measure_references(space_obj, cost, lambda arch: measure_architecture(space_obj, arch, cost, options),
                                  cost.setting or space_obj.setting(next(iter(space_obj.settings()))), say)
        write_json(out / "references.json", refs)

    if train_preset:
        from nascost.train import make_config, train

        train_data = plugins.get_dataset(train_dataset or dataset)
        config = make_config(train_preset, **(train_options or {}))
        base_seed = config.seed
        for lam in lambdas:  # the lambda's cell: its seeds' combination when it has several
            run = runs_root / (combined_dir_name(lam) if seeds > 1 else run_dir_name(lam))
            arch = space_obj.resolve(run / "genotype.json")
            for k in range(train_seeds):
                tdir = train_dir(run, k)
                if (tdir / "summary.json").is_file():
                    continue
                seeded = config.model_copy(update={"seed": base_seed + k})
                say(f"{run.name}: training the derived architecture ({train_preset} preset, seed {seeded.seed})")
                summary = train(
                    space_obj, arch, train_data, tdir, seeded, resume=(tdir / "checkpoint.pt").is_file(),
                    progress=(lambda: progress("step", transient=True)) if show_progress else None,
                    log=lambda msg, _n=run.name: say(f"{_n}: {msg}"), search_dir=run,
                )  # fmt: skip
                say(f"{run.name}: test accuracy {summary['test_acc']:.2f}% (seed {seeded.seed})")

    report = build_report([out], out / "report.html", title=f"{space} lambda sweep ({', '.join(costs)})")
    record["report"] = report["report"]
    write_json(record_path, record)
    return record
