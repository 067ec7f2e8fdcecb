"""Sphinx configuration: MyST markdown pages, built with warnings as errors by tests/docs."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

try:
    from nascost import __version__ as release
except Exception:  # building the docs must not need an importable package
    release = "unknown"

project = "nascost"
author = "the nascost authors"
copyright = "the nascost authors"
version = release

extensions = ["myst_parser"]
source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "**/.ipynb_checkpoints", "*.tmp"]

myst_enable_extensions = ["colon_fence", "deflist"]
# Anchors for "## headings" so pages can link to sections: [x](cli.md#nascost-train).
myst_heading_anchors = 3

html_theme = "alabaster"
html_title = f"nascost {release}"
html_static_path: list[str] = []
