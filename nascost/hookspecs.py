"""Hook specifications: one per extension point.

A plugin is a module (or object) with functions decorated by
``nascost.hookimpl`` and named like these specs, exposed through the
``nascost`` entry-point group::

    [project.entry-points.nascost]
    myboard = "nascost_myboard"

Each ``register_*`` hook receives a ``register`` callback; call it once per
class. An implementation may accept fewer arguments than the spec names
(pluggy's rule), so new arguments can be added without breaking plugins.
The contract suite in ``tests/contract`` checks every registered class.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    import click

    from nascost.cost import Cost
    from nascost.datasets import Dataset
    from nascost.measure import CostMeasurer
    from nascost.predict import CostPredictor
    from nascost.space import SearchSpace

hookspec = pluggy.HookspecMarker("nascost")
hookimpl = pluggy.HookimplMarker("nascost")


@hookspec
def register_search_spaces(register: Callable[[type[SearchSpace]], None]) -> None:
    """Register search spaces: call ``register(SpaceClass)`` for each.

    A space samples, validates, encodes, decodes and builds architectures and
    provides a supernet for differentiable search (see :class:`nascost.space.SearchSpace`).

    Example::

        @hookimpl
        def register_search_spaces(register):
            register(MySpace)
    """


@hookspec
def register_cost_measurers(register: Callable[[type[CostMeasurer]], None]) -> None:
    """Register cost measurers: call ``register(MeasurerClass)`` for each.

    A measurer measures a built network on one device and returns a
    :class:`nascost.records.Measurement` with the device fingerprint. This is
    how a third party adds its hardware.

    Example::

        @hookimpl
        def register_cost_measurers(register):
            register(JetsonTimer)
    """


@hookspec
def register_cost_predictors(register: Callable[[type[CostPredictor]], None]) -> None:
    """Register cost predictors: call ``register(PredictorClass)`` for each.

    A predictor is fitted on (encoding, cost) pairs and predicts costs of
    encodings; ``differentiable`` ones can sit inside the search loss.

    Example::

        @hookimpl
        def register_cost_predictors(register):
            register(MyGraphPredictor)
    """


@hookspec
def register_costs(register: Callable[[type[Cost]], None]) -> None:
    """Register costs: named measurer + predictor recipes such as ``gpu-lpm``.

    Example::

        @hookimpl
        def register_costs(register):
            register(Cost.define("jetson-lpm", measurer="jetson-timer", predictor="lpm"))
    """


@hookspec
def register_datasets(register: Callable[[type[Dataset]], None]) -> None:
    """Register datasets for search and training: call ``register(DatasetClass)``.

    Example::

        @hookimpl
        def register_datasets(register):
            register(MyImages)
    """


@hookspec
def register_commands(cli: click.Group) -> None:
    """Add commands to the ``nascost`` command-line interface.

    Example::

        @hookimpl
        def register_commands(cli):
            @cli.command()
            def hello():
                click.echo("hello")
    """
