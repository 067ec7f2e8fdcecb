"""Contract suite: every registered plugin class is checked against its interface.

Parametrised over the registries, so a new plugin (built-in or third-party,
installed in this environment) is tested the moment it registers. Plugin
authors run the same checks from the installed package with ``nascost check-plugin NAME`` or
``pytest --pyargs nascost.testing`` (see :mod:`nascost.testing`).
"""

from __future__ import annotations

import pytest

from nascost import plugins
from nascost.testing import (
    check_cost,
    check_dataset,
    check_measurer,
    check_predictor,
    check_space,
    check_supernet,
)


def _names(kind: str) -> list[str]:
    return plugins.registry(kind).names()


@pytest.mark.parametrize("name", _names("spaces"))
def test_search_space_contract(name: str) -> None:
    check_space(plugins.get_space(name))


@pytest.mark.parametrize("name", _names("spaces"))
def test_supernet_contract(name: str) -> None:
    check_supernet(plugins.get_space(name))


@pytest.mark.parametrize("name", _names("measurers"))
def test_measurer_contract(name: str) -> None:
    check_measurer(plugins.get_measurer(name))


@pytest.mark.parametrize("name", _names("predictors"))
def test_predictor_contract(name: str, tmp_path) -> None:
    check_predictor(plugins.get("predictors", name), tmp_path)


@pytest.mark.parametrize("name", _names("costs"))
def test_cost_contract(name: str) -> None:
    check_cost(plugins.get_cost(name))


@pytest.mark.parametrize("name", _names("datasets"))
def test_dataset_contract(name: str, tmp_path) -> None:
    check_dataset(plugins.get("datasets", name), tmp_path)
