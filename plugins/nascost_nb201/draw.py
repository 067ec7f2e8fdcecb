"""Draw a NAS-Bench-201 cell: nodes 0..3 on a line, one arc per edge labelled with its operation.

``none`` edges are drawn dashed and light (they carry nothing); edges that no
input-to-output path uses are drawn faded (they compute but never reach the
output). Matplotlib only.
"""

from __future__ import annotations

from pathlib import Path

from nascost.files import atomic_write
from nascost_nb201.cell import EDGES, NODES, Cell, effective_edges, format_cell

OP_COLORS = {
    "none": "#bbbbbb",
    "skip_connect": "#7f7f7f",
    "nor_conv_1x1": "#1f77b4",
    "nor_conv_3x3": "#d62728",
    "avg_pool_3x3": "#2ca02c",
}


def draw_cell(ops: Cell, path: Path) -> Path:
    """Write the cell's drawing to ``path`` (PNG, or any format matplotlib infers from the suffix)."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyArrowPatch

    live = effective_edges(ops)
    fig, ax = plt.subplots(figsize=(7.5, 3.4))
    xs = {n: 2.5 * n for n in range(NODES)}
    for e, (i, j) in enumerate(EDGES):
        op = ops[e]
        span = i - j
        rad = 0.0 if span == 1 else (-0.35 if span == 2 else 0.45)
        style = "--" if op == "none" else "-"
        alpha = 1.0 if e in live else 0.35
        arrow = FancyArrowPatch((xs[j], 0), (xs[i], 0), connectionstyle=f"arc3,rad={rad}", arrowstyle="-|>",
                                mutation_scale=12, lw=2, ls=style, color=OP_COLORS[op], alpha=alpha,
                                shrinkA=16, shrinkB=16)
        ax.add_patch(arrow)
        mid = (xs[i] + xs[j]) / 2
        height = -rad * (xs[i] - xs[j]) / 2
        ax.text(mid, height, op, ha="center", va="center", fontsize=8, color=OP_COLORS[op], alpha=alpha,
                bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none"})
    for n in range(NODES):
        label = {0: "in", NODES - 1: "out"}.get(n, str(n))
        ax.scatter([xs[n]], [0], s=700, color="white", edgecolors="black", zorder=3)
        ax.text(xs[n], 0, label, ha="center", va="center", fontsize=9, zorder=4)
    ax.set_xlim(-1, xs[NODES - 1] + 1)
    ax.set_ylim(-2.2, 2.2)
    ax.axis("off")
    ax.set_title(format_cell(ops), fontsize=8)
    fig.tight_layout()
    path = Path(path)
    with atomic_write(path, "wb") as fh:
        fig.savefig(fh, dpi=110, format=path.suffix.lstrip(".") or "png")
    plt.close(fig)
    return path
