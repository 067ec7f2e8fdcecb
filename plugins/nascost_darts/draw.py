"""Draw a genotype's normal and reduction cells as graphs (matplotlib only, no graphviz).

Layout: the two cell inputs ``c_{k-2}`` and ``c_{k-1}`` on the left, the four
intermediate nodes 0..3 from left to right, and the output ``c_{k}`` (the
concatenation of the intermediate nodes) on the right. Each edge carries its
operation's name and a colour per operation; long edges arc around the nodes
they would cross.
"""

from __future__ import annotations

from pathlib import Path

from nascost.errors import NascostError
from nascost.files import atomic_write
from nascost_darts.encoding import NODES
from nascost_darts.genotype import Genotype

#: One colour per operation (none is never drawn).
OP_COLORS = {
    "max_pool_3x3": "#1f77b4",
    "avg_pool_3x3": "#17becf",
    "skip_connect": "#7f7f7f",
    "sep_conv_3x3": "#d62728",
    "sep_conv_5x5": "#ff7f0e",
    "dil_conv_3x3": "#2ca02c",
    "dil_conv_5x5": "#9467bd",
}


def _positions() -> dict[str, tuple[float, float]]:
    pos = {"c_{k-2}": (0.0, 2.0), "c_{k-1}": (0.0, -2.0)}
    for j, _node in enumerate(NODES):
        pos[str(j)] = (2.8 * (j + 1), 0.0)
    pos["c_{k}"] = (2.8 * (len(NODES) + 1), 0.0)
    return pos


def _name(state: int) -> str:
    return {0: "c_{k-2}", 1: "c_{k-1}"}.get(state, str(state - 2))


def _bezier(p0, c, p1, t: float) -> tuple[float, float]:
    return (
        (1 - t) ** 2 * p0[0] + 2 * t * (1 - t) * c[0] + t**2 * p1[0],
        (1 - t) ** 2 * p0[1] + 2 * t * (1 - t) * c[1] + t**2 * p1[1],
    )


def _place_labels(ax, labels, pos: dict[str, tuple[float, float]]) -> None:
    """Put each operation name on its edge where it overlaps no node and no other name.

    Tries points along the curve (near the middle first) and keeps the first
    free one; box sizes are estimated in data units for fontsize 8.
    """
    boxes = [(x - 0.5, y - 0.4, x + 0.5, y + 0.4) for x, y in pos.values()]

    def free(box) -> bool:
        return all(box[2] < b[0] or box[0] > b[2] or box[3] < b[1] or box[1] > b[3] for b in boxes)

    for op, color, p0, c, p1, from_input in labels:
        w, h = 0.1 * len(op) + 0.15, 0.34
        order = [0.68, 0.55, 0.8, 0.42] if from_input else [0.5, 0.35, 0.65, 0.25, 0.75]
        order += [t / 20 for t in range(3, 18)]
        chosen = None
        for t in order:
            x, y = _bezier(p0, c, p1, t)
            box = (x - w / 2, y - h / 2, x + w / 2, y + h / 2)
            if free(box):
                chosen = (x, y, box)
                break
        if chosen is None:  # crowded: fall back to the first candidate
            x, y = _bezier(p0, c, p1, order[0])
            chosen = (x, y, (x - w / 2, y - h / 2, x + w / 2, y + h / 2))
        x, y, box = chosen
        boxes.append(box)
        ax.text(
            x,
            y,
            op,
            fontsize=8,
            ha="center",
            va="center",
            color=color,
            bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": color, "lw": 0.6},
            zorder=3,
        )


def _draw_cell(ax, cell: list[tuple[str, int]], concat: list[int], title: str) -> None:
    from matplotlib.patches import FancyArrowPatch

    pos = _positions()
    node_style = {
        "c_{k-2}": "#c7e9c0",
        "c_{k-1}": "#c7e9c0",
        "c_{k}": "#fdd0a2",
    }
    labels = []
    for i, (op, inp) in enumerate(cell):
        src, dst = _name(inp), str(NODES[i // 2] - 2)
        (x1, y1), (x2, y2) = pos[src], pos[dst]
        dx, dy = x2 - x1, y2 - y1
        span = round(abs(dx) / 2.8)
        # Intermediate nodes sit on one line: edges from c_{k-2} arc above it,
        # edges from c_{k-1} below it, and edges skipping intermediate nodes
        # arc above (from even nodes) or below (from odd ones) the nodes they skip.
        if inp < 2:
            up = inp == 0
            bend = 0.0 if span <= 1 else 0.06 * (span - 1)
        else:
            up = inp % 2 == 0
            bend = 0.0 if span <= 1 else 0.4
        rad = -bend if up else bend  # arc3: rad > 0 bends a left-to-right edge down
        color = OP_COLORS.get(op, "black")
        ax.add_patch(
            FancyArrowPatch(
                (x1, y1),
                (x2, y2),
                connectionstyle=f"arc3,rad={rad}",
                arrowstyle="-|>",
                mutation_scale=14,
                lw=1.8,
                color=color,
                shrinkA=20,
                shrinkB=20,
                zorder=1,
            )
        )
        # matplotlib's arc3 is a quadratic Bezier curve whose control point is
        # the midpoint + rad * (dy, -dx)
        control = ((x1 + x2) / 2 + rad * dy, (y1 + y2) / 2 - rad * dx)
        labels.append((op, color, (x1, y1), control, (x2, y2), inp < 2))
    _place_labels(ax, labels, pos)
    for state in concat:
        (x1, y1), (x2, y2) = pos[_name(state)], pos["c_{k}"]
        far = x2 - x1 > 3.0
        ax.add_patch(
            FancyArrowPatch(
                (x1, y1),
                (x2, y2),
                connectionstyle=f"arc3,rad={0.22 if far else 0.0}",
                arrowstyle="-|>",
                mutation_scale=10,
                lw=0.8,
                color="#bbbbbb",
                ls="--",
                shrinkA=20,
                shrinkB=24,
                zorder=0,
            )
        )
    for name, (x, y) in pos.items():
        label = f"${name}$" if name.startswith("c_") else name
        ax.text(
            x,
            y,
            label,
            fontsize=11,
            ha="center",
            va="center",
            zorder=4,
            bbox={
                "boxstyle": "round,pad=0.5" if name.startswith("c_") else "circle,pad=0.45",
                "fc": node_style.get(name, "#deebf7"),
                "ec": "#333333",
                "lw": 1.0,
            },
        )
    ax.set_title(title, fontsize=12, loc="left")
    ax.set_xlim(-0.8, pos["c_{k}"][0] + 0.8)
    ax.set_ylim(-3.3, 3.3)
    ax.set_aspect("equal")
    ax.axis("off")


def draw_genotype(genotype: Genotype, path: Path, title: str | None = None) -> Path:
    """Write both cells of ``genotype`` to an image (format from the suffix: png, pdf, svg)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    suffix = path.suffix.lower().lstrip(".")
    if suffix not in ("png", "pdf", "svg"):
        raise NascostError(f"cannot draw to {str(path)!r}: use a .png, .pdf or .svg file name")
    if path.parent and not path.parent.exists():
        raise NascostError(f"cannot draw to {str(path)!r}: directory {str(path.parent)!r} does not exist")
    fig, axes = plt.subplots(2, 1, figsize=(11, 8.5))
    try:
        _draw_cell(axes[0], genotype.normal, genotype.normal_concat, "normal cell")
        _draw_cell(axes[1], genotype.reduce, genotype.reduce_concat, "reduction cell")
        if title:
            fig.suptitle(title, fontsize=13)
        fig.tight_layout()
        with atomic_write(path, "wb") as fh:  # never half an image at ``path``
            fig.savefig(fh, dpi=120, format=suffix)
    finally:
        plt.close(fig)
    return path
