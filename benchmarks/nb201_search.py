"""NAS-Bench-201: searches and predictors judged against the true tables (docs/benchmarks.md, issue 17).

Subcommands (run from the repository root; each writes under ``--work``):

- ``prepare``: import the latency table into ``WORK/nb201.db`` and fit, per device, the
  latency prediction module on 1,000 random rows (``--train-size 1000``) as the cost
  ``<device>-lpm`` in ``WORK/home`` (the cost store these searches use).
- ``sweep --device D``: a lambda sweep of CPU-scale searches with the cost ``D-lpm`` on the
  real CIFAR-10 subset (``--dataset``), each derived cell scored by the accuracy table and
  the device's table (``nascost sweep --accuracy-table``). ``--device flops`` sweeps the
  FLOPs cost instead (the FLOPs-aware baseline). ``--estimator exact`` takes the cost's exact
  expectation over all 15,625 cells instead of the straight-through samples; ``--cost table
  --estimator exact`` searches with the device's whole table, the search without predictor error.
  ``--relaxation dirichlet|gumbel``, ``--regularizer-weight W``, ``--layers N``, ``--arch-lr R``, ``--epochs E`` and ``--seed S`` change the protocol
  (the sweep's directory name says how, e.g. ``sweep-pixel3-dirichlet-beta0``). ``--budget F`` turns
  each lambda into the slope of a budget of F times the lambda-0 cell's predicted cost on the
  device, bounding the derived cell (``--target-on derived``); it needs the protocol's lambda-0 run.
- ``summary SWEEP...``: the tables of docs/benchmarks.md: per device and lambda the derived
  cell, true accuracy and latency, regret and the front's pick; the trade-off target; FLOPs-aware
  cells on each device's table; hardware specificity (each device's cells on the others').
- ``floor SWEEP...``: the lambda-0 cells of several sweeps (seeds, protocols) scored on every device,
  with the mean and standard deviation per protocol over its seeds.
- ``ensemble SWEEP...``: per lambda, the seeds' derived cells and the cell the mean (and the median) of
  their final architecture weights derives (``nascost derive``), and every pair's, scored on every device;
  and the same with P-DARTS's limit of 2 skip connections on the derived cell (``max_skip_connect``).
- ``epochs SWEEP...``: each epoch's derived cell of every search, scored on the tables, and
  whether it meets the search's budget (the path a budget search takes).
- ``budget SWEEP...``: a budget on the derivation: per device and fraction F, the most probable
  cell under the seeds' mean (``--combine median``: median) final weights whose predicted cost is at
  most F times that of the lambda-0 weights' cell (or of ``--against CELL``; and the same from each seed
  alone), scored on the tables; ``--max-skip-connect 2`` adds P-DARTS's limit to every derivation.
- ``local``: how well the LPM on 1,000 rows ranks the cells one or two edges from the lambda-0
  cell (the cells a search passes through from it), with and without 100 of them among its rows.
- ``predictors``: ``compare`` per device at 20, 100 and 900 training rows (LPM, lut, FLOPs,
  ridge, xgboost), scored on the rest of the table.
- ``oneshot RUN...``: each cell's accuracy with supernet weights, for the runs' cell, its neighbours and
  the table's best and random cells, against the true accuracy: whether the supernet can pick a cut the
  derivation does not make. ``--scores discrete`` (the runs' own weights, the cell's operations alone),
  ``perturb`` (only the edges that differ from the runs' cell replaced, DARTS-PT's perturbation) or
  ``paths`` (a supernet retrained on uniformly sampled single paths, SPOS).
- ``noise``: how far the accuracy table can be trusted: the spread of accuracy among cells that compute
  the same function (the reference's isomorphism classes), and how much each device's front rides on it.
- ``headroom --against CELL``: how much room the trade-off target leaves on each device of the table:
  the cells at least ``--faster`` (30%) faster than CELL for at most ``--within`` (0.5) points, how many
  of them hold only convolutions and skips (no ``none`` or ``avg_pool_3x3`` edge), what the front offers
  at 0.5-0.9 times CELL's latency, and whether a ``none`` edge is cheaper than a skip on average.

The search protocol (the same for every device; costs on the ``spread`` scale, random cells'
costs with a standard deviation of 10, so one lambda means the same pressure everywhere;
``--scale paper`` is the paper's mean-30 scale): the nb201 supernet at C=8, one cell per stage, 16x16
input; 10 epochs, the first 3 training weights only; batch 64; architecture learning rate
3e-3; beta-DARTS regularisation rising to 1; the benchmark's other DARTS hyper-parameters;
one thread.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
LAMBDAS = "0,0.001,0.002,0.005,0.01"
SEARCH = {"C": 8, "layers": 1, "epochs": 10, "arch_frozen_epochs": 3, "batch_size": 64,
          "arch_learning_rate": 3e-3, "regularizer": "beta", "regularizer_weight": 1.0, "cost_scale": "spread",
          "threads": 1, "dataset_options": {"input_size": 16}}


def _env(work: Path) -> None:
    os.environ["NASCOST_HOME"] = str(work / "home")


def prepare(args: argparse.Namespace) -> None:
    from nascost import plugins
    from nascost.cost import CostStore
    from nascost.data import import_table
    from nascost.fit import fit_from_database
    from nascost.predict import save_predictor
    from nascost.tables import read_table

    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    _env(work)
    space = plugins.get_space("nb201")
    db = work / "nb201.db"
    table = read_table(args.latency, space)
    if not db.exists():
        options = {c: {"path": str(Path(args.latency).resolve()), "device": c} for c in table.columns}
        import_table(table, db, space=space, setting=space.setting("cifar10"), options=options)
    store = CostStore()
    for device in args.devices.split(","):
        t0 = time.perf_counter()
        model, meta = fit_from_database(db, space=space, predictor="lpm", device=device, train_size=1000, seed=0)
        tmp = work / f"{device}-lpm.nascost"
        save_predictor(model, tmp, meta)
        store.put(f"{device}-lpm", tmp)
        m = meta.metrics
        print(f"{device}: lpm on 1000 rows, held out {int(m.get('n_test') or 0)}: Kendall tau {m['kendall_tau']:.3f}, "
              f"MAPE {m['mape']:.1f}% ({time.perf_counter() - t0:.0f} s)")
        exact, exact_meta = fit_from_database(db, space=space, predictor="table", device=device)
        tmp = work / f"{device}-table.nascost"
        save_predictor(exact, tmp, exact_meta)
        store.put(f"{device}-table", tmp)  # the exact cost, for sweep --cost table


def sweep(args: argparse.Namespace) -> None:
    from nascost.sweep import parse_lambdas, run_sweep

    work = Path(args.work)
    _env(work)
    if args.cost == "table" and args.estimator != "exact":
        sys.exit("--cost table is not differentiable: add --estimator exact")
    cost = "flops" if args.device == "flops" else f"{args.device}-{args.cost}"
    search = {**SEARCH, "cost_scale": args.scale, "relaxation": args.relaxation}
    if args.regularizer_weight is not None:
        search.update(regularizer="beta" if args.regularizer_weight > 0 else "none",
                      regularizer_weight=args.regularizer_weight)
    if args.seed:
        search["seed"] = args.seed
    if args.layers:
        search["layers"] = args.layers
    if args.arch_lr:
        search["arch_learning_rate"] = args.arch_lr
    if args.epochs:
        search["epochs"] = args.epochs
    search["accuracy_table"] = args.accuracy
    search["estimator"] = args.estimator
    if args.budget:
        search.update(target=_budget_target(work, args), target_mode=args.budget_mode, target_on="derived")
    if args.device == "flops":
        search["cost_setting"] = "cifar10"
    record = run_sweep(space="nb201", costs=[cost], lambdas=parse_lambdas(args.lambdas),
                       out=work / _sweep_name(args),
                       dataset=args.dataset,
                       search_options=search,
                       references=False, show_progress=False, log=lambda m: print(m, flush=True))
    print(record["report"])


def _sweep_name(args: argparse.Namespace, *, budget: bool = True) -> str:
    """``sweep-<device>[-table|-exact][-paper][-dirichlet][-beta<W>][-l<N>][-alr<R>][-e<E>][-seed<S>][-budget<F>]``: what differs
    from the protocol."""
    parts = [args.device] + (["table"] if args.cost == "table" else ["exact"] if args.estimator == "exact" else [])
    parts += [args.scale] if args.scale != "spread" else []
    parts += [args.relaxation] if args.relaxation != "softmax" else []
    parts += [f"beta{args.regularizer_weight:g}"] if args.regularizer_weight is not None else []
    parts += [f"l{args.layers}"] if args.layers else []
    parts += [f"alr{args.arch_lr:g}"] if args.arch_lr else []
    parts += [f"e{args.epochs}"] if args.epochs else []
    parts += [f"seed{args.seed}"] if args.seed else []
    parts += [f"budget{args.budget:g}"] if (budget and args.budget) else []
    parts += [args.budget_mode] if (budget and args.budget and args.budget_mode != "hinge") else []
    return "sweep-" + "-".join(parts)


def _budget_target(work: Path, args: argparse.Namespace) -> str:
    """``--budget F``: F times the lambda-0 cell's cost as the device's predictor sees it.

    The lambda-0 cell does not depend on the device, so it comes from any sweep of the same
    protocol (without the budget) that ran lambda 0; the budget is on the derived cell's
    predicted cost (``target_on='derived'``), as a user's budget is on the network they get.
    """
    from nascost import plugins
    from nascost.predict import load_predictor

    if args.device == "flops" or args.cost == "table":
        sys.exit("--budget needs a fitted device cost (not flops or --cost table)")
    space = plugins.get_space("nb201")
    protocol = _protocol(_sweep_name(args, budget=False).removeprefix("sweep-"))
    for d in sorted(work.glob("sweep-*")):
        run = next((r for r in _runs(d) if r["lambda"] == 0), None)
        if run is not None and _protocol(d.name.removeprefix("sweep-")) == protocol:
            arch = space.validate(run["genotype"])
            model, _meta = load_predictor(work / f"{args.device}-lpm.nascost")
            cost = float(model.predict(space.encode([arch]).float()).reshape(-1)[0])
            print(f"budget: {args.budget:g} x the lambda-0 cell of {d.name} ({space.format_arch(arch)}), "
                  f"predicted {cost:.4g} ms on {args.device}: target {args.budget * cost:.4g} ms", flush=True)
            return f"{args.budget * cost:.4g}ms"
    sys.exit(f"--budget needs a lambda-0 run of the same protocol under {work} (sweep ... --lambdas 0 first)")


def _runs(sweep_dir: Path) -> list[dict]:
    out = []
    seeds_first = [p for p in (sweep_dir / "runs").glob("lambda_*")
                   if not re.search(r"-(seed\d+|combined)$", p.name)]  # not nascost sweep --seeds' others
    for run in sorted(seeds_first, key=lambda p: float(p.name.split("_", 1)[1])):
        s = run / "summary.json"
        if s.is_file():
            config = json.loads((run / "config.json").read_text()) if (run / "config.json").is_file() else {}
            target = (config.get("costs") or [{}])[0].get("target")
            out.append({"lambda": float(run.name.split("_", 1)[1]), "target": target, **json.loads(s.read_text())})
    return out


def _cell(space, arch) -> str:
    """The cell's string for a markdown table, whose cells cannot hold a bare pipe."""
    return space.format_arch(arch).replace("|", "\\|")


def _protocol(name: str) -> str:
    """What a sweep named ``<device>-<changes>`` changed in the protocol."""
    return name.partition("-")[2]


def _unbudgeted(name: str) -> str:
    """The protocol of a sweep without its budget parts (a budget sweep compares with lambda 0)."""
    return "-".join(p for p in _protocol(name).split("-") if not p.startswith("budget") and p != "adaptive")


def _truth(args: argparse.Namespace):
    """The space, the accuracy and latency tables, the ``--devices`` and each device's true front."""
    from nascost import plugins
    from nascost.pareto import build_front
    from nascost.tables import read_accuracy_table, read_table

    space = plugins.get_space("nb201")
    acc = read_accuracy_table(args.accuracy, space)
    lat = read_table(args.latency, space)
    devices = args.devices.split(",")
    return space, acc, lat, devices, {d: build_front(lat.values(d), acc.values, names=acc.names, unit="ms")
                                      for d in devices}


def _dev(name: str) -> str:
    """The device column of a sweep named ``<device>[-...]`` (device names hold no hyphen)."""
    return name.split("-", 1)[0]


def summary(args: argparse.Namespace) -> None:
    from nascost import plugins
    from nascost.pareto import build_front
    from nascost.tables import read_accuracy_table, read_table

    space = plugins.get_space("nb201")
    acc = read_accuracy_table(args.accuracy, space)
    lat = read_table(args.latency, space)
    fronts = {d: build_front(lat.values(d), acc.values, names=acc.names, unit="ms") for d in lat.columns}
    cells: dict[str, list[dict]] = {}
    for d in args.sweeps:
        name = Path(d).name.removeprefix("sweep-")
        cells[name] = _runs(Path(d))
    for name, runs in cells.items():  # lambda 0 does not depend on the cost: a sweep may borrow it
        if runs and runs[0]["lambda"] != 0:
            same = [r for n, rs in cells.items() if n != name and _unbudgeted(n) == _unbudgeted(name)
                    for r in rs if r["lambda"] == 0]
            runs[:0] = same[:1]
    flops = next((n for n in cells if _dev(n) == "flops"), None)  # the FLOPs-aware sweep, if given
    for name, runs in cells.items():
        if name == flops:
            continue
        device = _dev(name)
        front = fronts[device]
        print(f"\n#### {name}\n")
        print("| λ | derived cell | true accuracy % | true latency ms | regret | front's pick at that latency |")
        print("|---|---|---|---|---|---|")
        base = None
        for r in runs:
            arch = space.validate(r["genotype"])
            a, c = acc.values[arch.key()], lat.values(device)[arch.key()]
            j = front.judge(arch.key(), c, a)
            base = base or (a, c)
            pick = j["front_pick"]
            lam = f"{r['lambda']:g}" + (f", budget {r['target']:.3g} ms" if r.get("target") else "")
            print(f"| {lam} | `{_cell(space, arch)}` | {a:.2f} | {c:.3g} | {j['regret']:.2f} | "
                  f"{pick['accuracy']:.2f}% at {pick['cost']:.3g} ms |")
        ok = [r for r in runs if acc.values[space.validate(r["genotype"]).key()] >= base[0] - 0.5]
        best = max(ok, key=lambda r: r["lambda"])
        c = lat.values(device)[space.validate(best["genotype"]).key()]
        print(f"\nlargest λ within 0.5 points of λ=0: {best['lambda']:g}, true latency {c:.3g} ms vs {base[1]:.3g} ms "
              f"({100 * (1 - c / base[1]):.1f}% lower)")
    if flops:
        print("\n#### FLOPs-aware cells on each device's table\n")
        devices = [d for d in cells if d != flops]
        print("| λ | cell | FLOPs (M) | true accuracy % | " + " | ".join(f"{d} ms (regret)" for d in devices) + " |")
        print("|---|---|---|---|" + "---|" * len(devices))
        for r in cells[flops]:
            arch = space.validate(r["genotype"])
            a = acc.values[arch.key()]
            mflops = space.count(arch, space.setting("cifar10"))["flops"] / 1e6
            parts = []
            for d in devices:
                c = lat.values(_dev(d))[arch.key()]
                parts.append(f"{c:.3g} ({fronts[_dev(d)].regret(c, a):.2f})")
            print(f"| {r['lambda']:g} | `{_cell(space, arch)}` | {mflops:.1f} | {a:.2f} | " + " | ".join(parts) + " |")
    devices = [d for d in cells if d != flops]
    if flops and devices:
        print("\n#### Latency-aware against FLOPs-aware at (nearly) equal FLOPs\n")
        print("| device | latency-aware λ | FLOPs (M) | true latency ms | true accuracy % | FLOPs-aware λ | FLOPs (M) | "
              "true latency ms | true accuracy % |")
        print("|---|---|---|---|---|---|---|---|---|")
        fl = []
        for r in cells[flops]:
            arch = space.validate(r["genotype"])
            fl.append((r["lambda"], arch, space.count(arch, space.setting("cifar10"))["flops"] / 1e6))
        for d in devices:
            for r in cells[d]:
                if not r["lambda"]:
                    continue
                arch = space.validate(r["genotype"])
                f = space.count(arch, space.setting("cifar10"))["flops"] / 1e6
                lam2, arch2, f2 = min(fl, key=lambda t: abs(t[2] - f))
                v = lat.values(_dev(d))
                print(f"| {d} | {r['lambda']:g} | {f:.1f} | {v[arch.key()]:.3g} | {acc.values[arch.key()]:.2f} | "
                      f"{lam2:g} | {f2:.1f} | {v[arch2.key()]:.3g} | {acc.values[arch2.key()]:.2f} |")
    if len(devices) > 1:
        print("\n#### Hardware specificity: each device's cells on every device's table (latency ms, regret)\n")
        print("| searched for | λ | " + " | ".join(devices) + " |")
        print("|---|---|" + "---|" * len(devices))
        for src in devices:
            for r in cells[src]:
                arch = space.validate(r["genotype"])
                a = acc.values[arch.key()]
                parts = []
                for d in devices:
                    c = lat.values(_dev(d))[arch.key()]
                    parts.append(f"{c:.3g} ({fronts[_dev(d)].regret(c, a):.2f})")
                print(f"| {src} | {r['lambda']:g} | " + " | ".join(parts) + " |")


def floor(args: argparse.Namespace) -> None:
    """The lambda-0 cells of the sweeps given (one per seed or protocol): true accuracy and regret on every
    device of ``--devices``, and per protocol the mean and standard deviation over its seeds."""
    import statistics


    space, acc, lat, devices, fronts = _truth(args)
    print("| sweep | derived cell | true accuracy % | " + " | ".join(f"{d} ms (regret)" for d in devices) + " |")
    print("|---|---|---|" + "---|" * len(devices))
    groups: dict[str, list[tuple[float, list[float]]]] = {}
    for d in args.sweeps:
        name = Path(d).name.removeprefix("sweep-")
        run = next((r for r in _runs(Path(d)) if r["lambda"] == 0), None)
        if run is None:
            continue
        arch = space.validate(run["genotype"])
        a = acc.values[arch.key()]
        regrets = [fronts[dev].regret(lat.values(dev)[arch.key()], a) for dev in devices]
        print(f"| {name} | `{_cell(space, arch)}` | {a:.2f} | "
              + " | ".join(f"{lat.values(dev)[arch.key()]:.3g} ({r:.2f})" for dev, r in zip(devices, regrets, strict=True))
              + " |")
        protocol = "-".join(p for p in _protocol(name).split("-") if p and not p.startswith("seed")) or "protocol"
        groups.setdefault(protocol, []).append((a, regrets))
    print("\n| protocol | seeds | true accuracy % | " + " | ".join(f"{d} regret" for d in devices) + " |")
    print("|---|---|---|" + "---|" * len(devices))
    for protocol, rows in groups.items():
        def ms(values: list[float]) -> str:
            return f"{statistics.mean(values):.2f} ± {statistics.stdev(values):.2f}" if len(values) > 1 else f"{values[0]:.2f}"
        print(f"| {protocol} | {len(rows)} | {ms([a for a, _ in rows])} | "
              + " | ".join(ms([r[i] for _, r in rows]) for i in range(len(devices))) + " |")


def ensemble(args: argparse.Namespace) -> None:
    """Per lambda that every sweep given ran (the seeds of one protocol): each seed's derived cell and the
    cell the mean of their final architecture weights derives (``nascost derive``), scored on every device
    of ``--devices``; and, for the combined cell, the runner-up operation on its closest edge."""
    import itertools
    import statistics

    import torch

    from nascost.derive import derive_from_runs
    from nascost.search import CHECKPOINT
    from nascost_nb201.cell import OPERATIONS, format_cell  # the benchmark knows its space

    space, acc, lat, devices, fronts = _truth(args)
    dirs = [Path(d) for d in args.sweeps]
    lambdas = sorted(set.intersection(*({r["lambda"] for r in _runs(d)} for d in dirs)))
    own = _dev(dirs[0].name.removeprefix("sweep-"))
    against = (space.resolve(args.against) if args.against else
               derive_from_runs([d / "runs" / "lambda_0" for d in dirs])[0] if 0 in lambdas else None)

    def tradeoff(label: str, arch) -> None:
        """The trade-off target on the sweeps' own device: how much faster than the lambda-0 cell, for how much."""
        if against is None or own not in lat.columns:
            return
        ms, ms0 = lat.values(own)[arch.key()], lat.values(own)[against.key()]
        drop = acc.values[against.key()] - acc.values[arch.key()]
        met = "met" if drop <= 0.5 and ms <= 0.7 * ms0 else "not met"
        print(f"- {label}: {100 * (1 - ms / ms0):.0f}% faster on {own} than the lambda-0 cell "
              f"({acc.values[against.key()]:.2f}%, {ms0:.3g} ms) for {drop:.2f} points: the trade-off target {met}")

    def row(label: str, arch) -> tuple[float, list[float]]:
        a = acc.values[arch.key()]
        regrets = [fronts[dev].regret(lat.values(dev)[arch.key()], a) for dev in devices]
        print(f"| {label} | `{_cell(space, arch)}` | {a:.2f} | "
              + " | ".join(f"{lat.values(dev)[arch.key()]:.3g} ({r:.2f})" for dev, r in zip(devices, regrets, strict=True))
              + " |")
        return a, regrets

    for lam in lambdas:
        runs = [d / "runs" / f"lambda_{lam:g}" for d in dirs]
        print(f"\n#### lambda {lam:g}: {', '.join(d.name for d in dirs)}\n")
        print("| cell | derived cell | true accuracy % | " + " | ".join(f"{d} ms (regret)" for d in devices) + " |")
        print("|---|---|---|" + "---|" * len(devices))
        seeds = [row(d.name.removeprefix("sweep-"), space.validate(json.loads((r / "genotype.json").read_text())))
                 for d, r in zip(dirs, runs, strict=True)]
        mean_acc = statistics.mean(a for a, _ in seeds)
        print(f"| the seeds' mean | | {mean_acc:.2f} | " + " | ".join(
            f"({statistics.mean(r[i] for _, r in seeds):.2f})" for i in range(len(devices))) + " |")
        arch, report = derive_from_runs(runs)
        row(f"**mean weights of the {len(runs)}**", arch)
        combined = {"the mean weights' cell": arch}
        # P-DARTS's rule on the derived cell: at most 2 skip connections (the paper's M; nothing tuned here)
        limit = {"max_skip_connect": 2}
        limited = [row(f"{d.name.removeprefix('sweep-')}, at most 2 skips",
                       derive_from_runs([r], supernet_options=limit)[0]) for d, r in zip(dirs, runs, strict=True)]
        print(f"| the seeds' mean, at most 2 skips | | {statistics.mean(a for a, _ in limited):.2f} | " + " | ".join(
            f"({statistics.mean(r[i] for _, r in limited):.2f})" for i in range(len(devices))) + " |")
        combined["with at most 2 skips"] = derive_from_runs(runs, supernet_options=limit)[0]
        row(f"**mean weights of the {len(runs)}, at most 2 skips**", combined["with at most 2 skips"])
        if len(runs) > 2:  # the median (one seed that went elsewhere cannot move it); would two seeds do?
            row(f"median weights of the {len(runs)}", derive_from_runs(runs, combine="median")[0])
            for i, j in itertools.combinations(range(len(runs)), 2):
                pair, _ = derive_from_runs([runs[i], runs[j]])
                row(f"mean weights of {dirs[i].name.removeprefix('sweep-')} and "
                    f"{dirs[j].name.removeprefix('sweep-')}", pair)
        probs = torch.stack([torch.softmax(torch.load(r / CHECKPOINT, weights_only=True)["supernet"]["alphas"], -1)
                             for r in runs]).mean(0)
        top = probs.topk(2, -1)
        edge = int((top.values[:, 0] - top.values[:, 1]).argmin())
        runner = probs.argmax(-1).tolist()
        runner[edge] = int(top.indices[edge, 1])
        alt = space.validate({"cell": format_cell([OPERATIONS[i] for i in runner])})
        w = report["weights"]
        print(f"\ncombined weights: entropy {100 * w['entropy_share']:.1f}% of the uniform's; closest edge "
              f"{edge} ({w['min_gap']:.3g} apart); its runner-up gives:\n")
        row("runner-up on the closest edge", alt)
        print()
        for label, cell in combined.items():
            tradeoff(label, cell)


def epochs(args: argparse.Namespace) -> None:
    """Each epoch's derived cell of every search in the sweeps given: its predicted cost (``metrics.jsonl``),
    true accuracy and latency, regret, and whether it meets the search's budget."""
    from nascost import plugins
    from nascost.derive import derive_from_runs
    from nascost.errors import NascostError
    from nascost.pareto import build_front
    from nascost.tables import read_accuracy_table, read_table

    _env(Path(args.work))
    space = plugins.get_space("nb201")
    acc = read_accuracy_table(args.accuracy, space)
    lat = read_table(args.latency, space)
    for d in args.sweeps:
        device = _dev(Path(d).name.removeprefix("sweep-"))
        front = build_front(lat.values(device), acc.values, names=acc.names, unit="ms")
        for run in sorted((Path(d) / "runs").glob("lambda_*")):
            if not (run / "metrics.jsonl").is_file():  # a --seeds combination: no search of its own
                continue
            config = json.loads((run / "config.json").read_text())
            target = config["costs"][0].get("target")
            rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
            print(f"\n#### {Path(d).name}, {run.name}" + (f", budget {target:.4g} ms" if target else "") + "\n")
            print("| epoch | derived cell | predicted ms | true ms | true accuracy % | regret | "
                  "sampled cells' mean, predicted ms |" + (" within budget |" if target else ""))
            print("|---|---|---|---|---|---|---|" + ("---|" if target else ""))
            for row in rows:
                g = json.loads((run / "genotypes" / f"epoch_{row['epoch']:03d}.json").read_text())
                arch = space.validate(g)
                a, c = acc.values[arch.key()], lat.values(device)[arch.key()]
                pred = next(iter(row["derived_cost"].values()))
                fits = (" yes |" if pred <= target else " no |") if target else ""
                mean = next(iter((row.get("expected_cost") or {}).values()), None)
                print(f"| {row['epoch'] + 1} | `{_cell(space, arch)}` | {pred:.3g} | {c:.3g} | {a:.2f} | "
                      f"{front.regret(c, a):.2f} | {'' if mean is None else f'{mean:.3g}'} |{fits}")
            if target and (run / "checkpoint.pt").is_file():
                try:  # nascost derive --target: the run's weights, the device's LPM
                    best, _ = derive_from_runs([run], target=f"{target:.6g}ms", cost=f"{device}-lpm")
                except NascostError:  # no cell within the budget
                    best = None
                if best is not None:
                    a, c = acc.values[best.key()], lat.values(device)[best.key()]
                    print(f"\nthe most probable cell of the final weights within the budget: `{_cell(space, best)}`, "
                          f"{c:.3g} ms, {a:.2f}%, regret {front.regret(c, a):.2f}")


def budget(args: argparse.Namespace) -> None:
    """A budget on the derivation, not the search (``nascost derive --target``): per device, the most
    probable cell under the mean final weights of the seeds' lambda-``--lambda`` searches whose predicted
    cost (the device's LPM) is at most F times the predicted cost of the cell the seeds' lambda-0 weights
    derive (those of ``--reference``, when the sweeps have no lambda 0; or the ``--against`` cell), for
    each F of ``--fractions``; and the same from each seed's weights alone. One rule for every device.
    ``--max-skip-connect N`` applies P-DARTS's limit to every derivation (the reference's included)."""
    import statistics

    import torch

    from nascost import plugins
    from nascost.derive import derive_from_runs
    from nascost.pareto import build_front
    from nascost.predict import load_predictor
    from nascost.tables import read_accuracy_table, read_table

    _env(Path(args.work))
    space = plugins.get_space("nb201")
    acc = read_accuracy_table(args.accuracy, space)
    lat = read_table(args.latency, space)
    dirs = [Path(d) for d in args.sweeps]
    limit = {"max_skip_connect": args.max_skip_connect} if args.max_skip_connect is not None else None
    if args.against:
        base, whose = space.resolve(args.against), "the given lambda-0 cell"
    else:
        base, _ = derive_from_runs([Path(d) / "runs" / "lambda_0" for d in (args.reference or dirs)],
                                   combine=args.combine, supernet_options=limit)
        whose = f"the lambda-0 {args.combine} weights' cell"
    runs = [d / "runs" / f"lambda_{args.lam:g}" for d in dirs]
    a0 = acc.values[base.key()]
    print(f"lambda {args.lam:g} weights of {', '.join(d.name for d in dirs)} ({args.combine}"
          f"{f', at most {args.max_skip_connect} skips' if limit else ''}); the reference is "
          f"{whose} `{_cell(space, base)}` ({a0:.2f}%)\n")
    print("| device | F | budget ms (predicted) | the mean weights' cell within it | true ms | faster than the "
          "reference | true accuracy % (vs the reference) | regret | each seed's alone: regret (mean) |")
    print("|---|---|---|---|---|---|---|---|---|")
    tradeoff = {}  # device -> (F, faster, points vs the reference, regret) at the smallest F within 0.5 points
    for dev in args.devices.split(","):
        front = build_front(lat.values(dev), acc.values, names=acc.names, unit="ms")
        model, _meta = load_predictor(Path(args.work) / f"{dev}-lpm.nascost")
        with torch.no_grad():
            ref = float(model.predict(space.encode([base]).float()).reshape(-1)[0])
        ref_true = lat.values(dev)[base.key()]

        def regret(cell) -> float:
            return front.regret(lat.values(dev)[cell.key()], acc.values[cell.key()])  # noqa: B023

        for f in (float(x) for x in args.fractions.split(",")):
            target = f"{f * ref:.6g}ms"
            cell, _report = derive_from_runs(runs, target=target, cost=f"{dev}-lpm", combine=args.combine,
                                             supernet_options=limit)
            singles = [regret(derive_from_runs([r], target=target, cost=f"{dev}-lpm", supernet_options=limit)[0])
                       for r in runs]
            c, a = lat.values(dev)[cell.key()], acc.values[cell.key()]
            print(f"| {dev} | {f:g} | {f * ref:.3g} | `{_cell(space, cell)}` | {c:.3g} | "
                  f"{100 * (1 - c / ref_true):.0f}% | {a:.2f} ({a - a0:+.2f}) | {regret(cell):.2f} | "
                  f"{', '.join(f'{r:.2f}' for r in singles)} ({statistics.mean(singles):.2f}) |")
            if a >= a0 - 0.5 and (dev not in tradeoff or f < tradeoff[dev][0]):
                tradeoff[dev] = (f, 1 - c / ref_true, a - a0, regret(cell))
    # the trade-off target, read on the fractions as on a lambda sweep: the smallest F whose cell
    # stays within 0.5 points of the reference must be at least 30% faster
    print("\n| device | smallest F within 0.5 points | faster than the reference | points | regret | target |")
    print("|---|---|---|---|---|---|")
    for dev in args.devices.split(","):
        if dev not in tradeoff:
            print(f"| {dev} | none | | | | not met |")
            continue
        f, faster, points, reg = tradeoff[dev]
        print(f"| {dev} | {f:g} | {100 * faster:.0f}% | {points:+.2f} | {reg:.2f} | "
              f"{'met' if faster >= 0.3 else 'not met'} |")
    met = sum(1 for v in tradeoff.values() if v[1] >= 0.3)
    print(f"\ntrade-off target met on {met} of {len(args.devices.split(','))} devices")


def _neighbours(space, arch, radius: int) -> list:
    """Every cell that differs from ``arch`` in 1..``radius`` edges, through its 6 x 5 one-hot encoding."""
    import itertools

    bits = space.encode([arch])[0].reshape(6, 5)
    now = bits.argmax(-1).tolist()
    out = []
    for k in range(1, radius + 1):
        for where in itertools.combinations(range(6), k):
            for pick in itertools.product(*[[o for o in range(5) if o != now[i]] for i in where]):
                new = bits.clone()
                for i, o in zip(where, pick, strict=True):
                    new[i] = 0
                    new[i, o] = 1
                out.append(space.decode(new.reshape(-1)))
    return out


def local(args: argparse.Namespace) -> None:
    """How well a predictor on 1,000 rows ranks the cells around one cell (the cells a search visits from it).

    Per device: the LPM on 1,000 random rows, and on 900 random rows plus ``--local-rows`` of the
    cell's neighbours (1-2 edges changed); Kendall tau and MAPE on the neighbours neither saw, and
    tau among the single-edge neighbours.
    """
    import numpy as np
    import torch
    from scipy.stats import kendalltau

    from nascost import plugins
    from nascost.tables import read_table

    torch.manual_seed(0)
    space = plugins.get_space("nb201")
    lat = read_table(args.latency, space)
    cell = space.resolve(args.cell)
    near1 = _neighbours(space, cell, 1)
    near = _neighbours(space, cell, 2)
    keys = list(lat.keys)
    archs = dict(zip(lat.keys, lat.archs, strict=True))
    rng = np.random.default_rng(0)
    print(f"cell {space.format_arch(cell)}: {len(near1)} single-edge and {len(near)} 1-2 edge neighbours\n")
    devices = args.devices.split(",")
    base = {d: lat.values(d)[cell.key()] for d in devices}
    print("| single-edge neighbour | " + " | ".join(f"{d}: true change, ms" for d in devices) + " |")
    print("|---|" + "---|" * len(devices))
    for a in near1:
        print(f"| `{_cell(space, a)}` | " + " | ".join(f"{lat.values(d)[a.key()] - base[d]:+.2f}" for d in devices) + " |")
    print()
    print("| device | training rows | held-out neighbours | Kendall tau | MAPE % | tau, single-edge neighbours |")
    print("|---|---|---|---|---|---|")
    for device in devices:
        values = lat.values(device)
        random_rows = [keys[i] for i in rng.choice(len(keys), 1000, replace=False)]
        local_rows = [near[i].key() for i in rng.choice(len(near), args.local_rows, replace=False)]
        for label, rows in (("1,000 random", random_rows),
                            (f"900 random + {args.local_rows} neighbours",
                             [k for k in random_rows if k not in set(local_rows)][:1000 - args.local_rows] + local_rows)):
            model = plugins.get_predictor("lpm")
            model.fit(space.encode([archs[k] for k in rows]).float(),
                      torch.tensor([values[k] for k in rows], dtype=torch.float32))
            seen = set(rows)
            test = [a for a in near if a.key() not in seen]

            def predict(cells: list, model=model) -> np.ndarray:
                return model.predict(space.encode(cells).float()).reshape(-1).detach().numpy()

            pred, true = predict(test), np.array([values[a.key()] for a in test])
            tau1 = kendalltau(predict(near1), [values[a.key()] for a in near1])[0]
            print(f"| {device} | {label} | {len(test)} | {kendalltau(pred, true)[0]:.3f} | "
                  f"{100 * np.mean(np.abs(pred - true) / true):.1f} | {tau1:.3f} |", flush=True)


def predictors(args: argparse.Namespace) -> None:
    from nascost import plugins
    from nascost.fit import build_predictor, compare_predictors, load_data

    work = Path(args.work)
    _env(work)
    space = plugins.get_space("nb201")
    db = work / "nb201.db"
    print("| device | predictor | n_train | Kendall tau | Spearman | MAPE % |\n|---|---|---|---|---|---|")
    for device in args.devices.split(","):
        data = load_data(db, space="nb201", device=device)
        measurer = plugins.get_measurer("table", data.measurer_options)
        lut, lut_meta = build_predictor(space=space, predictor="lut", setting=data.setting, measurer=measurer)
        res = compare_predictors(data, ["lpm", "ridge", "xgboost", "flops", "lut"], space=space,
                                 train_sizes=[20, 100, 900], test_fraction=0.9, seed=0, lut=lut)
        for name, r in res.items():
            for c in r.get("learning_curve", []):
                n = c["n_train"] if name != "lut" else f"{lut_meta.n_train} (its design)"
                print(f"| {device} | {name} | {n} | {c['kendall_tau']:.3f} | {c['spearman']:.3f} | {c['mape']:.1f} |",
                      flush=True)
                if name == "lut":
                    break


def headroom(args: argparse.Namespace) -> None:
    """How many cells the trade-off target admits, per device: those at least ``--faster`` faster than each
    ``--against`` cell for at most ``--within`` accuracy points; how many of them use only convolutions and
    skips; the front's best at fractions of the cell's latency; and each operation's mean latency over the
    table, since a cost predictor pushes the search towards the operations that are cheap on average."""
    import numpy as np

    from nascost import plugins
    from nascost.pareto import build_front, merge_equivalent
    from nascost.tables import read_accuracy_table, read_table
    from nascost_nb201.cell import OPERATIONS  # the benchmark knows its space

    space = plugins.get_space("nb201")
    acc = read_accuracy_table(args.accuracy, space)
    lat = read_table(args.latency, space)
    devices = args.devices.split(",") if args.devices else list(lat.columns)
    fractions = [float(x) for x in args.fractions.split(",")]
    tables = {d: lat.values(d) for d in devices}
    keys = [k for k in acc.values if all(k in t for t in tables.values())]
    a = np.array([acc.values[k] for k in keys])
    ops = space.encode([space.resolve(acc.names[k]) for k in keys]).numpy().reshape(len(keys), -1, len(OPERATIONS)).argmax(-1)
    plain = ~np.isin(ops, [OPERATIONS.index("none"), OPERATIONS.index("avg_pool_3x3")]).any(-1)
    costs = {d: np.array([tables[d][k] for k in keys]) for d in devices}

    def op_ms(c: np.ndarray, op: str) -> float:
        """The op's mean latency over the table: per edge, the mean over cells holding it there, then over edges."""
        return float(np.mean([c[ops[:, e] == OPERATIONS.index(op)].mean() for e in range(ops.shape[1])]))

    # the table's accuracy with the noise of training averaged out: the mean over cells that compute the same function
    merged, _ = merge_equivalent(acc.values, acc.names, space)
    smooth = np.array([merged[k] for k in keys])

    for text in args.against:
        ref = space.resolve(text)
        i0 = keys.index(ref.key())
        a0 = a[i0]
        print(f"\n#### against `{_cell(space, ref)}` ({a0:.2f}%): at least {100 * args.faster:g}% faster for at most "
              f"{args.within:g} points\n")
        print("| device | its latency ms | cells that meet the target | of them, convolutions and skips only | "
              "with class means | "
              + " | ".join(f"front at {f:g}x: accuracy % (points below)" for f in fractions)
              + " | mean ms, an edge `none` / `skip_connect` |")
        print("|---|---|---|---|---|" + "---|" * len(fractions) + "---|")
        for dev in devices:
            c = costs[dev]
            ms0 = c[i0]
            ok = (c <= (1 - args.faster) * ms0) & (a >= a0 - args.within)
            robust = (c <= (1 - args.faster) * ms0) & (smooth >= smooth[i0] - args.within)
            front = build_front(tables[dev], acc.values, unit="ms")
            picks = []
            for f in fractions:
                best = front.best_within(f * ms0)
                picks.append("-" if best is None else f"{front.accs[best]:.2f} ({a0 - front.accs[best]:+.2f})")
            print(f"| {dev} | {ms0:.3g} | {int(ok.sum())} | {int((ok & plain).sum())} | {int(robust.sum())} | "
                  + " | ".join(picks)
                  + f" | {op_ms(c, 'none'):.3g} / {op_ms(c, 'skip_connect'):.3g} |")


def noise(args: argparse.Namespace) -> None:
    """How far the accuracy table can be trusted: the spread of accuracy among cells that compute the same function.

    NAS-Bench-201 trained every one of its 15,625 cells, and cells that the reference's isomorphism test
    (the space's ``equivalence_key``) puts in one class compute the same function, so the spread of
    their accuracies is the noise of training alone. A true front is the most accurate cell at each latency,
    so it rides on that noise: its cells' lift over their class means says how much. ``--cells`` shows single
    cells with their class-mates.
    """
    import itertools

    import numpy as np

    from nascost.pareto import build_front, merge_equivalent

    space, acc, lat, devices, fronts = _truth(args)
    classes: dict[str, list[str]] = {}
    for k in acc.values:
        classes.setdefault(space.equivalence_key(space.parse_arch(acc.names[k])), []).append(k)
    mean, _ = merge_equivalent(acc.values, acc.names, space)
    size = {k: len(members) for members in classes.values() for k in members}
    shared = [members for members in classes.values() if len(members) > 1]
    print(f"{len(acc.values)} cells, {len(classes)} functions (the reference's isomorphism classes); "
          f"{len(shared)} classes hold 2 or more cells ({sum(map(len, shared))} cells)\n")
    print("| classes whose mean accuracy is | classes | cells | pooled standard deviation | mean difference of two "
          "class-mates | pairs more than 0.5 apart | largest difference |")
    print("|---|---|---|---|---|---|---|")
    for floor_ in (0.0, 90.0, 93.0):
        sel = [m for m in shared if mean[m[0]] >= floor_]
        dev = np.array([acc.values[k] - mean[k] for m in sel for k in m])
        pooled = float(np.sqrt((dev ** 2).sum() / sum(len(m) - 1 for m in sel)))
        pairs = np.array([abs(acc.values[x] - acc.values[y]) for m in sel for x, y in itertools.combinations(m, 2)])
        print(f"| >= {floor_:g}% | {len(sel)} | {sum(map(len, sel))} | {pooled:.2f} | {pairs.mean():.2f} | "
              f"{100 * np.mean(pairs > 0.5):.1f}% | {pairs.max():.2f} |")
    print("\n| device | cells on the front | of them with class-mates | their lift over the class mean: mean | max | "
          "the front's cells that keep their place with class means |")
    print("|---|---|---|---|---|---|")
    for d in devices:
        front = fronts[d]
        on = sorted({front.keys[int(i)] for i in front.best_so_far})
        lift = [acc.values[k] - mean[k] for k in on if size[k] > 1]
        smooth = build_front(lat.values(d), mean, unit="ms")
        kept = sum(k in {smooth.keys[int(i)] for i in smooth.best_so_far} for k in on)
        print(f"| {d} | {len(on)} | {len(lift)} | {np.mean(lift):+.2f} | {np.max(lift):+.2f} | {kept} |")
    for text in args.cells:
        arch = space.resolve(text)
        mates = classes[space.equivalence_key(arch)]
        print(f"\n`{_cell(space, arch)}`: {acc.values[arch.key()]:.2f}%, its class ({len(mates)} cells): "
              f"mean {mean[arch.key()]:.2f}%; " + ", ".join(
                  f"`{acc.names[k]}` {acc.values[k]:.2f}% " + " / ".join(f"{lat.values(d)[k]:.3g}" for d in devices)
                  + " ms" for k in mates))


def _train_on_paths(model, config, data, train_idx: list[int], epochs: int) -> None:
    """Retrain ``model``'s weights from scratch on uniformly sampled single paths (SPOS; Guo et al., ECCV 2020).

    Each batch trains one cell drawn uniformly (one operation per edge), with the search's SGD
    settings and a cosine schedule; only the drawn operation of each edge is computed.
    """
    import random

    import torch
    import torch.nn.functional as F

    from nascost_nb201.supernet import MixedEdge  # the benchmark knows its space

    def drawn_only(edge, x, weights):  # the drawn path's weights are one-hot: skip the four others
        return edge.ops[int(weights.argmax())](x)

    for m in model.modules():
        if m is not model and hasattr(m, "reset_parameters"):
            m.reset_parameters()
    rng = random.Random(config.seed)
    torch.manual_seed(config.seed)
    loader = torch.utils.data.DataLoader(data, batch_size=config.batch_size, drop_last=True,
                                         sampler=torch.utils.data.SubsetRandomSampler(train_idx))
    params = [p for p in model.parameters() if all(p is not a for a in model.arch_parameters())]
    opt = torch.optim.SGD(params, lr=config.learning_rate, momentum=config.momentum, nesterov=config.nesterov,
                          weight_decay=config.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs * len(loader), eta_min=config.learning_rate_min)
    model.train()
    start = time.perf_counter()
    original, MixedEdge.forward = MixedEdge.forward, drawn_only
    try:
        for epoch in range(epochs):
            hits = seen = 0
            for x, y in loader:
                ops = torch.tensor([rng.randrange(model.alphas.shape[1]) for _ in range(model.alphas.shape[0])])
                with torch.no_grad():
                    model.alphas.copy_(torch.where(F.one_hot(ops, model.alphas.shape[1]) > 0, 0.0, -1e9))
                out = model(x)
                loss = F.cross_entropy(out, y)
                opt.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(params, config.grad_clip)
                opt.step()
                sched.step()
                hits, seen = hits + int((out.argmax(-1) == y).sum()), seen + len(y)
            if (epoch + 1) % 10 == 0 or epoch + 1 == epochs:
                rate = (time.perf_counter() - start) / (epoch + 1)
                print(f"paths: epoch {epoch + 1}/{epochs}, train accuracy {100 * hits / seen:.1f}%, {rate:.1f}s per epoch, "
                      f"ETA {rate * (epochs - epoch - 1):.0f}s", flush=True)
    finally:
        MixedEdge.forward = original


def oneshot(args: argparse.Namespace) -> None:
    """Can the supernets rank cells by themselves? Each cell's accuracy with supernet weights.

    The cells: the runs' mean weights' cell, its 24 single-edge neighbours, its 15 cells with two
    edges cut to ``none`` (the kind of cut the GPU's and the server CPU's fronts use), the
    table's 20 most accurate cells and 20 (``--scores paths``: 100) random ones. ``--scores``:

    - ``discrete``: every run's final supernet with the cell's operations alone (one-hot
      architecture weights);
    - ``perturb``: every run's final supernet with only the edges where the cell differs from the
      mean weights' cell set one-hot, the others keeping the supernet's own mixture (the
      perturbation of DARTS-PT, Wang et al., ICLR 2021); only the neighbours and cuts;
    - ``paths``: the first run's supernet retrained from scratch for ``--epochs`` on uniformly
      sampled single paths (SPOS), then as ``discrete``.

    Always with batch statistics as in the search, on the first ``--images`` images of the
    search's architecture half; the mean over the supernets is set against the cells' true
    accuracy. A discrete step after the search (a local search on the LPM around the derived
    cell) would need exactly this signal to pick a cut.
    """
    import random

    import numpy as np
    import torch
    from scipy.stats import kendalltau, spearmanr

    from nascost import plugins
    from nascost.derive import derive_from_runs, load_supernet
    from nascost_nb201.cell import OPERATIONS  # the benchmark knows its space

    torch.set_num_threads(1)
    space, acc, lat, devices, fronts = _truth(args)
    runs = [Path(r) for r in args.runs]
    center, _ = derive_from_runs(runs)
    near = args.scores == "perturb"
    cells = {"the mean weights' cell": [center], "single-edge neighbours": _neighbours(space, center, 1),
             "two edges cut to none": []}
    none = OPERATIONS.index("none")
    for a in _neighbours(space, center, 2):
        diff = (space.encode([a]) - space.encode([center])).reshape(6, 5)
        if int((diff[:, none] > 0).sum()) == 2:
            cells["two edges cut to none"].append(a)
    if not near:
        ranked = sorted(acc.values, key=acc.values.get, reverse=True)
        cells["the table's 20 most accurate"] = [space.resolve(acc.names[k]) for k in ranked[:20]]
        n_random = 100 if args.scores == "paths" else 20
        cells[f"{n_random} random"] = [space.resolve(acc.names[k]) for k in random.Random(0).sample(ranked, n_random)]
    unique = list({a.key(): a for group in cells.values() for a in group}.values())
    models = runs[:1] if args.scores == "paths" else runs
    scores = np.zeros((len(models), len(unique)))
    for r, run in enumerate(models):
        model, config, _ = load_supernet(run)
        data = plugins.get_dataset(config.dataset, config.dataset_options or None)
        train = data.load("train", augment=False)
        order = torch.randperm(len(train), generator=torch.Generator().manual_seed(config.seed)).tolist()
        half = int(config.train_portion * len(order))
        if args.scores == "paths":
            _train_on_paths(model, config, data.load("train", augment=True), order[:half], args.epochs)
        held = order[half:][: args.images]
        x = torch.stack([train[i][0] for i in held])
        y = torch.tensor([train[i][1] for i in held])
        trained = model.alphas.detach().clone()
        centre_bits = space.encode([center]).reshape(6, 5)
        model.train()  # batch statistics, as the search evaluated its supernet
        start = time.perf_counter()
        with torch.no_grad():
            for j, a in enumerate(unique):
                bits = space.encode([a]).reshape(6, 5)
                one_hot = torch.where(bits > 0, 0.0, -1e9)  # softmax of these logits is exactly one-hot
                changed = (bits != centre_bits).any(-1, keepdim=True) if near else torch.ones(6, 1, dtype=torch.bool)
                model.alphas.copy_(torch.where(changed, one_hot, trained))
                hits = sum(int((model(x[b:b + 250]).argmax(-1) == y[b:b + 250]).sum()) for b in range(0, len(x), 250))
                scores[r, j] = 100 * hits / len(x)
        print(f"{run}: {len(unique)} cells in {time.perf_counter() - start:.0f}s", flush=True)
    mean = scores.mean(0)
    true = np.array([acc.values[a.key()] for a in unique])
    at = {a.key(): j for j, a in enumerate(unique)}
    agree = (f"; each supernet's scores against the mean: Spearman "
             f"{np.mean([spearmanr(s, mean)[0] for s in scores]):.2f} on average" if len(scores) > 1 else "")
    print(f"\n{args.scores} scores {mean.min():.1f}-{mean.max():.1f}% (chance: 10%){agree}\n")
    print("| cells | n | Spearman, scores vs true | Kendall tau | true accuracy of the scores' pick | "
          "true accuracy of the best |")
    print("|---|---|---|---|---|---|")
    for label, group in [("all", unique), *cells.items()]:
        j = [at[a.key()] for a in group]
        if len(j) < 3:
            continue
        pick = j[int(np.argmax(mean[j]))]
        print(f"| {label} | {len(j)} | {spearmanr(mean[j], true[j])[0]:.2f} | {kendalltau(mean[j], true[j])[0]:.2f} | "
              f"{true[pick]:.2f} | {true[j].max():.2f} |")
    print("\n| the scores' top 5 | score % | true accuracy % | " + " | ".join(f"{d} ms (regret)" for d in devices) + " |")
    print("|---|---|---|" + "---|" * len(devices))
    for j in np.argsort(-mean)[:5]:
        a = unique[j]
        print(f"| `{_cell(space, a)}` | {mean[j]:.1f} | {true[j]:.2f} | " + " | ".join(
            f"{lat.values(d)[a.key()]:.3g} ({fronts[d].regret(lat.values(d)[a.key()], true[j]):.2f})" for d in devices) + " |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", default="nb201-bench")
    ap.add_argument("--latency", default=str(SHARED / "nb201" / "latency.csv.gz"))
    ap.add_argument("--accuracy", default=str(SHARED / "nb201" / "accuracy.csv.gz"))
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("prepare")
    p.add_argument("--devices", default="pixel3,gold_6240,titan_rtx_32")
    p = sub.add_parser("sweep")
    p.add_argument("--device", required=True)
    p.add_argument("--lambdas", default=LAMBDAS)
    p.add_argument("--dataset", default=f"imagefolder:{SHARED / 'cifar10-subset'}")
    p.add_argument("--scale", choices=["spread", "paper"], default="spread", help="the costs' scale (see above)")
    p.add_argument("--cost", choices=["lpm", "table"], default="lpm",
                   help="the device's cost: its LPM on 1,000 rows, or its whole table (the search without "
                        "predictor error; needs --estimator exact)")
    p.add_argument("--estimator", choices=["st", "exact"], default="st",
                   help="the cost's gradient: straight-through over sampled cells (the paper), or the exact "
                        "expectation over all 15,625 cells")
    p.add_argument("--relaxation", choices=["softmax", "dirichlet", "gumbel"], default="softmax",
                   help="dirichlet: DrNAS's relaxation instead of the softmax; gumbel: GDAS's (one operation per "
                        "edge drawn each step, temperature 10 to 0.1)")
    p.add_argument("--regularizer-weight", type=float,
                   help="beta-DARTS's final weight instead of the protocol's 1 (0: no regulariser)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--layers", type=int, help="cells per stage instead of the protocol's 1")
    p.add_argument("--arch-lr", type=float, help="the architecture learning rate instead of the protocol's 3e-3")
    p.add_argument("--epochs", type=int, help="search epochs instead of the protocol's 10 (the first 3 still train "
                                              "weights only)")
    p.add_argument("--budget", type=float,
                   help="a latency budget (hinge on the derived cell's predicted cost, slope lambda) of this "
                        "fraction of the lambda-0 cell's predicted cost, e.g. 0.7")
    p.add_argument("--budget-mode", choices=["hinge", "adaptive"], default="hinge",
                   help="the budget's form (--target-mode): a hinge of slope lambda, or an adaptive multiplier "
                        "starting at lambda")
    p = sub.add_parser("summary")
    p.add_argument("sweeps", nargs="+")
    p = sub.add_parser("floor")
    p.add_argument("sweeps", nargs="+")
    p.add_argument("--devices", default="pixel3,gold_6240,titan_rtx_32")
    p = sub.add_parser("predictors")
    p.add_argument("--devices", default="pixel3,gold_6240,titan_rtx_32")
    p = sub.add_parser("ensemble")
    p.add_argument("sweeps", nargs="+")
    p.add_argument("--devices", default="pixel3,gold_6240,titan_rtx_32")
    p.add_argument("--against", metavar="CELL",
                   help="the trade-off target's lambda-0 cell (NAS-Bench-201 string; default: the mean weights' "
                        "cell of the sweeps' lambda-0 runs, where they ran lambda 0)")
    p = sub.add_parser("epochs")
    p.add_argument("sweeps", nargs="+")
    p = sub.add_parser("budget")
    p.add_argument("sweeps", nargs="+")
    p.add_argument("--lambda", dest="lam", type=float, default=0.0, help="whose weights: the seeds' searches at this lambda")
    p.add_argument("--fractions", default="0.5,0.6,0.7,0.8,0.9",
                   help="budgets as fractions of the lambda-0 cell's predicted cost")
    p.add_argument("--reference", nargs="+",
                   help="the sweeps whose lambda-0 runs' mean weights give the reference cell [the sweeps given]")
    p.add_argument("--against", metavar="CELL",
                   help="the reference cell itself (NAS-Bench-201 string or preset), instead of lambda-0 runs")
    p.add_argument("--max-skip-connect", type=int, metavar="N",
                   help="P-DARTS's limit on every derived cell: at most N skip connections (nb201's max_skip_connect)")
    p.add_argument("--combine", choices=["mean", "median"], default="mean",  # nascost.derive.COMBINE
                   help="how the seeds' weights combine (nascost derive --combine)")
    p.add_argument("--devices", default="pixel3,gold_6240,titan_rtx_32")
    p = sub.add_parser("local")
    p.add_argument("--cell", default="best-cifar100", help="the cell whose neighbours are ranked (the lambda-0 cell)")
    p.add_argument("--local-rows", type=int, default=100)
    p.add_argument("--devices", default="pixel3,gold_6240,titan_rtx_32")
    p = sub.add_parser("oneshot")
    p.add_argument("runs", nargs="+", help="finished searches' run directories (the lambda-0 seeds)")
    p.add_argument("--images", type=int, default=1000, help="images of the architecture half to evaluate on")
    p.add_argument("--scores", choices=["discrete", "perturb", "paths"], default="discrete",
                   help="the supernets' final weights with one-hot cells, the same with only the changed edges "
                        "one-hot, or a supernet retrained on sampled paths")
    p.add_argument("--epochs", type=int, default=120, help="--scores paths: epochs on sampled paths")
    p.add_argument("--devices", default="pixel3,gold_6240,titan_rtx_32")
    p = sub.add_parser("noise")
    p.add_argument("--cells", nargs="*", default=[], metavar="CELL", help="cells to show with their class-mates")
    p.add_argument("--devices", default="pixel3,gold_6240,titan_rtx_32")
    p = sub.add_parser("headroom")
    p.add_argument("--against", nargs="+", required=True, metavar="CELL",
                   help="the lambda-0 cell(s) the target is measured against (NAS-Bench-201 strings or presets)")
    p.add_argument("--faster", type=float, default=0.3, help="the latency cut the target asks (0.3: 30%%)")
    p.add_argument("--within", type=float, default=0.5, help="the accuracy points the target allows")
    p.add_argument("--fractions", default="0.5,0.7,0.9", help="where to read the front, as fractions of CELL's latency")
    p.add_argument("--devices", default="", help="devices (table columns) [every column of the table]")
    args = ap.parse_args()
    {"prepare": prepare, "sweep": sweep, "summary": summary, "floor": floor, "predictors": predictors,
     "epochs": epochs, "ensemble": ensemble, "budget": budget, "local": local,
     "headroom": headroom, "oneshot": oneshot, "noise": noise}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
