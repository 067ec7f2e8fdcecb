"""``nascost measure``, ``nascost collect``, ``nascost data info|export``: measuring costs."""

from __future__ import annotations

import json
from pathlib import Path

import click

from nascost import plugins
from nascost.cli.output import (
    SEED,
    FiniteFloat,
    echo_json,
    get_space,
    parse_kv,
    print_table,
    space_opt_option,
)
from nascost.config import config_option
from nascost.errors import NascostError


def _setting(space, name: str | None, channels: int | None, layers: int | None, input_size: int | None):
    """The named setting (default: the space's first) with size overrides."""
    if name is None:
        name = space.default_setting_name()
    return space.setting(name, channels=channels, layers=layers, input_size=input_size)


def _measurer_options(measurer: str, opts: tuple[str, ...], runs: int | None, warmup: int | None) -> dict:
    options = parse_kv(opts, "--opt")
    cls = plugins.get("measurers", measurer)
    for key, value in (("runs", runs), ("warmup", warmup)):
        if value is None:
            continue
        if key not in cls.Options.model_fields:
            raise NascostError(f"measurer {measurer!r} takes no --{key} (options: {', '.join(cls.Options.model_fields) or 'none'})")
        options[key] = value
    return options


_size_options = [
    click.option("--setting", default=None, help="Named setting of the space (default: the space's first setting)."),
    click.option("--channels", type=click.IntRange(min=1), default=None, help="Override the setting's initial channels."),
    click.option("--layers", type=click.IntRange(min=1), default=None, help="Override the setting's number of cells."),
    click.option("--input-size", type=click.IntRange(min=1), default=None, help="Override the setting's input resolution."),
    click.option("--batch-size", type=click.IntRange(min=1), default=None, help="Batch size (default: the measurer's)."),
    click.option("--runs", type=click.IntRange(min=1), default=None, help="Timed runs per attempt (default 20)."),
    click.option("--warmup", type=click.IntRange(min=0), default=None, help="Warm-up runs (default 5)."),
    click.option("--opt", "opts", multiple=True, metavar="KEY=VALUE", help="Measurer option (repeatable)."),
]


def _with_size_options(f):
    for opt in reversed(_size_options):
        f = opt(f)
    return f


@click.command("measure")
@click.argument("genotype")
@click.option("--measurer", help="Cost measurer (see 'nascost list measurers'); with --like: the predictor's.")
@click.option("--space", default="darts", show_default=True, help="Search space.")
@space_opt_option
@click.option("--like", "like", metavar="COST",
              help="Measure as a cost predictor's data were (a predictor file or cost-store name): its setting, "
                   "batch size, measurer and paired-timing scale; prints its prediction beside the measurement.")
@_with_size_options
@click.option("--json", "as_json", is_flag=True, help="Print the measurement as JSON.")
@config_option
def measure_cmd(genotype: str, measurer: str | None, space: str, space_opts: tuple[str, ...], like: str | None, setting: str | None,
                channels: int | None, layers: int | None, input_size: int | None, batch_size: int | None,
                runs: int | None, warmup: int | None, opts: tuple[str, ...], as_json: bool) -> None:
    """Measure one architecture (a preset name or a genotype JSON file)."""
    from nascost.collect import default_batch_size, measure_one

    sp = get_space(space, space_opts)
    arch = sp.resolve(genotype)
    anchor = predicted = None
    if like is not None:
        from nascost.cost import load_cost

        if any(v is not None for v in (setting, channels, layers, input_size, batch_size)):
            raise NascostError("--like measures in the predictor's setting and batch size: drop "
                               "--setting/--channels/--layers/--input-size/--batch-size")
        pred, meta = load_cost(like, space=sp)
        if meta.setting is None:
            raise NascostError(f"{like!r} records no setting to measure in; use --setting instead of --like")
        measurer = measurer or meta.measurer
        if measurer is None:
            raise NascostError(f"{like!r} records no measurer; pass --measurer")
        st, batch_size, anchor = meta.setting, meta.batch_size, meta.reference_latency
        if measurer == meta.measurer and meta.measurer_options:
            opts = tuple(f"{k}={json.dumps(v)}" for k, v in meta.measurer_options.items()) + opts
        predicted = float(pred.predict(sp.encode([arch])).reshape(-1)[0])
    elif measurer is None:
        raise NascostError("pass --measurer NAME (or --like COST to measure as a predictor's data were)")
    else:
        st = _setting(sp, setting, channels, layers, input_size)
    m = plugins.get_measurer(measurer, _measurer_options(measurer, opts, runs, warmup))
    m.require_available()
    batch = batch_size or default_batch_size(m)
    result, _ = measure_one(sp, m, arch, st, batch, anchor=anchor)
    if as_json:
        out = {"space": sp.name, "arch_key": arch.key(), "measurer": m.name, "setting": st.model_dump(),
               **result.model_dump(), "relative_iqr": result.relative_iqr}
        if like is not None:
            out["like"] = {"cost": like, "predicted": predicted, "anchor": anchor}
        echo_json(out)
        return
    print_table(
        f"{m.name}: {genotype} in {st.label()}, batch {batch}",
        ["median", "IQR", "p90", "mean", "std", "cv", "n", "attempts", "noisy"],
        [[f"{result.median:.4g} {result.unit}", f"{result.iqr:.3g}", f"{result.p90:.4g}", f"{result.mean:.4g}",
          f"{result.std:.3g}", f"{result.cv:.3f}", result.n, result.attempts, result.noisy]],
    )
    click.echo(f"device: {result.device.label()}")
    if like is not None:
        scale = f" (paired timing on its scale: reference = {anchor:.4g} {result.unit})" if anchor else ""
        click.echo(f"{like} predicts {predicted:.4g} {result.unit}{scale}")


@click.command("collect")
@click.option("--space", default="darts", show_default=True, help="Search space to sample from.")
@space_opt_option
@click.option("--measurer", default="cpu-timer", show_default=True, help="Cost measurer.")
@click.option("--n", "n", type=click.IntRange(min=1), required=True, help="Architectures to measure.")
@click.option("--db", "db", type=click.Path(dir_okay=False), required=True, help="Cost database (SQLite) to add to.")
@click.option("--seed", type=SEED, default=0, show_default=True, help="Sampling seed (re-run the same seed to resume).")
@_with_size_options
@click.option("--reference-every", type=click.IntRange(min=0), default=50, show_default=True,
              help="Re-measure the reference architecture every K architectures (0: off).")
@click.option("--drift-threshold", type=FiniteFloat(0, lo_open=True), default=0.05, show_default=True,
              help="Relative change of the reference that counts as drift.")
@click.option("--passes", type=click.IntRange(min=1), default=1, show_default=True,
              help="Visit every architecture this many times, in separate passes, pooling the samples "
                   "(spreads each over separate times; re-run with a higher value to add passes).")
@click.option("--sampling", type=click.Choice(["uniform", "varied"]), default="uniform", show_default=True,
              help="With --plan random: uniform (the paper's), or varied: each architecture with its own operation "
                   "preferences, reaching the all-cheap and all-expensive corners searches derive (a supplement).")
@click.option("--plan", type=click.Choice(["random", "transfer"]), default="random", show_default=True,
              help="Which architectures: sampled at random, or the N a transfer from --transfer-from needs most.")
@click.option("--transfer-from", "transfer_from", multiple=True, metavar="SOURCES",
              help="With --plan transfer: the source devices (as for 'nascost fit --transfer-from').")
@click.option("--executor", type=click.Choice(["local", "ray"]), default="local", show_default=True,
              help="Where to measure: this process, or Ray workers (extra 'ray').")
@click.option("--ray-address", default=None, help="Ray cluster address (default: start a local Ray).")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@config_option
def collect_cmd(space: str, space_opts: tuple[str, ...], measurer: str, n: int, db: str, seed: int, setting: str | None,
                channels: int | None, layers: int | None, input_size: int | None, batch_size: int | None,
                runs: int | None, warmup: int | None, opts: tuple[str, ...], reference_every: int,
                drift_threshold: float, passes: int, sampling: str, plan: str, transfer_from: tuple[str, ...], executor: str,
                ray_address: str | None, quiet: bool, as_json: bool) -> None:
    """Measure N architectures into a cost database (resumable: re-run to continue).

    The architectures are sampled from --seed, or with --plan transfer chosen for a
    transfer from other devices (the N that pin down the new device best).
    """
    from nascost.collect import check_campaign_size, run_campaign, validate_campaign

    check_campaign_size(n)
    sp = get_space(space, space_opts)
    st = _setting(sp, setting, channels, layers, input_size)
    options = _measurer_options(measurer, opts, runs, warmup)
    m = plugins.get_measurer(measurer, options)
    archs = None
    if plan == "transfer":
        if not transfer_from:
            raise NascostError("--plan transfer chooses architectures for a transfer: add --transfer-from SOURCES")
        validate_campaign(db, sp, m, here=executor == "local")
        from nascost.transfer import load_sources, plan_architectures

        sources = load_sources(transfer_from, sp, seed=seed)
        archs = plan_architectures(sp, sources, n, seed=seed)
    elif transfer_from:
        raise NascostError("--transfer-from chooses the architectures of --plan transfer; add --plan transfer")
    if plan == "transfer" and sampling != "uniform":
        raise NascostError("--sampling draws random architectures; --plan transfer chooses them: drop --sampling")
    summary = run_campaign(
        db, space=sp, measurer=m, setting=st, n=n, seed=seed, batch_size=batch_size,
        reference_every=reference_every, drift_threshold=drift_threshold, executor=executor,
        progress=not quiet, measurer_options=options, ray_address=ray_address, passes=passes, archs=archs,
        sampling=sampling,
    )
    if as_json:
        echo_json(summary.to_dict())
        return
    s = summary
    visits = f"{s.measured} visits measured ({s.passes} passes)" if s.passes > 1 else f"{s.measured} measured"
    click.echo(
        f"{visits}, {s.already_present} already in {s.db} (group now {s.group_count} rows); "
        f"{s.space}/{s.measurer} {st.label()} batch {s.batch_size} device {s.device}"
    )
    click.echo(
        f"wall {s.wall_s:.1f} s, in measure() {s.measure_s:.1f} s, reference {s.reference_s:.1f} s; "
        f"{s.per_hour:.0f} {'visits' if s.passes > 1 else 'arch'}/h; noisy {s.noisy}; drift events {len(s.drift_events)}, rows flagged {s.flagged}"
    )
    for ev in s.drift_events:
        click.echo(
            f"  drift {ev['drift']:+.1%} after {ev['after']} architectures "
            f"(reference {ev['reference_median']:.4g} vs {ev['baseline_median']:.4g}): {ev['flagged_rows']} rows flagged"
        )


@click.group("data")
def data_group() -> None:
    """Cost databases: summary and export."""


@data_group.command("info")
@click.argument("db", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@config_option
def info_cmd(db: str, as_json: bool) -> None:
    """Rows, settings, devices, value distribution and noise per group."""
    from nascost.data import database_info

    info = database_info(db)
    if as_json:
        echo_json(info)
        return
    click.echo(f"{info['path']}: space {info['space']}, {info['count']} rows, schema v{info['schema_version']}")
    for i, g in enumerate(info["groups"], 1):
        d, noise, unit = g["distribution"], g["noise"], g["unit"]
        click.echo(f"\ngroup {i}: {g['measurer']} | {g['setting_label']} | batch {g['batch_size']} | {g['device']['label']}")
        click.echo(f"  rows {g['count']} ({noise['drift_flagged']} drift-flagged), unit {unit}")
        if d:
            q = d["quantiles"]
            click.echo(
                f"  values: min {_fmt(d['min'])}  q10 {_fmt(q['q10'])}  q25 {_fmt(q['q25'])}  median {_fmt(d['median'])}"
                f"  q75 {_fmt(q['q75'])}  q90 {_fmt(q['q90'])}  max {_fmt(d['max'])}"
            )
        if all(c["runs"]["max"] == 1 for c in g["campaigns"]):
            # one value per architecture (a device table, a count): there is no run-to-run noise to show
            click.echo("  one value per architecture (no repeated runs)")
        else:
            click.echo(
                f"  noise: median cv {_fmt(noise['median_cv'])}, median IQR/median {_fmt(noise['median_relative_iqr'])}, "
                f"noisy {noise['share_noisy']:.1%}, re-measured {noise['remeasured']}, "
                f"reference measurements {noise['reference_measurements']} (spread {_fmt(noise['reference_spread'])})"
            )
        v = noise["visits"]
        if v["max"] > 1:
            click.echo(f"  visits per row {v['min']}-{v['max']}; first two visits differ by "
                       f"{_fmt(v['between_visits'])} (median relative difference, {v['rows_with_two']} rows)")
        for c in g["campaigns"]:
            lo, hi = c["runs"]["min"], c["runs"]["max"]
            runs = f"{lo} runs" if lo == hi else f"{lo}-{hi} runs"
            click.echo(f"  campaign {c['id']}: {c['count']} rows ({c['noisy']} noisy), {runs}, "
                       f"{c['first']} to {c['last']}")


def _fmt(x) -> str:
    return "-" if x is None else f"{x:.4g}"


@data_group.command("export")
@click.argument("db", type=click.Path(dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(["csv", "parquet"]), default="csv", show_default=True)
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="File to write.")
@click.option("--no-samples", is_flag=True, help="Leave the raw samples out (smaller file).")
@click.option("--campaign", help="Only the rows of this campaign id ('nascost data info' lists them).")
@config_option
def export_cmd(db: str, fmt: str, output: str, no_samples: bool, campaign: str | None) -> None:
    """Write every row to CSV (gzip-compressed when FILE ends in .gz) or Parquet."""
    from nascost.data import export_database

    n = export_database(db, output, fmt=fmt, samples=not no_samples, campaign=campaign)
    click.echo(f"wrote {n} rows to {output}")


@data_group.command("import")
@click.argument("source", type=click.Path(dir_okay=False))
@click.option("--db", "db", required=True, type=click.Path(dir_okay=False), help="Cost database to add to (created if missing).")
@click.option("--space", help="Device tables: the search space of the architecture column (e.g. nb201).")
@space_opt_option
@click.option("--devices", help="Device tables: comma-separated columns to import (default: all).")
@click.option("--unit", default="ms", show_default=True,
              help="Device tables: unit of the values (s, ms, us are stored as ms; others as given).")
@click.option("--arch-column", help="Device tables: the column naming architectures (default: arch_str, arch, ...).")
@click.option("--index", type=click.Path(dir_okay=False),
              help="HELP .pt latency files: the architectures' order (str_arch2idx.pt, or a table in index order).")
@click.option("--setting", help="Device tables: the setting the costs were measured in (default: the space's).")
@click.option("--batch-size", type=click.IntRange(min=1), default=1, show_default=True,
              help="Device tables: the batch size the costs were measured at.")
@click.option("--json", "as_json", is_flag=True, help="Print what was imported as JSON.")
@config_option
def import_cmd(source: str, db: str, space: str | None, space_opts: tuple[str, ...], devices: str | None, unit: str, arch_column: str | None,
               index: str | None, setting: str | None, batch_size: int, as_json: bool) -> None:
    """Load a CSV export of a cost database, or a public device table, into a cost database.

    A nascost export (plain or .gz) is recognised by its columns; rows already there are
    skipped. Any other CSV is a device table (one architecture per row, one column per
    device, --space required): each column becomes a group measured by the 'table'
    measurer on a device named after the column and the file. HELP's per-device .pt
    latency files are read with --index. Nothing is written when any row is bad.
    """
    from nascost.data import import_csv
    from nascost.files import check_output

    check_output(db, [source, index], option="--db")
    if _is_export(source):
        given = [f for f, v in (("--devices", devices), ("--arch-column", arch_column), ("--index", index),
                                ("--setting", setting)) if v is not None]
        if given:
            raise NascostError(f"{source!r} is a nascost export (its rows carry their groups); {', '.join(given)} "
                               "apply to device tables only")
        added, skipped = import_csv(source, db, space_options=parse_kv(space_opts, "--space-opt") or None)
        if as_json:
            echo_json({"added": added, "skipped": skipped})
            return
        click.echo(f"added {added} rows to {db} ({skipped} already there)")
        return
    if space is None:
        raise NascostError(f"{source!r} is not a nascost export; to import it as a device table name its "
                           "search space with --space (e.g. --space nb201)")
    from nascost.data import import_table
    from nascost.tables import read_table

    sp = get_space(space, space_opts)
    st = sp.setting(setting or sp.default_setting_name())
    wanted = [d.strip() for d in devices.split(",") if d.strip()] if devices else None
    table = read_table(source, sp, columns=wanted, unit=unit, arch_column=arch_column, index=index)
    options = {}
    for column in table.columns:
        opts: dict = {"path": str(table.path.resolve()), "device": column}
        if arch_column:
            opts["arch_column"] = arch_column
        if index:
            opts["index"] = str(Path(index).resolve())
        if unit != "ms":
            opts["unit"] = unit
        options[column] = opts
    report = import_table(table, db, space=sp, setting=st, batch_size=batch_size, options=options)
    if as_json:
        echo_json({"table": str(table.path), "rows": len(table), "unit": table.unit, "setting": st.name,
                   "devices": report})
        return
    for r in report:
        click.echo(f"{r['device']}: added {r['added']} rows ({r['skipped']} already there), device "
                   f"{r['fingerprint']}, measurer 'table', setting {st.name}, batch {batch_size}")
    click.echo(f"imported {len(report)} device(s) of {table.path.name} ({len(table)} architectures, {table.unit}) into {db}")


def _is_export(source: str) -> bool:
    """Whether ``source`` is a CSV written by 'nascost data export' (its header names the columns)."""
    from nascost.data import _IMPORT_REQUIRED, _open_text

    path = Path(source)
    if not path.is_file():
        raise NascostError(f"{source!r} does not exist")
    if path.suffix == ".pt":
        return False
    try:
        with _open_text(path, "r") as f:
            header = f.readline()
    except (OSError, UnicodeDecodeError, EOFError) as exc:
        raise NascostError(f"cannot read {source!r} ({exc})") from None
    names = {h.strip() for h in header.split(",")}
    return all(c in names for c in _IMPORT_REQUIRED)


def register(cli: click.Group) -> None:
    cli.add_command(measure_cmd)
    cli.add_command(collect_cmd)
    cli.add_command(data_group)
