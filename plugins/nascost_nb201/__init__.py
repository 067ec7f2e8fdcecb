"""nascost built-in plugin: the NAS-Bench-201 cell search space (``nb201``).

Registered exactly as a third party's space would be: one entry point,
``[project.entry-points.nascost] nb201 = "nascost_nb201"``.
"""

from __future__ import annotations

from typing import Any

from nascost.hookspecs import hookimpl
from nascost_nb201.space import NB201Space

__all__ = ["NB201Space"]


@hookimpl
def register_search_spaces(register: Any) -> None:
    register(NB201Space)
