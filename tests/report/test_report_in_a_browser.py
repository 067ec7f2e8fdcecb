"""The report as a person sees it: rendered by a real headless browser (skipped where none is installed).

Why a browser and not the HTML text: a page can hold every ``<img>`` tag (the report
embeds its plots as data URIs) and still show broken images, or a table wider than the
window. Chromium renders the page to a screenshot; the plots must show (matplotlib's
default blue is in their markers and lines, nowhere in the page's own style) and nothing
may extend past the page's column.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from nascost.report import build_report
from report.runs import search_dir

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "chrome")
TAB_BLUE = np.array([31, 119, 180]) / 255.0


def _browser() -> str:
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    pytest.skip("no headless browser installed (chromium)")


def _render(browser: str, page: Path, shot: Path, width: int) -> np.ndarray:
    import matplotlib.image

    profile = shot.with_suffix(".profile")  # a fresh profile: nothing cached from an earlier render
    done = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                           f"--user-data-dir={profile}", f"--window-size={width},2400", f"--screenshot={shot}",
                           page.resolve().as_uri()],
                          capture_output=True, timeout=120, check=False)
    if done.returncode != 0 or not shot.is_file():
        pytest.skip(f"the browser did not render: {done.stderr.decode(errors='replace')[-200:]}")
    return matplotlib.image.imread(shot)[..., :3]


def test_the_report_renders_its_plots_in_a_browser(tmp_path: Path, tiny_space) -> None:
    browser = _browser()
    root = tmp_path / "sweep"
    for name, lam, cost, acc in (("lambda_0", 0.0, 8.0, 80.0), ("lambda_0.2", 0.2, 5.0, 78.0)):
        search_dir(root / "runs" / name, ["conv", "skip", "pool", "conv"], lam, cost, acc, weights=True)
    (root / "sweep.json").write_text(json.dumps({"runs": ["runs/lambda_0", "runs/lambda_0.2"]}))
    page = tmp_path / "out" / "report.html"
    written = build_report([root], page)
    assert written["images"]
    pixels = _render(browser, page, tmp_path / "shot.png", 1200)
    shown = int((np.abs(pixels - TAB_BLUE).max(-1) < 0.1).sum())
    assert shown > 200, "no plot shows: the images did not render"
    # nothing wider than the page's column: the right margin of the window stays empty
    assert np.all(pixels[:, -40:] > 0.97)
