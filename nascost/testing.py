"""Contract checks for plugin classes, shared by nascost's suite and plugin authors.

Each ``check_*`` exercises one interface on small, real computations and
fails with an assertion naming what is wrong. Three ways to run them, none of
which needs a checkout of nascost's repository:

- ``nascost check-plugin NAME``: every check for what plugin NAME registers,
  one pass/fail line each (exit 2 on a failure);
- ``pytest --pyargs nascost.testing``: the same checks as pytest tests, over
  every installed plugin (``NASCOST_CHECK_PLUGIN=NAME`` restricts them to one);
- a plugin's own tests, calling them on its classes::

    from nascost.testing import check_measurer
    def test_my_board():
        check_measurer(MyBoardTimer())
"""

from __future__ import annotations

import json
import os
import tempfile
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import torch
from torch import nn

from nascost import plugins
from nascost.cost import Cost
from nascost.datasets import Dataset
from nascost.errors import NascostError
from nascost.measure import CostMeasurer
from nascost.predict import CostPredictor, make_metadata
from nascost.records import Architecture, DeviceInfo, Measurement, Setting
from nascost.space import SearchSpace, SuperNet


def tiny_setting(space: SearchSpace) -> Setting:
    """The space's first named setting, shrunk so networks build and run in milliseconds."""
    first = next(iter(space.settings().values()))
    return first.model_copy(
        update={"name": "contract-tiny", "channels": 4, "layers": 3, "input_size": 16, "num_classes": 3}
    )


def _logits(out: Any) -> torch.Tensor:
    return out[0] if isinstance(out, (tuple, list)) else out


def check_space(space: SearchSpace) -> None:
    assert space.name and space.encoding_id, "a space needs a name and an encoding_id"
    presets = space.presets()
    settings = space.settings()
    assert settings, "a space needs at least one named setting"
    rng = np.random.default_rng(0)
    archs = space.sample_many(4, rng)
    again = space.sample_many(4, np.random.default_rng(0))
    assert [a.key() for a in archs] == [a.key() for a in again], "sampling must be reproducible from a seed"
    for arch in [*archs, *presets.values()]:
        assert isinstance(arch, Architecture) and arch.space == space.name
        assert space.validate(json.loads(json.dumps(arch.spec))) == arch, "validate(spec) must round-trip"
    enc = space.encode(archs)
    assert enc.shape == (4, space.encoding_dim) and enc.dtype.is_floating_point
    decoded = space.decode(enc[0])
    assert torch.equal(space.encode([decoded])[0], enc[0]), "decode(encode(a)) must round-trip the encoding"
    with pytest_raises(NascostError):
        space.validate({"definitely": "not an architecture"})
    setting = tiny_setting(space)
    model = space.build(archs[0], setting)
    model.eval()
    with torch.inference_mode():
        out = _logits(model(space.example_input(setting, 2)))
    assert out.shape == (2, setting.num_classes)
    for arch in archs[:2]:  # what measurers build must be the same network
        fresh = space.build(arch, setting)
        measured = space.build_for_measurement(arch, setting)
        shapes = {k: tuple(v.shape) for k, v in fresh.state_dict().items()}
        assert {k: tuple(v.shape) for k, v in measured.state_dict().items()} == shapes, (
            "build_for_measurement must build the same network as build"
        )
    first = space.build_for_measurement(archs[0], setting)  # kept alive: its memory is not reused
    space.clear_measurement_cache()  # campaign passes: the next visit measures new modules
    second = space.build_for_measurement(archs[0], setting)
    assert not {id(t) for t in first.parameters()} & {id(t) for t in second.parameters()}, (
        "clear_measurement_cache must make build_for_measurement build new modules"
    )
    counts = space.count(archs[0], setting)
    assert counts["params"] > 0 and counts["macs"] > 0
    assert counts["params_with_aux"] >= counts["params"]
    tied = space.op_count_matrix()
    if tied is not None:
        assert tied.ndim == 2 and tied.shape[0] == space.encoding_dim, "op_count_matrix must be [D, K]"
        assert bool(((tied == 0) | (tied == 1)).all()) and bool((tied.sum(1) <= 1).all()), (
            "op_count_matrix must put each encoding bit in at most one operation class"
        )


def check_supernet(space: SearchSpace) -> None:
    net = space.supernet(C=4, layers=3, num_classes=3, in_channels=3)
    assert isinstance(net, SuperNet)
    arch_params = net.arch_parameters()
    assert arch_params, "a supernet needs architecture parameters"
    ids = {id(p) for p in arch_params}
    assert not ids & {id(p) for p in net.weight_parameters()}
    x = torch.randn(2, 3, 16, 16)
    logits = net(x)
    assert logits.shape == (2, 3)
    logits.sum().backward()
    assert any(p.grad is not None for p in net.weight_parameters())
    gen = torch.Generator().manual_seed(0)
    enc = net.sample_encodings(5, gen)
    assert enc.shape == (5, space.encoding_dim)
    hard = enc.detach()
    assert torch.all((hard == 0) | (hard == 1)), "sampled encodings are one-hot bits"
    for p in arch_params:
        p.grad = None
    (enc * torch.linspace(0, 1, enc.shape[1])).sum().backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in arch_params), (
        "the straight-through gradient must reach the architecture parameters"
    )
    marg = net.encoding_marginals()
    assert marg.shape == (space.encoding_dim,) and torch.all(marg >= 0) and torch.all(marg <= 1 + 1e-6)
    lp = net.log_prob(hard)
    assert lp.shape == (5,) and torch.all(lp <= 1e-6)
    derived = net.derive()
    assert space.validate(derived.spec) == derived
    allowed = net.derivable(torch.cat([space.encode([derived]), hard.detach()]))
    assert allowed.shape == (6,) and allowed.dtype == torch.bool
    assert bool(allowed[0]), "derivable() must allow the architecture derive() returns"
    assert "softmax" in type(net).relaxations, "every supernet mixes with the softmax by default"
    if "dirichlet" in type(net).relaxations:  # a claimed relaxation must change the forward pass
        net.eval()
        with torch.no_grad():
            assert torch.equal(net(x), net(x)), "the softmax relaxation is deterministic"
            net.relaxation = "dirichlet"
            assert not torch.allclose(net(x), net(x)), (
                "a supernet listing 'dirichlet' in relaxations must mix with self.relax(logits)"
            )
        net.relaxation = "softmax"
    if "gumbel" in type(net).relaxations:  # one drawn operation per edge: the output moves with the draw
        net.eval()
        net.relaxation, net.temperature = "gumbel", 1.0
        with torch.no_grad():
            outs = [net(x) for _ in range(8)]
        assert any(not torch.allclose(outs[0], o) for o in outs[1:]), (
            "a supernet listing 'gumbel' in relaxations must mix with self.relax(logits)"
        )
        for p in arch_params:
            p.grad = None
        net(x).sum().backward()
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in net.operation_logits()), (
            "under the gumbel relaxation the straight-through gradient must reach the operation logits"
        )
        net.relaxation = "softmax"


def check_measurer(measurer: CostMeasurer) -> None:
    assert measurer.unit, "a measurer needs a unit"
    ok, why = measurer.available()
    assert isinstance(ok, bool) and isinstance(why, str)
    if not ok:
        assert why, "an unavailable measurer must say why"
        with pytest_raises(NascostError):
            measurer.require_available()
        return
    info = measurer.device_info()
    assert isinstance(info, DeviceInfo) and len(info.fingerprint) == 12
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2))
    x = torch.randn(measurer.default_batch_size, 3, 8, 8)
    if getattr(measurer, "paired", False):  # timed against a reference: give it one
        measurer.set_reference(nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU()), x)
    m = measurer.measure(model, x)
    assert isinstance(m, Measurement)
    assert m.unit == measurer.unit and m.n == len(m.samples) >= 1
    assert np.isfinite(m.median) and m.median > 0
    assert m.device.fingerprint == info.fingerprint


def _synthetic(n: int = 96, d: int = 112, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = (torch.rand(n, d, generator=g) < 8 / d).float()
    w = torch.rand(d, generator=g) * 2
    return x, x @ w + 5.0


def check_predictor(cls: type[CostPredictor], tmp_path: Path) -> None:
    """Fit (or build) a predictor, predict, save, load, and check gradients if differentiable.

    Fitted predictors learn a synthetic additive cost on 112-D one-hot-like
    encodings; predictors that ``transfer`` learn ten rows of a blend of two
    synthetic source devices (``fit(x, y, sources=...)``). Predictors built from a space (``requires_fit=False``) are built
    on the first registered space at a tiny setting with the device-independent
    ``flops`` measurer, so the check runs anywhere.
    """
    assert isinstance(cls.differentiable, bool)
    if getattr(cls, "transfers", False):
        # fitted from source devices: two synthetic sources, ten target rows (nascost.transfer)
        from nascost.transfer import Source

        x, y = _synthetic()
        _, y2 = _synthetic(seed=1)
        sources = [Source(name="a", x=x, y=y.double(), unit="ms"), Source(name="b", x=x, y=y2.double(), unit="ms")]
        quick = {"epochs": 20} if "epochs" in cls.Options.model_fields else {}
        if "cache" in cls.Options.model_fields:
            quick["cache"] = False
        pred = cls(quick).fit(x[:10], 0.5 * y[:10] + 0.5 * y2[:10], sources=sources)
        meta = {"space": "contract", "encoding_id": "contract/synthetic", "encoding_dim": x.shape[1], "unit": "ms"}
    elif cls.requires_fit:
        x, y = _synthetic()
        # Iterative predictors get a short fit: the contract checks the interface, not accuracy.
        quick = {"epochs": 50} if "epochs" in cls.Options.model_fields else {}
        pred = cls(quick).fit(x, y)
        meta = {"space": "contract", "encoding_id": "contract/synthetic", "encoding_dim": x.shape[1], "unit": "ms"}
    else:
        spaces = plugins.registry("spaces").names()
        if not spaces or "flops" not in plugins.registry("measurers"):
            return
        space = plugins.get_space(spaces[0])
        setting = tiny_setting(space)
        pred = cls().build(space, setting, plugins.get_measurer("flops"), batch_size=1)
        x = space.encode(space.sample_many(16, np.random.default_rng(0)))
        meta = {
            "space": space.name,
            "encoding_id": space.encoding_id,
            "encoding_dim": space.encoding_dim,
            "unit": "MACs",
            "setting": setting,
        }
    assert pred is not None
    out = pred.predict(x)
    assert out.shape == (x.shape[0],) and torch.all(torch.isfinite(out))
    path = pred.save(tmp_path / f"{cls.name}.pt", make_metadata(pred, **meta))
    loaded = cls.load(Path(path))
    assert torch.allclose(loaded.predict(x).detach(), out.detach(), rtol=1e-5, atol=1e-5), (
        "a saved and loaded predictor must predict the same"
    )
    if cls.differentiable:
        xr = x[:4].clone().requires_grad_(True)
        pred.predict(xr).sum().backward()
        assert xr.grad is not None and torch.any(xr.grad != 0)
    if cls.requires_fit and "inputs" in cls.Options.model_fields and not getattr(cls, "transfers", False):
        # inputs="op-counts": learn from x @ the space's matrix, keep it in the file.
        groups = 8
        space = SimpleNamespace(name="contract", op_count_matrix=lambda: torch.eye(groups)[torch.arange(x.shape[1]) % groups])
        counted = cls({**quick, "inputs": "op-counts"}).fit(x, y, space=space)
        out = counted.predict(x)
        path = counted.save(tmp_path / f"{cls.name}-counts.pt", make_metadata(counted, **meta))
        assert torch.allclose(cls.load(Path(path)).predict(x).detach(), out.detach(), rtol=1e-5, atol=1e-5), (
            "a predictor fitted on op counts must predict the same after saving and loading"
        )


def check_cost(cls: type[Cost]) -> None:
    assert cls.name and cls.measurer and cls.predictor
    assert cls.measurer in plugins.registry("measurers"), f"cost {cls.name!r}: unknown measurer {cls.measurer!r}"
    assert cls.predictor in plugins.registry("predictors"), f"cost {cls.name!r}: unknown predictor {cls.predictor!r}"


def _tiny_imagefolder(root: Path) -> Path:
    from PIL import Image

    for split in ("train", "test"):
        for label in ("a", "b"):
            d = root / split / label
            d.mkdir(parents=True)
            for i in range(3):
                Image.new("RGB", (8, 8), color=(i * 40, 0 if label == "a" else 200, 0)).save(d / f"{i}.png")
    return root


def check_dataset(cls: type[Dataset], tmp_path: Path) -> None:
    argument = str(_tiny_imagefolder(tmp_path / "imgs")) if cls.takes_argument else None
    ds = cls(argument=argument)
    try:
        data = ds.load("test")
    except NascostError as exc:
        # e.g. a download that cannot happen offline: it must say so clearly.
        assert str(exc)
        return
    image, label = data[0]
    assert image.shape == (ds.in_channels, ds.input_size, ds.input_size)
    assert 0 <= int(label) < ds.num_classes


@dataclass
class ContractCase:
    """One check of one registered class: ``run(tmp_path)`` raises AssertionError on a failure."""

    plugin: str
    kind: str
    name: str
    check: str
    run: Callable[[Path], None]

    @property
    def id(self) -> str:
        return f"{self.check}[{self.name}]"


def contract_cases(plugin: str | None = None) -> list[ContractCase]:
    """The contract checks of everything ``plugin`` registers (``None``: every installed plugin)."""
    cases: list[ContractCase] = []

    def owned(kind: str) -> list[tuple[str, str]]:
        reg = plugins.registry(kind)
        return [(n, reg.owners[n]) for n in reg.names() if plugin is None or reg.owners[n] == plugin]

    for name, owner in owned("spaces"):
        cases.append(ContractCase(owner, "spaces", name, "check_space",
                                  lambda _t, n=name: check_space(plugins.get_space(n))))
        cases.append(ContractCase(owner, "spaces", name, "check_supernet",
                                  lambda _t, n=name: check_supernet(plugins.get_space(n))))
    for name, owner in owned("measurers"):
        cases.append(ContractCase(owner, "measurers", name, "check_measurer",
                                  lambda _t, n=name: check_measurer(plugins.get_measurer(n))))
    for name, owner in owned("predictors"):
        cases.append(ContractCase(owner, "predictors", name, "check_predictor",
                                  lambda t, n=name: check_predictor(plugins.get("predictors", n), t)))
    for name, owner in owned("costs"):
        cases.append(ContractCase(owner, "costs", name, "check_cost",
                                  lambda _t, n=name: check_cost(plugins.get_cost(n))))
    for name, owner in owned("datasets"):
        cases.append(ContractCase(owner, "datasets", name, "check_dataset",
                                  lambda t, n=name: check_dataset(plugins.get("datasets", n), t)))
    return cases


@dataclass
class CheckResult:
    case: ContractCase
    ok: bool
    message: str = ""


def run_contract(plugin: str) -> list[CheckResult]:
    """Run every contract check of ``plugin`` (each in its own temporary directory)."""
    plugins.load_plugins()
    if not plugins.pm.has_plugin(plugin):
        known = sorted(n for n, _ in plugins.pm.list_name_plugin())
        why = plugins.failed_plugins.get(plugin)
        if why:
            raise NascostError(f"plugin {plugin!r} failed to load ({why}); fix it and run check-plugin again")
        raise NascostError(f"unknown plugin {plugin!r} (installed: {', '.join(known)}{plugins.closest(plugin, known)})")
    results = []
    for case in contract_cases(plugin):
        with tempfile.TemporaryDirectory(prefix="nascost-check-") as tmp:
            try:
                case.run(Path(tmp))
                results.append(CheckResult(case, True))
            except Exception as exc:  # an assertion or a crash of the plugin: both are failures
                msg = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
                if not msg:
                    frame = traceback.extract_tb(exc.__traceback__)[-1]
                    msg = f"{frame.filename}:{frame.lineno}: {frame.line}"
                results.append(CheckResult(case, False, f"{type(exc).__name__}: {msg}"))
    return results


# pytest --pyargs nascost.testing: pytest finds these two module-level names.
def pytest_generate_tests(metafunc: Any) -> None:
    if "contract_case" in metafunc.fixturenames:
        cases = contract_cases(os.environ.get("NASCOST_CHECK_PLUGIN") or None)
        metafunc.parametrize("contract_case", cases, ids=[f"{c.plugin}:{c.id}" for c in cases])


def test_contract(contract_case: ContractCase, tmp_path: Path) -> None:
    contract_case.run(tmp_path)


class pytest_raises:
    def __init__(self, exc: type[BaseException]) -> None:
        self.exc = exc

    def __enter__(self) -> None:
        return None

    def __exit__(self, et, ev, tb) -> bool:
        if et is None:
            raise AssertionError(f"expected {self.exc.__name__}")
        return issubclass(et, self.exc)


__all__ = [
    "CheckResult",
    "ContractCase",
    "check_cost",
    "check_dataset",
    "check_measurer",
    "check_predictor",
    "check_space",
    "check_supernet",
    "contract_cases",
    "run_contract",
    "tiny_setting",
]
