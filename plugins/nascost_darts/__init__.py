"""nascost built-in plugin: the DARTS, PC-DARTS and P-DARTS cell search spaces."""

from __future__ import annotations

from typing import Any

from nascost.hookspecs import hookimpl
from nascost_darts.space import DartsSpace, PCDartsSpace, PDartsSpace

__all__ = ["DartsSpace", "PCDartsSpace", "PDartsSpace"]


@hookimpl
def register_search_spaces(register: Any) -> None:
    register(DartsSpace)
    register(PCDartsSpace)
    register(PDartsSpace)
