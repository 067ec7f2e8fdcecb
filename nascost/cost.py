"""Costs: named recipes binding a measurer and a predictor (``cpu-lpm``, ``gpu-lpm``).

``nascost search --cost cpu-lpm`` resolves the name through the cost store to a
predictor fitted for this space, setting and device; the recipe says how to
create one when it is missing (which measurer to collect with, which predictor
to fit).
"""

from __future__ import annotations

from typing import ClassVar

from nascost.base import Plugin


class Cost(Plugin):
    """A named measurer + predictor recipe."""

    #: Name of the measurer that produces the training data.
    measurer: ClassVar[str] = ""
    #: Name of the predictor fitted on that data.
    predictor: ClassVar[str] = "lpm"
    #: Default setting name for collection (None: the space's search-matching default).
    setting: ClassVar[str | None] = None

    @classmethod
    def kind_label(cls) -> str:
        return "cost"

    @classmethod
    def define(
        cls,
        name: str,
        *,
        measurer: str,
        predictor: str = "lpm",
        setting: str | None = None,
        description: str = "",
    ) -> type[Cost]:
        """Make a Cost class without writing one: ``register(Cost.define("jetson-lpm", ...))``."""
        return type(
            f"Cost_{name.replace('-', '_')}",
            (cls,),
            {
                "name": name,
                "measurer": measurer,
                "predictor": predictor,
                "setting": setting,
                "description": description or f"{predictor} predictor fitted on {measurer} data",
                "__module__": cls.__module__,
            },
        )
