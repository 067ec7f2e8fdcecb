"""``nascost train``: train a derived architecture with the references' evaluation protocol."""

from __future__ import annotations

import click

from nascost import plugins
from nascost.cli.output import SEED, console, echo_json, parse_kv, progress, threads_option
from nascost.config import config_option


@click.command("train")
@click.argument("genotype")
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
    genotype: str,
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
    accuracy, params, params with the auxiliary head, MACs) into --out.
    """
    from nascost.train import make_config, resolve_architecture, train

    config = make_config(
        preset,
        **parse_kv(sets, "--set"),
        epochs=epochs, batch_size=batch_size, lr=lr, channels=channels, layers=layers,
        seed=seed, max_steps=max_steps, workers=workers, threads=threads,
    )  # fmt: skip
    space_obj, arch = resolve_architecture(genotype, space)
    data = plugins.get_dataset(dataset, parse_kv(data_opts, "--data-opt"))
    summary = train(
        space_obj, arch, data, out, config,
        resume=resume,
        progress=None if as_json else (lambda: progress("step", transient=True)),
        log=lambda msg: console.print(msg, highlight=False),
        extra={"dataset": dataset, "genotype_ref": genotype},
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
