"""The true accuracy-cost Pareto front of a device, and how far a cell is from it.

Where a space comes with the true accuracy of its architectures (NAS-Bench-201)
and a device's true cost of each (a measured campaign or an imported table),
every searched cell can be judged against the best possible: for a latency
budget, the most accurate cell within it; for a cell, its *regret*, the
accuracy points the front gains at the same or lower cost
(``max{acc_j : cost_j <= cost_i} - acc_i``, never negative).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nascost.errors import NascostError
from nascost.files import atomic_write


@dataclass
class Front:
    """Cells with both a cost and an accuracy, sorted by cost, with their running best accuracy."""

    keys: list[str]
    costs: np.ndarray
    accs: np.ndarray
    names: list[str]
    unit: str
    #: index into the sorted arrays of the most accurate cell among the first i+1
    best_so_far: np.ndarray

    def __len__(self) -> int:
        return len(self.keys)

    @property
    def front(self) -> list[int]:
        """Indices of the Pareto-optimal cells, cheapest first (accuracy strictly rising)."""
        out, best = [], -np.inf
        for i in range(len(self)):
            if self.accs[i] > best:
                out.append(i)
                best = self.accs[i]
        return out

    def best_within(self, budget: float) -> int | None:
        """The most accurate cell costing at most ``budget`` (None if none does)."""
        n = int(np.searchsorted(self.costs, budget * (1 + 1e-12), side="right"))
        return int(self.best_so_far[n - 1]) if n else None

    def regret(self, cost: float, acc: float) -> float:
        """Accuracy points the front gains at the same or lower cost (0 when none is better)."""
        i = self.best_within(cost)
        return 0.0 if i is None else max(0.0, float(self.accs[i]) - float(acc))

    def cheapest_at(self, acc: float) -> int | None:
        """The cheapest cell at least as accurate as ``acc`` (None if none is)."""
        ok = np.flatnonzero(self.accs >= acc - 1e-12)
        return int(ok[0]) if ok.size else None

    def point(self, i: int) -> dict[str, Any]:
        return {"arch": self.names[i], "key": self.keys[i], "cost": float(self.costs[i]), "accuracy": float(self.accs[i])}

    def judge(self, key: str | None, cost: float, acc: float) -> dict[str, Any]:
        """Regret of one cell and what the front offers instead (its pick at this cost, and the
        cheapest cell as accurate)."""
        pick, cheaper = self.best_within(cost), self.cheapest_at(acc)
        return {
            "cost": cost, "accuracy": acc, "regret": self.regret(cost, acc),
            "on_front": key is not None and pick is not None and self.keys[pick] == key,
            "front_pick": self.point(pick) if pick is not None else None,
            "cheapest_as_accurate": self.point(cheaper) if cheaper is not None else None,
        }

    def thinned(self, points: int) -> list[int]:
        """About ``points`` front cells spread evenly over the front's cost range."""
        front = self.front
        if len(front) <= points:
            return front
        lo, hi = float(self.costs[front[0]]), float(self.costs[front[-1]])
        out = []
        for budget in np.linspace(lo, hi, points):
            i = self.best_within(float(budget))
            if i is not None and i not in out:
                out.append(i)
        return out


def build_front(costs: dict[str, float], accs: dict[str, float], *, names: dict[str, str] | None = None,
                unit: str = "") -> Front:
    """The front over the architectures both mappings hold (keys: :meth:`Architecture.key`)."""
    common = [k for k in costs if k in accs]
    if not common:
        raise NascostError(
            "no architecture has both a cost and an accuracy: are the accuracy table and the cost rows "
            "of the same search space and the same cells?"
        )
    c = np.asarray([costs[k] for k in common], dtype=np.float64)
    a = np.asarray([accs[k] for k in common], dtype=np.float64)
    order = np.lexsort((-a, c))  # by cost, then most accurate first
    keys = [common[i] for i in order]
    c, a = c[order], a[order]
    best = np.zeros(len(keys), dtype=np.int64)
    for i in range(len(keys)):
        best[i] = i if i == 0 or a[i] > a[best[i - 1]] else best[i - 1]
    labels = [(names or {}).get(k, k) for k in keys]
    return Front(keys=keys, costs=c, accs=a, names=labels, unit=unit, best_so_far=best)


def merge_equivalent(accs: dict[str, float], names: dict[str, str], space: Any) -> tuple[dict[str, float], int]:
    """Each architecture's accuracy replaced by the mean over the architectures that compute the same
    function (:meth:`SearchSpace.equivalence_key`), and the number of functions.

    Why: a benchmark that trained equivalent cells separately (NAS-Bench-201: 15,625 cells, 6,466
    functions) gives one function several accuracies; a front built on them takes the luckiest, so
    regrets of a few tenths of a point can be the training's noise. ``names`` holds each key's
    text form (an accuracy table's), from which the architecture is parsed.
    """
    classes = equivalence_classes(accs, names, space)
    return class_means(accs, classes), len(classes)


def class_means(accs: dict[str, float], classes: dict[str, list[str]]) -> dict[str, float]:
    """Each architecture's accuracy replaced by the mean over its class (:func:`equivalence_classes`)."""
    return {k: float(np.mean([accs[m] for m in members])) for members in classes.values() for k in members}


def equivalence_classes(keys: Iterable[str], names: dict[str, str], space: Any) -> dict[str, list[str]]:
    """The architecture keys grouped by the function they compute (:meth:`SearchSpace.equivalence_key`)."""
    classes: dict[str, list[str]] = {}
    for key in keys:
        if key not in names:
            raise NascostError(f"architecture {key!r} has no text form in names, so its equivalents cannot be "
                               "found; pass every key's text form (an accuracy table's names)")
        classes.setdefault(space.equivalence_key(space.parse_arch(names[key])), []).append(key)
    return classes


def plot_front(front: Front, path: str | Path, *, points: list[dict[str, Any]] | None = None,
               title: str = "", xlabel: str | None = None, ylabel: str = "true accuracy (%)",
               cloud: bool = True) -> Path:
    """Every cell (grey), the front (black steps) and ``points`` (``cost``, ``accuracy``, ``label``)."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    from nascost.plotting import fit_titles, label_points, marker_boxes

    fig, ax = plt.subplots(figsize=(7.5, 5))
    if cloud:
        ax.scatter(front.costs, front.accs, s=3, color="#c8c8c8", label=f"all {len(front):,} cells", zorder=1,
                   rasterized=True)
    idx = front.front
    right = max([float(front.costs[-1])] + [p["cost"] for p in points or []])
    xs = np.append(front.costs[idx], right)  # the best cell stays the best for any larger budget
    ys = np.append(front.accs[idx], front.accs[idx[-1]])
    ax.step(xs, ys, where="post", color="black", lw=1.2, label="true Pareto front", zorder=2)
    palette = ["tab:red", "tab:blue", "tab:green", "tab:orange", "tab:purple", "tab:brown", "tab:pink",
               "tab:olive", "tab:cyan"]
    groups: dict[str, str] = {}
    for p in points or []:
        group = p.get("group", "searched cells")
        color = groups.setdefault(group, palette[len(groups) % len(palette)])
        ax.scatter([p["cost"]], [p["accuracy"]], s=40, color=color, edgecolors="black", linewidths=0.5,
                   zorder=4, label=group)
    # the cloud's long low tail (cells cut off by 'none' edges) would squeeze the interesting part
    lo = min([float(np.percentile(front.accs, 10))] + [p["accuracy"] for p in points or []])
    hi = float(front.accs[idx[-1]])
    ax.set_ylim(lo - 1.0, hi + 0.6)
    ax.set_xlabel(xlabel or f"true cost ({front.unit})")
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title, fontsize=10)
    handles, labels = ax.get_legend_handles_labels()
    uniq = dict(zip(labels, handles, strict=False))
    legend = ax.legend(uniq.values(), uniq.keys(), fontsize=8, loc="lower right")
    ax.grid(alpha=0.3)
    fit_titles(fig)  # a long device name would cut the title
    fig.canvas.draw()  # places the legend, so the labels keep off it
    labelled = [p for p in points or [] if p.get("label")]
    taken = [*marker_boxes(ax, [(p["cost"], p["accuracy"]) for p in labelled], radius=5), legend.get_window_extent()]
    label_points(ax, [(p["cost"], p["accuracy"], p["label"]) for p in labelled], taken, zorder=5)
    path = Path(path)
    with atomic_write(path, "wb") as fh:
        fig.savefig(fh, dpi=110, format="png")
    plt.close(fig)
    return path
