"""The cost term of a latency-aware search: ``lambda * LAT(alpha)`` and its estimators.

``LAT(alpha)`` is the expected cost of a sub-architecture sampled from the
current architecture weights (the paper's Eq. 2). Three estimators:

- ``st`` (the paper, Eq. 4, the default): sample ``M`` sub-architectures
  ``gamma_m`` from the supernet, average ``predictor(gamma_m)``; the gradient
  goes straight through the one-hot ``gamma_m`` to ``alpha``. Needs a
  differentiable predictor (``lpm``).
- ``expectation``: ``predictor(marginals)``, the exact expectation when the
  predictor is additive (affine) in the encoding (``flops``, ``lut``, a linear
  model). Deterministic, no sampling.
- ``reinforce``: the score-function estimator
  ``mean_m (c_m - b) * grad log p(gamma_m)`` with a moving-average baseline
  ``b``; works with any cost function, differentiable or not (``xgboost``, a
  direct measurer), at the price of variance.
- ``exact``: for spaces that enumerate their architectures (NAS-Bench-201's
  15,625 cells), ``sum_a p(a) * cost(a)`` over all of them: the exact expected
  cost and its exact gradient through ``log p``, for any cost function (a
  device table included). The costs of all architectures are computed once.

Every estimator returns a scalar whose *value* is the sample (or exact) mean
cost and whose *gradient* is the estimator's gradient, so budgets (hinge,
adaptive multiplier) compose with all three.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

import torch

from nascost.errors import NascostError

Estimator = Literal["st", "expectation", "reinforce", "exact"]
ESTIMATORS: tuple[str, ...] = ("st", "expectation", "reinforce", "exact")
#: What a budget (``--target``) bounds: the expected cost (the paper's LAT) or the derived architecture's.
TARGET_ON: tuple[str, ...] = ("expected", "derived")
#: The most architectures the ``exact`` estimator sums over.
EXACT_LIMIT = 200_000

#: Typical cost of the paper's CIFAR-10 cells: GPU latency in ms at batch 32 on a
#: P100 (Table 2: 23-41 ms). ``cost_scale="paper"`` rescales a cost so that a random
#: architecture costs this much, so the paper's lambda range (0.1-0.2) transfers.
PAPER_REFERENCE_COST = 30.0
#: ``cost_scale="spread"`` rescales a cost so that random architectures' costs have this
#: standard deviation: 30 with a coefficient of variation of 1/3, a typical spread on that
#: scale. Devices whose costs vary less around their mean (a GPU with a large fixed cost)
#: then get the same pressure per lambda as those whose costs vary more (a phone).
PAPER_SPREAD = 10.0
#: Seed of the random architectures that set a cost's scale (``paper``, ``spread``): fixed, so
#: that every search seed of one lambda faces the same pressure (drawn with the search's seed,
#: the phone's spread scale was x1.74 / 1.83 / 1.71 for seeds 0-2). Seed 0 draws what it always drew.
REFERENCE_SEED = 12345


@runtime_checkable
class CostFunction(Protocol):
    """Anything that maps ``[N, D]`` encodings to ``[N]`` costs: a CostPredictor or an adapter."""

    differentiable: bool
    additive: bool

    def predict(self, x: torch.Tensor) -> torch.Tensor: ...


# --- units and targets ----------------------------------------------------

#: Unit families: unit -> (family, factor to the family's base unit).
_UNITS: dict[str, tuple[str, float]] = {
    "s": ("time", 1.0),
    "ms": ("time", 1e-3),
    "us": ("time", 1e-6),
    "µs": ("time", 1e-6),
    "ns": ("time", 1e-9),
    "j": ("energy", 1.0),
    "mj": ("energy", 1e-3),
    "uj": ("energy", 1e-6),
    "macs": ("macs", 1.0),
    "kmacs": ("macs", 1e3),
    "mmacs": ("macs", 1e6),
    "gmacs": ("macs", 1e9),
    "flops": ("macs", 1.0),
    "mflops": ("macs", 1e6),
    "gflops": ("macs", 1e9),
    "params": ("params", 1.0),
    "w": ("power", 1.0),
    "mw": ("power", 1e-3),
}


def _unit_key(unit: str) -> str:
    return unit.strip().lower().replace(" ", "")


def parse_target(text: str | float, unit: str, *, what: str = "target") -> float:
    """A budget such as ``"25ms"``, ``"0.025s"``, ``"400MMACs"`` or ``"12"`` in ``unit``.

    A bare number is taken in the cost's own unit; a number with a unit is
    converted to it. Units of another kind (``25mJ`` for a latency) and unknown
    units are errors. ``what`` names the option in those errors (``--budget`` for ``pareto``).
    """
    if isinstance(text, (int, float)):
        value, given = float(text), ""
    else:
        m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*([A-Za-zµ]*)\s*", str(text))
        if not m:
            raise NascostError(f"cannot read {what} {text!r}: use a number with a unit, e.g. '25ms'")
        value, given = float(m.group(1)), m.group(2)
    if value <= 0:
        raise NascostError(f"{what} {text!r} must be positive")
    if not given or _unit_key(given) == _unit_key(unit):
        return value
    if _unit_key(given) not in _UNITS:
        known = ", ".join(sorted({u for u in _UNITS if u != "µs"}))
        raise NascostError(f"{what} {text!r} has an unknown unit {given!r} (known units: {known})")
    if _unit_key(unit) not in _UNITS:
        raise NascostError(
            f"{what} {text!r}: cannot convert {given!r} to the cost's unit {unit!r}; give the {what} in {unit!r}"
        )
    fam_g, fac_g = _UNITS[_unit_key(given)]
    fam_u, fac_u = _UNITS[_unit_key(unit)]
    if fam_g != fam_u:
        raise NascostError(f"{what} {text!r} is {'an' if fam_g[0] in 'aeiou' else 'a'} {fam_g} but the cost is "
                          f"measured in {unit!r} ({fam_u})")
    return value * fac_g / fac_u


def check_target(text: str) -> None:
    """Syntax and unit check of a budget before its cost (and so its unit) is known."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*([A-Za-zµ]*)\s*", str(text))
    if not m:
        raise NascostError(f"cannot read target {text!r}: use a number with a unit, e.g. '25ms'")
    if float(m.group(1)) <= 0:
        raise NascostError(f"target {text!r} must be positive")
    if m.group(2) and _unit_key(m.group(2)) not in _UNITS:
        known = ", ".join(sorted({u for u in _UNITS if u != "µs"}))
        raise NascostError(f"target {text!r} has an unknown unit {m.group(2)!r} (known units: {known})")


# --- the cost term ---------------------------------------------------------


@dataclass
class CostTerm:
    """One cost in the search loss: ``lam * LAT``, or a budget on ``LAT``.

    ``lam`` has the unit 1/(cost unit) (after ``scale``). With ``target`` set,
    ``target_mode`` chooses the budget form:

    - ``hinge``: ``lam * max(0, LAT - target)``: no pressure below the budget,
      a constant pull of ``lam`` per unit above it.
    - ``adaptive``: a Lagrange multiplier ``mu * (LAT - target)`` whose ``mu``
      (starting at ``lam``) grows while the expected cost is above the target
      and shrinks, down to 0, while below (dual ascent, step ``dual_lr`` per
      relative overshoot); the search settles near the budget.

    ``target_on`` says what the budget bounds. ``expected`` (default): ``LAT``, the
    mean cost of the sampled sub-architectures, as the paper's term. ``derived``: the
    predicted cost of the architecture the search would derive now (straight-through:
    its value, the encoding marginals' gradient). Why: while the weights are still
    spread, ``LAT`` sits near a random architecture's cost and can be far from the
    derived network's, so a budget on ``LAT`` may never press (or press forever);
    a user's budget is on the network they get.
    """

    name: str
    fn: CostFunction
    lam: float
    unit: str = ""
    estimator: str = "st"
    samples: int = 20
    target: float | None = None
    target_mode: str = "hinge"
    target_on: str = "expected"
    dual_lr: float = 0.05
    noise: float = 0.0
    noise_mode: str = "relative"
    scale: float = 1.0
    baseline_decay: float = 0.9
    #: ``(min, max)`` of the predictor's training rows, in ``unit`` (None: unknown). Outside it
    #: the predictor extrapolates, and a search can drive a prediction below anything real.
    train_range: tuple[float, float] | None = None
    #: ``report``: only say how far outside; ``penalty``: add a hinge that keeps ``LAT`` inside.
    trust_region: str = "report"
    #: Net pull back into the range per (scaled) unit outside it, on top of ``lam``.
    trust_weight: float = 1.0
    #: Whether the search already warned that a prediction left the training range (once per run).
    warned_outside: bool = field(default=False, repr=False)
    #: Runtime state (saved in checkpoints).
    baseline: float | None = None
    multiplier: float = field(default=float("nan"))
    #: ``exact``: encodings and scaled costs of every architecture, computed on first use.
    _all: tuple[torch.Tensor, torch.Tensor] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.lam < 0 or not math.isfinite(self.lam):
            raise NascostError(f"lambda of cost {self.name!r} must be a finite number >= 0, got {self.lam}")
        if self.estimator not in ESTIMATORS:
            raise NascostError(f"unknown estimator {self.estimator!r} (estimators: {', '.join(ESTIMATORS)})")
        if self.estimator == "st" and not getattr(self.fn, "differentiable", False):
            raise NascostError(
                f"cost {self.name!r} is not differentiable, so the straight-through estimator cannot use it; "
                f"use '--estimator reinforce'"
            )
        if self.estimator == "expectation" and not getattr(self.fn, "additive", False):
            raise NascostError(
                f"cost {self.name!r} is not additive in the encoding, so its expectation is not exact; "
                f"use '--estimator st' (differentiable predictors) or '--estimator reinforce'"
            )
        if self.samples < 1:
            raise NascostError(f"samples must be >= 1, got {self.samples}")
        if self.noise < 0:
            raise NascostError(f"cost noise must be >= 0, got {self.noise}")
        if self.target_mode not in ("hinge", "adaptive"):
            raise NascostError(f"unknown target mode {self.target_mode!r} (use 'hinge' or 'adaptive')")
        if self.target_on not in TARGET_ON:
            raise NascostError(f"unknown target-on {self.target_on!r} (use {' or '.join(map(repr, TARGET_ON))})")
        if self.noise_mode not in ("relative", "absolute"):
            raise NascostError(f"unknown cost-noise mode {self.noise_mode!r} (use 'relative' or 'absolute')")
        if self.trust_region not in ("report", "penalty"):
            raise NascostError(f"unknown trust-region mode {self.trust_region!r} (use 'report' or 'penalty')")
        if self.trust_weight < 0 or not math.isfinite(self.trust_weight):
            raise NascostError(f"trust_weight must be a finite number >= 0, got {self.trust_weight}")
        if math.isnan(self.multiplier):
            self.multiplier = self.lam

    # -- costs ------------------------------------------------------------
    def costs(self, encodings: torch.Tensor) -> torch.Tensor:
        """Scaled predicted costs ``[N]`` of ``[N, D]`` encodings, on the encodings' device."""
        out = self.fn.predict(encodings.to("cpu") if encodings.device.type != "cpu" else encodings)
        out = torch.as_tensor(out, dtype=torch.float32) if not isinstance(out, torch.Tensor) else out
        return out.reshape(-1).to(encodings.device) * self.scale

    def _noisy(self, c: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        """The paper's robustness experiment: N(0, sigma) noise on each predicted cost.

        ``relative`` (default): ``c * (1 + eps)``, so sigma = 0.025 is 2.5% of the
        cost on any device and also perturbs the straight-through gradient.
        ``absolute``: ``c + eps`` in (scaled) cost units, literally the paper's;
        it changes the value but not the straight-through gradient.
        """
        if self.noise <= 0:
            return c
        eps = torch.randn(c.shape, generator=generator).to(c.device) * self.noise
        return c * (1.0 + eps) if self.noise_mode == "relative" else c + eps

    def estimate(self, supernet: Any, generator: torch.Generator | None = None) -> torch.Tensor:
        """``LAT(alpha)``: value = mean (or exact expected) cost, gradient = the estimator's."""
        if self.estimator == "st":
            enc = supernet.sample_encodings(self.samples, generator)
            return self._noisy(self.costs(enc), generator).mean()
        if self.estimator == "expectation":
            marg = supernet.encoding_marginals()
            return self._noisy(self.costs(marg.unsqueeze(0)), generator)[0]
        if self.estimator == "exact":
            enc, costs = self._everything(supernet)
            p = supernet.log_prob(enc).exp()
            return (p * costs.to(p.device, p.dtype)).sum() / p.sum().detach()
        with torch.no_grad():
            enc = supernet.sample_encodings(self.samples, generator).detach()
            c = self._noisy(self.costs(enc), generator).detach()
        mean = float(c.mean())
        baseline = mean if self.baseline is None else self.baseline
        logp = supernet.log_prob(enc)
        surrogate = ((c - baseline) * logp).mean()
        self.baseline = mean if self.baseline is None else (
            self.baseline_decay * self.baseline + (1 - self.baseline_decay) * mean
        )
        return c.mean() + surrogate - surrogate.detach()

    def _everything(self, supernet: Any) -> tuple[torch.Tensor, torch.Tensor]:
        if self._all is None:
            from nascost.space import check_enumerable

            space = supernet.space
            check_enumerable(space, EXACT_LIMIT, "the exact estimator sums over every architecture",
                             "use --estimator st or reinforce")
            enc = space.encode(list(space.enumerate())).to(torch.float32)
            with torch.no_grad():
                costs = torch.cat([self.costs(enc[i : i + 4096]) for i in range(0, len(enc), 4096)]).detach()
            self._all = (enc, costs)
        return self._all

    def bounded(self, lat: torch.Tensor, supernet: Any, space: Any) -> torch.Tensor:
        """What the budget bounds (``target_on``): ``lat`` itself, or the derived architecture's cost."""
        if self.target is None or self.target_on == "expected":
            return lat
        return self.derived_estimate(supernet, space).to(lat.device)

    def penalty(self, lat: torch.Tensor, bounded: torch.Tensor | None = None) -> torch.Tensor:
        """The loss term for an estimate ``lat`` (see the class docstring), plus the trust region's.

        ``bounded`` (from :meth:`bounded`) replaces ``lat`` in the budget; without a target
        the term is ``lam * lat`` either way.
        """
        return self._penalty(lat if bounded is None else bounded) + self.trust_penalty(lat)

    def derived_estimate(self, supernet: Any, space: Any) -> torch.Tensor:
        """The derived architecture's scaled predicted cost, straight-through.

        The value is the argmax encoding's cost; the gradient is that of the encoding
        marginals, so it moves the weights of the operations the derived network holds.
        """
        marg = supernet.encoding_marginals()
        hard = space.encode([supernet.derive()])[0].to(marg.device, marg.dtype)
        return self.costs((hard + marg - marg.detach()).unsqueeze(0))[0]

    def _penalty(self, lat: torch.Tensor) -> torch.Tensor:
        if self.target is None:
            return self.lam * lat
        target = self.target * self.scale
        if self.target_mode == "hinge":
            return self.lam * torch.relu(lat - target)
        return self.multiplier * (lat - target)

    def trust_penalty(self, lat: torch.Tensor) -> torch.Tensor:
        """``trust_region='penalty'``: ``(lam + trust_weight) * distance of LAT outside the training range``.

        Why ``lam +``: beyond the training minimum the cost term still pulls down
        by ``lam`` per unit; the hinge outweighs it, so the net pull is back in.
        """
        if self.trust_region != "penalty" or self.train_range is None:
            return torch.zeros((), device=lat.device)
        lo, hi = (v * self.scale for v in self.train_range)
        weight = max(self.lam, self.multiplier if self.target_mode == "adaptive" else 0.0) + self.trust_weight
        return weight * (torch.relu(lo - lat) + torch.relu(lat - hi))

    def derived_trust_penalty(self, supernet: Any, space: Any, derived: torch.Tensor | None = None) -> torch.Tensor:
        """``trust_region='penalty'``: the same hinge on the *derived* architecture's predicted cost.

        Why: the hinge on ``LAT`` keeps the sampled architectures inside the training
        range, but the argmax of still nearly uniform weights goes to the cheapest
        corner of the space, which no training row reaches. Straight-through: the value
        is the derived encoding's cost, the gradient that of the encoding marginals.
        ``derived``: that estimate when the step already has it (a budget on the derived cost).
        """
        if self.trust_region != "penalty" or self.train_range is None:
            return torch.zeros(())
        return self.trust_penalty(self.derived_estimate(supernet, space) if derived is None else derived)

    def outside(self, value: float | None) -> dict[str, Any] | None:
        """How far a predicted cost (in ``unit``) lies outside the training range; None when unknown."""
        if self.train_range is None or value is None:
            return None
        lo, hi = self.train_range
        below, above = max(lo - value, 0.0), max(value - hi, 0.0)
        gap = -below if below else above
        ref = lo if below else hi
        return {"range": [lo, hi], "value": value, "outside": gap,
                "outside_pct": 100.0 * gap / ref if ref else None}

    def after_step(self, lat_value: float) -> None:
        """Dual ascent of the adaptive multiplier after an architecture step.

        ``lat_value`` is the scaled value the budget bounds (see :meth:`bounded`).
        """
        if self.target is not None and self.target_mode == "adaptive":
            target = self.target * self.scale
            self.multiplier = max(0.0, self.multiplier + self.dual_lr * (lat_value / target - 1.0) / target)

    def state_dict(self) -> dict[str, float]:
        return {
            "baseline": float("nan") if self.baseline is None else float(self.baseline),
            "multiplier": float(self.multiplier),
        }

    def load_state_dict(self, state: dict[str, float]) -> None:
        b = float(state["baseline"])
        self.baseline = None if math.isnan(b) else b
        self.multiplier = float(state["multiplier"])


def reference_cost(fn: CostFunction, encodings: torch.Tensor) -> float:
    """Mean predicted cost of (uniformly random) architectures: the scale of a cost."""
    with torch.no_grad():
        return float(torch.as_tensor(fn.predict(encodings)).float().mean())


def reference_spread(fn: CostFunction, encodings: torch.Tensor) -> float:
    """Standard deviation of the predicted costs of (uniformly random) architectures."""
    with torch.no_grad():
        return float(torch.as_tensor(fn.predict(encodings)).double().std())
