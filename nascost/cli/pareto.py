"""``nascost pareto``: a device's true accuracy-cost front, and the regret of given cells."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from nascost.cli.output import echo_json, get_space, print_table, space_opt_option
from nascost.config import COST, config_option
from nascost.errors import NascostError


@click.command("pareto")
@click.option("--space", required=True, help="Search space (e.g. nb201).")
@space_opt_option
@click.option("--accuracy-table", "accuracy_table", required=True, metavar="FILE[:COLUMN]",
              help="True accuracies: CSV with an architecture column and accuracy columns (default: the first).")
@click.option("--db", required=True, type=click.Path(dir_okay=False), help="Cost database holding the device's costs.")
@click.option("--device", help="Device of the rows: fingerprint (prefix) or name (a table's column).")
@click.option("--measurer", help="Measurer of the rows.")
@click.option("--setting", help="Setting of the rows.")
@click.option("--batch-size", type=int, help="Batch size of the rows.")
@click.option("--budget", "budget_texts", multiple=True, type=COST, metavar="COST",
              help="Print the most accurate cell within this cost, e.g. 13ms, or a number in the rows' unit "
                   "(repeatable; default: spread over the front).")
@click.option("--points", type=click.IntRange(min=2), default=12, show_default=True,
              help="Front cells to print when no --budget is given.")
@click.option("--arch", "archs", multiple=True, metavar="ARCH",
              help="A cell to judge: its cost, accuracy and regret to the front (repeatable).")
@click.option("--merge-equivalent", "merge", is_flag=True,
              help="Give every cell the mean accuracy of the cells that compute the same function "
                   "(the table's training noise averaged out) before building the front.")
@click.option("--plot", "plot", type=click.Path(dir_okay=False), help="Draw every cell, the front and --arch cells to PNG.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@config_option
def pareto_cmd(space: str, space_opts: tuple[str, ...], accuracy_table: str, db: str, device: str | None, measurer: str | None,
               setting: str | None, batch_size: int | None, budget_texts: tuple[str, ...], points: int,
               archs: tuple[str, ...], merge: bool, plot: str | None, as_json: bool) -> None:
    """The true Pareto front of a device: the most accurate cell for any cost budget, and regrets.

    The regret of a cell is how many accuracy points the front gains at the same or lower
    cost. Costs come from the database's rows of one device (a measured campaign or an
    imported table); accuracies from the accuracy table. With --merge-equivalent each cell's
    accuracy is the mean over the cells that compute the same function (NAS-Bench-201 trained
    them separately, so their spread is the table's noise).
    """
    from nascost.fit import load_data
    from nascost.pareto import build_front, merge_equivalent, plot_front
    from nascost.penalty import parse_target
    from nascost.tables import read_accuracy_table

    sp = get_space(space, space_opts, db=db)
    if plot is not None:
        from nascost.files import check_output

        check_output(plot, [db, accuracy_table if Path(accuracy_table).exists() else accuracy_table.rpartition(":")[0]],
                     option="--plot")
    if plot is not None and not Path(plot).parent.exists():
        raise NascostError(f"directory {str(Path(plot).parent)!r} does not exist")
    judged = [sp.resolve(a) for a in archs]
    acc = read_accuracy_table(accuracy_table, sp)
    data = load_data(db, space=sp.name, setting=setting, device=device, measurer=measurer, batch_size=batch_size)
    budgets = [parse_target(b, data.unit, what="--budget") for b in budget_texts]  # as --target: 13ms, 0.013s or 13 in the rows' unit
    costs = dict(zip(data.keys, (float(v) for v in data.values), strict=True))
    accs, functions = merge_equivalent(acc.values, acc.names, sp) if merge else (acc.values, None)
    front = build_front(costs, accs, names=acc.names, unit=data.unit)
    chosen = [front.best_within(b) for b in budgets] if budgets else front.thinned(points)
    rows = []
    for b, i in zip(budgets or [None] * len(chosen), chosen, strict=True):
        rows.append({"budget": b, **(front.point(i) if i is not None else {"arch": None, "cost": None, "accuracy": None})})
    judgements = []
    for text, arch in zip(archs, judged, strict=True):
        key = arch.key()
        if key not in costs:
            raise NascostError(f"{text!r} has no cost in the selected rows of {db!r}")
        if key not in acc.values:
            raise NascostError(f"{text!r} is not in the accuracy table {str(acc.path)!r}")
        judgements.append({"arch": sp.format_arch(arch), **front.judge(key, costs[key], accs[key])})
    written = None
    if plot is not None:
        pts = [{"cost": j["cost"], "accuracy": j["accuracy"], "label": j["arch"] if len(judgements) <= 3 else None,
                "group": "given cells"} for j in judgements]
        written = str(plot_front(front, plot, points=pts, title=f"{data.device.label()}: true front ({acc.label()})"))
    result: dict[str, Any] = {
        "device": data.device.label(), "unit": data.unit, "accuracy": acc.label(), "cells": len(front),
        "front_size": len(front.front), "front": rows, "judged": judgements, "plot": written,
        "merged_functions": functions,
    }
    if as_json:
        echo_json(result)
        return
    click.echo(f"{data.device.label()}: {len(front):,} cells with a cost and an accuracy ({acc.label()}), "
               f"{len(front.front)} on the true front"
               + (f"; accuracies are means over the {functions:,} functions they compute" if merge else ""))
    header = ([f"budget ({data.unit})"] if budgets else []) + [f"cost ({data.unit})", "accuracy %", "cell"]
    print_table(
        "most accurate cell within each budget" if budgets else "the true front (cheapest first)", header,
        [([_f(r["budget"])] if budgets else []) + [_f(r["cost"]), _f(r["accuracy"]), r["arch"] or "none within budget"]
         for r in rows],
    )
    for j in judgements:
        pick, cheaper = j["front_pick"] or {}, j["cheapest_as_accurate"] or {}
        click.echo(
            f"{j['arch']}: cost {_f(j['cost'])} {data.unit}, accuracy {_f(j['accuracy'])}%, regret {j['regret']:.2f}"
            + (" (on the front)" if j["on_front"] else
               f"; the front offers {_f(pick.get('accuracy'))}% at {_f(pick.get('cost'))} {data.unit}"
               f" ({pick.get('arch')}), or the same accuracy for {_f(cheaper.get('cost'))} {data.unit}")
        )
    if written:
        click.echo(f"wrote {written}")


def _f(v: Any) -> str:
    return "-" if v is None else f"{v:.4g}"


def register(cli: click.Group) -> None:
    cli.add_command(pareto_cmd)
