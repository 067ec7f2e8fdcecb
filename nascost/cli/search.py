"""``nascost search`` (latency-aware differentiable search), ``nascost derive`` and ``nascost quickstart``."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import click

from nascost.cli.output import (
    SEED,
    channels_option,
    combine_option,
    console,
    echo_json,
    parse_kv,
    space_opt_option,
    threads_option,
)
from nascost.config import COST, config_option
from nascost.errors import NascostError

#: The README quick start: offline, 2 CPU cores, a few minutes. A CPU LPM is calibrated on
#: 300 architectures of a reduced setting, timed in pairs with a reference network
#: (cpu-paired-lpm: on a shared or frequency-scaling CPU unpaired timings rank architectures
#: barely better than chance, see docs/measurement.md#paired-timing) (cifar-small cells at 8 channels, 5 cells, the digits'
#: 8x8 single-channel input), then pcdarts searches on digits for 4 epochs with the paper's
#: straight-through estimator and lambda 0.2 on the paper's scale (a random architecture's
#: predicted latency rescaled to 30, so the paper's lambda means the same pressure on any CPU),
#: and the derived cell is measured on this CPU.
QUICKSTART: dict[str, Any] = {
    "space": "pcdarts",
    "dataset": "digits",
    "costs": ["cpu-paired-lpm"],
    "lambda": 0.2,
    "cost_scale": "paper",
    "calibrate": 300,
    "cost_setting": "cifar-small",
    "cost_setting_overrides": {"channels": 8, "layers": 5, "input_size": 8, "in_channels": 1},
    "calibrate_measurer_options": {"warmup": 2, "runs": 10},
    # log targets keep a quick LPM's predictions positive (the paper's LPM regresses raw ms)
    "calibrate_predictor_options": {"target_scaling": "log"},
    "C": 8,
    "layers": 5,
    "epochs": 4,
    "batch_size": 64,
    "learning_rate": 0.1,
    "arch_learning_rate": 3e-3,
    "arch_frozen_epochs": 1,
    "threads": 1,
}


def _print_summary(result: Any, as_json: bool) -> None:
    summary = dict(result.summary)
    summary["out_dir"] = str(result.out_dir)
    if as_json:
        echo_json(summary)
        return
    arch = result.architecture
    click.echo(f"derived architecture ({arch.space}), saved to {result.out_dir / 'genotype.json'}:")
    for line in _describe(arch):
        click.echo(f"  {line}")
    for name, pred in summary.get("predicted_cost", {}).items():
        line = f"  {name}: predicted {_num(pred['value'])} {pred['unit']}"
        meas = summary.get("measured_cost", {}).get(name)
        if meas:
            line += f", measured {_num(meas['value'])} {meas['unit']} (median of {meas['n']}, {meas['device']})"
            seen = meas.get("as_encoded")
            if seen:
                line += (f"; as its encoding describes it (what the predictor sees): measured "
                         f"{_num(seen['value'])} {meas['unit']}")
        click.echo(line)
    counts = summary.get("counts")
    if counts:
        setting = summary.get("setting") or {}
        click.echo(
            f"  params {counts['params']:,}, MACs {counts['macs']:,} "
            f"(setting: C={setting.get('channels')}, {setting.get('layers')} cells, {setting.get('input_size')}px)"
        )


def _describe(arch: Any) -> list[str]:
    """The space's own description of an architecture (its JSON where the space is not installed)."""
    from nascost import plugins

    try:
        return plugins.get_space(arch.space).describe(arch)
    except NascostError:
        return [json.dumps(arch.spec)]


def _num(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.4g}"


def _run(data: dict[str, Any], out: str | None, resume: bool, force: bool, as_json: bool, quiet: bool) -> None:
    from nascost.search import SearchConfig, run_search

    config = SearchConfig.build(data)
    out_dir = Path(out) if out else Path("runs") / f"{config.space}-{time.strftime('%Y%m%d-%H%M%S')}"

    def log(msg: str) -> None:
        if not quiet:
            console.print(msg, highlight=False, markup=False)

    result = run_search(config, out_dir, resume=resume, force=force, show_progress=not quiet, log=log)
    _print_summary(result, as_json)


def _common(f: Any, out_default: str = "runs/SPACE-TIME") -> Any:
    options = [
        click.option("--out", "-o", type=click.Path(file_okay=False), help=f"Output directory (default {out_default})."),
        click.option("--resume", is_flag=True, help="Continue the run in --out from its last checkpoint."),
        click.option("--force", is_flag=True, help="Replace a non-empty --out directory."),
        click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON."),
        click.option("--quiet", "-q", is_flag=True, help="No progress bars or per-epoch lines."),
    ]
    for opt in reversed(options):
        f = opt(f)
    return f


@click.command("search")
@click.option("--space", default="pcdarts", show_default=True, help="Search space with a supernet (darts, pcdarts, pdarts, nb201).")
@space_opt_option
@click.option("--dataset", default="digits", show_default=True, help="digits, synthetic, cifar10, cifar100 or imagefolder:PATH.")
@click.option("--data-opt", "data_opts", multiple=True, metavar="KEY=VALUE",
              help="Dataset option, e.g. --data-opt input_size=16 for imagefolder (as in 'nascost train').")
@click.option("--cost", "costs", multiple=True, metavar="NAME[:LAMBDA]",
              help="Cost to add to the loss: a cost-store name (cpu-lpm) or a predictor file; repeat for several.")
@click.option("--lambda", "lam", type=float, help="lambda, in 1/(cost unit), for costs without their own [0.1].")
@click.option("--target", type=COST, help="Budget for the first cost, e.g. 25ms (see --target-mode).")
@click.option("--target-mode", type=click.Choice(["hinge", "adaptive"]), help="hinge penalty or adaptive multiplier [hinge].")
@click.option("--target-on", type=click.Choice(["expected", "derived"]),
              help="What --target bounds: the expected cost of the sampled sub-architectures (the paper's LAT), "
                   "or the predicted cost of the derived architecture [expected].")
@click.option("--trust-region", type=click.Choice(["report", "penalty"]),
              help="Outside the range of the cost predictor's training rows: report it every epoch and warn once, "
                   "or add a hinge penalty that keeps the search inside (weight: --opt trust_weight=W) [report].")
@click.option("--estimator", type=click.Choice(["st", "expectation", "reinforce", "exact"]),
              help="st: straight-through (the paper); expectation: exact, additive costs; reinforce: any cost; "
                   "exact: sum over every architecture of a small space (nb201), any cost [st].")
@click.option("--samples", type=int, help="M, sub-architectures sampled per step [20].")
@click.option("--cost-noise", type=float, help="sigma of N(0, sigma) noise on predicted costs (paper: 0.025) [0].")
@click.option("--cost-noise-mode", type=click.Choice(["relative", "absolute"]), help="noise relative to the cost or in its unit [relative].")
@click.option("--cost-scale", type=click.Choice(["raw", "paper", "spread"]),
              help="paper: rescale costs so a random architecture costs 30, the paper's ms, so its lambdas transfer; "
                   "spread: so random architectures' costs have a standard deviation of 10, the same pressure per "
                   "lambda on any device [raw].")
@click.option("--regularizer", type=click.Choice(["none", "beta"]),
              help="Collapse remedy on the architecture weights: beta (beta-DARTS) [none].")
@click.option("--regularizer-weight", type=float, help="Final weight of the regularizer [beta: 50].")
@click.option("--relaxation", type=click.Choice(["softmax", "dirichlet", "gumbel"]),
              help="How alpha mixes operations: softmax (DARTS), dirichlet (DrNAS: a Dirichlet draw "
                   "each step, a collapse remedy) or gumbel (GDAS: one operation per edge drawn each step "
                   "and computed alone) [softmax].")
@click.option("--temperature", type=float, nargs=2, metavar="FIRST LAST",
              help="The gumbel relaxation's temperature, annealed linearly over the epochs [GDAS: 10 0.1].")
@click.option("--accuracy-table", metavar="FILE[:COLUMN]",
              help="True accuracies (e.g. NAS-Bench-201's): record the derived cell's, its true cost and regret.")
@click.option("--calibrate", type=int, help="Measure N architectures here and fit the cost before searching.")
@click.option("--cost-setting", help="Setting the cost is looked up or calibrated in (default: the cost's own).")
@click.option("--cost-batch-size", type=int, help="Batch size of the cost's measurements.")
@channels_option("Supernet channels [space default, 16].")
@click.option("--layers", type=int, help="Supernet cells [space default].")
@click.option("--epochs", type=int, help="Epochs (per stage) [space default].")
@click.option("--batch-size", type=int, help="Batch size [space default: darts 64, pcdarts 256].")
@click.option("--lr", "learning_rate", type=float, help="Weight learning rate [space default].")
@click.option("--arch-lr", "arch_learning_rate", type=float, help="Architecture learning rate [space default].")
@click.option("--order", type=click.Choice(["first", "second"]), help="First or second (unrolled) order [space default].")
@click.option("--arch-frozen-epochs", type=int, help="Epochs before architecture updates start [pcdarts 15].")
@click.option("--train-portion", type=float, help="Share of the training split for weights [0.5].")
@click.option("--max-steps", type=int, help="Cap on steps per epoch (quick runs).")
@click.option("--max-train-samples", type=int, help="Use only this many training images.")
@click.option("--seed", type=SEED, help="Random seed [0].")
@click.option("--device", help="auto, cpu or cuda [auto].")
@threads_option
@click.option("--opt", "opts", multiple=True, metavar="KEY=VALUE", help="Any other search option (see docs/search.md).")
@_common
@config_option
def search_cmd(**kw: Any) -> None:
    """Latency-aware differentiable architecture search (the paper's LA-DARTS family)."""
    out, resume, force, as_json, quiet = (kw.pop(k) for k in ("out", "resume", "force", "as_json", "quiet"))
    data = parse_kv(kw.pop("opts"), "--opt")
    data_opts = parse_kv(kw.pop("data_opts"), "--data-opt")
    space_opts = parse_kv(kw.pop("space_opts"), "--space-opt")
    if space_opts:
        data["space_options"] = {**data.get("space_options", {}), **space_opts}
    if data_opts:
        data["dataset_options"] = {**data.get("dataset_options", {}), **data_opts}
    costs = list(kw.pop("costs"))
    if costs:
        data["costs"] = costs
    lam = kw.pop("lam")
    if lam is not None:
        if lam < 0:
            raise NascostError(f"--lambda must be >= 0 (got {lam})")
        data["lambda"] = lam
    for key, value in kw.items():
        if value is not None:
            data[key] = value
    _run(data, out, resume, force, as_json, quiet)


@click.command("quickstart")
@lambda f: _common(f, "runs/quickstart")
@threads_option
@config_option
def quickstart_cmd(out: str | None, resume: bool, force: bool, as_json: bool, quiet: bool,
                   threads: int | None) -> None:
    """The README quick start: calibrate a CPU LPM here, search pcdarts on digits, measure the result.

    Offline, a few minutes on 2 CPU cores. Same as: nascost search --space pcdarts --dataset digits
    --cost cpu-paired-lpm --lambda 0.2 --cost-scale paper --calibrate 300 --cost-setting cifar-small --channels 8 --layers 5 --epochs 4
    --batch-size 64 --lr 0.1 --arch-lr 3e-3 --arch-frozen-epochs 1 --threads 1
    --opt 'cost_setting_overrides={"channels": 8, "layers": 5, "input_size": 8, "in_channels": 1}'
    --opt 'calibrate_measurer_options={"warmup": 2, "runs": 10}'
    --opt 'calibrate_predictor_options={"target_scaling": "log"}'.
    """
    settings = {**QUICKSTART, **({"threads": threads} if threads else {})}
    if not quiet:
        console.print("quick start settings: " + json.dumps(settings), highlight=False, markup=False)
    _run(settings, out or "runs/quickstart", resume, force, as_json, quiet)


@click.command("derive")
@click.argument("runs", nargs=-1, required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("-o", "--out", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the derived genotype here (JSON, as genotype.json; 'nascost train' reads it).")
@click.option("--target", type=COST, help="A budget, e.g. 18ms: derive the most probable architecture predicted within it.")
@click.option("--cost", "cost", help="The cost --target is for: a cost name or predictor file [the first run's first cost].")
@combine_option
@click.option("--opt", "opts", multiple=True, metavar="KEY=VALUE",
              help="supernet_options={...}: override the runs' supernet options for the derivation "
                   "(e.g. nb201's max_skip_connect).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def derive_cmd(runs: tuple[Path, ...], out: Path | None, target: str | None, cost: str | None, combine: str,
               opts: tuple[str, ...], as_json: bool) -> None:
    """Derive one architecture from finished searches' final architecture weights.

    With several RUNS (search output directories of one space and supernet, e.g. seeds), the
    architecture comes from the mean (--combine median: the median) of their architecture
    probabilities: a seed ensemble, steadier than any one search at small scale (see docs/search.md). With one run it
    re-derives that run's architecture. With --target, it is the most probable architecture
    whose predicted cost meets the budget (spaces small enough to enumerate, e.g. nb201): one
    set of searches, a cell per device and budget in seconds.
    """
    from nascost import plugins
    from nascost.derive import derive_from_runs
    from nascost.files import write_text
    from nascost.penalty import check_target

    if cost is not None and target is None:
        raise click.UsageError("--cost names the cost of --target; give --target too, e.g. --target 18ms")
    if target is not None:
        check_target(target)
    options = parse_kv(opts, "--opt")
    other = sorted(set(options) - {"supernet_options"})
    if other:
        raise NascostError(f"derive takes --opt supernet_options={{...}} only, not {', '.join(other)}; the other "
                           "search options are the runs' own")
    supernet = options.get("supernet_options", {})
    if not isinstance(supernet, dict):
        raise NascostError("--opt supernet_options must be a JSON object, e.g. 'supernet_options={\"max_skip_connect\": 2}'")
    arch, report = derive_from_runs(list(runs), target=target, cost=cost, combine=combine,
                                    supernet_options=supernet or None)
    text = plugins.get_space(arch.space).format_arch(arch)
    if out is not None:
        write_text(out, json.dumps({"space": arch.space, **arch.spec}, indent=2))
    if as_json:
        echo_json({"space": arch.space, "arch": text, "genotype": arch.spec, **report})
        return
    for run, each in zip(report["runs"], report["each"], strict=True):
        click.echo(f"{run}: {each}")
    w = report["weights"]
    budget = report.get("target")
    if budget is not None:
        unit = budget["unit"]
        click.echo(f"unconstrained: {budget['unconstrained']}, predicted {budget['unconstrained_predicted']:.4g} "
                   f"{unit} on {budget['cost']}")
        if budget["binding"]:
            click.echo(f"target {budget['value']:.4g} {unit}: the unconstrained architecture is over it; the most "
                       f"probable one within it is predicted {budget['predicted']:.4g} {unit}")
        else:
            click.echo(f"target {budget['value']:.4g} {unit}: the unconstrained architecture meets it")
    click.echo(f"derived from {len(runs)} run(s)" + (f" ({combine})" if len(runs) > 1 else "") + f": {text}")
    if w:
        click.echo(f"combined weights: entropy {100 * w['entropy_share']:.1f}% of the uniform's, "
                   f"closest two operations {w['min_gap']:.3g} apart, median gap {w['median_gap']:.3g}")
    if out is not None:
        click.echo(f"wrote {out}")


def register(cli: click.Group) -> None:
    cli.add_command(search_cmd)
    cli.add_command(derive_cmd)
    cli.add_command(quickstart_cmd)
