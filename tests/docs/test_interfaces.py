"""docs/interfaces.md documents every public member of every plugin interface."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from nascost.base import Plugin
from nascost.cost import Cost
from nascost.datasets import Dataset
from nascost.measure import CostMeasurer, TimerMeasurer
from nascost.predict import CostPredictor
from nascost.space import SearchSpace, SuperNet

PAGE = (Path(__file__).resolve().parents[2] / "docs" / "interfaces.md").read_text()


def _public_members(cls: type) -> list[str]:
    own = []
    for name, value in vars(cls).items():
        if name.startswith("_") or name in ("Options", "model_config"):
            continue
        if callable(value) or isinstance(value, (property, classmethod, staticmethod)) or name in cls.__annotations__:
            own.append(name)
    return own


@pytest.mark.parametrize(
    "cls", [Plugin, SearchSpace, SuperNet, CostMeasurer, TimerMeasurer, CostPredictor, Cost, Dataset]
)
def test_every_public_member_is_documented(cls: type) -> None:
    missing = [m for m in _public_members(cls) if f"`{m}" not in PAGE and f" {m}(" not in PAGE]
    assert not missing, f"{cls.__name__}: document {missing} in docs/interfaces.md"


def test_abstract_methods_exist_on_the_page() -> None:
    for cls in (SearchSpace, SuperNet, CostMeasurer, CostPredictor, Dataset):
        for name in getattr(cls, "__abstractmethods__", ()):
            assert name in PAGE, f"{cls.__name__}.{name}"
    assert inspect.isabstract(SearchSpace)
