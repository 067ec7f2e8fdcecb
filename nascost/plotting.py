"""Matplotlib helpers shared by the report's figures: labels that do not overlap, titles that fit.

Why not adjustText: it is not a dependency, and a fixed list of candidate
offsets tried in order gives the same picture on every run.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Iterable
from typing import Any

#: Offsets (points) tried in order for a point's label: beside it first, then further out.
POINT_OFFSETS = [(4, 4), (4, -4), (-4, 4), (-4, -4), (4, 13), (4, -13), (-4, 13), (-4, -13),
                 (10, 0), (-10, 0), (4, 22), (4, -22), (-4, 22), (-4, -22), (4, 31), (4, -31)]  # fmt: skip
#: Heights (axes fraction) tried for the label of a vertical line, on either side of it.
LINE_HEIGHTS = [0.02, 0.36, 0.70]


def _overlap(a: Any, b: Any) -> float:
    w = min(a.x1, b.x1) - max(a.x0, b.x0)
    h = min(a.y1, b.y1) - max(a.y0, b.y0)
    return w * h if w > 0 and h > 0 else 0.0


def _place(ax: Any, candidates: Iterable[Callable[[], Any]], taken: list[Any]) -> Any:
    """Add the first candidate annotation that overlaps nothing taken and stays inside the axes
    (else the one that overlaps least); record its box in ``taken``."""
    renderer = ax.figure.canvas.get_renderer()
    inside = ax.get_window_extent(renderer)
    best: tuple[float, Any, Any] | None = None
    for make in candidates:
        ann = make()
        ann.set_in_layout(False)
        box = ann.get_window_extent(renderer)
        cost = sum(_overlap(box, t) for t in taken) + (box.width * box.height - _overlap(box, inside))
        if best is None or cost < best[0]:
            if best is not None:
                best[1].remove()
            best = (cost, ann, box)
        else:
            ann.remove()
        if cost <= 0:
            break
    assert best is not None
    taken.append(best[2])
    return best[1]


def marker_boxes(ax: Any, points: Iterable[tuple[float, float]], radius: float = 4.0) -> list[Any]:
    """Display boxes around plotted points, so labels keep off the markers."""
    from matplotlib.transforms import Bbox

    out = []
    for x, y in points:
        px, py = ax.transData.transform((x, y))
        out.append(Bbox([[px - radius, py - radius], [px + radius, py + radius]]))
    return out


def label_points(ax: Any, points: list[tuple[float, float, str]], taken: list[Any], *, fontsize: float = 7,
                 **style: Any) -> list[Any]:
    """Annotate each ``(x, y, text)`` at the first offset of :data:`POINT_OFFSETS` where its label
    overlaps no label or marker in ``taken`` (which grows). Call after the layout is final."""
    anns = []
    for x, y, text in sorted(points, key=lambda p: (p[0], p[1], p[2])):
        def make(dx: float, dy: float, x: float = x, y: float = y, text: str = text) -> Any:
            return ax.annotate(text, (x, y), xytext=(dx, dy), textcoords="offset points", fontsize=fontsize,
                               ha="left" if dx >= 0 else "right",
                               va="bottom" if dy > 0 else ("top" if dy < 0 else "center"),
                               annotation_clip=False, **style)  # fmt: skip

        anns.append(_place(ax, (lambda dx=dx, dy=dy, make=make: make(dx, dy) for dx, dy in POINT_OFFSETS), taken))
    return anns


def label_lines(ax: Any, lines: list[tuple[float, str]], taken: list[Any], *, fontsize: float = 7,
                **style: Any) -> list[Any]:
    """Label vertical lines at ``x`` with rotated text, staggered in height where neighbours would collide."""
    anns = []
    for x, text in sorted(lines):
        def make(frac: float, dx: float, x: float = x, text: str = text) -> Any:
            return ax.annotate(text, (x, frac), xycoords=("data", "axes fraction"), xytext=(dx, 0),
                               textcoords="offset points", rotation=90, fontsize=fontsize,
                               ha="left" if dx > 0 else "right", va="bottom", annotation_clip=False, **style)

        tries = [(frac, dx) for frac in LINE_HEIGHTS for dx in (2, -2)]
        anns.append(_place(ax, (lambda f=f, d=d, make=make: make(f, d) for f, d in tries), taken))
    return anns


def fit_titles(fig: Any) -> None:
    """Lay the figure out, wrapping every axes title wider than its axes (a long title was cut)."""
    fig.tight_layout()
    renderer = fig.canvas.get_renderer()
    changed = False
    for ax in fig.axes:
        text = ax.title.get_text()
        if not text:
            continue
        width = ax.title.get_window_extent(renderer).width
        room = ax.get_window_extent(renderer).width
        if width > room:
            chars = max(12, int(len(text) * room / width) - 2)
            ax.title.set_text("\n".join(textwrap.wrap(text, chars)))
            changed = True
    if changed:
        fig.tight_layout()
