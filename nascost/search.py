"""Latency-aware differentiable architecture search (LA-DARTS, LA-PC-DARTS, LA-P-DARTS).

The bi-level loop of the DARTS-family references (quark0/darts
``train_search.py``, PC-DARTS, P-DARTS), written once for any
:class:`~nascost.space.SuperNet`:

- the training split is cut in two (``train_portion``, 0.5 as the references):
  network weights learn on the first part by momentum SGD (cosine learning rate,
  gradient clipping), architecture weights on the second part by Adam;
- each step first updates the architecture on a batch of the second part
  (first or second order, see :mod:`nascost.architect`), then the weights on a
  batch of the first part, as the references do;
- the architecture loss is ``L_val + sum_k lambda_k * LAT_k(alpha)`` (the paper's
  Eq. 3), one term per cost (:mod:`nascost.penalty`).

Everything a run produces lives in its output directory (see
:func:`run_search`). The defaults of every hyper-parameter come from the
space's :meth:`~nascost.space.SearchSpace.search_defaults`, so each method runs
with its published values.
"""

from __future__ import annotations

import json
import math
import shutil
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from torch import nn
from torch.nn import functional as F

from nascost.architect import Architect
from nascost.config import check_resume_options
from nascost.device import DEFAULT_THREADS, environment_record, run_environment, torch_threads
from nascost.errors import NascostError
from nascost.files import torch_save, write_text
from nascost.penalty import (
    PAPER_REFERENCE_COST,
    PAPER_SPREAD,
    REFERENCE_SEED,
    CostFunction,
    CostTerm,
    check_target,
    parse_target,
    reference_cost,
    reference_spread,
)
from nascost.progress import maybe_progress
from nascost.records import Architecture, Setting
from nascost.space import GUMBEL_TEMPERATURE, SuperNet, gumbel_temperature

#: Hyper-parameters of DARTS (quark0/darts train_search.py), used where a space gives none.
FALLBACK_DEFAULTS: dict[str, Any] = {
    "epochs": 50,
    "batch_size": 64,
    "learning_rate": 0.025,
    "learning_rate_min": 0.001,
    "momentum": 0.9,
    "nesterov": False,
    "weight_decay": 3e-4,
    "arch_learning_rate": 3e-4,
    "arch_weight_decay": 1e-3,
    "arch_betas": (0.5, 0.999),
    "arch_frozen_epochs": 0,
    "grad_clip": 5.0,
    "arch_grad_clip": None,
    "hessian_r": 1e-2,
    "C": 16,
    "layers": 8,
    "order": "first",
}

#: Other names a space's search_defaults() may use for a config field.
_ALIASES = {
    "lr": "learning_rate",
    "lr_min": "learning_rate_min",
    "arch_lr": "arch_learning_rate",
    "init_channels": "C",
    "channels": "C",
    "cells": "layers",
    "warmup_epochs": "arch_frozen_epochs",
    "epochs_no_arch": "arch_frozen_epochs",
    "unrolled": "order",
}

CHECKPOINT = "checkpoint.pt"


class CostSpec(BaseModel):
    """One ``--cost NAME[:LAMBDA]``: a cost name from the cost store, or a predictor file."""

    model_config = ConfigDict(extra="forbid")

    name: str
    lam: float | None = Field(default=None, description="lambda of this cost (1/cost unit); default: the run's lambda")

    @classmethod
    def parse(cls, text: str) -> CostSpec:
        """``cpu-lpm``, ``cpu-lpm:0.2``, ``path/to/predictor.pt:0.1``."""
        name, lam = text, None
        if ":" in text:
            head, tail = text.rsplit(":", 1)
            try:
                lam = float(tail)
                name = head
            except ValueError:
                if Path(head).is_file() or head.endswith((".nascost", ".pt")):
                    raise NascostError(f"cost {text!r}: {tail!r} is not a lambda; use FILE:LAMBDA with a number, "
                                       f"e.g. '{head}:0.2'") from None
                name, lam = text, None
        if not name:
            raise NascostError(f"cannot read cost {text!r}: use NAME or NAME:LAMBDA, e.g. 'cpu-lpm:0.2'")
        if lam is not None and (lam < 0 or not math.isfinite(lam)):
            raise NascostError(f"lambda in cost {text!r} must be a finite number >= 0")
        return cls(name=name, lam=lam)


class SearchConfig(BaseModel):
    """Every option of a search. ``None`` means: the space's published default."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    space: str = "pcdarts"
    space_options: dict[str, Any] = Field(default_factory=dict)
    dataset: str = "digits"
    dataset_options: dict[str, Any] = Field(default_factory=dict)
    # --- costs ---
    costs: list[CostSpec] = Field(default_factory=list, description="costs to add to the loss (empty: plain search)")
    lam: float = Field(default=0.1, alias="lambda", description="lambda (1/cost unit) of costs without their own")
    target: str | None = Field(default=None, description="budget of the first cost, e.g. '25ms'")
    target_mode: Literal["hinge", "adaptive"] = "hinge"
    target_on: Literal["expected", "derived"] = Field(
        default="expected",
        description="what --target bounds: the expected cost of sampled sub-architectures (the paper's LAT) "
                    "or the predicted cost of the derived architecture",
    )
    trust_region: Literal["report", "penalty"] = Field(
        default="report",
        description="outside the cost predictor's training range: report it (and warn once), or add a hinge "
                    "penalty that keeps the expected cost inside",
    )
    trust_weight: float = Field(default=1.0, ge=0, description="trust-region penalty: net pull per unit outside")
    dual_lr: float = Field(default=0.05, ge=0, description="adaptive target: multiplier step per relative overshoot")
    estimator: Literal["st", "expectation", "reinforce", "exact"] = "st"
    samples: int = Field(default=20, ge=1, description="M: sub-architectures sampled per step (the paper: 20)")
    cost_noise: float = Field(default=0.0, ge=0, description="sigma of N(0, sigma) noise on predicted costs")
    cost_noise_mode: Literal["relative", "absolute"] = "relative"
    cost_scale: Literal["raw", "paper", "spread"] = Field(
        default="raw", description="'paper': rescale costs so a random architecture costs 30 (the paper's ms); "
                                   "'spread': so that random architectures' costs spread with a standard deviation "
                                   "of 10 (the same pressure per lambda on devices whose costs vary more or less)"
    )
    reinforce_baseline_decay: float = Field(default=0.9, ge=0, lt=1)
    # --- calibration (--calibrate N) ---
    calibrate: int = Field(default=0, ge=0, description="measure N architectures here and fit the cost first")
    cost_setting: str | None = Field(default=None, description="setting of the cost (default: the cost's own)")
    cost_setting_overrides: dict[str, Any] = Field(default_factory=dict)
    cost_batch_size: int | None = None
    calibrate_measurer_options: dict[str, Any] = Field(
        default_factory=dict, description="options of the measurer during --calibrate (e.g. runs, warmup)"
    )
    calibrate_predictor_options: dict[str, Any] = Field(
        default_factory=dict, description="options of the predictor fitted by --calibrate (e.g. target_scaling)"
    )
    # --- regularisation of the architecture (collapse remedies) ---
    regularizer: Literal["none", "beta"] = Field(
        default="none",
        description="'beta': beta-DARTS (Ye et al., CVPR 2022), the mean log-sum-exp of the operation logits "
                    "added to the architecture loss with a weight rising linearly from 0",
    )
    regularizer_weight: float | None = Field(
        default=None, ge=0, description="the regulariser's final weight (beta: 50, the reference's)"
    )
    relaxation: Literal["softmax", "dirichlet", "gumbel"] = Field(
        default="softmax",
        description="how alpha mixes an edge's operations: 'softmax' (DARTS), 'dirichlet' (DrNAS, "
                    "Chen et al., ICLR 2021: a reparameterised draw from Dirichlet(elu(alpha) + 1) each step) "
                    "or 'gumbel' (GDAS, Dong & Yang, CVPR 2019: one operation per edge drawn from softmax(alpha) "
                    "each step, straight-through Gumbel-softmax gradient at an annealed temperature)",
    )
    temperature: tuple[float, float] | None = Field(
        default=None,
        description="the gumbel relaxation's temperature, annealed linearly from the first value at the first "
                    "epoch to the second at the last (GDAS: 10 to 0.1, the default)",
    )
    # --- ground truth (spaces with published accuracies) ---
    accuracy_table: str | None = Field(
        default=None, description="FILE[:COLUMN]: true accuracies; the summary records the derived cell's, "
                                  "its true cost and its regret to the true front"
    )
    # --- network and optimisation (None: the space's defaults) ---
    C: int | None = Field(default=None, gt=0)
    layers: int | None = Field(default=None, gt=0)
    epochs: int | None = Field(default=None, gt=0)
    batch_size: int | None = Field(default=None, gt=0)
    learning_rate: float | None = Field(default=None, gt=0)
    learning_rate_min: float | None = Field(default=None, ge=0)
    momentum: float | None = Field(default=None, ge=0)
    nesterov: bool | None = Field(default=None, description="Nesterov momentum for the weights [space default]")
    weight_decay: float | None = Field(default=None, ge=0)
    arch_learning_rate: float | None = Field(default=None, gt=0)
    arch_weight_decay: float | None = Field(default=None, ge=0)
    arch_betas: tuple[float, float] | None = None
    arch_frozen_epochs: int | None = Field(default=None, ge=0)
    order: Literal["first", "second"] | None = None
    grad_clip: float | None = Field(default=None, gt=0)
    arch_grad_clip: float | None = Field(default=None, gt=0, description="clip the architecture gradient norm")
    hessian_r: float | None = Field(default=None, gt=0, description="second order: finite-difference R * ||v||")
    supernet_options: dict[str, Any] = Field(
        default_factory=dict, description="options of the space's supernet (e.g. pcdarts k, edge_sampling)"
    )
    train_portion: float = Field(default=0.5, gt=0, lt=1)
    stages: list[dict[str, Any]] | None = Field(default=None, description="override the space's search stages")
    cost_stages: Literal["last", "all"] = Field(
        default="last", description="stages with the cost term (the paper: the last P-DARTS stage)"
    )
    # --- run ---
    seed: int = 0
    device: str = "auto"
    threads: int | None = Field(
        default=DEFAULT_THREADS, ge=1,
        description="CPU threads for torch (default 1: never collapses on a shared machine; None: torch's default)",
    )
    max_steps: int | None = Field(default=None, gt=0, description="cap on steps per epoch (quick runs, tests)")
    max_train_samples: int | None = Field(default=None, gt=1, description="use only this many training images")
    evaluate: bool = Field(default=True, description="measure loss/accuracy on the validation half every epoch")
    measure_final: bool = Field(
        default=True, description="measure the derived architecture with each cost's measurer, where it runs here"
    )
    measure_references: bool = Field(
        default=True, description="with measure_final: also measure the space's published cells (its presets) "
                                  "the same way, so the report places the derived one beside them",
    )
    num_workers: int = Field(default=0, ge=0)

    @field_validator("lam")
    @classmethod
    def _lam_ok(cls, v: float) -> float:
        if v < 0 or not math.isfinite(v):
            raise ValueError("lambda must be a finite number >= 0")
        return v

    @field_validator("temperature")
    @classmethod
    def _temperature_ok(cls, v: tuple[float, float] | None) -> tuple[float, float] | None:
        if v is not None and not (all(math.isfinite(t) and t > 0 for t in v) and v[0] >= v[1]):
            raise ValueError("the temperature schedule needs two finite numbers > 0, the first >= the second "
                             "(GDAS: 10 0.1)")
        return v

    @model_validator(mode="after")
    def _temperature_needs_gumbel(self) -> SearchConfig:
        if self.temperature is not None and self.relaxation != "gumbel":
            raise ValueError(f"a temperature schedule anneals the gumbel relaxation only, not {self.relaxation!r}; "
                             "add --relaxation gumbel or drop --temperature")
        return self

    @field_validator("supernet_options")
    @classmethod
    def _supernet_options_ok(cls, v: dict[str, Any]) -> dict[str, Any]:
        check_supernet_options(v)
        return v

    @field_validator("target")
    @classmethod
    def _target_ok(cls, v: str | None) -> str | None:
        if v is not None:
            check_target(v)
        return v

    @classmethod
    def build(cls, data: dict[str, Any]) -> SearchConfig:
        """Validate, turning pydantic's report into one NascostError line."""
        data = dict(data)
        if "costs" in data:
            data["costs"] = [CostSpec.parse(c) if isinstance(c, str) else c for c in data["costs"] or []]
        if isinstance(data.get("target"), (int, float)):
            data["target"] = str(data["target"])
        try:
            return cls.model_validate(data)
        except NascostError:
            raise
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"])
            msg = err["msg"].removeprefix("Value error, ")
            raise NascostError(f"invalid search option {where!r}: {msg}" if where else f"invalid search options: {msg}") from None

    def with_defaults(self, defaults: dict[str, Any]) -> SearchConfig:
        """Fill every ``None`` hyper-parameter from the space's defaults (then DARTS's)."""
        given = {_ALIASES.get(k, k): v for k, v in defaults.items()}
        order = given.get("order")
        if isinstance(order, (bool, int)):
            given["order"] = "second" if int(order) == 2 or order is True else "first"
        data = self.model_dump(by_alias=False)
        for key, fallback in FALLBACK_DEFAULTS.items():
            if data.get(key) is None:
                data[key] = given.get(key, fallback)
        # the remaining defaults (pcdarts's k, ...) are the supernet's; the user's win
        extra = {k: v for k, v in given.items() if k not in SearchConfig.model_fields}
        data["supernet_options"] = {**extra, **data.get("supernet_options", {})}
        return SearchConfig.build(data)

    def dump(self) -> dict[str, Any]:
        out = self.model_dump(mode="json", by_alias=True)
        out["costs"] = [c.model_dump(mode="json") for c in self.costs]
        return out


# --- resolved costs -----------------------------------------------------------


@dataclass
class ResolvedCost:
    """A cost ready for the search: the function, its unit, and where it came from."""

    name: str
    fn: CostFunction
    unit: str = ""
    lam: float | None = None
    setting: Setting | None = None
    source: str = ""
    measurer: str | None = None
    info: dict[str, Any] = field(default_factory=dict)
    #: ``(min, max)`` cost of the predictor's training rows (None: unknown, e.g. a built cost).
    train_range: tuple[float, float] | None = None


def check_exact(space: Any) -> None:
    """The ``exact`` estimator needs a space small enough to enumerate."""
    from nascost.penalty import EXACT_LIMIT
    from nascost.space import check_enumerable

    check_enumerable(space, EXACT_LIMIT, "--estimator exact sums over every architecture",
                     "use --estimator st or reinforce")


#: Supernet arguments the search sets itself (from its own options and the dataset).
SEARCH_SET_SUPERNET_OPTIONS: tuple[str, ...] = ("C", "layers", "num_classes", "in_channels")


def check_supernet_options(options: dict[str, Any]) -> None:
    """Refuse supernet options the search sets itself, naming the option that does."""
    taken = [k for k in SEARCH_SET_SUPERNET_OPTIONS if k in options]
    if taken:
        raise NascostError(f"supernet_options may not set {', '.join(taken)}: the search sets them "
                           "(use --channels and --layers; the classes and channels come from the dataset)")


def make_cost_terms(
    config: SearchConfig, costs: list[ResolvedCost], space: Any
) -> tuple[list[CostTerm], dict[str, float]]:
    """One :class:`CostTerm` per cost; ``--target`` applies to the first cost."""
    if costs and config.estimator == "exact":
        check_exact(space)
    terms: list[CostTerm] = []
    refs: dict[str, float] = {}
    for i, cost in enumerate(costs):
        scale = 1.0
        ref = float("nan")
        spread = float("nan")
        try:
            enc = space.encode(space.sample_many(256 if config.cost_scale == "spread" else 64, REFERENCE_SEED))
            ref = reference_cost(cost.fn, enc[:64])
            if config.cost_scale == "spread":
                spread = reference_spread(cost.fn, enc)
        except Exception:  # a cost function that cannot score random archs: no reference
            ref = float("nan")
        refs[cost.name] = ref
        if config.cost_scale == "paper":
            if not (ref > 0 and math.isfinite(ref)):
                raise NascostError(f"cost {cost.name!r}: cannot compute a reference cost for --cost-scale paper")
            scale = PAPER_REFERENCE_COST / ref
        elif config.cost_scale == "spread":
            if not (spread > 0 and math.isfinite(spread)):
                raise NascostError(f"cost {cost.name!r}: random architectures do not spread in cost; "
                                   "--cost-scale spread needs them to")
            scale = PAPER_SPREAD / spread
        target = parse_target(config.target, cost.unit) if (config.target is not None and i == 0) else None
        terms.append(
            CostTerm(
                name=cost.name,
                fn=cost.fn,
                lam=config.lam if cost.lam is None else cost.lam,
                unit=cost.unit,
                estimator=config.estimator,
                samples=config.samples,
                target=target,
                target_mode=config.target_mode,
                target_on=config.target_on,
                dual_lr=config.dual_lr,
                noise=config.cost_noise,
                noise_mode=config.cost_noise_mode,
                scale=scale,
                baseline_decay=config.reinforce_baseline_decay,
                train_range=cost.train_range,
                trust_region=config.trust_region,
                trust_weight=config.trust_weight,
            )
        )
    return terms, refs


def keep_resumed_scales(
    saved: dict[str, Any], costs: list[ResolvedCost], terms: list[CostTerm], refs: dict[str, float], out: Path
) -> None:
    """A resumed search goes on with the cost, and the cost scale, it started with.

    The scale is recomputed from the cost on the same fixed reference cells, so an unchanged
    cost gives it again; the saved one is kept so that no rounding can move the loss. A cost
    whose reference cost differs is another cost (a re-fitted predictor under the same name):
    continuing would splice two searches into one, so it is refused.
    """
    before = {c.get("name"): c for c in saved.get("costs", []) if isinstance(c, dict)}
    for cost, term in zip(costs, terms, strict=True):
        was = before.get(cost.name)
        if not was or not isinstance(was.get("scale"), (int, float)):
            continue
        now_ref, was_ref = refs.get(cost.name), was.get("reference_cost")
        # runs of older versions drew their reference cells with the search's seed: no comparison
        same_cells = was.get("reference_seed") == REFERENCE_SEED
        if (same_cells and isinstance(was_ref, (int, float)) and now_ref is not None and math.isfinite(was_ref)
                and math.isfinite(now_ref) and not math.isclose(now_ref, was_ref, rel_tol=1e-6)):
            raise NascostError(
                f"cost {cost.name!r} has changed since {str(out)!r} started (a random architecture costs "
                f"{now_ref:.6g} {cost.unit} now, {was_ref:.6g} then); resume with the cost it started with, "
                "or start again with --force"
            )
        term.scale = float(was["scale"])


# --- output directory ----------------------------------------------------------


def prepare_out_dir(out: Path, *, resume: bool, force: bool, check_only: bool = False) -> None:
    """Refuse to mix runs: a non-empty directory needs ``--resume`` or ``--force``.

    ``check_only`` raises the same errors without touching anything.
    """
    if out.exists() and not out.is_dir():
        raise NascostError(f"output path {str(out)!r} exists and is not a directory")
    nonempty = out.is_dir() and any(out.iterdir())
    if resume:
        # config.json is the run's first side effect: a run killed before its first checkpoint
        # (while calibrating its cost) resumes too, keeping what it measured
        if not (out / CHECKPOINT).is_file() and not (out / "config.json").is_file():
            raise NascostError(f"cannot resume: {str(out)!r} holds no {CHECKPOINT} (start a new run without --resume)")
        return
    if nonempty and not force:
        raise NascostError(
            f"output directory {str(out)!r} is not empty; use --resume to continue that run or --force to replace it"
        )
    if check_only:
        return
    if nonempty and force:
        for child in out.iterdir():
            if child.is_dir():
                shutil.rmtree(child)
            else:
                child.unlink()
    out.mkdir(parents=True, exist_ok=True)


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Read a checkpoint (tensors and plain data only); a damaged file is a one-line error."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise NascostError(
            f"checkpoint {str(path)!r} is corrupt or unreadable ({first[:160]}); start again with --force"
        ) from None
    if not isinstance(state, dict) or "stage" not in state or "supernet" not in state:
        raise NascostError(f"checkpoint {str(path)!r} is not a nascost search checkpoint; start again with --force")
    return state


# --- data ---------------------------------------------------------------------------


def _split_loaders(
    train_set: Any, config: SearchConfig, epoch_seed: int
) -> tuple[torch.utils.data.DataLoader, torch.utils.data.DataLoader]:
    """The references' split: the first ``train_portion`` of the (seeded) indices for weights,
    the rest for the architecture, each reshuffled every epoch from ``epoch_seed``."""
    n = len(train_set)
    order = torch.randperm(n, generator=torch.Generator().manual_seed(config.seed)).tolist()
    if config.max_train_samples is not None:
        order = order[: config.max_train_samples]
    split = math.floor(config.train_portion * len(order))
    if split < 1 or split >= len(order):
        raise NascostError(f"train_portion {config.train_portion} leaves an empty half of {len(order)} images")
    loaders = []
    for k, idx in enumerate((order[:split], order[split:])):
        gen = torch.Generator().manual_seed(epoch_seed * 2 + k)
        sampler = torch.utils.data.SubsetRandomSampler(idx, generator=gen)
        loaders.append(
            torch.utils.data.DataLoader(
                train_set,
                batch_size=config.batch_size,
                sampler=sampler,
                num_workers=config.num_workers,
                drop_last=False,
            )
        )
    return loaders[0], loaders[1]


def _cycle(loader: torch.utils.data.DataLoader) -> Iterator[Any]:
    while True:
        yield from loader


# --- metrics --------------------------------------------------------------------


def alpha_entropy(arch_params: list[torch.Tensor]) -> float:
    """Mean entropy (nats) of softmax over the last dimension of every architecture parameter row."""
    rows = []
    for a in arch_params:
        p = F.softmax(a.detach().float().reshape(-1, a.shape[-1]), dim=-1)
        rows.append(-(p * p.clamp_min(1e-12).log()).sum(-1))
    return float(torch.cat(rows).mean()) if rows else 0.0


#: Mean entropy at or above this share of the uniform's: the weights barely left their start.
FLAT_WEIGHTS = 0.98


def weight_margins(arch_params: list[torch.Tensor]) -> dict[str, Any]:
    """How decided the architecture weights are at the end of a search.

    Per architecture row (an edge's operations, softmaxed as :func:`alpha_entropy` does): the
    gap between its two largest probabilities, and the mean entropy as a share of the uniform's.
    Why: the derived architecture is an argmax, and when the weights end near uniform it rests
    on small gaps, and another seed can derive another one. On NAS-Bench-201 at CPU scale the
    weights ended at 98.6% of the uniform entropy and three seeds derived cells 0.6 points of
    true accuracy apart (docs/benchmarks.md); a user should know that before trusting one run.
    """
    gaps, entropy, uniform = [], [], []
    for a in arch_params:
        rows = a.detach().float().reshape(-1, a.shape[-1])
        p = F.softmax(rows, dim=-1)
        if p.shape[-1] > 1:
            top = p.topk(2, dim=-1).values
            gaps.append(top[:, 0] - top[:, 1])
        entropy.append(-(p * p.clamp_min(1e-12).log()).sum(-1))
        uniform.append(torch.full((p.shape[0],), math.log(p.shape[-1])))
    if not gaps:
        return {}
    gap = torch.cat(gaps)
    share = float(torch.cat(entropy).sum() / torch.cat(uniform).sum().clamp_min(1e-12))
    return {"rows": int(gap.numel()), "entropy_share": share, "min_gap": float(gap.min()),
            "median_gap": float(gap.median()), "flat": share >= FLAT_WEIGHTS}


#: The final weight of each regulariser when the config gives none.
REGULARIZER_WEIGHTS = {"none": 0.0, "beta": 50.0}


def regularizer_weight(config: SearchConfig, epoch: int, epochs: int) -> float:
    """The regulariser's weight in ``epoch`` of ``epochs``: rising linearly from 0.

    beta-DARTS (Sunshine-Ye/Beta-DARTS, ``optimizers/darts/architect.py``) weights
    its term ``50 * epoch / 100`` over its 100-epoch default: from 0 towards 50.
    Here the weight reaches ``regularizer_weight`` (default 50) at the last epoch
    whatever the length of the search, ``w * epoch / (epochs - 1)``.
    """
    if config.regularizer == "none":
        return 0.0
    final = REGULARIZER_WEIGHTS[config.regularizer] if config.regularizer_weight is None else config.regularizer_weight
    return final * epoch / max(1, epochs - 1)


def regularizer_loss(name: str, model: Any) -> torch.Tensor:
    """The regulariser's value, differentiable in the architecture parameters.

    ``beta``: the mean over edges of ``logsumexp(alpha_edge)`` (beta-DARTS's
    "beta-decay" loss, its ``mlc_loss``) over the supernet's operation logits
    (:meth:`SuperNet.operation_logits`). Its gradient is ``softmax(alpha)``:
    it pulls the largest logits down the most, so no operation (skip
    connections, or the cheapest one under a latency term) can run away
    with an edge.
    """
    if name == "beta":
        rows = [a.reshape(-1, a.shape[-1]) for a in model.operation_logits()]
        return torch.logsumexp(torch.cat(rows), dim=-1).mean()
    raise NascostError(f"unknown regularizer {name!r} (regularizers: none, beta)")


def trust_report(terms: list[CostTerm], derived: dict[str, float | None]) -> dict[str, Any]:
    """Per cost with a known training range: how far the derived architecture's prediction is outside it.

    Warns once per cost and run: outside its training data a predictor
    extrapolates, and a search exploits that.
    """
    out: dict[str, Any] = {}
    for t in terms:
        where = t.outside(derived.get(t.name))
        if where is None:
            continue
        out[t.name] = where
        if where["outside"] and not t.warned_outside:
            t.warned_outside = True
            lo, hi = where["range"]
            side = "below the smallest" if where["outside"] < 0 else "above the largest"
            fix = "" if t.trust_region == "penalty" else "; add --trust-region penalty to keep the search inside"
            warnings.warn(
                f"cost {t.name!r}: the derived architecture's predicted {where['value']:.4g} {t.unit} is "
                f"{side} cost in the predictor's training rows ({lo:.4g}-{hi:.4g} {t.unit}), where the "
                f"predictor extrapolates{fix}",
                stacklevel=2,
            )
    return out


def predicted_cost(term: CostTerm, space: Any, arch: Architecture) -> float | None:
    """The cost function's prediction for one architecture, in the cost's own unit."""
    try:
        with torch.no_grad():
            return float(torch.as_tensor(term.fn.predict(space.encode([arch]))).reshape(-1)[0])
    except Exception:
        return None


# --- the search -------------------------------------------------------------------


@dataclass
class SearchResult:
    """What a finished search produced."""

    architecture: Architecture
    out_dir: Path
    predicted: dict[str, float | None]
    counts: dict[str, int] | None
    summary: dict[str, Any]
    measured: dict[str, Any] = field(default_factory=dict)


class SearchInterrupted(Exception):
    """Raised by an ``on_epoch_end`` callback to stop after a checkpoint (tests, schedulers)."""


def _resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except RuntimeError:
        raise NascostError(f"unknown device {name!r} (use 'auto', 'cpu' or 'cuda')") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise NascostError("device 'cuda' requested but CUDA is not available here; use --device cpu")
    return dev


def _stage_plan(config: SearchConfig, space: Any) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """Each stage: (loop overrides such as epochs/layers, supernet options)."""
    stages = config.stages if config.stages is not None else (space.search_stages() or [{}])
    loop_keys = set(SearchConfig.model_fields)
    plan = []
    for stage in stages:
        stage = {_ALIASES.get(k, k) if _ALIASES.get(k, k) in loop_keys else k: v for k, v in stage.items()}
        loop = {k: v for k, v in stage.items() if k in loop_keys and k not in ("space", "dataset")}
        rest = {k: v for k, v in stage.items() if k not in loop}
        plan.append((loop, rest))
    return plan


def frozen_architecture_warnings(config: SearchConfig, plan: list[tuple[dict[str, Any], dict[str, Any]]]) -> list[str]:
    """Warnings for stages whose architecture is never updated (frozen epochs >= epochs).

    The methods' defaults freeze the architecture for their first epochs (PC-DARTS: 15 of
    50); a short search that keeps that default trains weights only, derives the initial
    architecture, and its cost term has no effect.
    """
    out = []
    for i, (loop, _) in enumerate(plan):
        epochs = int(loop.get("epochs", config.epochs) or 0)
        frozen = int(loop.get("arch_frozen_epochs", config.arch_frozen_epochs) or 0)
        if epochs and frozen >= epochs:
            where = f"stage {i + 1}: " if len(plan) > 1 else ""
            out.append(
                f"warning: {where}arch_frozen_epochs={frozen} >= epochs={epochs}: the architecture is never "
                f"updated, so the derived cell is the initial one and lambda has no effect; "
                f"pass --arch-frozen-epochs N with N < {epochs}"
            )
    return out


def run_search(
    config: SearchConfig,
    out_dir: str | Path,
    *,
    costs: list[ResolvedCost] | None = None,
    space: Any = None,
    dataset: Any = None,
    resume: bool = False,
    force: bool = False,
    show_progress: bool = True,
    log: Callable[[str], None] | None = None,
    on_epoch_end: Callable[[dict[str, Any]], None] | None = None,
) -> SearchResult:
    """Run (or resume) a search; write everything to ``out_dir``.

    Outputs: ``config.json`` (the resolved config), ``metrics.jsonl`` (one row per
    epoch), ``genotypes/stage<S>_epoch_<E>.json`` (single-stage runs:
    ``genotypes/epoch_<E>.json``), ``checkpoint.pt`` (state dicts only, written
    atomically after every epoch), ``genotype.json`` and ``summary.json`` at the end.
    ``costs`` are resolved costs (see :func:`nascost.search_costs.resolve_costs`);
    ``space``/``dataset`` may be given as objects instead of by name.
    """
    with torch_threads(config.threads):
        return _run_search(config, out_dir, costs=costs, space=space, dataset=dataset, resume=resume, force=force,
                           show_progress=show_progress, log=log, on_epoch_end=on_epoch_end)


def _run_search(
    config: SearchConfig,
    out_dir: str | Path,
    *,
    costs: list[ResolvedCost] | None,
    space: Any,
    dataset: Any,
    resume: bool,
    force: bool,
    show_progress: bool,
    log: Callable[[str], None] | None,
    on_epoch_end: Callable[[dict[str, Any]], None] | None,
) -> SearchResult:
    from nascost import plugins

    out = Path(out_dir)
    say = log or (lambda msg: None)
    # everything that can fail on bad input fails before the output directory is touched
    prepare_out_dir(out, resume=resume, force=force, check_only=True)
    if space is None:
        space = plugins.get_space(config.space, config.space_options or None)
    if dataset is None:
        dataset = plugins.get_dataset(config.dataset, config.dataset_options or None)
    config = config.with_defaults(space.search_defaults())
    if config.costs and config.estimator == "exact":
        check_exact(space)
    accuracy = None
    if config.accuracy_table:
        from nascost.tables import read_accuracy_table

        accuracy = read_accuracy_table(config.accuracy_table, space)
    device = _resolve_device(config.device)
    train_set = dataset.load("train", augment=True)  # a failed download fails here, before any write
    has_checkpoint = resume and (out / CHECKPOINT).is_file()
    if has_checkpoint:
        load_checkpoint(out / CHECKPOINT)
    saved: dict[str, Any] = {}
    if resume and (out / "config.json").is_file():
        saved = json.loads((out / "config.json").read_text())
        check_resume_options(saved.get("search", {}), config.dump(), out=out, ignore=("threads",),
                             model=type(config))
    if costs is None and config.costs and config.calibrate == 0:
        from nascost.search_costs import resolve_costs

        costs = resolve_costs(config, space, dataset, out, progress=show_progress, log=say)
    elif costs is None and config.costs:
        from nascost.search_costs import check_costs_runnable

        check_costs_runnable(config)
    if costs is not None:
        terms, refs = make_cost_terms(config, costs, space)
        keep_resumed_scales(saved, costs, terms, refs, out)
    prepare_out_dir(out, resume=resume, force=force)
    say(f"{config.space} on {config.dataset}: output in {out}")  # only now: everything above validated
    if not (out / "config.json").is_file():  # from here on the directory is resumable (see prepare_out_dir)
        write_text(out / "config.json", json.dumps({"search": config.dump(), "state": "preparing"}, indent=2))
    if costs is None and config.costs:  # calibration writes into the output directory
        from nascost.search_costs import resolve_costs

        costs = resolve_costs(config, space, dataset, out, progress=show_progress, log=say)
        terms, refs = make_cost_terms(config, costs, space)
        keep_resumed_scales(saved, costs, terms, refs, out)
    if costs is None:
        costs, terms, refs = [], [], {}
    environment = run_environment(device)
    env_fields, env_warning = environment_record(saved.get("environment") if has_checkpoint else environment,
                                                 environment)
    if env_warning:
        say(env_warning)

    checkpoint: dict[str, Any] | None = None
    if has_checkpoint:
        checkpoint = load_checkpoint(out / CHECKPOINT)
    elif resume:  # killed before the first epoch ended: the search starts over, the calibration is kept
        _truncate_metrics(out / "metrics.jsonl", 0, 0)
        say("resuming before the first checkpoint: the search starts at epoch 0")
    write_text(
        out / "config.json",
        json.dumps(
            {
                "search": config.dump(),
                "costs": [
                    {
                        "name": c.name,
                        "unit": c.unit,
                        "source": c.source,
                        "lambda": t.lam,
                        "scale": t.scale,
                        "target": t.target,
                        "target_on": t.target_on if t.target is not None else None,
                        "reference_cost": refs.get(c.name),
                        "reference_seed": REFERENCE_SEED,
                        "setting": c.setting.model_dump() if c.setting else None,
                        "measurer": c.measurer,
                        "train_range": list(c.train_range) if c.train_range else None,
                        **c.info,
                    }
                    for c, t in zip(costs, terms, strict=True)
                ],
                "dataset": {
                    "name": config.dataset,
                    "num_classes": dataset.num_classes,
                    "input_size": dataset.input_size,
                    "in_channels": dataset.in_channels,
                },
                **env_fields,
            },
            indent=2,
        ),
    )
    for c, t in zip(costs, terms, strict=True):
        ref = refs.get(c.name)
        extra = (f", target {t.target:g} {c.unit} ({t.target_mode}, on the {t.target_on} cost)"
                 if t.target is not None else "")
        ref_txt = f"; a random architecture costs {ref:.4g} {c.unit}" if ref is not None and math.isfinite(ref) else ""
        per = (f"per {c.unit or 'unit'}" if t.scale == 1.0 else
               f"on the {config.cost_scale} scale (costs x {t.scale:.3g})")
        rng = (f"; its training rows cost {t.train_range[0]:.4g}-{t.train_range[1]:.4g} {c.unit} "
               f"(trust region: {t.trust_region})" if t.train_range else "")
        say(f"cost {c.name}: lambda {t.lam:g} {per}, estimator {t.estimator}{extra}{ref_txt}{rng}")

    plan = _stage_plan(config, space)
    for warning in frozen_architecture_warnings(config, plan):
        say(warning)
    stage_states: list[dict[str, torch.Tensor]] = []
    start_stage, start_epoch = 0, 0
    if checkpoint is not None:
        start_stage, start_epoch = int(checkpoint["stage"]), int(checkpoint["epoch"])
        stage_states = list(checkpoint.get("stage_states", []))
        say(f"resuming at stage {start_stage}, epoch {start_epoch}")

    previous = None
    model = None
    arch: Architecture | None = None
    for stage_idx, (loop, supernet_opts) in enumerate(plan):
        cfg = SearchConfig.build({**config.model_dump(by_alias=False), **loop}) if loop else config
        torch.manual_seed(config.seed * 1000 + stage_idx)
        model = space.supernet(
            previous,
            C=cfg.C,
            layers=cfg.layers,
            num_classes=dataset.num_classes,
            in_channels=dataset.in_channels,
            **{**cfg.supernet_options, **supernet_opts},
        ).to(device)
        _set_relaxation(model, cfg.relaxation)
        if stage_idx < start_stage:
            try:
                model.load_state_dict(stage_states[stage_idx])
            except (RuntimeError, KeyError, IndexError) as exc:
                raise _unfit_checkpoint(out, exc) from None
            previous = model
            continue
        active = terms if (config.cost_stages == "all" or stage_idx == len(plan) - 1) else []
        arch = _run_stage(
            model, space, cfg, active, train_set, out, device, stage_idx, len(plan),
            checkpoint if stage_idx == start_stage else None, stage_states, start_epoch if stage_idx == start_stage else 0,
            show_progress, say, on_epoch_end,
        )
        stage_states.append({k: v.detach().cpu().clone() for k, v in model.state_dict().items()})
        previous = model

    assert model is not None
    arch = model.derive()
    return _finish(out, space, arch, costs, terms, config, say, accuracy, weight_margins(model.arch_parameters()))


def _set_relaxation(model: SuperNet, relaxation: str) -> None:
    """Give the supernet its relaxation, refusing one its forward pass would ignore."""
    if relaxation not in type(model).relaxations:
        raise NascostError(
            f"the {type(model).__name__} supernet does not offer relaxation {relaxation!r} "
            f"(it offers: {', '.join(type(model).relaxations)}); choose one of those with --relaxation"
        )
    model.relaxation = relaxation


def _unfit_checkpoint(out: Path, exc: BaseException) -> NascostError:
    """A checkpoint whose tensors do not fit this run's supernet (crafted, or another run's)."""
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:120]
    return NascostError(f"checkpoint {str(out / CHECKPOINT)!r} does not fit this run's supernet ({first}); "
                        "resume the run it belongs to, or start again with --force")


def _truncate_metrics(path: Path, stage: int, epoch: int) -> None:
    """Drop metric rows of epochs a resumed run will redo."""
    if not path.is_file():
        return
    keep = []
    # undecodable bytes make their line unreadable JSON, dropped like a line cut by a kill
    for line in path.read_bytes().decode("utf-8", errors="replace").splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut by a kill
        if not isinstance(row, dict):
            continue
        if (row.get("stage", 0), row.get("epoch", 0)) < (stage, epoch):
            keep.append(line)
    write_text(path, "".join(f"{line}\n" for line in keep))


def _genotype_path(out: Path, stage: int, stages: int, epoch: int) -> Path:
    name = f"epoch_{epoch:03d}.json" if stages == 1 else f"stage{stage}_epoch_{epoch:03d}.json"
    return out / "genotypes" / name


class DivergedError(NascostError):
    """The search produced a non-finite loss or architecture weight: no epoch of it can be kept."""


def _check_finite(value: float, what: str, label: str, step: int, model: Any) -> None:
    """Stop a diverged search before a NaN reaches a checkpoint, a genotype or the metrics.

    Why here: once a loss or an architecture weight is NaN every later step is too,
    and ``derive()`` would turn NaN weights into an arbitrary cell reported as a result.
    """
    bad = None if math.isfinite(value) else f"the {what} is {value}"
    if bad is None and not all(bool(torch.isfinite(p).all()) for p in model.arch_parameters()):
        bad = "an architecture weight is not finite"
    if bad is not None:
        raise DivergedError(
            f"the search diverged at {label}, step {step + 1}: {bad}; no state of this epoch was saved. Start "
            "again with a lower --lr or --arch-lr (or --lambda), e.g. with --force"
        )


def _run_stage(
    model: nn.Module,
    space: Any,
    cfg: SearchConfig,
    terms: list[CostTerm],
    train_set: Any,
    out: Path,
    device: torch.device,
    stage: int,
    stages: int,
    checkpoint: dict[str, Any] | None,
    stage_states: list[dict[str, torch.Tensor]],
    start_epoch: int,
    show_progress: bool,
    say: Callable[[str], None],
    on_epoch_end: Callable[[dict[str, Any]], None] | None,
) -> Architecture:
    epochs = int(cfg.epochs)  # type: ignore[arg-type]
    w_opt = torch.optim.SGD(
        model.weight_parameters(), lr=cfg.learning_rate, momentum=cfg.momentum, weight_decay=cfg.weight_decay,
        nesterov=bool(cfg.nesterov) and bool(cfg.momentum),
    )
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(w_opt, float(epochs), eta_min=cfg.learning_rate_min)
    architect = Architect(
        model,
        w_opt,
        arch_learning_rate=cfg.arch_learning_rate,  # type: ignore[arg-type]
        arch_betas=tuple(cfg.arch_betas),  # type: ignore[arg-type]
        arch_weight_decay=cfg.arch_weight_decay,  # type: ignore[arg-type]
        momentum=cfg.momentum,  # type: ignore[arg-type]
        weight_decay=cfg.weight_decay,  # type: ignore[arg-type]
        order=cfg.order,  # type: ignore[arg-type]
        hessian_r=cfg.hessian_r,  # type: ignore[arg-type]
        arch_grad_clip=cfg.arch_grad_clip,
    )
    if checkpoint is not None:
        try:
            model.load_state_dict(checkpoint["supernet"])
            w_opt.load_state_dict(checkpoint["w_opt"])
            architect.optimizer.load_state_dict(checkpoint["a_opt"])
            scheduler.load_state_dict(checkpoint["scheduler"])
            for term, state in zip(terms, checkpoint.get("terms", []), strict=False):
                term.load_state_dict(state)
        except (RuntimeError, KeyError, ValueError, TypeError) as exc:
            raise _unfit_checkpoint(out, exc) from None
        # only once the checkpoint loaded: a refused resume leaves the metrics as they were
        _truncate_metrics(out / "metrics.jsonl", stage, start_epoch)

    arch = model.derive()
    for epoch in range(start_epoch, epochs):
        t0 = time.perf_counter()
        epoch_seed = (cfg.seed * 1009 + stage) * 100003 + epoch
        torch.manual_seed(epoch_seed)
        gen = torch.Generator().manual_seed(epoch_seed + 7)
        if cfg.relaxation == "gumbel":
            model.temperature = gumbel_temperature(epoch, epochs, cfg.temperature or GUMBEL_TEMPERATURE)
        model.on_epoch(epoch, epochs)
        lr = scheduler.get_last_lr()[0]
        train_loader, val_loader = _split_loaders(train_set, cfg, epoch_seed)
        val_iter = _cycle(val_loader)
        steps = len(train_loader) if cfg.max_steps is None else min(cfg.max_steps, len(train_loader))
        update_arch = epoch >= int(cfg.arch_frozen_epochs)  # type: ignore[arg-type]
        sums = {"train_loss": 0.0, "train_acc": 0.0, "search_val_loss": 0.0, "search_val_acc": 0.0, "n": 0, "na": 0}
        cost_sums = {t.name: 0.0 for t in terms}
        penalty_sum = 0.0
        reg_weight = regularizer_weight(cfg, epoch, epochs)
        reg_sums: list[float] = []
        model.train()
        bar = _progress(show_progress)
        label = f"epoch {epoch + 1}/{epochs}" + (f" (stage {stage + 1}/{stages})" if stages > 1 else "")
        with bar:
            task = bar.add_task(label, total=steps, info="") if bar else None
            for step, (x, y) in enumerate(train_loader):
                if step >= steps:
                    break
                x, y = x.to(device), y.to(device)
                if update_arch:
                    xv, yv = next(val_iter)
                    xv, yv = xv.to(device), yv.to(device)
                    lat_values: dict[str, float] = {}
                    bounded_values: dict[str, float] = {}
                    penalties: list[float] = []

                    def cost_loss(
                        lat_values: dict[str, float] = lat_values,
                        bounded_values: dict[str, float] = bounded_values,
                        penalties: list[float] = penalties,
                        gen: torch.Generator = gen,
                        reg_weight: float = reg_weight,
                        reg_sums: list[float] = reg_sums,
                    ) -> torch.Tensor:
                        total = torch.zeros((), device=device)
                        for term in terms:
                            lat = term.estimate(model, gen)
                            bounded = term.bounded(lat, model, space)
                            lat_values[term.name] = float(lat.detach()) / term.scale
                            bounded_values[term.name] = float(bounded.detach())
                            derived = None if bounded is lat else bounded  # computed once per step
                            total = (total + term.penalty(lat, bounded)
                                     + term.derived_trust_penalty(model, space, derived).to(device))
                        penalties.append(float(total.detach()))
                        if reg_weight:
                            reg = regularizer_loss(cfg.regularizer, model)
                            reg_sums.append(float(reg.detach()))
                            total = total + reg_weight * reg
                        return total

                    vl, va = architect.step(x, y, xv, yv, lr, cost_loss if (terms or reg_weight) else None)
                    _check_finite(vl, "validation loss (architecture step)", label, step, model)
                    for term in terms:
                        term.after_step(bounded_values[term.name])
                        cost_sums[term.name] += lat_values[term.name]
                    penalty_sum += sum(penalties)
                    sums["search_val_loss"] += vl
                    sums["search_val_acc"] += va
                    sums["na"] += 1
                w_opt.zero_grad(set_to_none=True)
                logits = model(x)
                loss = F.cross_entropy(logits, y)
                loss_value = float(loss.detach())  # one device sync per step, for the check and the sum
                _check_finite(loss_value, "training loss", label, step, model)
                loss.backward()
                nn.utils.clip_grad_norm_(model.weight_parameters(), cfg.grad_clip)  # type: ignore[arg-type]
                w_opt.step()
                sums["train_loss"] += loss_value
                sums["train_acc"] += float((logits.argmax(1) == y).float().mean())
                sums["n"] += 1
                if bar:
                    bar.update(task, advance=1, info=f"loss {sums['train_loss'] / sums['n']:.3f}")
        scheduler.step()
        n, na = max(sums["n"], 1), max(sums["na"], 1)
        row: dict[str, Any] = {
            "stage": stage,
            "epoch": epoch,
            "lr": lr,
            "arch_updated": update_arch,
            **({"temperature": model.temperature} if cfg.relaxation == "gumbel" else {}),
            "steps": sums["n"],
            "train_loss": sums["train_loss"] / n,
            "train_acc": sums["train_acc"] / n,
        }
        if cfg.evaluate:
            vl, va = _evaluate(model, val_loader, device, steps)
            row["val_loss"], row["val_acc"] = vl, va
        elif sums["na"]:
            row["val_loss"], row["val_acc"] = sums["search_val_loss"] / na, sums["search_val_acc"] / na
        row["cost_term"] = penalty_sum / na if (sums["na"] and terms) else None
        if cfg.regularizer != "none":
            row["regularizer"] = {"name": cfg.regularizer, "weight": reg_weight,
                                  "value": sum(reg_sums) / len(reg_sums) if reg_sums else None}
        row["expected_cost"] = {k: v / na for k, v in cost_sums.items()} if sums["na"] else None
        arch = model.derive()
        row["derived_cost"] = {t.name: predicted_cost(t, space, arch) for t in terms}
        row["trust_region"] = trust_report(terms, row["derived_cost"])
        row["multiplier"] = {t.name: t.multiplier for t in terms if t.target is not None and t.target_mode == "adaptive"}
        row["alpha_entropy"] = alpha_entropy(model.arch_parameters())
        row["epoch_time"] = time.perf_counter() - t0
        gpath = _genotype_path(out, stage, stages, epoch)
        write_text(gpath, json.dumps({"space": arch.space, **arch.spec}, indent=2))
        with open(out / "metrics.jsonl", "a") as f:
            f.write(json.dumps(row) + "\n")
        torch_save(
            {
                "stage": stage,
                "epoch": epoch + 1,
                "supernet": model.state_dict(),
                "w_opt": w_opt.state_dict(),
                "a_opt": architect.optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "terms": [t.state_dict() for t in terms],
                "stage_states": stage_states,
            },
            out / CHECKPOINT,
            sole_writer=True,  # one writer per run directory: a killed write's leftovers go
        )
        costs_txt = " ".join(
            f"{k}={v:.4g}" for k, v in row["derived_cost"].items() if v is not None
        )
        say(
            f"{label}: train loss {row['train_loss']:.3f} acc {row['train_acc']:.3f}"
            + (f", val acc {row['val_acc']:.3f}" if row.get("val_acc") is not None else "")
            + (f", derived {costs_txt}" if costs_txt else "")
            + (f", temperature {row['temperature']:.3g}" if "temperature" in row else "")
            + f", {row['epoch_time']:.1f}s"
        )
        if on_epoch_end is not None:
            on_epoch_end(row)
    return arch


def _evaluate(model: nn.Module, loader: torch.utils.data.DataLoader, device: torch.device, steps: int) -> tuple[float, float]:
    """Validation-half loss and accuracy in eval mode (the references' ``infer``)."""
    model.eval()
    loss_sum, correct, count = 0.0, 0, 0
    with torch.no_grad():
        for i, (x, y) in enumerate(loader):
            if i >= steps:
                break
            x, y = x.to(device), y.to(device)
            logits = model(x)
            loss_sum += float(F.cross_entropy(logits, y, reduction="sum"))
            correct += int((logits.argmax(1) == y).sum())
            count += len(y)
    model.train()
    return loss_sum / max(count, 1), correct / max(count, 1)


def _progress(show: bool) -> Any:
    return maybe_progress(show, "step", transient=True)


def _finish(
    out: Path,
    space: Any,
    arch: Architecture,
    costs: list[ResolvedCost],
    terms: list[CostTerm],
    config: SearchConfig,
    say: Callable[[str], None],
    accuracy: Any = None,
    weights: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> SearchResult:
    write_text(out / "genotype.json", json.dumps({"space": arch.space, **arch.spec}, indent=2))
    predicted = {t.name: predicted_cost(t, space, arch) for t in terms}
    counts = None
    setting = next((c.setting for c in costs if c.setting is not None), None)
    if setting is not None:
        try:
            counts = space.count(arch, setting)
        except Exception as exc:  # counting is a report, not the search
            say(f"could not count params/MACs in {setting.label()}: {exc}")
    measurers: dict[str, Any] = {}
    measured = _measure_final(space, arch, costs, say, measurers) if config.measure_final else {}
    references = _measure_references(space, costs, measurers, say) if config.measure_references else []
    truth = ground_truth(space, arch, costs, measured, measurers, accuracy)
    summary = {
        "space": arch.space,
        "genotype": arch.spec,
        "arch": _text(space, arch),
        "predicted_cost": {
            t.name: {"value": predicted[t.name], "unit": c.unit} for c, t in zip(costs, terms, strict=True)
        },
        "measured_cost": measured,
        "trust_region": trust_report(terms, predicted),
        "setting": setting.model_dump() if setting else None,
        "counts": counts,
        **(extra or {}),
    }
    if weights:
        summary["weights"] = weights
        if weights["flat"]:
            advice = ("more seeds move the mean, more --epochs or a larger --arch-lr sharpen each" if extra and
                      "combined" in extra else "another seed may derive another architecture ('nascost derive' "
                      "combines several runs' weights); more --epochs or a larger --arch-lr sharpen them")
            say(f"the architecture weights stayed nearly uniform (entropy {100 * weights['entropy_share']:.1f}% "
                f"of the uniform's; the closest two operations differ by {weights['min_gap']:.3g}): {advice}")
    budget = budget_report(terms, predicted)
    if budget:
        summary["budget"] = budget
        for name, b in budget.items():
            if not b["met"]:
                say(f"budget not met: the derived architecture's predicted {name} is {b['predicted']:.4g} "
                    f"{b['unit']}, over the target {b['target']:g} {b['unit']} (the budget bounds the "
                    f"{b['target_on']} cost; {b['hint']})")
    if references:
        summary["references"] = references
    if truth:
        summary["truth"] = truth
        for line in truth_lines(truth):
            say(line)
    write_text(out / "summary.json", json.dumps(summary, indent=2))
    return SearchResult(
        architecture=arch, out_dir=out, predicted=predicted, counts=counts, summary=summary, measured=measured
    )


def budget_report(terms: list[CostTerm], predicted: dict[str, float | None]) -> dict[str, Any]:
    """Per cost with a target: the derived architecture's predicted cost against it.

    Why: a budget presses during the search, but the architecture derived at the end
    can still lie over it (the hinge lets go below the budget, the accuracy pulls back).
    """
    out: dict[str, Any] = {}
    for t in terms:
        value = predicted.get(t.name)
        if t.target is None or value is None:
            continue
        hint = ("a larger --opt dual_lr adapts the multiplier faster" if t.target_mode == "adaptive"
                else "a larger --lambda presses harder")
        out[t.name] = {"target": t.target, "unit": t.unit, "target_on": t.target_on, "predicted": value,
                       "met": bool(value <= t.target), "hint": hint}
    return out


def _text(space: Any, arch: Architecture) -> str | None:
    try:
        return space.format_arch(arch)
    except Exception:
        return None


def ground_truth(space: Any, arch: Architecture, costs: list[ResolvedCost], measured: dict[str, Any],
                 measurers: dict[str, Any], accuracy: Any) -> dict[str, Any]:
    """What the published tables say of the derived architecture (empty where nothing is known).

    ``accuracy``: its true accuracy from an accuracy table. Per cost measured by a
    lookup (a device table): its true cost and, with the accuracy too, its regret
    to the device's true front, the cell the front picks at that cost, the
    cheapest cell as accurate, and the front itself (for reports).

    Where the space knows cells that compute the same function
    (:meth:`SearchSpace.equivalence_key`) and the table trained them separately, ``merged``
    entries judge the cell again with every accuracy the mean over its function's cells
    (:func:`nascost.pareto.class_means`, as ``pareto --merge-equivalent``): the same judgement without the table's
    training noise, which a raw regret of a few tenths of a point can be.
    """
    from nascost.pareto import build_front, class_means, equivalence_classes

    truth: dict[str, Any] = {}
    acc = accuracy.get(arch) if accuracy is not None else None
    merged: dict[str, float] | None = None
    if accuracy is not None:
        truth["accuracy"] = {"table": accuracy.label(), "value": acc}
    if acc is not None and accuracy.names:
        classes = equivalence_classes(accuracy.values, accuracy.names, space)
        if len(classes) < len(accuracy.values):  # the space knows equivalent cells
            merged = class_means(accuracy.values, classes)
            cells = len(classes[space.equivalence_key(arch)])
            truth["accuracy"]["merged"] = {"value": merged[arch.key()], "cells": cells, "functions": len(classes)}
    for cost in costs:
        measurer, value = measurers.get(cost.name), (measured.get(cost.name) or {}).get("value")
        if measurer is None or getattr(measurer, "measures_networks", True) or value is None:
            continue
        entry: dict[str, Any] = {"value": value, "unit": measured[cost.name]["unit"],
                                 "device": measured[cost.name]["device"]}
        known = measurer.known_costs(space)
        if accuracy is not None and acc is not None and known:
            front = build_front(known, accuracy.values, names=accuracy.names, unit=entry["unit"])
            entry.update({k: v for k, v in front.judge(arch.key(), value, acc).items() if k not in ("cost", "accuracy")})
            entry["front"] = [[float(front.costs[i]), float(front.accs[i]), front.names[i]] for i in front.front]
            if merged is not None:
                mfront = build_front(known, merged, names=accuracy.names, unit=entry["unit"])
                entry["merged"] = {k: v for k, v in mfront.judge(arch.key(), value, merged[arch.key()]).items()
                                   if k in ("regret", "on_front", "front_pick")}
        truth.setdefault("costs", {})[cost.name] = entry
    return truth


def truth_lines(truth: dict[str, Any]) -> list[str]:
    """The ground truth of a derived architecture in one line per cost."""
    acc = (truth.get("accuracy") or {}).get("value")
    lines = []
    merged = (truth.get("accuracy") or {}).get("merged")
    if acc is not None:
        lines.append(f"true accuracy ({truth['accuracy']['table']}): {acc:.2f}%" + (
            f" ({merged['value']:.2f}% over the {merged['cells']} cells that compute its function)"
            if merged and merged["cells"] > 1 else ""))
    for name, c in (truth.get("costs") or {}).items():
        line = f"true cost on {c['device']} ({name}): {c['value']:.4g} {c['unit']}"
        if c.get("regret") is not None:
            pick = c.get("front_pick") or {}
            line += (f"; regret {c['regret']:.2f} points to the true front (at this cost it offers "
                     f"{pick.get('accuracy', float('nan')):.2f}% for {pick.get('cost', float('nan')):.4g} {c['unit']})")
        if c.get("merged"):
            line += f"; {c['merged']['regret']:.2f} with each function's mean accuracy"
        lines.append(line)
    return lines


def _measure_final(
    space: Any, arch: Architecture, costs: list[ResolvedCost], say: Callable[[str], None],
    measurers: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Measure the derived architecture with each cost's measurer, in the cost's setting and batch size."""
    from nascost import plugins
    from nascost.reference_cells import measure_for_cost

    out: dict[str, Any] = {}
    for cost in costs:
        if not cost.measurer or cost.setting is None:
            continue
        try:
            measurer = plugins.get_measurer(cost.measurer, cost.info.get("measurer_options") or None)
        except NascostError:
            continue
        ok, why = measurer.available()
        if not ok:
            say(f"not measuring the derived architecture with {cost.measurer}: {why}")
            continue
        m, _batch = measure_for_cost(space, measurer, arch, cost, cost.setting)
        if measurers is not None:
            measurers[cost.name] = measurer
        out[cost.name] = {"value": m.value, "unit": m.unit, "iqr": m.iqr, "n": m.n, "device": m.device.label()}
        if getattr(measurer, "paired", False):  # the scale the value is on: the predictor's data's
            out[cost.name]["anchor"] = measurer.reference_anchor
        seen = _as_encoded(space, arch, cost.setting)
        if seen is not None:
            m2, _ = measure_for_cost(space, measurer, seen, cost, cost.setting)
            out[cost.name]["as_encoded"] = {"value": m2.value, "iqr": m2.iqr, "n": m2.n, "spec": seen.spec}
    return out


def _measure_references(space: Any, costs: list[ResolvedCost], measurers: dict[str, Any],
                        say: Callable[[str], None]) -> list[dict[str, Any]]:
    """The space's published cells measured as the derived architecture was, per measured cost.

    Why: a derived cell's measured cost means little alone; beside the published
    cells on the same device, in the same setting, it answers "which cell for my budget".
    """
    from nascost.reference_cells import measure_for_cost, measure_references, measurement_record

    refs: list[dict[str, Any]] = []
    for cost in costs:
        measurer = measurers.get(cost.name)
        if measurer is None or cost.setting is None:
            continue
        setting = cost.setting

        def measure(arch: Architecture, cost: ResolvedCost = cost, measurer: Any = measurer,
                    setting: Setting = setting) -> dict[str, Any]:
            m, batch = measure_for_cost(space, measurer, arch, cost, setting)
            return measurement_record(m, cost, batch, setting)

        refs += measure_references(space, cost, measure, setting, say)
    return refs


def _as_encoded(space: Any, arch: Architecture, setting: Setting) -> Architecture | None:
    """The architecture the encoding describes, where it is another network than ``arch`` (else None).

    An encoding need not cover the whole network (the paper's DARTS encoding holds
    the normal cell only, the reduction cell being the space's fixed one), so a
    predictor's value is for the network the encoding describes; measuring that
    too shows how much of a predicted-vs-measured gap the encoding cannot see.
    Decoding may reorder what does not matter (the two inputs of a node), so
    "another network" means other parameter or MAC counts.
    """
    try:
        seen = space.decode(space.encode([arch])[0])
        if seen.key() == arch.key() or space.count(seen, setting) == space.count(arch, setting):
            return None
    except Exception:  # a space without decode or counting: nothing to add
        return None
    return seen
