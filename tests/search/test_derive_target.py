"""``nascost derive --target``: the most probable architecture whose predicted cost meets a budget."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pytest
import torch

from nascost import plugins
from nascost.cost import load_cost
from nascost.derive import derive_from_runs
from nascost.errors import NascostError
from nascost.hookspecs import hookimpl
from nascost.predict import make_metadata, save_predictor
from nascost.records import Architecture
from nascost.search import CHECKPOINT, ResolvedCost, SearchConfig, check_exact, run_search
from search.fakes import EDGES, OP_COST, OPS, ChainSpace, LinearCost

BASE = {"space": "chain", "dataset": "digits", "epochs": 2, "max_steps": 4, "batch_size": 16,
        "arch_learning_rate": 0.05, "costs": ["fake-linear"], "lambda": 0.0}


class SmallChainSpace(ChainSpace):
    """The fake chain space, small enough (27 architectures) to enumerate."""

    def num_architectures(self) -> int:
        return len(OPS) ** EDGES

    def enumerate(self):
        for ops in itertools.product(OPS, repeat=EDGES):
            yield self.validate({"ops": list(ops)})


class SmallChainPlugin:
    @hookimpl
    def register_search_spaces(self, register: Any) -> None:
        register(SmallChainSpace)


class ChainPlugin:
    @hookimpl
    def register_search_spaces(self, register: Any) -> None:
        register(ChainSpace)


def _runs(tmp_path: Path, space: ChainSpace | None = None) -> list[Path]:
    out = []
    for seed in (0, 1):
        run = tmp_path / f"seed{seed}"
        run_search(SearchConfig.build({**BASE, "seed": seed}), run, space=space or SmallChainSpace(), show_progress=False,
                   costs=[ResolvedCost(name="fake-linear", fn=LinearCost(), unit="ms")])
        # weights that prefer the costly conv, each run its own way, so that budgets bind (a search
        # this short barely moves them)
        state = torch.load(run / CHECKPOINT, weights_only=True)
        logits = torch.randn(EDGES, len(OPS), generator=torch.Generator().manual_seed(seed))
        logits[:, OPS.index("conv")] += 1.5
        state["supernet"]["alpha"] = logits
        torch.save(state, run / CHECKPOINT)
        out.append(run)
    return out


def _cost_file(tmp_path: Path, space: SmallChainSpace) -> Path:
    """A real LPM fitted on every architecture's additive cost (conv 3, pool 1, skip 0.1)."""
    archs = list(space.enumerate())
    x = space.encode(archs)
    y = torch.tensor([1.0 + sum(OP_COST[o] for o in a.spec["ops"]) for a in archs])
    pred = plugins.get_predictor("lpm", {"epochs": 200})
    pred.fit(x, y)
    meta = make_metadata(pred, space=space.name, encoding_id=space.encoding_id, encoding_dim=space.encoding_dim,
                         setting=space.setting("tiny"), batch_size=1, unit="ms", n_train=len(archs))
    return save_predictor(pred, tmp_path / "chain-lpm.nascost", meta)


@pytest.fixture
def setup(tmp_path: Path, register_plugin) -> tuple[list[Path], Path]:
    register_plugin(SmallChainPlugin())
    runs = _runs(tmp_path)
    return runs, _cost_file(tmp_path, SmallChainSpace())


def _brute_force(runs: list[Path], cost: Path, target: float) -> tuple[Architecture, float]:
    """Every architecture scored by the mean probabilities' log-probability, within the target."""
    space = SmallChainSpace()
    mean = torch.stack([torch.softmax(torch.load(r / CHECKPOINT, weights_only=True)["supernet"]["alpha"], -1)
                        for r in runs]).mean(0)
    fn, _ = load_cost(cost, space=space)
    best = None
    for arch in space.enumerate():
        c = float(fn.predict(space.encode([arch]).float())[0])
        lp = sum(float(mean[e, OPS.index(o)].log()) for e, o in enumerate(arch.spec["ops"]))
        if c <= target and (best is None or lp > best[0]):
            best = (lp, arch, c)
    assert best is not None
    return best[1], best[2]


def test_the_most_probable_architecture_within_the_target(setup) -> None:
    runs, cost = setup
    free, _ = derive_from_runs(runs)
    fn, _ = load_cost(cost, space=SmallChainSpace())
    free_cost = float(fn.predict(SmallChainSpace().encode([free]).float())[0])
    assert free_cost > 6.0  # convs: the budgets below bind
    for target in (2.0, 4.0, free_cost - 0.5):
        arch, report = derive_from_runs(runs, target=f"{target}ms", cost=str(cost))
        expected, predicted = _brute_force(runs, cost, target)
        assert arch.spec == expected.spec
        budget = report["target"]
        assert budget["binding"] and budget["value"] == pytest.approx(target)
        assert budget["predicted"] == pytest.approx(predicted, rel=1e-5) and budget["predicted"] <= target
        assert budget["unconstrained"] == SmallChainSpace().format_arch(free)
        assert budget["unconstrained_predicted"] == pytest.approx(free_cost, rel=1e-5)
    # a budget the derived architecture meets leaves it as the space's own derive() made it
    arch, report = derive_from_runs(runs, target=f"{free_cost + 1}ms", cost=str(cost))
    assert arch.spec == free.spec and not report["target"]["binding"]


def test_cli_derives_within_the_target_and_refuses_what_it_cannot(setup, run_cli, tmp_path: Path) -> None:
    runs, cost = setup
    out = tmp_path / "within.json"
    code, stdout, _ = run_cli("derive", *map(str, runs), "--target", "2ms", "--cost", str(cost), "-o", str(out))
    expected, _ = _brute_force(runs, cost, 2.0)
    assert code == 0 and "the most probable one within it is predicted" in stdout
    assert json.loads(out.read_text()) == {"space": "chain", **expected.spec}
    code, stdout, _ = run_cli("derive", *map(str, runs), "--target", "2ms", "--cost", str(cost), "--json")
    assert code == 0 and json.loads(stdout)["target"]["predicted"] <= 2.0
    for args, words in [
        (["--target", "0.5ms", "--cost", str(cost)], "no architecture of space 'chain' is predicted within"),
        (["--target", "2mJ", "--cost", str(cost)], "is an energy"),
        (["--cost", str(cost)], "give --target too"),
        (["--target", "2ms"], "unknown cost 'fake-linear'"),  # the runs' own cost is not in any store here
    ]:
        never = tmp_path / "never.json"
        code, _, err = run_cli("derive", *map(str, runs), *args, "-o", str(never))
        assert code == 2 and words in err and len(err.strip().splitlines()) == 1, err
        assert not never.exists()


def test_a_space_too_large_to_enumerate_is_a_clear_error(tmp_path: Path, register_plugin) -> None:
    register_plugin(ChainPlugin())  # the chain space that cannot enumerate
    runs = _runs(tmp_path, ChainSpace())
    cost = _cost_file(tmp_path, SmallChainSpace())  # the same encoding: a cost the runs can use
    with pytest.raises(NascostError, match="cannot enumerate them"):
        derive_from_runs(runs, target="2ms", cost=str(cost))
    # the same check, and message, as the exact estimator's
    with pytest.raises(NascostError, match="--estimator exact sums over every architecture: space 'chain' cannot"):
        check_exact(ChainSpace())
