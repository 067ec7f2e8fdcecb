"""The report's figures, checked on their matplotlib objects: legends, labels, titles, colour scales, styles."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import matplotlib
import pytest
import torch

from nascost.plotting import fit_titles
from nascost.report import (
    curves_figure,
    expand,
    final_weights_figure,
    gather_references,
    load_run,
    pareto_figure,
    predicted_vs_measured_figure,
)
from report.runs import search_dir

matplotlib.use("Agg", force=True)
import matplotlib.pyplot as plt


@pytest.fixture(autouse=True)
def _close_figures() -> Any:
    yield
    plt.close("all")


def _sweep(root: Path, points: list[tuple[str, float, float]], refs: list[tuple[str, float]]) -> Path:
    """A sweep of runs named ``name`` measured at ``cost`` ms with test accuracy ``acc``, and reference cells."""
    lams = [f"{0.1 * i:g}" for i in range(len(points))]
    for (name, cost, acc), lam in zip(points, lams, strict=True):
        search_dir(root / "runs" / name, ["conv", "skip", "pool", "conv"], float(lam), cost, acc, weights=False)
    (root / "sweep.json").write_text(json.dumps({"runs": [f"runs/{p[0]}" for p in points]}))
    (root / "references.json").write_text(json.dumps([
        {"name": n, "measured": {"median": c, "unit": "ms", "device_label": "cpu"}, "predicted": {"tiny-lat": c}}
        for n, c in refs
    ]))  # fmt: skip
    return root


def _figure_of(root: Path, make: Any) -> Any:
    runs, refs = expand([root])
    return make(runs, gather_references(runs, refs))


def _legend(ax: Any) -> list[str]:
    return [t.get_text() for t in ax.get_legend().get_texts()]


def _drawn_labels(ax: Any) -> list[str]:
    labels = [a.get_label() for a in [*ax.collections, *ax.lines] if not a.get_label().startswith("_")]
    return list(dict.fromkeys(labels))


def _distinct_points(line: Any) -> int:
    return len(set(zip(map(float, line.get_xdata()), map(float, line.get_ydata()), strict=True)))


def test_pareto_legend_names_only_what_is_drawn(tmp_path: Path, tiny_space) -> None:
    # one run beats the other on cost and accuracy: a one-point front is no line, so no legend entry
    fig = _figure_of(_sweep(tmp_path / "a", [("fast", 5.0, 80.0), ("slow", 6.0, 70.0)], [("REF", 9.0)]), pareto_figure)
    ax = fig.axes[0]
    assert "Pareto front" not in _legend(ax)
    assert sorted(_legend(ax)) == sorted(_drawn_labels(ax))
    # a trade-off makes a front of two points, drawn and named
    fig = _figure_of(_sweep(tmp_path / "b", [("fast", 5.0, 70.0), ("slow", 6.0, 80.0)], [("REF", 9.0)]), pareto_figure)
    ax = fig.axes[0]
    assert "Pareto front" in _legend(ax) and sorted(_legend(ax)) == sorted(_drawn_labels(ax))
    for handle, label in zip(ax.get_legend().legend_handles, _legend(ax), strict=True):
        if isinstance(handle, matplotlib.lines.Line2D):  # every line in the legend is a drawn line
            (drawn,) = [line for line in ax.lines if line.get_label() == label][:1]
            assert _distinct_points(drawn) >= 2, label
    assert ax.get_ylabel() == "test accuracy (%)"


def _overlaps(boxes: list[Any]) -> list[tuple[int, int]]:
    return [(i, j) for i in range(len(boxes)) for j in range(i + 1, len(boxes))
            if boxes[i].overlaps(boxes[j])]  # fmt: skip


@pytest.mark.parametrize("make", [pareto_figure, predicted_vs_measured_figure])
def test_labels_of_nearby_points_do_not_overlap(tmp_path: Path, tiny_space, make: Any) -> None:
    points = [("lambda_0", 8.0, 80.0), ("lambda_0.2", 5.0, 78.0), ("lambda_0.4", 5.1, 77.8), ("lambda_0.6", 5.15, 77.9),
              ("lambda_0.8", 5.05, 77.95)]  # fmt: skip
    refs = [("DARTS_V1", 9.0), ("DARTS_V2", 9.05), ("PC_DARTS_cifar", 9.1), ("PDARTS", 7.0)]
    fig = _figure_of(_sweep(tmp_path / "s", points, refs), make)
    fig.canvas.draw()
    ax = fig.axes[0]
    texts = [t for t in ax.texts if t.get_text()]
    assert {t.get_text() for t in texts} >= {p[0] for p in points}
    boxes = [t.get_window_extent() for t in texts]
    assert _overlaps(boxes) == [], [(texts[i].get_text(), texts[j].get_text()) for i, j in _overlaps(boxes)]
    for box in boxes:  # and none runs off the picture
        assert fig.bbox.x0 <= box.x0 and box.x1 <= fig.bbox.x1 and fig.bbox.y0 <= box.y0 and box.y1 <= fig.bbox.y1


def test_titles_fit_their_axes(tmp_path: Path, tiny_space) -> None:
    root = _sweep(tmp_path / "s", [("lambda_0", 8.0, 80.0), ("lambda_0.2", 5.0, 78.0)], [("REF", 9.0)])
    run = load_run(root / "runs" / "lambda_0")
    fig, axes = plt.subplots(1, 3, figsize=(9, 3))
    axes[1].set_title("the architecture weights of the normal cell after the last epoch of the third stage, "
                      "averaged over every edge")  # fmt: skip
    fit_titles(fig)
    figures = [fig, curves_figure(run), final_weights_figure(run), _figure_of(root, pareto_figure),
               _figure_of(root, predicted_vs_measured_figure)]  # fmt: skip
    for f in figures:
        f.canvas.draw()
        for ax in f.axes:
            if not ax.get_title():
                continue
            box = ax.title.get_window_extent()
            assert box.width <= ax.get_window_extent().width + 1, ax.get_title()
            assert f.bbox.x0 <= box.x0 and box.x1 <= f.bbox.x1 and box.y1 <= f.bbox.y1, ax.get_title()
    assert "\n" in axes[1].get_title()


def test_heatmap_colours_span_the_weights_range(tmp_path: Path) -> None:
    run_dir = search_dir(tmp_path / "r", ["conv"] * 4, 0.0, 5.0, None, weights=False)
    alpha = 1e-3 * torch.randn(4, 3, generator=torch.Generator().manual_seed(0))  # a short search: ~1/3 each
    torch.save({"supernet": {"alpha": alpha}}, run_dir / "checkpoint.pt")
    fig = final_weights_figure(load_run(run_dir))
    image = fig.axes[0].images[0]
    probs = torch.softmax(alpha.double(), -1).numpy()
    assert image.norm.vmin == pytest.approx(probs.min()) and image.norm.vmax == pytest.approx(probs.max())
    colours = image.cmap(image.norm(probs)).reshape(-1, 4)
    assert len({tuple(c) for c in colours.round(3)}) > 1  # not one colour everywhere
    assert any(ax.get_ylabel() == "softmax weight" for ax in fig.axes[1:])  # the colour bar


def test_train_and_held_out_curves_are_told_apart(tmp_path: Path) -> None:
    run = load_run(search_dir(tmp_path / "r", ["conv"] * 4, 0.0, 5.0, 80.0, weights=False))
    fig = curves_figure(run)
    assert len(fig.axes) == 4
    for ax in fig.axes:
        first, second = ax.lines
        assert first.get_linestyle() != second.get_linestyle() and first.get_marker() != second.get_marker()
        assert second.get_markerfacecolor() == "none"  # hollow: the line under it shows through


@pytest.mark.parametrize("make", [pareto_figure, predicted_vs_measured_figure])
def test_the_legend_covers_no_point(tmp_path: Path, tiny_space, make: Any) -> None:
    """Over-predicted cells lie below the diagonal, in the lower right: where a legend inside would sit."""
    # one cell predicted 40% above its measurement: the extreme lower right of the plot
    root = _sweep(tmp_path / "s", [("lambda_0", 5.0, 78.0), ("lambda_0.2", 5.6, 79.0)], [("PDARTS", 5.0)])
    path = root / "runs" / "lambda_0" / "summary.json"
    summary = json.loads(path.read_text())
    summary["predicted_cost"]["tiny-lat"]["value"] = 7.0
    path.write_text(json.dumps(summary))
    fig = _figure_of(root, make)
    fig.canvas.draw()
    ax = fig.axes[0]
    legend = ax.get_legend().get_window_extent()
    points = [xy for c in ax.collections for xy in ax.transData.transform(c.get_offsets())]
    assert points and not [p for p in points if legend.contains(*p)]
    assert fig.bbox.y0 <= legend.y0  # and the legend itself is inside the picture
