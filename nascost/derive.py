"""Derive one architecture from the final weights of several finished searches (a seed ensemble).

Why: at CPU scale a search's derived cell is one draw. On NAS-Bench-201 three seeds of one
protocol derived cells 0.6 points of true accuracy apart, and sharper architecture weights
(a 3.3x larger architecture learning rate) kept two of the three cells: the spread is the
supernets', not the argmax's. The mean of the three searches' architecture probabilities
derived one of the space's two best cells instead (docs/benchmarks.md, "Seeds combined"). The searches
are combined as probabilities (each architecture row softmaxed, as the relaxation mixes it,
then averaged), and the space's own ``derive()`` turns the mean into an architecture, so
every space's derivation rule (argmax, top-k inputs, skip limits) applies unchanged.
``combine="median"`` takes each probability's median over the runs instead of its mean, so
that one run whose weights went elsewhere (a seed that collapsed) cannot move the result.

With a budget (``nascost derive --target``) the derivation returns the most probable
architecture whose predicted cost meets it instead (:func:`most_probable_within`): one set of
searches serves every device and budget.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import torch
from torch.nn import functional as F

from nascost.errors import NascostError
from nascost.files import write_json
from nascost.records import Architecture
from nascost.search import (
    CHECKPOINT,
    SearchConfig,
    _set_relaxation,
    _stage_plan,
    check_supernet_options,
    load_checkpoint,
)

#: How the runs' architecture probabilities are combined: their mean, or their median.
COMBINE: tuple[str, ...] = ("mean", "median")


def _final_supernet(run: Path, space: Any, config: SearchConfig, dataset: dict[str, Any]) -> Any:
    """The supernet of a finished run's last stage, with its final weights."""
    state = load_checkpoint(run / CHECKPOINT)
    plan = _stage_plan(config, space)
    previous = None
    for stage, (loop, supernet_opts) in enumerate(plan):
        cfg = SearchConfig.build({**config.model_dump(by_alias=False), **loop}) if loop else config
        model = space.supernet(previous, C=cfg.C, layers=cfg.layers, num_classes=dataset["num_classes"],
                               in_channels=dataset["in_channels"], **{**cfg.supernet_options, **supernet_opts})
        _set_relaxation(model, cfg.relaxation)
        try:
            model.load_state_dict(state["supernet"] if stage == len(plan) - 1 else state["stage_states"][stage])
        except (RuntimeError, KeyError, IndexError) as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:120]
            raise NascostError(f"run {str(run)!r}: its checkpoint does not fit its config.json ({first}); "
                               "derive from the run directory the checkpoint belongs to") from None
        previous = model
    return previous


def _read_run(run: Path) -> tuple[SearchConfig, dict[str, Any]]:
    if not (run / "genotype.json").is_file() or not (run / CHECKPOINT).is_file():
        raise NascostError(f"{str(run)!r} is not a finished search (it needs genotype.json and {CHECKPOINT}); "
                           "give the output directories of finished searches (resume a killed one first)")
    try:
        saved = json.loads((run / "config.json").read_text())
        return SearchConfig.build(saved["search"]), saved["dataset"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise NascostError(f"{str(run / 'config.json')!r} is missing or malformed ({exc}); "
                           "derive from the run directories a search wrote") from None


def load_supernet(run: str | Path) -> tuple[Any, SearchConfig, dict[str, Any]]:
    """The supernet a finished search ended with (its final weights), its config and its dataset record.

    Why: analyses of a search's weights beyond the derivation (evaluating sub-architectures with
    the supernet's weights, inspecting an edge) need the model itself, rebuilt exactly as the
    search built it, stage by stage.
    """
    from nascost import plugins

    config, dataset = _read_run(Path(run))
    space = plugins.get_space(config.space, config.space_options or None)
    config = config.with_defaults(space.search_defaults())
    return _final_supernet(Path(run), space, config, dataset), config, dataset


def derive_from_runs(runs: list[Path], *, target: str | None = None, cost: str | None = None,
                     combine: Literal["mean", "median"] = "mean",
                     supernet_options: dict[str, Any] | None = None) -> tuple[Architecture, dict[str, Any]]:
    """The architecture the mean (or ``combine="median"``: median) architecture probabilities of
    ``runs`` derive, and a report.

    The runs must search the same space with the same supernet (the same architecture rows);
    they may differ in seed, lambda or anything else. The report holds each run's own
    derived architecture and the combined weights' :func:`nascost.search.weight_margins`.
    With ``target`` (a budget such as ``"18ms"``) the architecture is the most probable one
    whose predicted ``cost`` (a cost name or predictor file; default: the first run's first
    cost) meets it (:func:`most_probable_within`), and the report's ``target`` says what the
    unconstrained derivation was and what each one is predicted to cost. ``supernet_options``
    override the runs' own for the derivation (a rule of the space's derivation, such as the
    nb201 supernet's ``max_skip_connect``; options that change the architecture weights' shapes
    are refused).
    """
    from nascost import plugins
    from nascost.search import weight_margins

    if not runs:
        raise NascostError("derive needs at least one run directory")
    if combine not in COMBINE:
        raise NascostError(f"unknown combination {combine!r}; use one of {', '.join(COMBINE)}")
    configs = [_read_run(Path(r)) for r in runs]
    first = configs[0][0]
    for run, (cfg, _) in zip(runs[1:], configs[1:], strict=True):
        if (cfg.space, cfg.space_options) != (first.space, first.space_options):
            raise NascostError(f"run {str(run)!r} searched space {cfg.space!r} {cfg.space_options or ''}, "
                               f"not {first.space!r} {first.space_options or ''}; combine runs of one space")
    space = plugins.get_space(first.space, first.space_options or None)
    if supernet_options:
        check_supernet_options(supernet_options)
        configs = [(cfg.model_copy(update={"supernet_options": {**cfg.supernet_options, **supernet_options}}), ds)
                   for cfg, ds in configs]
    models = [_final_supernet(Path(r), space, cfg.with_defaults(space.search_defaults()), ds)
              for r, (cfg, ds) in zip(runs, configs, strict=True)]
    shapes = [tuple(tuple(a.shape) for a in m.arch_parameters()) for m in models]
    for run, shape in zip(runs, shapes, strict=True):
        if shape != shapes[0]:
            raise NascostError(f"run {str(run)!r} has architecture weights of shape {shape}, not {shapes[0]}: "
                               "its supernet differs; combine runs of the same supernet")
    each = [space.format_arch(m.derive()) for m in models]
    with torch.no_grad():
        probs = [[F.softmax(a.detach().float(), dim=-1) for a in m.arch_parameters()] for m in models]
        combined = models[0]
        for i, a in enumerate(combined.arch_parameters()):
            stack = torch.stack([p[i] for p in probs]).double()
            # quantile, not median(): with an even number of runs the median is the middle two's mean
            mid = stack.mean(0) if combine == "mean" else torch.quantile(stack, 0.5, dim=0)
            mid = mid / mid.sum(-1, keepdim=True)  # a median row need not sum to 1
            a.copy_(mid.clamp_min(1e-12).log().to(a.dtype))  # softmax(log p) = p: derive() sees the combination
    arch = combined.derive()
    budget = None
    if target is not None:
        budget = _derive_within(combined, space, first, runs[0], target, cost)
        arch = budget.pop("architecture")
    # the mean probabilities by state-dict name, as the report draws a checkpoint's (softmax rows)
    mean_probs = {k: F.softmax(v.double(), dim=-1).tolist() for k, v in combined.state_dict().items()
                  if "alpha" in k.lower() and v.dim() == 2}
    report = {"runs": [str(r) for r in runs], "combine": combine, "each": each,
              "weights": weight_margins(combined.arch_parameters()), "probabilities": mean_probs}
    if budget is not None:
        report["target"] = budget
    return arch, report


def _derive_within(model: Any, space: Any, config: SearchConfig, run: Path, target: str,
                   cost: str | None) -> dict[str, Any]:
    """Resolve the budget's cost as a search would (the run's directory holds its calibrated
    costs) and derive within it."""
    from nascost.penalty import parse_target
    from nascost.search_costs import resolve_costs

    if cost is None:
        if not config.costs:
            raise NascostError(f"run {str(run)!r} searched without a cost: name the cost the target is for "
                               "with --cost NAME")
        cost = config.costs[0].name
    spec = {**config.model_dump(by_alias=False), "costs": [{"name": cost}], "calibrate": 0}
    (resolved,) = resolve_costs(SearchConfig.build(spec), space, None, run, progress=False)
    value = parse_target(target, resolved.unit)
    free = model.derive()
    arch, predicted = most_probable_within(model, space, resolved.fn, value)
    with torch.no_grad():
        free_cost = float(resolved.fn.predict(space.encode([free]).float()).reshape(-1)[0])
    return {"architecture": arch, "cost": resolved.name, "unit": resolved.unit, "value": value,
            "predicted": predicted, "unconstrained": space.format_arch(free), "unconstrained_predicted": free_cost,
            "binding": free_cost > value}


def most_probable_within(model: Any, space: Any, cost: Any, target: float) -> tuple[Architecture, float]:
    """The most probable architecture under ``model``'s architecture weights whose predicted
    ``cost`` is at most ``target``, and that prediction.

    Why: a budget on the *derivation*. The mean weights of a few accuracy searches rank cells
    well enough that the most probable one within a device's budget lies near that device's
    front (docs/benchmarks.md, "A budget on the derivation"), and it takes seconds per device
    and budget where a budgeted search takes one search each. When the space's own ``derive()``
    already meets the budget, that is the answer (the space's rule, unchanged); otherwise every
    architecture is scored by the supernet's ``log_prob`` and the cost, so the space must be
    small enough to enumerate. ``cost`` is a :class:`nascost.penalty.CostFunction`.
    """
    from nascost.penalty import EXACT_LIMIT
    from nascost.space import check_enumerable

    def predict(enc: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return cost.predict(enc.float()).reshape(-1).double()

    best = model.derive()
    best_cost = float(predict(space.encode([best]))[0])
    if best_cost <= target:
        return best, best_cost
    check_enumerable(space, EXACT_LIMIT, f"the derived architecture is predicted at {best_cost:.4g}, over the "
                     f"target {target:.4g}, and a derivation within a target scores every architecture",
                     "search with --target instead")
    cells = list(space.enumerate())
    logp, costs, allowed = [], [], []
    with torch.no_grad():
        for i in range(0, len(cells), 8192):
            enc = space.encode(cells[i:i + 8192])
            logp.append(model.log_prob(enc).double())
            costs.append(predict(enc))
            allowed.append(model.derivable(enc).to(torch.bool).cpu())
    lp, c, rule = torch.cat(logp), torch.cat(costs), torch.cat(allowed)
    ok = (c <= target) & rule
    if not bool(ok.any()):
        cheapest = float(c[rule].min()) if bool(rule.any()) else float("nan")
        which = "" if bool(rule.all()) else " that the supernet's derivation allows"
        raise NascostError(f"no architecture of space {space.name!r}{which} is predicted within the target "
                           f"{target:.4g} (the cheapest is predicted at {cheapest:.4g}); raise --target")
    i = int(torch.where(ok, lp, torch.full_like(lp, -torch.inf)).argmax())
    return cells[i], float(c[i])


def write_combined(runs: list[Path], out: Path, *, costs: list[Any], log: Any = None,
                   combine: Literal["mean", "median"] = "mean") -> dict[str, Any]:
    """Write the combined architecture of ``runs`` into ``out`` as a finished search writes its own.

    ``out`` gets the first run's ``config.json`` (with ``combined_from``), ``genotype.json`` and a
    ``summary.json`` with the same fields as a search's (predicted and measured cost, ground
    truth where tables are known, weight margins) plus ``combined`` (the runs, each one's
    cell and the mean probabilities), so ``report``, ``train``, ``arch info`` and a sweep's measurement read it like any
    derived cell. ``costs`` are the runs' resolved costs (a sweep's). It holds no checkpoint:
    it is a derivation, not a search. ``summary.json`` is written last, so a kill leaves a
    directory that the next call rewrites.
    """
    from nascost import plugins
    from nascost.search import _finish, make_cost_terms
    from nascost.tables import read_accuracy_table

    say = log or (lambda _msg: None)
    runs = [Path(r) for r in runs]
    arch, report = derive_from_runs(runs, combine=combine)
    config, _dataset = _read_run(runs[0])
    space = plugins.get_space(config.space, config.space_options or None)
    config = config.with_defaults(space.search_defaults())
    accuracy = read_accuracy_table(config.accuracy_table, space) if config.accuracy_table else None
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    names = [_relative(r, out.parent) for r in runs]
    saved = json.loads((runs[0] / "config.json").read_text())
    write_json(out / "config.json", {**saved, "state": "combined", "combined_from": names})
    terms, _refs = make_cost_terms(config, costs, space)
    _finish(out, space, arch, costs, terms, config, lambda m: say(f"{out.name}: {m}"), accuracy,
            report["weights"],
            extra={"combined": {"runs": names, "combine": combine, "each": report["each"],
                                "probabilities": report["probabilities"]}})
    return {"architecture": arch, "runs": names, "combine": combine, "each": report["each"],
            "weights": report["weights"]}


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path.resolve())
