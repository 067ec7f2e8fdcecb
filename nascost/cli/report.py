"""``nascost report``: one self-contained HTML page from search, training and sweep directories."""

from __future__ import annotations

import click

from nascost.cli.output import echo_json
from nascost.config import config_option


@click.command("report")
@click.argument("run_dirs", nargs=-1, required=True, type=click.Path(file_okay=False))
@click.option("-o", "--output", default="report.html", show_default=True, type=click.Path(dir_okay=False),
              help="HTML file to write; its PNGs go next to it.")
@click.option("--title", default=None, help="Title of the page.")
@click.option("--accuracy-table", metavar="FILE[:COLUMN]",
              help="True accuracies: score every derived cell and draw it on its device's true Pareto front.")
@click.option("--json", "as_json", is_flag=True, help="Print the written files as JSON.")
@config_option
def report_cmd(run_dirs: tuple[str, ...], output: str, title: str | None, accuracy_table: str | None,
               as_json: bool) -> None:
    """Report on RUN_DIRS (search, training or sweep directories) in one HTML file.

    Places every measured run on an accuracy vs measured cost plot beside the space's reference
    cells (a training given with its search joins that search's row), and shows each search's
    options, its costs' predictor quality, the derived cells, architecture-weight evolution, loss
    and accuracy curves and predicted vs measured cost. Images are embedded, so the file opens
    in a browser without a server.
    """
    from nascost.report import build_report

    result = build_report(list(run_dirs), output, title=title, accuracy_table=accuracy_table)
    if as_json:
        echo_json(result)
        return
    click.echo(f"wrote {result['report']} ({len(result['images'])} images, {len(result['runs'])} runs)")


def register(cli: click.Group) -> None:
    cli.add_command(report_cmd)
