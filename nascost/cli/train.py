"""``nascost train``: train a derived architecture with the references' evaluation protocol."""

from __future__ import annotations

import click

from nascost import plugins
from nascost.cli.output import SEED, console, echo_json, parse_kv, progress, threads_option
from nascost.config import config_option


@click.command("train")
@click.argument("genotype", required=False)
@click.option("--from-search", "from_search_dir", default=None, type=click.Path(file_okay=False),
              help="Train the cell a finished search derived (DIR/genotype.json, in the search's space) and "
                   "record the link, so 'nascost report DIR OUT' shows its test accuracy on that search.")
@click.option("--dataset", default="cifar10", show_default=True,
              help="Dataset name: cifar10, cifar100, digits, synthetic, imagefolder:PATH.")
@click.option("--space", default=None,
              help="Search space of GENOTYPE (default: the space a genotype.json names, else darts).")
@click.option("--preset", type=click.Choice(["cifar", "imagenet", "quick"]), default="cifar", show_default=True,
              help="Evaluation protocol: the references' CIFAR or ImageNet recipe, or a CPU-scale one.")
@click.option("--out", "out", required=True, type=click.Path(file_okay=False), help="Run directory.")
@click.option("--epochs", type=int, default=None, help="Override the preset's number of epochs.")
@click.option("--batch-size", type=int, default=None, help="Override the preset's batch size.")
@click.option("--lr", type=float, default=None, help="Override the preset's initial learning rate.")
@click.option("--channels", type=int, default=None, help="Override the preset's initial channels C.")
@click.option("--layers", type=int, default=None, help="Override the preset's number of cells.")
@click.option("--seed", type=SEED, default=None, help="Random seed (default 0).")
@click.option("--max-steps", type=click.IntRange(min=1), default=None,
              help="Cap training steps per epoch and test batches per evaluation (smoke tests).")
@click.option("--workers", type=int, default=None, help="Data-loader worker processes (default 0).")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
              help="Any other training option, e.g. --set cutout=0 --set drop_path_prob=0.3.")
@click.option("--data-opt", "data_opts", multiple=True, metavar="KEY=VALUE", help="Dataset option.")
@threads_option
@click.option("--resume", is_flag=True, help="Continue the run in --out from its last finished epoch.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@config_option
def train_cmd(
    genotype: str | None,
    from_search_dir: str | None,
    dataset: str,
    space: str | None,
    preset: str,
    out: str,
    epochs: int | None,
    batch_size: int | None,
    lr: float | None,
    channels: int | None,
    layers: int | None,
    seed: int | None,
    max_steps: int | None,
    workers: int | None,
    sets: tuple[str, ...],
    data_opts: tuple[str, ...],
    threads: int | None,
    resume: bool,
    as_json: bool,
) -> None:
    """Train GENOTYPE (a preset name or a genotype.json) from scratch and report its test accuracy.

    Writes config.json, metrics.jsonl, checkpoint.pt, model.pt and summary.json (final test
    accuracy, params, params with the auxiliary head, MACs) into --out. A genotype.json of a
    search run (or --from-search DIR) records that search as the origin (search_dir).
    """
    from nascost.errors import NascostError
    from nascost.train import from_search, make_config, resolve_architecture, search_origin, train

    if genotype is None and from_search_dir is None:
        raise NascostError("give GENOTYPE (a preset name or a genotype.json) or --from-search DIR")
    if genotype is not None and from_search_dir is not None:
        raise NascostError(f"give GENOTYPE or --from-search DIR, not both (got {genotype!r} and {from_search_dir!r})")

    config = make_config(
        preset,
        **parse_kv(sets, "--set"),
        epochs=epochs, batch_size=batch_size, lr=lr, channels=channels, layers=layers,
        seed=seed, max_steps=max_steps, workers=workers, threads=threads,
    )  # fmt: skip
    if from_search_dir is not None:
        space_obj, arch, origin = from_search(from_search_dir, space)
        genotype = str(origin / "genotype.json")
    else:
        space_obj, arch = resolve_architecture(genotype, space)
        origin = search_origin(genotype)
    data = plugins.get_dataset(dataset, parse_kv(data_opts, "--data-opt"))
    summary = train(
        space_obj, arch, data, out, config,
        resume=resume,
        progress=None if as_json else (lambda: progress("step", transient=True)),
        log=lambda msg: console.print(msg, highlight=False),
        extra={"dataset": dataset, "genotype_ref": genotype}, search_dir=origin,
    )  # fmt: skip
    if as_json:
        echo_json(summary)
        return
    click.echo(
        f"test accuracy {summary['test_acc']:.2f}% (best {summary['best_test_acc']:.2f}%) after "
        f"{summary['epochs']} epochs; params {summary['params'] / 1e6:.3f}M "
        f"({summary['params_with_aux'] / 1e6:.3f}M with auxiliary head), MACs {summary['macs'] / 1e6:.1f}M; "
        f"summary in {out}/summary.json"
    )


def register(cli: click.Group) -> None:
    cli.add_command(train_cmd)
