"""``nascost sweep``: a lambda sweep of searches, measured (and trained) derived cells, one report."""

from __future__ import annotations

import click

from nascost.cli.output import (
    channels_option,
    combine_option,
    console,
    echo_json,
    parse_kv,
    space_opt_option,
    threads_option,
)
from nascost.config import config_option


@click.command("sweep")
@click.option("--space", default="pcdarts", show_default=True, help="Search space with a supernet.")
@space_opt_option
@click.option("--cost", "costs", multiple=True, required=True, metavar="NAME",
              help="Cost of the searches (cost-store name such as cpu-lpm, or a predictor file).")
@click.option("--lambdas", default="0,0.1,0.2", show_default=True, help="Comma-separated lambdas, one search each.")
@click.option("--seeds", type=click.IntRange(min=1), default=1, show_default=True,
              help="Searches per lambda (seeds seed, seed+1, ...); their mean architecture weights derive the "
                   "lambda's cell (as 'nascost derive'), in runs/lambda_<L>-combined/.")
@combine_option
@click.option("--dataset", default="digits", show_default=True, help="Search dataset.")
@click.option("--data-opt", "data_opts", multiple=True, metavar="KEY=VALUE",
              help="Dataset option, e.g. --data-opt input_size=16 for imagefolder (as in 'nascost search').")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Sweep directory.")
@click.option("--executor", type=click.Choice(["local", "ray"]), default="local", show_default=True,
              help="Run the searches here one after another, or as Ray Tune trials.")
@click.option("--resources", "resources", default="cpu=1", show_default=True, metavar="KIND=N,...",
              help="Ray resources per trial, e.g. cpu=4,gpu=1.")
@click.option("--calibrate", type=int, default=0, help="Measure N architectures here and fit the cost first.")
@click.option("--epochs", type=int, default=None, help="Search epochs (per stage).")
@channels_option("Supernet channels.")
@click.option("--layers", type=int, default=None, help="Supernet cells.")
@click.option("--batch-size", type=int, default=None, help="Search batch size.")
@click.option("--max-steps", type=int, default=None, help="Cap on search steps per epoch.")
@click.option("--accuracy-table", metavar="FILE[:COLUMN]",
              help="True accuracies: each search records its derived cell's, its true cost and regret; the report "
                   "draws them on the device's true front.")
@click.option("--search-opt", "search_opts", multiple=True, metavar="KEY=VALUE",
              help="Any other search option (see 'nascost config schema search'), e.g. arch_learning_rate=0.003.")
@click.option("--train", "train_preset", type=click.Choice(["quick", "cifar", "imagenet"]), default=None,
              help="Train each derived architecture with this preset.")
@click.option("--train-dataset", default=None, help="Dataset for --train (default: the search dataset).")
@click.option("--train-set", "train_sets", multiple=True, metavar="KEY=VALUE",
              help="Training option, e.g. --train-set epochs=3.")
@click.option("--train-seeds", type=int, default=1, show_default=True,
              help="Trainings per derived architecture (seeds seed, seed+1, ...); the report shows their mean and "
                   "spread. Short trainings vary by points between seeds.")
@click.option("--measurer-opt", "measurer_opts", multiple=True, metavar="KEY=VALUE",
              help="Option of the cost's measurer when measuring derived and reference cells.")
@threads_option
@click.option("--no-references", is_flag=True, help="Do not measure the space's published cells.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bars or per-step lines.")
@click.option("--json", "as_json", is_flag=True, help="Print the sweep record as JSON.")
@config_option
def sweep_cmd(
    space: str, space_opts: tuple[str, ...], costs: tuple[str, ...], lambdas: str, dataset: str, data_opts: tuple[str, ...], out: str, executor: str, resources: str,
    calibrate: int, epochs: int | None, C: int | None, layers: int | None, batch_size: int | None,
    max_steps: int | None, accuracy_table: str | None, search_opts: tuple[str, ...], train_preset: str | None, train_dataset: str | None,
    train_sets: tuple[str, ...], train_seeds: int, seeds: int, combine: str, measurer_opts: tuple[str, ...], threads: int | None, no_references: bool, quiet: bool, as_json: bool,
) -> None:
    """Search once per lambda, measure each derived cell (and the published cells) here, report.

    Writes DIR/sweep.json, DIR/runs/lambda_<L>/ (search outputs, measurement.json, train/ and
    train-seed<K>/ with --train-seeds; lambda_<L>-seed<K>/ and lambda_<L>-combined/ with --seeds),
    DIR/references.json and DIR/report.html. Running the same command again resumes.
    """
    from nascost.sweep import parse_lambdas, run_sweep

    search = {k: v for k, v in {"epochs": epochs, "C": C, "layers": layers, "batch_size": batch_size,
                                "max_steps": max_steps, "threads": threads}.items() if v is not None}  # fmt: skip
    search.update(parse_kv(search_opts, "--search-opt"))
    if accuracy_table:
        search["accuracy_table"] = accuracy_table
    if space_opts:
        search["space_options"] = {**search.get("space_options", {}), **parse_kv(space_opts, "--space-opt")}
    if data_opts:
        search["dataset_options"] = {**search.get("dataset_options", {}), **parse_kv(data_opts, "--data-opt")}
    res = {k: float(v) for k, v in parse_kv(resources.split(",") if resources else [], "--resources").items()}

    def log(msg: str) -> None:
        if not quiet:
            console.print(msg, highlight=False, markup=False)

    record = run_sweep(
        space=space, costs=list(costs), lambdas=parse_lambdas(lambdas), out=out, dataset=dataset,
        search_options=search, calibrate=calibrate, train_preset=train_preset, train_dataset=train_dataset,
        train_options={**({"threads": threads} if threads else {}), **parse_kv(train_sets, "--train-set")},
        train_seeds=train_seeds, seeds=seeds, combine=combine, references=not no_references,
        measurer_options=parse_kv(measurer_opts, "--measurer-opt"), executor=executor, resources=res,
        show_progress=not quiet and not as_json, log=log,
    )  # fmt: skip
    if as_json:
        echo_json(record)
    else:
        click.echo(f"sweep of {len(record['lambdas'])} lambda(s) done; report: {record['report']}")


def register(cli: click.Group) -> None:
    cli.add_command(sweep_cmd)
