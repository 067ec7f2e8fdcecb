"""Commands about cost predictors: ``fit``, ``compare``, ``costs list``."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from nascost import plugins
from nascost.cli.output import (
    SEED,
    computes,
    echo_json,
    get_space,
    parse_kv,
    print_table,
    progress,
    space_opt_option,
)
from nascost.config import config_option
from nascost.errors import NascostError


@contextmanager
def _bar(unit: str, quiet: bool, label: str = "fitting") -> Iterator[Any]:
    """A ``progress(done, total, info)`` callback drawing a rich bar (or nothing when quiet)."""
    if quiet:
        yield None
        return
    with progress(unit) as bar:
        tasks: dict[str, Any] = {}

        def update(done: int, total: int, info: str, what: str = label) -> None:
            if what not in tasks:
                tasks[what] = bar.add_task(what, total=total, info="")
            bar.update(tasks[what], completed=done, total=total, info=info)

        yield update


def _space_for(db: str | None, space: str | None, space_opts: tuple[str, ...] = ()) -> Any:
    """The space named (default: the database's), with ``--space-opt`` or the options its rows recorded."""
    if space is None and db is not None:
        from nascost.data import CostDatabase

        with CostDatabase(db) as handle:
            space = handle.space
        if space is None:
            raise NascostError(f"{db!r} holds no measurements yet; collect some with 'nascost collect'")
    if space is None:
        raise NascostError("name the search space with --space (or give --db)")
    return get_space(space, space_opts, db=db)


#: The unit of each metric a predictor reports ("" where it has none: counts, rank correlations).
#: ``None`` here means "the cost's own unit".
METRIC_UNITS: dict[str, str | None] = {
    "mae": None, "mape": "%", "bias": "%", "check_mape": "%", "within_10pct": "%",
    "design_rms_residual": None, "kendall_tau": "", "spearman": "", "n_test": "", "design_size": "",
    "unreached_bits": "", "batch_size": "",
}


def _metric(name: str, value: Any, unit: str) -> str:
    """``MAPE 3.2%``, ``MAE 0.41 ms``: every figure with its unit (a share as a percentage)."""
    u = METRIC_UNITS.get(name, "")
    if name == "within_10pct" and isinstance(value, float):
        value = 100.0 * value
    u = unit if u is None else u
    text = _fmt(value)
    if not u or value is None:
        return text
    return f"{text}{u}" if u == "%" else f"{text} {u}"


def _fmt(v: Any, digits: int = 4) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.{digits}g}"
    return str(v)


@click.command("fit")
@click.option("--db", type=click.Path(dir_okay=False), help="Cost database from 'nascost collect' (not for flops/lut).")
@click.option("--predictor", "predictor_name",
              help="Predictor name: lpm, ridge, xgboost, flops, lut, table, ... [with --transfer-from: transfer]")
@click.option("--transfer-from", "transfer_from", multiple=True, metavar="SOURCES",
              help="Fit the target rows (--db) from other devices: comma-separated databases (DB or DB:DEVICE) "
                   "and cost-store names (repeatable).")
@click.option("--space", help="Search space (default: the database's).")
@space_opt_option
@click.option("--setting", help="Setting name (filters the database; required to build flops/lut).")
@click.option("--device", help="Device of the rows to fit on: fingerprint (prefix) or name (a table's column).")
@click.option("--measurer", help="Measurer of the rows to fit on (building lut: the measurer to use).")
@click.option("--batch-size", type=int, help="Batch size of the rows to fit on (building lut: to measure at).")
@click.option("--channels", type=click.IntRange(min=1), help="Building flops/lut: override the setting's channels.")
@click.option("--layers", type=click.IntRange(min=1), help="Building flops/lut: override the setting's cells.")
@click.option("--input-size", type=click.IntRange(min=1), help="Building flops/lut: override the input size.")
@click.option("--num-classes", type=click.IntRange(min=1), help="Building flops/lut: override the number of classes.")
@click.option("--measurer-opt", "measurer_opts", multiple=True, metavar="KEY=VALUE",
              help="Building lut: measurer option (repeatable), e.g. runs=10, as for 'nascost collect --opt'.")
@click.option("--include-flagged", is_flag=True, help="Also use rows flagged as measured during drift.")
@click.option("--exclude-noisy", is_flag=True, help="Leave out rows flagged noisy (kept by default).")
@click.option("--campaign", help="Only the rows of this campaign id ('nascost data info' lists them).")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Predictor file to write.")
@click.option("--as-cost", "as_cost", help="Also store it in the cost store under this cost name (e.g. cpu-lpm).")
@click.option("--opt", "opts", multiple=True, help="Predictor option KEY=VALUE (repeatable), e.g. epochs=200.")
@click.option("--val-fraction", type=float, default=0.1, show_default=True,
              help="Share of rows held out for the metrics stored with the predictor.")
@click.option("--seed", type=SEED, default=0, show_default=True, help="Seed of the held-out split.")
@click.option("--train-size", type=int, help="Train on a seeded random subset of this many rows (default: all).")
@click.option("--json", "as_json", is_flag=True, help="Print the metadata as JSON.")
@config_option
@computes
def fit_cmd(db: str | None, predictor_name: str | None, transfer_from: tuple[str, ...], space: str | None,
            space_opts: tuple[str, ...],
            setting: str | None, device: str | None,
            measurer: str | None, batch_size: int | None, channels: int | None, layers: int | None,
            input_size: int | None, num_classes: int | None, measurer_opts: tuple[str, ...], include_flagged: bool, exclude_noisy: bool,
            campaign: str | None, output: str | None,
            as_cost: str | None, opts: tuple[str, ...], val_fraction: float, seed: int, train_size: int | None,
            as_json: bool) -> None:
    """Fit a cost predictor on a database (or build flops/lut from the space) and save it."""
    from nascost.cost import CostStore
    from nascost.fit import build_predictor, fit_from_database
    from nascost.predict import save_predictor

    options = parse_kv(opts, "--opt")
    if predictor_name is None:
        if not transfer_from:
            raise NascostError("name the predictor with --predictor (e.g. lpm), or give --transfer-from SOURCES")
        predictor_name = "transfer"
    cls = plugins.get("predictors", predictor_name)
    if transfer_from and not getattr(cls, "transfers", False):
        raise NascostError(f"--transfer-from needs a predictor that transfers between devices (transfer), "
                           f"not {predictor_name!r}")
    if getattr(cls, "transfers", False) and not transfer_from:
        raise NascostError(f"predictor {predictor_name!r} is fitted from other devices: add --transfer-from SOURCES")
    cls.parse_options(options)  # validate before any work
    if as_cost is not None:
        CostStore.check_name(as_cost)
    space_obj = _space_for(db, space, space_opts)
    out = Path(output) if output else (None if as_cost else Path(f"{predictor_name}-{space_obj.name}.nascost"))
    if out is not None:
        from nascost.files import check_output

        check_output(out, [db, *_source_files(transfer_from)])
    if out is not None and not out.parent.exists():
        raise NascostError(f"directory {str(out.parent)!r} does not exist")
    if out is not None and out.is_dir():
        raise NascostError(f"{str(out)!r} is a directory; give a file name with -o")
    overrides = {"channels": channels, "layers": layers, "input_size": input_size, "num_classes": num_classes}
    report = None
    with _bar("epoch" if cls.requires_fit else "net", as_json, "fitting" if cls.requires_fit else "building") as bar:
        if transfer_from:
            if db is None:
                raise NascostError("--transfer-from fits the target device's rows: pass them with --db FILE")
            if any(v is not None for v in overrides.values()) or measurer_opts:
                raise NascostError("--channels/--layers/--input-size/--num-classes/--measurer-opt shape a built predictor, not a transfer")
            from nascost.fit import load_data
            from nascost.transfer import fit_transfer

            data = load_data(db, space=space_obj.name, setting=setting, device=device, measurer=measurer,
                             batch_size=batch_size, include_flagged=include_flagged, exclude_noisy=exclude_noisy,
                             campaign=campaign)
            if train_size is not None:
                data = _subset(data, train_size, seed)
            model, meta, report = fit_transfer(data, transfer_from, space=space_obj, predictor=predictor_name,
                                               options=options, progress=bar, seed=seed)
        elif cls.requires_fit:
            if any(v is not None for v in overrides.values()):
                raise NascostError("--channels/--layers/--input-size/--num-classes shape a built predictor; with --db use --setting")
            if db is None:
                raise NascostError(f"predictor {predictor_name!r} is fitted on measured costs: pass --db FILE")
            if measurer_opts:
                raise NascostError("--measurer-opt is for building a lut; a fitted predictor uses the database's rows")
            model, meta = fit_from_database(
                db, space=space_obj, predictor=predictor_name, setting=setting, device=device,
                measurer=measurer, batch_size=batch_size, options=options, progress=bar,
                val_fraction=val_fraction, seed=seed, include_flagged=include_flagged,
                exclude_noisy=exclude_noisy, campaign=campaign, train_size=train_size,
            )
        else:
            if db is not None:
                raise NascostError(f"predictor {predictor_name!r} is built from the space, not fitted: drop --db")
            if train_size is not None:
                raise NascostError("--train-size selects database rows; a built predictor measures its own")
            if setting is None:
                raise NascostError(
                    f"building {predictor_name!r} needs --setting (settings of {space_obj.name!r}: "
                    f"{', '.join(space_obj.settings())})"
                )
            if device is not None:
                raise NascostError("--device selects database rows; a built predictor uses this machine's device")
            if predictor_name != "flops" and measurer is None:
                raise NascostError(f"building {predictor_name!r} needs --measurer (e.g. cpu-timer)")
            meas: Any = measurer
            if measurer_opts:
                if measurer is None:
                    raise NascostError("--measurer-opt needs --measurer")
                meas = plugins.get_measurer(measurer, parse_kv(measurer_opts, "--measurer-opt"))
            model, meta = build_predictor(
                space=space_obj, predictor=predictor_name, setting=space_obj.setting(setting, **overrides),
                measurer=meas, batch_size=batch_size, options=options, progress=bar,
            )
    written = []
    if out is not None:
        written.append(str(save_predictor(model, out, meta)))
    if as_cost is not None:
        with tempfile.TemporaryDirectory() as tmp:
            tmp_file = save_predictor(model, Path(tmp) / "predictor.nascost", meta)
            written.append(str(CostStore().put(as_cost, tmp_file)))
    if as_json:
        echo_json({"files": written, "metadata": meta.model_dump(mode="json"), **({"transfer": report} if report else {})})
        return
    m = meta.metrics
    click.echo(f"{meta.predictor} for {meta.context()}")
    if report is not None:
        _print_transfer(report, meta)
    elif getattr(cls, "memorizes", False):
        click.echo(f"holds the costs of {meta.n_train} architectures (an exact lookup: nothing held out)")
    elif cls.requires_fit:
        click.echo(
            f"trained on {meta.n_train} architectures; held out {_fmt(m.get('n_test'))}: "
            f"MAE {_metric('mae', m.get('mae'), meta.unit)}, MAPE {_metric('mape', m.get('mape'), meta.unit)}, "
            f"bias {_metric('bias', m.get('bias'), meta.unit)}, Kendall tau {_fmt(m.get('kendall_tau'))}, "
            f"within 10%: {_metric('within_10pct', m.get('within_10pct'), meta.unit)} of them"
        )
    else:
        click.echo(f"built from {meta.n_train} architectures; "
                   + ", ".join(f"{k} {_metric(k, v, meta.unit)}" for k, v in m.items()))
    for path in written:
        click.echo(f"wrote {path}")


def _source_files(sources: tuple[str, ...]) -> list[str]:
    """The database files among --transfer-from sources (``DB`` or ``DB:DEVICE``, comma-separated)."""
    files = []
    for group in sources:
        for item in group.split(","):
            item = item.strip()
            if item:
                files.append(item if Path(item).exists() else item.rpartition(":")[0] or item)
    return files


def _subset(data: Any, n: int, seed: int) -> Any:
    """A seeded random ``n`` of the rows (e.g. ten rows of an imported table, as a new device would give)."""
    import dataclasses

    import numpy as np

    if not 2 <= n <= len(data):
        raise NascostError(f"--train-size {n}: choose between 2 and the {len(data)} selected rows")
    idx = np.sort(np.random.default_rng(seed).permutation(len(data))[:n])
    enc = data.encodings[idx] if data.encodings is not None and len(data.encodings) else data.encodings
    return dataclasses.replace(data, archs=[data.archs[i] for i in idx], values=data.values[idx],
                               keys=[data.keys[i] for i in idx], encodings=enc)


def _print_transfer(report: dict[str, Any], meta: Any) -> None:
    loo = report.get("leave_one_out") or {}
    click.echo(f"transferred from {len(report['sources'])} source(s) with {report['target_rows']} target rows "
               f"(method {meta.options.get('method')})")
    if loo:
        click.echo(f"leave-one-out on the target rows: Spearman {_fmt(loo.get('spearman'))}, Kendall tau "
                   f"{_fmt(loo.get('kendall_tau'))}, MAPE {_fmt(loo.get('mape'))}%")
    closest = report.get("closest_source")
    if closest:
        click.echo(f"closest source: {closest['name']} (Spearman {_fmt(closest['spearman'])} on the target rows)")
    for w in report.get("warnings", []):
        click.echo(f"warning: {w}", err=True)


@click.command("compare")
@click.option("--db", "dbs", multiple=True, required=True, type=click.Path(dir_okay=False),
              help="Cost database (twice with --devices).")
@click.option("--predictors", default="lpm,ridge,xgboost,flops,lut", show_default=True,
              help="Comma-separated predictor names.")
@click.option("--space", help="Search space (default: the database's).")
@space_opt_option
@click.option("--setting", help="Setting name of the rows.")
@click.option("--device", "devices_fp", multiple=True, help="Device fingerprint of the rows (with --devices: one per --db).")
@click.option("--measurer", help="Measurer of the rows.")
@click.option("--batch-size", type=int, help="Batch size of the rows.")
@click.option("--include-flagged", is_flag=True, help="Also use rows flagged as measured during drift.")
@click.option("--exclude-noisy", is_flag=True, help="Leave out rows flagged noisy (kept by default).")
@click.option("--campaign", help="Only the rows of this campaign id ('nascost data info' lists them).")
@click.option("--train-sizes", help="Comma-separated training sizes for the learning curve (default: all).")
@click.option("--test-fraction", type=float, default=0.2, show_default=True, help="Share of rows held out for testing.")
@click.option("--test-campaign",
              help="Hold out this campaign's rows (e.g. measured with more runs) instead of a random --test-fraction.")
@click.option("--seed", type=SEED, default=0, show_default=True, help="Seed of the split (same for every predictor).")
@click.option("--lut", "lut_file", type=click.Path(dir_okay=False), help="A lut predictor file built on the data's device.")
@click.option("--opt", "opts", multiple=True, help="Option PREDICTOR.KEY=VALUE, e.g. lpm.epochs=300 (repeatable).")
@click.option("--devices", is_flag=True, help="Compare two databases' latencies of the same architectures.")
@click.option("--plot", "plot_dir", type=click.Path(file_okay=False), help="Write PNG plots into this directory.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON: an object keyed by predictor name.")
@config_option
@computes
def compare_cmd(dbs: tuple[str, ...], predictors: str, space: str | None, space_opts: tuple[str, ...],
                setting: str | None,
                devices_fp: tuple[str, ...], measurer: str | None, batch_size: int | None, include_flagged: bool,
                exclude_noisy: bool, campaign: str | None, train_sizes: str | None,
                test_fraction: float, test_campaign: str | None, seed: int, lut_file: str | None, opts: tuple[str, ...], devices: bool,
                plot_dir: str | None, as_json: bool) -> None:
    """Compare predictors on one database (same split and seed), or two devices with --devices."""
    from nascost.fit import compare_devices, compare_predictors, load_data, plot_comparison

    if devices:
        if len(dbs) != 2:
            raise NascostError("--devices compares exactly two databases: pass --db A --db B")
        if len(devices_fp) not in (0, 2):
            raise NascostError("with --devices, give --device twice (one per --db) or not at all")
        dev_a, dev_b = devices_fp if devices_fp else (None, None)
        result = compare_devices(dbs[0], dbs[1], space=space, setting=setting, measurer=measurer,
                                 device_a=dev_a, device_b=dev_b, include_flagged=include_flagged)
        if as_json:
            echo_json(result)
            return
        click.echo(f"A: {result['a']['device']} {result['a']['setting']} ({result['a']['db']})")
        click.echo(f"B: {result['b']['device']} {result['b']['setting']} ({result['b']['db']})")
        ranks = (f"{result['n_common']} common architectures: Kendall tau {_fmt(result['kendall_tau'])}, Spearman "
                 f"{_fmt(result['spearman'])}, cheapest-10% overlap {100 * result['top10_overlap']:.0f}%")
        if result["same_scale"]:  # repeats on one device: the difference is the noise floor
            click.echo(f"{ranks}, median relative difference {100 * result['median_rel_diff']:.2f}%")
        else:  # two devices or runtimes: values are on different scales, only rankings compare
            click.echo(f"{ranks}; different devices: B/A median ratio {_fmt(result['median_ratio'])} "
                       f"({result['a']['unit']} vs {result['b']['unit']}), rank agreement only")
        return
    if len(dbs) != 1:
        raise NascostError("compare predictors on one --db (two only with --devices)")
    if len(devices_fp) > 1:
        raise NascostError("give --device once when comparing predictors")
    names = [n.strip() for n in predictors.split(",") if n.strip()]
    if not names:
        raise NascostError("--predictors is empty")
    options: dict[str, dict[str, Any]] = {n: {} for n in names}
    for pair in opts:
        # The predictor name keeps its hyphens (random-forest); only the option key is normalised.
        pred, _, rest = pair.partition(".")
        if not rest or "=" in pred or pred not in options:
            raise NascostError(f"--opt {pair}: use PREDICTOR.KEY=VALUE with a predictor of --predictors")
        options[pred].update(parse_kv([rest], "--opt"))
    for n in names:
        plugins.get("predictors", n).parse_options(options[n])
    sizes = None
    if train_sizes:
        try:
            sizes = [int(s) for s in train_sizes.split(",") if s.strip()]
        except ValueError:
            raise NascostError(f"--train-sizes must be comma-separated integers, got {train_sizes!r}") from None
    if plot_dir is not None and Path(plot_dir).exists() and not Path(plot_dir).is_dir():
        raise NascostError(f"--plot {plot_dir!r} exists and is not a directory")
    if campaign and test_campaign:
        raise NascostError("--campaign and --test-campaign exclude each other: with --test-campaign, every other "
                           "selected row is a training row")
    space_obj = _space_for(dbs[0], space, space_opts)
    select = dict(space=space_obj.name, setting=setting, device=devices_fp[0] if devices_fp else None,
                  measurer=measurer, batch_size=batch_size, include_flagged=include_flagged,
                  exclude_noisy=exclude_noisy)
    data = load_data(dbs[0], **select, campaign=campaign)
    test_keys = load_data(dbs[0], **select, campaign=test_campaign).keys if test_campaign else None
    with _bar("step", as_json) as bar:
        step = None if bar is None else (lambda what, done, total, info: bar(done, total, info, what))
        results = compare_predictors(
            data, [(n, options[n]) for n in names], space=space_obj, train_sizes=sizes, seed=seed,
            test_fraction=test_fraction, lut=lut_file, progress=step, test_keys=test_keys,
        )
    plots = plot_comparison(results, plot_dir) if plot_dir else []
    if as_json:
        echo_json({k: {kk: vv for kk, vv in v.items() if kk not in ("test_pred", "test_true")}
                   for k, v in results.items()})
        return
    first = next(iter(results.values()))
    if first.get("skipped_train_sizes"):
        click.echo(
            f"note: training sizes {first['skipped_train_sizes']} skipped: only "
            f"{len(data) - first['n_test']} rows are left after holding out {first['n_test']} for testing",
            err=True,
        )
    print_table(
        f"{len(data)} architectures, {first['n_test']} held out "
        f"({f'campaign {test_campaign}' if test_campaign else f'seed {seed}'}), unit {data.unit}",
        ["predictor", "n_train", f"MAE {data.unit}", "MAPE %", "bias %", "Kendall tau", "Spearman", "within 10% (%)",
         "fit s", "ms/1000 archs"],
        [
            [n, r.get("n_train"), _fmt(r.get("mae")), _fmt(r.get("mape")), _fmt(r.get("bias")), _fmt(r.get("kendall_tau")),
             _fmt(r.get("spearman")),
             _fmt(None if r.get("within_10pct") is None else 100.0 * r["within_10pct"]), _fmt(r.get("fit_time_s"), 3),
             _fmt(r.get("predict_ms_per_1000"), 3)]
            for n, r in results.items() if r.get("available")
        ],
    )
    for n, r in results.items():
        if not r.get("available"):
            click.echo(f"{n}: unavailable: {r['reason']}")
    for p in plots:
        click.echo(f"wrote {p}")


@click.group("costs")
def costs_group() -> None:
    """The cost store: fitted predictors by cost name, space, setting and device."""


@costs_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON: an array of entries.")
@config_option
def costs_list_cmd(as_json: bool) -> None:
    """Entries of the cost store (NASCOST_HOME overrides its location)."""
    from nascost.cost import CostStore

    store = CostStore()
    rows = [e.to_dict() for e in store.list()]
    if as_json:
        echo_json(rows)
        return
    print_table(
        f"cost store {store.costs_dir}",
        ["name", "predictor", "space", "setting", "batch", "device", "unit", "n_train", "MAPE %", "tau", "created"],
        [[r["name"], r["predictor"], r["space"], r["setting"] or "any", r["batch_size"] or "-",
          r["device"] or "any", r["unit"], r["n_train"], _fmt(r["metrics"].get("mape")),
          _fmt(r["metrics"].get("kendall_tau")), r["created"]] for r in rows],
    )


@click.command("predict")
@click.argument("archs", nargs=-1, metavar="[ARCH]...")
@click.option("--cost", "cost", required=True, help="A cost-store name (nascost costs list) or a predictor file.")
@click.option("--space", required=True, help="Search space of the architectures.")
@space_opt_option
@click.option("--file", "arch_file", type=click.Path(dir_okay=False),
              help="Architectures one per line: the space's text form (a NAS-Bench-201 string), a preset, or "
                   "genotype JSON; blank lines and '#' comments are skipped.")
@click.option("--setting", help="The setting whose cost-store entry to use (default: any).")
@click.option("--batch-size", type=int, help="The batch size whose cost-store entry to use (default: any).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON: the cost and one object per architecture.")
@config_option
def predict_cmd(archs: tuple[str, ...], cost: str, space: str, space_opts: tuple[str, ...], arch_file: str | None, setting: str | None,
                batch_size: int | None, as_json: bool) -> None:
    """Print a cost's prediction for given architectures (how to check a cost, and score it)."""
    from nascost.cost import load_cost

    sp = get_space(space, space_opts)
    refs = [(f"argument {i + 1}", a) for i, a in enumerate(archs)]
    if arch_file is not None:
        path = Path(arch_file)
        if not path.is_file():
            raise NascostError(f"architecture file {arch_file!r} does not exist")
        try:
            lines = path.read_text().splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise NascostError(f"cannot read {arch_file!r}: {exc}") from None
        refs += [(f"{arch_file} line {n}", line.strip()) for n, line in enumerate(lines, 1)
                 if line.strip() and not line.lstrip().startswith("#")]
    if not refs:
        raise NascostError("give architectures to predict: as arguments or with --file ARCHS.txt")
    resolved = []
    for where, ref in refs:
        try:
            resolved.append(sp.resolve(ref))
        except NascostError as exc:
            raise NascostError(f"{where}: {exc}") from None
    st = sp.setting(setting) if setting else None
    pred, meta = load_cost(cost, space=sp, setting=st, batch_size=batch_size)
    import torch

    with torch.no_grad():
        values = torch.as_tensor(pred.predict(sp.encode(resolved))).reshape(-1).tolist()
    rows = [{"arch": sp.format_arch(a), "key": a.key(), "predicted": float(v)} for a, v in zip(resolved, values, strict=True)]
    if as_json:
        echo_json({"cost": cost, "predictor": meta.predictor, "unit": meta.unit, "context": meta.context(),
                   "n_train": meta.n_train, "sources": [s.get("name") for s in meta.sources], "predictions": rows})
        return
    print_table(f"{cost}: {meta.predictor} ({meta.context()})", ["architecture", f"predicted ({meta.unit})"],
                [[r["arch"], _fmt(r["predicted"])] for r in rows])


def register(cli: click.Group) -> None:
    cli.add_command(fit_cmd)
    cli.add_command(predict_cmd)
    cli.add_command(compare_cmd)
    cli.add_command(costs_group)
