"""Experiment reports: one self-contained HTML page (plus its PNGs) from run directories.

``nascost report RUN_DIR... -o report.html`` reads what searches, trainings and
sweeps leave in their directories and shows:

- every run's derived cell at its measured cost against its accuracy (the test
  accuracy of its evaluation training, else the search's final validation
  accuracy, marked apart), with the Pareto front where runs make one, beside the
  space's published cells measured on the same device (a search's
  ``summary.json["references"]``, a sweep's ``references.json``);
- a training run given with the search its genotype came from (``search_dir``)
  joins that search's row;
- per search: its main options, each cost's predictor (source, training rows and
  range, held-out MAPE and Kendall tau, device, setting) and the derived
  network's predicted and measured cost (and measured as its encoding describes it);
- the derived cells (the space's ``draw``), loss and accuracy curves, the cost
  term and predicted cost per epoch;
- the architecture-weight evolution: per-epoch softmax weights where the run
  recorded them (``arch_weights.jsonl``, written by sweeps, or an
  ``arch_weights`` field in ``metrics.jsonl``), else how the derived
  architecture changed epoch by epoch (``genotypes/``), plus the final weights
  from ``checkpoint.pt``;
- predicted against measured cost of the derived and reference cells.

Images are embedded as base64 PNGs so the page opens anywhere without a
server; the same PNGs are written next to it for papers and slides. Run
directories are only read, and only JSON and ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import base64
import html
import json
import math
import re
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from nascost.errors import NascostError
from nascost.files import atomic_write, write_text
from nascost.records import Architecture
from nascost.space import GUMBEL_TEMPERATURE

# --- reading run directories -------------------------------------------------------------


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        return None


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Rows of a JSON-lines file; a torn last line (a killed writer) is skipped."""
    rows: list[dict[str, Any]] = []
    if not path.is_file():
        return rows
    try:
        text = path.read_text()
    except UnicodeDecodeError as exc:
        raise NascostError(f"{str(path)!r} is not text (byte {exc.start} is not UTF-8): the run's metrics are "
                           "damaged; report the run without them by moving the file away") from None
    for line in text.splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(row, dict):
            rows.append(row)
    return rows


@dataclass
class Run:
    """What one run directory holds (every field optional but ``path`` and ``kind``)."""

    path: Path
    kind: str  # "search" or "train"
    name: str
    config: dict[str, Any] = field(default_factory=dict)
    rows: list[dict[str, Any]] = field(default_factory=list)
    space_name: str | None = None
    spec: dict[str, Any] | None = None
    summary: dict[str, Any] = field(default_factory=dict)
    measurement: dict[str, Any] | None = None
    train_summary: dict[str, Any] | None = None
    train_rows: list[dict[str, Any]] = field(default_factory=list)
    #: test accuracies of every evaluation training (``train/``, ``train-seed1/``, ...)
    train_accuracies: list[float] = field(default_factory=list)
    genotypes: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    arch_weights: list[dict[str, Any]] = field(default_factory=list)
    #: the space's published cells measured as the derived one was (``summary.json["references"]``)
    references: list[dict[str, Any]] = field(default_factory=list)
    #: training runs given with this search and linked to it (``search_dir``)
    linked: list[Path] = field(default_factory=list)
    #: a training run: the search its genotype came from, where recorded
    search_dir: str | None = None

    def attach(self, training: Run) -> None:
        """Take a training of this search's derived cell as its evaluation training."""
        self.linked.append(training.path)
        summ = training.train_summary or {}
        if isinstance(summ.get("test_acc"), int | float):
            self.train_accuracies.append(float(summ["test_acc"]))
        if self.train_summary is None:
            self.train_summary, self.train_rows = training.train_summary, training.train_rows

    @property
    def val_accuracy(self) -> float | None:
        """The search's last validation accuracy (%), of the supernet on the held-out half."""
        for row in reversed(self.rows):
            if isinstance(row.get("val_acc"), int | float):
                return 100.0 * float(row["val_acc"])
        return None

    def plot_accuracy(self) -> tuple[float, str] | None:
        """The accuracy to plot and where it comes from: ``test`` (trained) or ``val`` (the search's)."""
        if self.accuracy is not None:
            return self.accuracy, "test"
        val = self.val_accuracy
        return (val, "val") if val is not None else None

    @property
    def accuracy(self) -> float | None:
        """Test accuracy (%) after evaluation training (the mean over seeds), if there was one."""
        if self.train_accuracies:
            return statistics.fmean(self.train_accuracies)
        if self.train_summary and self.train_summary.get("test_acc") is not None:
            return float(self.train_summary["test_acc"])
        return None

    @property
    def accuracy_std(self) -> float | None:
        """Sample standard deviation of the test accuracy over training seeds (None for one training)."""
        return statistics.stdev(self.train_accuracies) if len(self.train_accuracies) > 1 else None

    def accuracy_text(self) -> str | None:
        acc = self.accuracy
        if acc is None:
            return None
        std = self.accuracy_std
        return f"{acc:.2f}" if std is None else f"{acc:.2f} ± {std:.2f} ({len(self.train_accuracies)} seeds)"

    @property
    def lambdas(self) -> dict[str, float]:
        return {c["name"]: c.get("lambda") for c in self.config.get("costs", []) if isinstance(c, dict)}

    def predicted(self) -> dict[str, tuple[float, str]]:
        """Predicted cost of the derived architecture per cost name: (value, unit)."""
        out: dict[str, tuple[float, str]] = {}
        for name, item in (self.summary.get("predicted_cost") or {}).items():
            if isinstance(item, dict) and item.get("value") is not None:
                out[name] = (float(item["value"]), str(item.get("unit", "")))
        return out


def _label(path: Path, config: dict[str, Any]) -> str:
    costs = [c for c in config.get("costs", []) if isinstance(c, dict)]
    search = config.get("search", {}) if isinstance(config.get("search"), dict) else {}
    space = search.get("space", "")
    if not costs:
        return f"{path.name} ({space}, no cost)" if space else path.name
    parts = []
    for c in costs:
        lam = c.get("lambda")
        target = c.get("target")
        parts.append(f"{c.get('name')} " + (f"target {target:g}" if target is not None else f"λ={lam:g}"))
    return f"{path.name} ({space}, {', '.join(parts)})"


def load_run(path: str | Path) -> Run:
    """Read one search or training run directory."""
    path = Path(path)
    if not path.is_dir():
        raise NascostError(f"run directory {str(path)!r} does not exist")
    config = _read_json(path / "config.json") or {}
    summary = _read_json(path / "summary.json") or {}
    if "train" in config and "search" not in config:
        spec = config.get("architecture")
        origin = summary.get("search_dir") or config.get("search_dir")
        return Run(
            path=path,
            kind="train",
            name=path.name,
            config=config,
            space_name=config.get("space"),
            spec=spec if isinstance(spec, dict) else None,
            train_summary=summary or None,
            train_rows=_read_jsonl(path / "metrics.jsonl"),
            search_dir=origin if isinstance(origin, str) else None,
        )
    if not (path / "metrics.jsonl").is_file() and not (path / "genotype.json").is_file():
        raise NascostError(
            f"{str(path)!r} is not a nascost run directory (no metrics.jsonl or genotype.json); "
            "pass directories written by 'nascost search', 'nascost train' or 'nascost sweep'"
        )
    rows = _read_jsonl(path / "metrics.jsonl")
    geno = _read_json(path / "genotype.json")
    space_name = None
    spec = None
    if isinstance(geno, dict):
        space_name = geno.get("space")
        spec = {k: v for k, v in geno.items() if k != "space"}
    elif isinstance(config.get("search"), dict):
        space_name = config["search"].get("space")
    genotypes = []
    gdir = path / "genotypes"
    if gdir.is_dir():
        for p in sorted(gdir.glob("*.json")):
            g = _read_json(p)
            if isinstance(g, dict):
                genotypes.append((p.stem, {k: v for k, v in g.items() if k != "space"}))
    # one entry per (stage, epoch): a resumed search re-records the epochs it redid
    by_epoch = {(w.get("stage", 0), w.get("epoch")): w for w in _read_jsonl(path / "arch_weights.jsonl")}
    weights = [by_epoch[k] for k in sorted(by_epoch, key=lambda k: (k[0] or 0, k[1] if k[1] is not None else -1))]
    if not weights:
        weights = [
            {"epoch": i, "stage": r.get("stage", 0), "weights": r["arch_weights"]}
            for i, r in enumerate(rows)
            if isinstance(r.get("arch_weights"), dict)
        ]
    train_dir = path / "train"
    train_summary = _read_json(train_dir / "summary.json") if train_dir.is_dir() else None
    accuracies = []
    seeds = sorted(path.glob("train-seed*"), key=lambda p: (len(p.name), p.name))  # nascost sweep --train-seeds
    for summ in [train_summary, *(_read_json(d / "summary.json") for d in seeds if d.is_dir())]:
        if isinstance(summ, dict) and isinstance(summ.get("test_acc"), int | float):
            accuracies.append(float(summ["test_acc"]))
    return Run(
        path=path,
        kind="search",
        name=_label(path, config),
        config=config,
        rows=rows,
        space_name=space_name,
        spec=spec,
        summary=summary,
        measurement=_read_json(path / "measurement.json"),
        train_summary=train_summary,
        train_rows=_read_jsonl(train_dir / "metrics.jsonl") if train_dir.is_dir() else [],
        train_accuracies=accuracies,
        genotypes=genotypes,
        arch_weights=weights,
        references=[r for r in summary.get("references") or [] if isinstance(r, dict)],
    )


def expand(paths: list[str | Path]) -> tuple[list[Run], list[dict[str, Any]]]:
    """Runs and reference measurements from the given directories (a sweep expands to its runs)."""
    runs: list[Run] = []
    references: list[dict[str, Any]] = []
    for p in paths:
        p = Path(p)
        sweep = _read_json(p / "sweep.json") if p.is_dir() else None
        if isinstance(sweep, dict):
            for sub in sweep.get("runs", []):
                sub_path = p / sub
                if sub_path.is_dir():
                    runs.append(load_run(sub_path))
            refs = _read_json(p / "references.json")
            if isinstance(refs, list):
                references += [r for r in refs if isinstance(r, dict)]
            continue
        runs.append(load_run(p))
    if not runs:
        raise NascostError("no runs to report on: the sweep directories hold no finished runs yet")
    return _join_trainings(runs), references


def _join_trainings(runs: list[Run]) -> list[Run]:
    """Attach each training run to the given search its genotype came from (one row, not two).

    A training whose recorded search is not among the runs, or whose cell is no
    longer that search's derived cell (the search was run again), stays on its own.
    """
    searches: dict[Path, Run] = {}
    for run in runs:
        if run.kind == "search":
            searches.setdefault(run.path.resolve(), run)
    kept = []
    for run in runs:
        target = searches.get(Path(run.search_dir).resolve()) if run.kind == "train" and run.search_dir else None
        if target is not None and (target.spec is None or run.spec is None or target.spec == run.spec):
            target.attach(run)
            continue
        kept.append(run)
    return kept


# --- figures ------------------------------------------------------------------------------


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> Path:
    with atomic_write(path, "wb") as fh:
        fig.savefig(fh, dpi=100, format="png")
    _plt().close(fig)
    return path


def _integer_ticks(ax: Any) -> None:
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-")[:60] or "run"


#: Line styles of the two halves of a learning curve: the second must stay visible on top of the first.
TRAIN_STYLE = {"ls": "-", "marker": "o", "alpha": 0.9}
HELD_OUT_STYLE = {"ls": "--", "marker": "s", "mfc": "none", "alpha": 0.9}


def curves_figure(run: Run) -> Any:
    """Loss and accuracy per epoch (search: train/validation halves; training: train/test), or None."""
    from nascost.plotting import fit_titles

    panels = []
    if run.rows:
        panels.append(("search", run.rows, ("train_loss", "val_loss"), ("train_acc", "val_acc"), 100.0,
                       ("train half", "validation half")))  # fmt: skip
    if run.train_rows:
        panels.append(("evaluation training", run.train_rows, ("train_loss", "test_loss"), ("train_acc", "test_acc"),
                       1.0, ("train", "test")))  # fmt: skip
    if not panels:
        return None
    plt = _plt()
    fig, axes = plt.subplots(len(panels), 2, figsize=(10, 3.2 * len(panels)), squeeze=False)
    for i, (title, rows, losses, accs, acc_scale, names) in enumerate(panels):
        x = list(range(1, len(rows) + 1))
        for col, keys, scale in ((0, losses, 1.0), (1, accs, acc_scale)):
            for key, name, style in zip(keys, names, (TRAIN_STYLE, HELD_OUT_STYLE), strict=True):
                ys = [r.get(key) for r in rows]
                if any(y is not None for y in ys):
                    axes[i][col].plot(x, [math.nan if y is None else y * scale for y in ys], label=name, **style)
        axes[i][0].set_title(f"{title}: loss")
        axes[i][1].set_title(f"{title}: accuracy (%)")
        for ax in axes[i]:
            ax.set_xlabel("epoch")
            _integer_ticks(ax)
            ax.grid(alpha=0.3)
            if ax.lines:
                ax.legend(fontsize=8)
    fit_titles(fig)
    return fig


def plot_curves(run: Run, path: Path) -> Path | None:
    """Loss and accuracy per epoch, saved to ``path`` (None: the run logged no epochs)."""
    fig = curves_figure(run)
    return _save(fig, path) if fig is not None else None


def plot_cost_curves(run: Run, path: Path) -> Path | None:
    """Cost term of the loss and predicted cost of the derived architecture per epoch."""
    from nascost.plotting import fit_titles

    rows = run.rows
    if not rows or not any(r.get("derived_cost") or r.get("cost_term") is not None for r in rows):
        return None
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.2))
    x = list(range(1, len(rows) + 1))
    names = sorted({k for r in rows for k in (r.get("derived_cost") or {})})
    units = {c.get("name"): c.get("unit", "") for c in run.config.get("costs", []) if isinstance(c, dict)}
    for name in names:
        ys = [(r.get("derived_cost") or {}).get(name) for r in rows]
        axes[0].plot(x, [math.nan if y is None else y for y in ys], label=f"{name} ({units.get(name, '')})", **TRAIN_STYLE)
        exp = [(r.get("expected_cost") or {}).get(name) for r in rows]
        if any(e is not None for e in exp):
            axes[0].plot(x, [math.nan if e is None else e for e in exp], label=f"{name}: E[cost] of samples",
                         **HELD_OUT_STYLE)  # fmt: skip
    axes[0].set_title("predicted cost of the derived architecture")
    terms = [r.get("cost_term") for r in rows]
    axes[1].plot(x, [math.nan if t is None else t for t in terms], marker="o", color="tab:red")
    axes[1].set_title("cost term λ·LAT(α) in the loss")
    for ax in axes:
        ax.set_xlabel("epoch")
        _integer_ticks(ax)
        ax.grid(alpha=0.3)
    if axes[0].lines:
        axes[0].legend(fontsize=8)
    fit_titles(fig)
    return _save(fig, path)


def _softmax_rows(matrix: list[list[float]]) -> torch.Tensor:
    t = torch.tensor(matrix, dtype=torch.float64)
    return torch.softmax(t, dim=-1) if t.dim() == 2 else t


#: Line styles cycled over the operations, so curves of equal weight stay distinguishable.
OP_STYLES = ["-", "--", "-.", ":"]


def plot_weight_evolution(run: Run, path: Path, op_names: list[str] | None = None) -> Path | None:
    """Mean softmax weight of each operation over the edges, per epoch, for each architecture tensor."""
    from nascost.plotting import fit_titles

    if not run.arch_weights:
        return None
    plt = _plt()
    # progressive searches (P-DARTS) drop operations between stages: plot the last stage only
    last_stage = run.arch_weights[-1].get("stage", 0)
    entries = [e for e in run.arch_weights if e.get("stage", 0) == last_stage]
    names = [k for k, v in entries[-1]["weights"].items() if isinstance(v, list)]
    if not names:
        return None
    fig, axes = plt.subplots(1, len(names), figsize=(5 * len(names), 3.4), squeeze=False)
    for ax, name in zip(axes[0], names, strict=False):
        series: dict[int, list[float]] = {}
        xs = []
        for i, entry in enumerate(entries):
            mat = entry["weights"].get(name)
            if not isinstance(mat, list):
                continue
            probs = _softmax_rows(mat)
            if probs.dim() != 2:
                continue
            xs.append(i + 1)
            for j, v in enumerate(probs.mean(0).tolist()):
                series.setdefault(j, []).append(v)
        for j, ys in series.items():
            label = op_names[j] if op_names and len(series) == len(op_names) else f"op {j}"
            ax.plot(xs[: len(ys)], ys, marker=".", ls=OP_STYLES[j % len(OP_STYLES)], label=label)
        stage = f" (stage {last_stage})" if last_stage else ""
        ax.set_title(f"{name}: mean softmax weight per operation{stage}")
        ax.set_xlabel("epoch")
        _integer_ticks(ax)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, ncol=2)
    fit_titles(fig)
    return _save(fig, path)


def plot_derived_evolution(run: Run, space: Any, path: Path) -> Path | None:
    """Which encoding bits the derived architecture had, epoch by epoch (where no weights were logged)."""
    from nascost.plotting import fit_titles

    if space is None or len(run.genotypes) < 2:
        return None
    plt = _plt()
    encs = []
    for _stem, spec in run.genotypes:
        try:
            encs.append(space.encode([space.validate(spec)])[0])
        except Exception:
            return None
    mat = torch.stack(encs).T.numpy()
    fig, ax = plt.subplots(figsize=(min(12, 2 + 0.5 * len(encs)), 4))
    ax.imshow(mat, aspect="auto", interpolation="nearest", cmap="Greys", vmin=0, vmax=1)
    ax.set_xlabel("epoch")
    _integer_ticks(ax)
    ax.set_ylabel("encoding bit")
    ax.set_xticks(range(len(encs)))
    ax.set_xticklabels([s.replace("epoch_", "").lstrip("0") or "0" for s, _ in run.genotypes], fontsize=7)
    ax.set_title("derived architecture per epoch (black: chosen)")
    fit_titles(fig)
    return _save(fig, path)


def _final_probabilities(run: Run) -> dict[str, torch.Tensor]:
    """Softmax rows of the run's final architecture weights: its checkpoint's, or a combination's mean."""
    mean = (run.summary.get("combined") or {}).get("probabilities")
    if isinstance(mean, dict):  # nascost sweep --seeds: no checkpoint, the runs' mean probabilities
        try:
            return {k: torch.tensor(v, dtype=torch.float64) for k, v in mean.items()
                    if torch.tensor(v).dim() == 2}
        except (TypeError, ValueError):
            return {}
    ckpt = run.path / "checkpoint.pt"
    if not ckpt.is_file():
        return {}
    try:
        state = torch.load(ckpt, map_location="cpu", weights_only=True)
    except Exception:
        return {}
    sd = state.get("supernet") if isinstance(state, dict) else None
    if not isinstance(sd, dict):
        return {}
    return {k: torch.softmax(v.double(), dim=-1) for k, v in sd.items()
            if "alpha" in k.lower() and torch.is_tensor(v) and v.dim() == 2}


def final_weights_figure(run: Run, op_names: list[str] | None = None) -> Any:
    """Final softmax architecture weights (edges x operations) from the run's checkpoint (or, for
    a combination of seeds, their mean), or None.

    The colours span the weights' own range (with a colour bar): softmax rows of a
    short search sit near 1/K everywhere, and a scale from 0 painted them one colour.
    """
    from nascost.plotting import fit_titles

    tensors = _final_probabilities(run)
    if not tensors:
        return None
    plt = _plt()
    fig, axes = plt.subplots(1, len(tensors), figsize=(4.5 * len(tensors), 4.5), squeeze=False)
    combined = len((run.summary.get("combined") or {}).get("runs") or [])
    for ax, (name, t) in zip(axes[0], sorted(tensors.items()), strict=False):
        probs = t.numpy()
        lo, hi = float(probs.min()), float(probs.max())
        if hi - lo < 1e-12:  # all equal: a flat scale would divide by zero
            lo, hi = lo - 1e-3, hi + 1e-3
        im = ax.imshow(probs, aspect="auto", cmap="viridis", vmin=lo, vmax=hi, interpolation="nearest")
        ax.set_title(f"softmax({name})" + (f", mean of {combined} runs" if combined else ""))
        ax.set_ylabel("edge")
        ax.set_yticks(range(probs.shape[0]))
        ax.set_xticks(range(probs.shape[1]))
        if op_names and len(op_names) == probs.shape[1]:
            ax.set_xticklabels(op_names, rotation=60, ha="right", fontsize=7)
        else:
            ax.set_xlabel("operation")
        fig.colorbar(im, ax=ax, fraction=0.046, label="softmax weight")
    fit_titles(fig)
    return fig


def plot_final_weights(run: Run, path: Path, op_names: list[str] | None = None) -> Path | None:
    """The final architecture weights, saved to ``path`` (None: no checkpoint with weights)."""
    fig = final_weights_figure(run, op_names)
    return _save(fig, path) if fig is not None else None


def _measured_cost(run: Run) -> tuple[str | None, float, str] | None:
    """The derived architecture's measured cost (cost name, value, unit): the sweep's measurement, else
    the search's own (its first measured cost)."""
    m = run.measurement
    if not isinstance(m, dict):
        for name, item in (run.summary.get("measured_cost") or {}).items():
            if isinstance(item, dict) and item.get("value") is not None:
                return name, float(item["value"]), str(item.get("unit", ""))
        return None
    value = m.get("median", m.get("value"))
    name = next(iter(m.get("predicted") or {}), None)
    return (name, float(value), str(m.get("unit", ""))) if value is not None else None


def _measured(run: Run) -> tuple[float, str] | None:
    """The derived architecture's measured cost and its unit (see :func:`_measured_cost`)."""
    got = _measured_cost(run)
    return (got[1], got[2]) if got else None


def _ref_cost(ref: dict[str, Any]) -> str | None:
    """The cost a reference cell was measured for (a sweep's references name it by their prediction)."""
    return ref.get("cost") or next(iter(ref.get("predicted") or {}), None)


def gather_references(runs: list[Run], references: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The sweeps' reference cells and the searches' own, once per cell, cost and device."""
    out: dict[tuple[Any, ...], dict[str, Any]] = {}
    for ref in [*references, *(r for run in runs for r in run.references)]:
        m = ref.get("measured") or {}
        if m.get("median") is None:
            continue
        key = (ref.get("name"), _ref_cost(ref), m.get("unit"), m.get("fingerprint") or m.get("device_label"))
        out.setdefault(key, ref)
    return list(out.values())


def predicted_vs_measured_figure(runs: list[Run], references: list[dict[str, Any]]) -> Any:
    """Predicted cost of each derived (and reference) architecture against its measurement, or None."""
    from nascost.plotting import fit_titles, label_points, marker_boxes

    points = []
    for run in runs:
        measured = _measured_cost(run)
        predicted = run.predicted()
        if measured and predicted:
            name = measured[0] if measured[0] in predicted else next(iter(predicted))
            points.append((predicted[name][0], measured[1], run.path.name, "tab:blue", name, measured[2]))
    for ref in references:
        m, p = ref.get("measured") or {}, ref.get("predicted") or {}
        name = _ref_cost(ref)
        if m.get("median") is not None and p.get(name) is not None:
            points.append((float(p[name]), float(m["median"]), ref.get("name", "?"), "tab:gray", name, m.get("unit", "")))
    if not points:
        return None
    unit = points[0][5]
    points = [p for p in points if p[5] == unit]
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.5, 5))
    for color, label in (("tab:blue", "derived cell"), ("tab:gray", "reference cell")):
        mine = [p for p in points if p[3] == color]
        if mine:
            ax.scatter([p[0] for p in mine], [p[1] for p in mine], color=color, label=label, zorder=3)
    lo = min(min(p[0], p[1]) for p in points)
    hi = max(max(p[0], p[1]) for p in points)
    pad = 0.05 * (hi - lo or 1)
    ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], ls="--", color="black", lw=0.8, label="predicted = measured")
    ax.set_xlabel(f"predicted ({points[0][4]}, {unit})")
    ax.set_ylabel(f"measured ({unit})")
    ax.set_title("predicted vs measured cost")
    ax.grid(alpha=0.3)
    # below the axes: inside, it covers the points of a predictor that errs to that side
    # (an over-predicted cell lies below the diagonal, where a "lower right" legend sits)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=3)
    fit_titles(fig)
    fig.canvas.draw()
    taken = marker_boxes(ax, [(p[0], p[1]) for p in points])
    label_points(ax, [(p[0], p[1], p[2]) for p in points], taken)
    return fig


def plot_predicted_vs_measured(runs: list[Run], references: list[dict[str, Any]], path: Path) -> Path | None:
    """The predicted-vs-measured plot (see :func:`predicted_vs_measured_figure`) saved to ``path``."""
    fig = predicted_vs_measured_figure(runs, references)
    return _save(fig, path) if fig is not None else None


def pareto_front(points: list[tuple[float, float]]) -> list[int]:
    """Indices of the points no other point beats on both lower cost and higher accuracy."""
    front = []
    for i, (c, a) in enumerate(points):
        dominated = any(
            (c2 <= c and a2 >= a) and (c2 < c or a2 > a) for j, (c2, a2) in enumerate(points) if j != i
        )
        if not dominated:
            front.append(i)
    return sorted(front, key=lambda i: points[i][0])


#: How each source of accuracy is drawn and named on the accuracy-cost plot.
ACCURACY_SOURCES = {
    "test": {"marker": "o", "name": "test accuracy after training"},
    "val": {"marker": "^", "name": "search's final validation accuracy (supernet, not trained)"},
}


def pareto_figure(runs: list[Run], references: list[dict[str, Any]]) -> Any:
    """Accuracy against measured cost of every measured run (bars: +-1 std over training seeds), the
    Pareto front where at least two runs make one, and the reference cells; None without a run to place.

    A run's accuracy is its evaluation training's test accuracy, else the search's
    final validation accuracy (marked apart: a supernet's accuracy is not a trained cell's).
    """
    from nascost.plotting import fit_titles, label_lines, label_points, marker_boxes

    pts = []
    for run in runs:
        measured, acc = _measured_cost(run), run.plot_accuracy()
        if measured and acc:
            pts.append((measured[1], acc[0], run, measured[2], acc[1], measured[0]))
    if not pts:
        return None
    unit = pts[0][3]
    pts = [p for p in pts if p[3] == unit]
    costs = {p[5] for p in pts}
    refs = [r for r in references if (r.get("measured") or {}).get("unit") == unit
            and (_ref_cost(r) in costs or None in costs)]  # fmt: skip
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7.5, 5))
    palette = ["tab:blue", "tab:orange", "tab:green", "tab:purple"]
    colors: dict[str, str] = {}
    for cost, acc, run, _unit, source, _name in pts:
        kind = _kind(run)
        color = colors.setdefault(kind, palette[len(colors) % len(palette)])
        style = ACCURACY_SOURCES[source]
        face = color if source == "test" else "none"
        ax.scatter([cost], [acc], marker=style["marker"], facecolors=face, edgecolors=color, s=45, zorder=3,
                   label=f"{kind}: {style['name']}")  # fmt: skip
        if source == "test" and run.accuracy_std is not None:  # spread over training seeds
            ax.errorbar([cost], [acc], yerr=[run.accuracy_std], color=color, lw=1, capsize=3, zorder=2)
    sources = {p[4] for p in pts}
    front_of = "test" if sum(p[4] == "test" for p in pts) >= 2 else ("val" if sources == {"val"} else None)
    if front_of is not None:
        mine = [p for p in pts if p[4] == front_of]
        front = pareto_front([(p[0], p[1]) for p in mine])
        if len(front) >= 2:  # one point makes no line: a legend entry for it would show what is not drawn
            ax.plot([mine[i][0] for i in front], [mine[i][1] for i in front], color="black", lw=1,
                    label="Pareto front" + (" (validation accuracy)" if front_of == "val" else ""))
    with_acc = [r for r in refs if r.get("test_acc") is not None]
    without = [r for r in refs if r.get("test_acc") is None]
    if with_acc:
        ax.scatter([r["measured"]["median"] for r in with_acc], [r["test_acc"] for r in with_acc], marker="s",
                   color="tab:gray", zorder=3, label="reference cell (trained)")  # fmt: skip
    for k, ref in enumerate(without):
        ax.axvline(ref["measured"]["median"], color="tab:gray", ls=":", lw=1,
                   label="reference cell, same device (no accuracy here)" if k == 0 else "_nolegend_")
    ax.margins(x=0.08, y=0.15)
    ax.set_xlabel(f"measured cost ({unit})")
    ax.set_ylabel("test accuracy (%)" if sources == {"test"} else
                  "search validation accuracy (%)" if sources == {"val"} else "accuracy (%): see legend")
    ax.set_title("accuracy vs measured cost")
    ax.grid(alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    uniq = dict(zip(labels, handles, strict=False))
    # below the axes: a legend inside would cover points or their labels
    ax.legend(uniq.values(), uniq.keys(), fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.13))
    fit_titles(fig)
    taken = marker_boxes(ax, [(p[0], p[1]) for p in pts] + [(r["measured"]["median"], r["test_acc"]) for r in with_acc])
    label_lines(ax, [(float(r["measured"]["median"]), str(r.get("name", "?"))) for r in without], taken,
                color="dimgray")
    label_points(ax, [(p[0], p[1], p[2].path.name) for p in pts]
                 + [(r["measured"]["median"], r["test_acc"], str(r.get("name", "?"))) for r in with_acc], taken)
    return fig


def plot_pareto(runs: list[Run], references: list[dict[str, Any]], path: Path) -> Path | None:
    """The accuracy-cost plot (see :func:`pareto_figure`) saved to ``path``."""
    fig = pareto_figure(runs, references)
    return _save(fig, path) if fig is not None else None


# --- the page -----------------------------------------------------------------------------

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px auto;max-width:1100px;color:#222}
h1{font-size:1.6em}h2{border-bottom:1px solid #ddd;padding-bottom:4px;margin-top:2em}h3{margin-top:1.4em}
table{border-collapse:collapse;font-size:.9em;margin:8px 0}th,td{border:1px solid #ccc;padding:4px 8px;text-align:left}
th{background:#f4f4f4}img{max-width:100%;border:1px solid #eee;margin:6px 0}code{background:#f4f4f4;padding:1px 4px}
.note{color:#666;font-size:.9em}
"""


def _img(path: Path | None, alt: str) -> str:
    if path is None:
        return ""
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<figure><img alt="{html.escape(alt)}" src="data:image/png;base64,{data}"><figcaption class="note">{html.escape(alt)} ({html.escape(path.name)})</figcaption></figure>'


def _fmt(v: Any, digits: int = 4) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.{digits}g}"
    if isinstance(v, int) and abs(v) >= 10000:
        return f"{v / 1e6:.3f}M"
    return html.escape(str(v))


def _table(header: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{_fmt(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _space(name: str | None) -> Any:
    if not name:
        return None
    try:
        from nascost import plugins

        return plugins.get_space(name)
    except Exception:
        return None


# --- ground truth ------------------------------------------------------------------------


def run_truth(run: Run, space: Any, accuracy: Any) -> dict[str, Any]:
    """The run's ground truth: what its search recorded, its accuracy from ``accuracy`` where given."""
    truth = json.loads(json.dumps(run.summary.get("truth") or {}))
    if accuracy is not None and space is not None and run.spec is not None:
        try:
            value = accuracy.get(space.validate(run.spec))
        except NascostError:
            value = None
        truth["accuracy"] = {"table": accuracy.label(), "value": value}
    return truth


def _table_front(run: Run, space: Any, accuracy: Any, unit: str) -> Any:
    """The full front of the run's first table cost (every cell), where the table is still on disk."""
    from nascost import plugins
    from nascost.pareto import build_front

    for c in run.config.get("costs", []):
        opts = c.get("measurer_options") if isinstance(c, dict) else None
        if not opts:
            continue
        try:
            known = plugins.get_measurer("table", opts).known_costs(space)
        except (NascostError, KeyError):
            return None
        return build_front(known, accuracy.values, names=accuracy.names, unit=unit)
    return None


def truth_fronts(runs: list[Run], accuracy: Any = None) -> list[dict[str, Any]]:
    """Per device: its true front and the runs' derived cells on it (true cost, accuracy, regret)."""
    from nascost.pareto import build_front

    by_device: dict[str, dict[str, Any]] = {}
    for run in runs:
        space = _space(run.space_name)
        truth = run_truth(run, space, accuracy)
        acc = (truth.get("accuracy") or {}).get("value")
        for name, c in (truth.get("costs") or {}).items():
            if acc is None or c.get("value") is None:
                continue
            entry = by_device.setdefault(c["device"], {"device": c["device"], "unit": c.get("unit", ""),
                                                       "front": None, "points": []})
            if entry["front"] is None and accuracy is not None and space is not None:
                entry["front"] = _table_front(run, space, accuracy, entry["unit"])
            if entry["front"] is None and c.get("front"):
                pts = c["front"]
                entry["front"] = build_front({p[2]: p[0] for p in pts}, {p[2]: p[1] for p in pts},
                                             names={p[2]: p[2] for p in pts}, unit=entry["unit"])
            label = run.path.name
            # the search's own judgement with class means holds only for the table it was made with
            same_table = accuracy is None or accuracy.label() == ((run.summary.get("truth") or {}).get("accuracy")
                                                                  or {}).get("table")
            entry["points"].append({"run": run.name, "cost_name": name, "cost": float(c["value"]), "accuracy": float(acc),
                                    "label": label, "group": _kind(run),
                                    "merged_regret": (c.get("merged") or {}).get("regret") if same_table else None})
    for entry in by_device.values():
        front = entry["front"]
        for p in entry["points"]:
            if front is not None:
                p.update({k: v for k, v in front.judge(None, p["cost"], p["accuracy"]).items()
                          if k in ("regret", "front_pick")})
    return [e for e in by_device.values() if e["front"] is not None]


def _kind(run: Run) -> str:
    active = [n for n, lam in run.lambdas.items() if lam]
    if not active:
        return "no cost term (λ=0)"
    return "FLOPs-aware" if any("flop" in n.lower() for n in active) else "latency-aware"


def check_report_output(output: str | Path, accuracy_table: str | None = None) -> None:
    """Refuse an output that is an input, or an existing file that is not an HTML page.

    Why: a report is written over whatever ``-o`` names; a genotype, a database
    or any other file there would be replaced by HTML. An earlier report is fine.
    """
    from nascost.files import check_output

    table = None
    if accuracy_table:
        table = accuracy_table if Path(accuracy_table).exists() else accuracy_table.rpartition(":")[0] or None
    check_output(output, [table], option="-o")
    out = Path(output)
    if out.is_file() and out.stat().st_size > 0:
        try:
            with out.open("rb") as fh:
                head = fh.read(512).lstrip().lower()
        except OSError:
            return
        if not head.startswith((b"<!doctype html", b"<html")):
            raise NascostError(f"-o {str(output)!r} exists and is not an HTML report: writing the report would "
                               "destroy it; choose another output file")


def _measurement_text(m: dict[str, Any]) -> str | None:
    """``median ± IQR unit (n)`` of a measurement record (``median`` or ``value``)."""
    value = m.get("median", m.get("value"))
    if value is None:
        return None
    iqr = f" ± {m['iqr']:.2g}" if isinstance(m.get("iqr"), int | float) and m["iqr"] else ""
    n = f" (n={m['n']})" if m.get("n") is not None else ""
    return f"{value:.4g}{iqr} {m.get('unit', '')}{n}".replace("  ", " ")


def _setting_text(data: Any) -> str | None:
    if not isinstance(data, dict):
        return None
    from nascost.records import Setting

    try:
        return Setting.model_validate(data).label()
    except Exception:
        return str(data.get("name")) if data.get("name") else None


#: The search options the report shows (config.json key, column).
SEARCH_OPTIONS = [("space", "space"), ("dataset", "dataset"), ("epochs", "epochs"), ("lambda", "λ"),
                  ("target", "target"), ("C", "channels"), ("layers", "layers"), ("estimator", "estimator"),
                  ("samples", "samples M"), ("cost_scale", "cost scale"), ("regularizer", "regularizer"),
                  ("relaxation", "relaxation"), ("seed", "seed")]  # fmt: skip


def search_options_row(run: Run) -> tuple[list[str], list[Any]]:
    """The search's main options as one table row (header, values)."""
    search = run.config.get("search") if isinstance(run.config.get("search"), dict) else {}
    values: list[Any] = []
    for key, _label in SEARCH_OPTIONS:
        v = search.get(key)
        if key in ("space", "dataset") and search.get(f"{key}_options"):
            v = f"{v} {json.dumps(search[f'{key}_options'])}"
        if key == "regularizer" and v not in (None, "none") and search.get("regularizer_weight") is not None:
            v = f"{v} (weight {search['regularizer_weight']:g})"
        if key == "relaxation" and v == "gumbel":
            first, last = search.get("temperature") or GUMBEL_TEMPERATURE
            v = f"gumbel (temperature {first:g} to {last:g})"
        values.append(v)
    return [label for _key, label in SEARCH_OPTIONS], values


def predictor_rows(run: Run) -> list[list[Any]]:
    """Per cost: where its predictor came from and how good it is (held-out MAPE and Kendall tau)."""
    rows = []
    for c in run.config.get("costs", []):
        if not isinstance(c, dict):
            continue
        unit = c.get("unit", "")
        metrics = c.get("metrics") or {}
        rng = c.get("train_range")
        mape, tau = metrics.get("mape"), metrics.get("kendall_tau")
        rows.append([
            c.get("name"), c.get("source"), c.get("predictor"),
            f"{c['n_train']:,}" if isinstance(c.get("n_train"), int) and c["n_train"] else None,
            f"{rng[0]:.4g}–{rng[1]:.4g} {unit}" if isinstance(rng, list | tuple) and len(rng) == 2 else None,
            f"{mape:.1f}" if isinstance(mape, int | float) else None,
            f"{tau:.3f}" if isinstance(tau, int | float) else None,
            c.get("device") or "any device", _setting_text(c.get("setting")), c.get("batch_size"), c.get("lambda"),
        ])  # fmt: skip
    return rows


PREDICTOR_HEADER = ["cost", "source", "predictor", "training rows", "training range", "held-out MAPE (%)",
                    "held-out Kendall τ", "device (predictor's data)", "setting", "batch", "λ"]  # fmt: skip


def derived_cost_rows(run: Run) -> tuple[list[str], list[list[Any]]]:
    """Per cost: the derived network's predicted and measured cost (and measured as its encoding
    describes it, where that is another network)."""
    measured = run.summary.get("measured_cost") or {}
    predicted = run.predicted()
    names = list(dict.fromkeys([*predicted, *measured]))
    encoded = any(isinstance((measured.get(n) or {}).get("as_encoded"), dict) for n in names)
    header = ["cost", "predicted", "measured", "measured on"]
    if encoded:
        header.append("measured as the encoding describes it")
    rows = []
    for name in names:
        m = measured.get(name) if isinstance(measured.get(name), dict) else {}
        pred = predicted.get(name)
        row = [name, f"{pred[0]:.4g} {pred[1]}" if pred else None, _measurement_text(m) if m else None,
               m.get("device")]  # fmt: skip
        if encoded:
            enc = m.get("as_encoded") if isinstance(m.get("as_encoded"), dict) else None
            row.append(_measurement_text({"unit": m.get("unit", ""), **enc}) if enc else "the same network")
        rows.append(row)
    return header, rows


def _run_details(run: Run) -> list[str]:
    """The run's configuration, its costs' predictors and its derived network's cost, as tables."""
    parts: list[str] = []
    if run.kind == "search":
        header, values = search_options_row(run)
        if any(v is not None for v in values):
            parts.append("<h3>Search configuration</h3>" + _table(header, [values]))
        rows = predictor_rows(run)
        if rows:
            parts.append("<h3>Costs and their predictors</h3>" + _table(PREDICTOR_HEADER, rows))
        header, rows = derived_cost_rows(run)
        if rows:
            parts.append("<h3>The derived network's cost</h3>" + _table(header, rows))
    if run.linked:
        parts.append('<p class="note">Test accuracy from the training run(s) linked to this search: '
                     + ", ".join(f"<code>{html.escape(str(p))}</code>" for p in run.linked) + ".</p>")
    if run.kind == "train":
        train = run.config.get("train") if isinstance(run.config.get("train"), dict) else {}
        ts = run.train_summary or {}
        parts.append("<h3>Training</h3>" + _table(
            ["preset", "dataset", "epochs", "channels", "layers", "seed", "test acc (%)", "params", "MACs"],
            [[train.get("preset"), run.config.get("dataset"), ts.get("epochs", train.get("epochs")),
              train.get("channels"), train.get("layers"), train.get("seed"), run.accuracy_text(),
              ts.get("params"), ts.get("macs")]],
        ))  # fmt: skip
        if run.search_dir:
            parts.append(f'<p class="note">Its genotype came from the search in <code>{html.escape(run.search_dir)}'
                         "</code>; give that directory to the report too to see this accuracy on the search's "
                         "cell, beside the reference cells.</p>")
    return parts


def build_report(paths: list[str | Path], output: str | Path, title: str | None = None,
                 accuracy_table: str | None = None) -> dict[str, Any]:
    """Write the HTML report and its PNGs; return what was written.

    ``accuracy_table`` (``FILE[:COLUMN]``) scores every derived cell against the true
    accuracies and draws it on its device's true front (searches record their own
    truth when they were given one).
    """
    check_report_output(output, accuracy_table)
    runs, references = expand(paths)
    accuracy = None
    if accuracy_table:
        from nascost.tables import read_accuracy_table

        space = next((s for s in (_space(r.space_name) for r in runs) if s is not None), None)
        if space is None:
            raise NascostError("--accuracy-table needs the runs' search space installed")
        accuracy = read_accuracy_table(accuracy_table, space)
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    stem = output.stem
    images: list[Path] = []

    def png(name: str) -> Path:
        return output.parent / f"{stem}-{name}.png"

    def keep(p: Path | None) -> Path | None:
        if p is not None:
            images.append(p)
        return p

    parts = [f"<h1>{html.escape(title or 'nascost report')}</h1>"]
    parts.append(f'<p class="note">{len(runs)} run(s): ' + ", ".join(html.escape(str(r.path)) for r in runs) + "</p>")

    references = gather_references(runs, references)
    # overview table
    rows = []
    for run in runs:
        pred = run.predicted()
        meas = _measured(run)
        counts = run.summary.get("counts") or {}
        ts = run.train_summary or {}
        val = run.val_accuracy
        rows.append([
            run.name, run.kind + (" + training" if run.linked else ""), run.space_name,
            "; ".join(f"{k} {v:.4g} {u}" for k, (v, u) in pred.items()) or None,
            f"{meas[0]:.4g} {meas[1]}" if meas else None,
            run.accuracy_text(), f"{val:.2f}" if val is not None else None,
            ts.get("params") or counts.get("params"),
            ts.get("macs") or counts.get("macs"),
        ])  # fmt: skip
    parts.append("<h2>Runs</h2>")
    parts.append(_table(["run", "kind", "space", "predicted cost", "measured cost", "test acc (%)",
                         "search val acc (%)", "params", "MACs"], rows))  # fmt: skip
    if references:
        parts.append("<h3>Reference cells (the space's published cells, measured on the same device)</h3>")
        parts.append(_table(
            ["cell", "cost", "measured", "predicted", "params", "MACs", "device"],
            [[r.get("name"), _ref_cost(r), _measurement_text(r["measured"]),
              "; ".join(f"{k} {v:.4g}" for k, v in (r.get("predicted") or {}).items() if v is not None) or None,
              (r.get("counts") or {}).get("params"), (r.get("counts") or {}).get("macs"),
              r["measured"].get("device_label")] for r in references],
        ))  # fmt: skip

    fronts = truth_fronts(runs, accuracy)
    if fronts:
        from nascost.pareto import plot_front

        parts.append("<h2>Against the truth</h2>")
        parts.append('<p class="note">True accuracy from the accuracy table, true cost from the device\'s '
                     "table; regret: the accuracy points the true front gains at the same or lower cost; "
                     "regret, class means: the same with every accuracy the mean over the cells that compute "
                     "the same function (where the space knows them), free of the table's training noise.</p>")
        for k, entry in enumerate(fronts):
            path = keep(plot_front(entry["front"], png(f"truth-{k}"), points=entry["points"],
                                   title=f"{entry['device']}: derived cells on the true front"))
            parts.append(f"<h3>{html.escape(entry['device'])}</h3>")
            parts.append(_img(path, f"derived cells on the true front of {entry['device']}"))
            merged = any(p.get("merged_regret") is not None for p in entry["points"])
            parts.append(_table(
                ["run", "cost", f"true cost ({entry['unit']})", "true accuracy (%)", "regret (points)"]
                + (["regret, class means"] if merged else []) + ["front at this cost", "its accuracy (%)"],
                [[p["run"], p["cost_name"], p["cost"], p["accuracy"], p.get("regret")]
                 + ([p.get("merged_regret")] if merged else [])
                 + [(p.get("front_pick") or {}).get("arch"), (p.get("front_pick") or {}).get("accuracy")]
                 for p in sorted(entry["points"], key=lambda q: q["cost"])],
            ))

    pareto = keep(plot_pareto(runs, references, png("pareto")))
    pvm = keep(plot_predicted_vs_measured(runs, references, png("predicted-vs-measured")))
    if pareto or pvm:
        parts.append("<h2>Accuracy against measured cost</h2>")
        parts.append('<p class="note">Every measured run at its derived cell\'s measured cost. Accuracy: the '
                     "test accuracy of its evaluation training where there is one (filled markers), else the "
                     "search's final validation accuracy, the supernet's on the held-out half (hollow "
                     "triangles; not a trained cell's accuracy). Dotted lines: the reference cells, measured "
                     "with the same measurer, setting and batch on the same device.</p>")
        parts.append(_img(pareto, "accuracy vs measured cost"))
        parts.append(_img(pvm, "predicted vs measured cost"))

    for i, run in enumerate(runs):
        slug = f"{i:02d}-{_slug(run.path.name)}"
        parts.append(f"<h2>{html.escape(run.name)}</h2>")
        parts.append(f'<p class="note">{html.escape(str(run.path))}</p>')
        parts += _run_details(run)
        space = _space(run.space_name)
        op_names = getattr(space, "operation_names", None) if space is not None else None
        if run.spec is not None:
            parts.append("<h3>Derived architecture</h3>")
            cell_png = None
            if space is not None:
                try:
                    arch = Architecture(space=run.space_name or "", spec=run.spec)
                    cell_png = keep(space.draw(space.validate(arch.spec), png(f"{slug}-cells")))
                except Exception as exc:
                    parts.append(f'<p class="note">cells not drawn: {html.escape(str(exc))}</p>')
            parts.append(_img(cell_png, "the derived architecture") if cell_png else "")
            parts.append(f"<details><summary>genotype</summary><pre>{html.escape(json.dumps(run.spec, indent=1))}</pre></details>")
        curves = keep(plot_curves(run, png(f"{slug}-curves")))
        if curves:
            parts.append("<h3>Loss and accuracy</h3>" + _img(curves, "loss and accuracy per epoch"))
        cost = keep(plot_cost_curves(run, png(f"{slug}-cost")))
        if cost:
            parts.append("<h3>Cost during the search</h3>" + _img(cost, "cost per epoch"))
        evo = keep(plot_weight_evolution(run, png(f"{slug}-arch-weights"), op_names))
        derived = None if evo else keep(plot_derived_evolution(run, space, png(f"{slug}-derived")))
        final = keep(plot_final_weights(run, png(f"{slug}-final-weights"), op_names))
        if evo or derived or final:
            parts.append("<h3>Architecture weights</h3>")
            parts += [_img(evo, "architecture-weight evolution"), _img(derived, "derived architecture per epoch"),
                      _img(final, "final architecture weights")]  # fmt: skip
        if run.measurement:
            m = run.measurement
            parts.append(
                f"<p>Measured with <code>{html.escape(str(m.get('measurer', '?')))}</code>: median "
                f"{_fmt(m.get('median'))} {html.escape(str(m.get('unit', '')))}, IQR {_fmt(m.get('iqr'))}, "
                f"n={_fmt(m.get('n'))}, device {html.escape(str(m.get('device_label', m.get('fingerprint', ''))))}.</p>"
            )
    doc = (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title or 'nascost report')}</title><style>{_CSS}</style></head><body>"
        + "\n".join(p for p in parts if p)
        + "</body></html>\n"
    )
    write_text(output, doc)
    return {"report": str(output), "images": [str(p) for p in images], "runs": [str(r.path) for r in runs]}
