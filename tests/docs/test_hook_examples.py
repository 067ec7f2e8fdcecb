"""Each hook of nascost/hookspecs.py, exercised the way docs/plugins.md shows it."""

from __future__ import annotations

import click
import torch
from click.testing import CliRunner
from torch.utils.data import TensorDataset

from nascost import plugins
from nascost.cost import Cost
from nascost.datasets import Dataset
from nascost.hookspecs import hookimpl
from nascost.measure import CostMeasurer
from nascost.predict import CostPredictor
from nascost.space import SearchSpace


def test_register_search_spaces(register_plugin) -> None:
    class TinySpace(SearchSpace):
        """A throwaway space."""

        name = "doc-tiny-space"

    class P:
        @hookimpl
        def register_search_spaces(register):
            register(TinySpace)

    owner = register_plugin(P)
    assert plugins.get("spaces", "doc-tiny-space") is TinySpace
    assert plugins.registry("spaces").owners["doc-tiny-space"] == owner


def test_register_cost_measurers(register_plugin) -> None:
    class BoardTimer(CostMeasurer):
        """Latency on a pretend board."""

        name = "doc-board-timer"
        unit = "ms"

    class P:
        @hookimpl
        def register_cost_measurers(register):
            register(BoardTimer)

    register_plugin(P)
    assert plugins.get("measurers", "doc-board-timer") is BoardTimer
    assert "doc-board-timer" in plugins.registry("measurers").names()


def test_register_cost_predictors(register_plugin) -> None:
    class MeanPredictor(CostPredictor):
        """Predicts the training mean."""

        name = "doc-mean"

    class P:
        @hookimpl
        def register_cost_predictors(register):
            register(MeanPredictor)

    register_plugin(P)
    assert plugins.get("predictors", "doc-mean").summary() == "Predicts the training mean."


def test_register_costs(register_plugin) -> None:
    class P:
        @hookimpl
        def register_costs(register):
            register(Cost.define("doc-board-lpm", measurer="doc-board-timer", predictor="lpm"))

    register_plugin(P)
    cost = plugins.get_cost("doc-board-lpm")
    assert (cost.measurer, cost.predictor) == ("doc-board-timer", "lpm")


def test_register_datasets(register_plugin) -> None:
    class Tiles(Dataset):
        """Random tiles, one per class."""

        name = "doc-tiles"
        takes_argument = True

        def load(self, split: str, augment: bool = False) -> TensorDataset:
            n = int(self.argument or 4)
            return TensorDataset(torch.zeros(n, 3, 8, 8), torch.arange(n) % 2)

        num_classes = 2
        input_size = 8

    class P:
        @hookimpl
        def register_datasets(register):
            register(Tiles)

    register_plugin(P)
    data = plugins.get_dataset("doc-tiles:6")
    assert data.argument == "6" and len(data.load("train")) == 6


def test_register_commands(register_plugin) -> None:
    from nascost.cli import _add_commands, cli

    class P:
        @hookimpl
        def register_commands(cli):
            @cli.command("doc-board-info")
            def board_info():
                """Show the attached board."""
                click.echo("pretend-board")

    register_plugin(P)
    try:
        _add_commands()
        result = CliRunner().invoke(cli, ["doc-board-info"])
        assert result.exit_code == 0 and result.output.strip() == "pretend-board"
    finally:
        cli.commands.pop("doc-board-info", None)
