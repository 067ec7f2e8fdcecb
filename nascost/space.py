"""Search spaces and their supernets: how architectures are sampled, encoded, built and relaxed.

A search space knows nothing of hardware; measurers know nothing of spaces.
They meet in :class:`~nascost.records.Architecture`, :class:`~nascost.records.Setting`
and the encoding (a fixed-width float tensor that predictors learn from).
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from nascost.base import Plugin
from nascost.errors import NascostError, UnknownNameError
from nascost.records import Architecture, Setting


def as_generator(rng: np.random.Generator | int | None) -> np.random.Generator:
    """Seeded randomness everywhere: accept a seed or a generator."""
    if isinstance(rng, np.random.Generator):
        return rng
    return np.random.default_rng(rng)


#: How operation logits become the weights that mix an edge's operations.
RELAXATIONS: tuple[str, ...] = ("softmax", "dirichlet", "gumbel")

#: GDAS's temperature schedule (``--tau_max 10 --tau_min 0.1`` of D-X-Y/AutoDL-Projects'
#: ``scripts-search/NAS-Bench-201/algos/GDAS.sh``): the ``gumbel`` relaxation's default.
GUMBEL_TEMPERATURE: tuple[float, float] = (10.0, 0.1)


def relax(logits: torch.Tensor, relaxation: str = "softmax", temperature: float = 1.0) -> torch.Tensor:
    """Mixing weights from operation logits ``[..., ops]``, each row summing to 1.

    ``softmax``: DARTS's continuous relaxation. ``dirichlet``: DrNAS's (Chen et al.,
    ICLR 2021; xiangning-chen/DrNAS, ``process_step_vector``): the weights are a draw
    from ``Dirichlet(elu(logits) + 1)``, reparameterised (pathwise gradient,
    ``rsample``), a fresh draw at every forward pass in training and evaluation
    alike, as the reference. The noise makes the search explore, and the network
    weights cannot rely on one fixed mixture, which is what lets parameter-free
    operations win in plain DARTS.

    ``gumbel``: GDAS's (Dong & Yang, CVPR 2019; ``TinyNetworkGDAS.forward`` of
    D-X-Y/AutoDL-Projects): one operation per row drawn by the Gumbel-max trick on
    ``log_softmax(logits)``, so from ``softmax(logits)``, the same distribution the cost
    term samples; the weights are that one-hot row in value and the gradient of
    ``softmax((log_softmax(logits) + gumbels) / temperature)`` (straight-through). A
    draw with an infinite Gumbel or a non-finite probability is drawn again, as the
    reference. A supernet computes only the drawn operation (:func:`drawn`), so the network
    trains the cells the distribution samples, and the expected cost the search penalises is
    the cost of the cells it trains.
    """
    if relaxation == "softmax":
        return F.softmax(logits, dim=-1)
    if relaxation == "dirichlet":
        return torch.distributions.Dirichlet(F.elu(logits) + 1).rsample()
    if relaxation == "gumbel":
        if not temperature > 0:
            raise NascostError(f"the gumbel relaxation needs a temperature > 0, got {temperature}")
        while True:
            gumbels = -torch.empty_like(logits).exponential_().log()
            probs = F.softmax((F.log_softmax(logits, dim=-1) + gumbels) / temperature, dim=-1)
            if torch.isfinite(gumbels).all() and torch.isfinite(probs).all():
                break
        index = probs.detach().argmax(-1, keepdim=True)
        return torch.zeros_like(probs).scatter_(-1, index, 1.0) - probs.detach() + probs
    raise NascostError(f"unknown relaxation {relaxation!r} (relaxations: {', '.join(RELAXATIONS)})")


def drawn(weights: torch.Tensor, relaxation: str) -> list[int] | None:
    """Under the ``gumbel`` relaxation, the index of the drawn operation of each row of
    ``weights`` (a supernet then computes that operation alone, and adds each other
    operation's weight as a scalar, zero in value, as GDAS's ``forward_gdas``); else None."""
    if relaxation != "gumbel":
        return None
    return weights.detach().argmax(-1).tolist()


def gumbel_temperature(epoch: int, epochs: int, schedule: tuple[float, float] = GUMBEL_TEMPERATURE) -> float:
    """GDAS's temperature in ``epoch`` of ``epochs``: from ``schedule[0]`` down to
    ``schedule[1]`` linearly, reaching it at the last epoch (the reference's
    ``tau_max - (tau_max - tau_min) * epoch / (total_epoch - 1)``)."""
    high, low = schedule
    f = min(1.0, epoch / max(1, epochs - 1))
    return high * (1 - f) + low * f


class SuperNet(nn.Module, ABC):
    """The continuous relaxation of a space: network weights plus architecture weights.

    The search loop only uses this interface, so any space with a supernet can
    be searched latency-aware.
    """

    space: SearchSpace
    #: The relaxations this supernet's forward pass honours (it mixes with :meth:`relax`).
    relaxations: ClassVar[tuple[str, ...]] = ("softmax",)
    #: The relaxation in use; the search sets it from ``SearchConfig.relaxation``.
    relaxation: str = "softmax"
    #: The ``gumbel`` relaxation's temperature; the search anneals it every epoch.
    temperature: float = 1.0

    def relax(self, logits: torch.Tensor) -> torch.Tensor:
        """Mixing weights from ``logits`` under this supernet's :attr:`relaxation`."""
        return relax(logits, self.relaxation, self.temperature)

    @abstractmethod
    def arch_parameters(self) -> list[nn.Parameter]:
        """Architecture parameters (alpha, and betas where the method has them)."""

    def weight_parameters(self) -> list[nn.Parameter]:
        """Network weights: every parameter that is not an architecture parameter."""
        arch = {id(p) for p in self.arch_parameters()}
        return [p for p in self.parameters() if id(p) not in arch]

    @abstractmethod
    def sample_encodings(self, m: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``m`` valid sub-architectures sampled from the current architecture weights.

        Returns an ``[m, D]`` tensor whose values are the one-hot encodings, with a
        straight-through gradient to the architecture parameters (the paper's Eq. 4).
        """

    @abstractmethod
    def encoding_marginals(self) -> torch.Tensor:
        """``[D]``: the probability that each encoding bit is 1 under the sampling
        distribution, differentiable in the architecture weights. The expectation
        of any cost that is additive in the encoding is ``marginals @ weights``."""

    @abstractmethod
    def log_prob(self, encodings: torch.Tensor) -> torch.Tensor:
        """``[m]``: log-probability of hard encodings under the sampling distribution,
        differentiable in the architecture weights (for score-function estimators)."""

    @abstractmethod
    def derive(self) -> Architecture:
        """The discrete architecture the method derives from the current weights."""

    def derivable(self, encodings: torch.Tensor) -> torch.Tensor:
        """``[m]`` booleans: which architectures this supernet's derivation rule may return.

        A budget on the derivation (:func:`nascost.derive.most_probable_within`) picks among
        these only, so a rule that bounds the derived cell (a cap on how often one operation
        appears, say) holds there too. Default: every architecture.
        """
        return torch.ones(encodings.shape[0], dtype=torch.bool)

    def operation_logits(self) -> list[torch.Tensor]:
        """The architecture parameters whose softmax mixes operations (``[edges, ops]`` each).

        Regularisers of the architecture distribution (beta-DARTS) act on these;
        parameters of another role (PC-DARTS's edge betas) are left out. Default:
        every architecture parameter.
        """
        return list(self.arch_parameters())

    def on_epoch(self, epoch: int, epochs: int) -> None:
        """Called at the start of each search epoch (schedules such as P-DARTS's skip dropout)."""

    def arch_state(self) -> dict[str, list[list[float]]]:
        """Architecture weights as plain lists (for metrics and reports)."""
        return {f"arch_{i}": p.detach().cpu().tolist() for i, p in enumerate(self.arch_parameters())}


class SearchSpace(Plugin, ABC):
    """A family of architectures: sampling, encoding, evaluation networks, supernets."""

    #: Identifies the encoding layout; predictors refuse encodings with another id.
    encoding_id: ClassVar[str] = ""
    #: Other spaces whose architectures build into the same evaluation networks
    #: (DARTS, PC-DARTS and P-DARTS differ only in their supernets), so a cost
    #: measured and fitted in one of them holds in all.
    cost_family: ClassVar[tuple[str, ...]] = ()

    #: The setting measurements and costs use when none is named (None: the first setting).
    default_setting: ClassVar[str | None] = None
    #: The setting a ``--calibrate`` measures in when neither the cost nor the user names one
    #: (None: :attr:`default_setting`); adapted to the dataset's classes and input size.
    calibration_setting: ClassVar[str | None] = None

    @classmethod
    def kind_label(cls) -> str:
        return "search space"

    def option_values(self) -> dict[str, Any]:
        """The space's options as JSON values: recorded with rows and predictors, because
        options can change the encoding (what a cost sees), and a cost is only valid
        for the encoding it was fitted on."""
        return self.options.model_dump(mode="json")

    def shares_costs_with(self, space_name: str) -> bool:
        """Whether a predictor fitted for ``space_name`` predicts costs of this space's architectures."""
        return space_name == self.name or space_name in self.cost_family

    # --- architectures -------------------------------------------------
    @abstractmethod
    def validate(self, spec: dict[str, Any]) -> Architecture:
        """Check a space-specific description and wrap it; raise NascostError naming the problem."""

    @abstractmethod
    def presets(self) -> dict[str, Architecture]:
        """Published architectures by name."""

    @abstractmethod
    def sample(self, rng: np.random.Generator | int | None = None) -> Architecture:
        """One architecture, uniformly at random; seeded and reproducible."""

    def sample_varied(self, rng: np.random.Generator | int | None = None) -> Architecture:
        """One architecture drawn with its own random preferences over the operations.

        Why: a uniform sample rarely holds an architecture made of the cheapest (or
        the most expensive) operations, yet that is where a latency-aware search's
        derived architecture goes, so a predictor trained on uniform samples
        extrapolates there. ``nascost collect --sampling varied`` draws with this.
        Default: not offered.
        """
        raise NascostError(f"search space {self.name!r} has no varied sampler; use --sampling uniform")

    def sample_many(self, n: int, rng: np.random.Generator | int | None = None) -> list[Architecture]:
        gen = as_generator(rng)
        return [self.sample(gen) for _ in range(n)]

    def resolve(self, ref: str | Path) -> Architecture:
        """A preset name, a path to a JSON file holding a description, or the space's text form."""
        ref_s = str(ref)
        presets = self.presets()
        if ref_s in presets:
            return presets[ref_s]
        path = Path(ref_s)
        if path.suffix == ".json" or path.exists():
            if not path.is_file():
                raise NascostError(f"genotype file {ref_s!r} does not exist")
            try:
                text = path.read_text()
            except UnicodeDecodeError:
                raise NascostError(f"{ref_s}: not a text file") from None
            if path.suffix != ".json" and self.looks_like_text(text.strip()):
                try:
                    return self.parse_arch(text.strip())
                except NascostError as exc:
                    raise NascostError(f"{ref_s}: {exc}") from None
            try:
                data = json.loads(text)
            except json.JSONDecodeError as exc:
                raise NascostError(f"{ref_s}: malformed JSON ({exc})") from None
            except (RecursionError, ValueError, OverflowError) as exc:  # deep nesting, a 5000-digit number
                raise NascostError(f"{ref_s}: not a genotype ({_why(exc)}); give the JSON of one architecture") from None
            if not isinstance(data, dict):
                raise NascostError(f"{ref_s}: expected a JSON object describing an architecture")
            if "space" in data and data["space"] != self.name:
                raise NascostError(
                    f"{ref_s} describes an architecture of space {data['space']!r}, not {self.name!r}"
                )
            data = {k: v for k, v in data.items() if k != "space"}
            return self._validate_input(data, ref_s)
        if self.looks_like_text(ref_s):
            return self.parse_arch(ref_s)
        hint = closest(ref_s, presets)
        raise UnknownNameError(
            f"unknown architecture {ref_s!r}: not a preset of {self.name!r} and not a file"
            f" (presets: {', '.join(presets)}{hint})"
        )

    # --- text form ---------------------------------------------------------
    def format_arch(self, arch: Architecture) -> str:
        """One line that :meth:`parse_arch` reads back: how tables and files name architectures.

        Default: the description as compact JSON with sorted keys. Spaces with a
        published string form override both (NAS-Bench-201's ``|op~0|+...``).
        """
        return json.dumps(arch.spec, sort_keys=True, separators=(",", ":"))

    def parse_arch(self, text: str) -> Architecture:
        """The architecture :meth:`format_arch` wrote (or a JSON description); one-line errors."""
        try:
            data = json.loads(text)
        except (TypeError, RecursionError, ValueError, OverflowError):
            raise NascostError(f"cannot read {str(text)[:80]!r} as an architecture of space {self.name!r}") from None
        if not isinstance(data, dict):
            raise NascostError(f"{str(text)[:80]!r} is not an architecture of space {self.name!r} (expected a JSON object)")
        if "space" in data and data["space"] != self.name:
            raise NascostError(f"{str(text)[:80]!r} describes an architecture of space {data['space']!r}, not {self.name!r}")
        data = {k: v for k, v in data.items() if k != "space"}
        return self._validate_input(data, str(text)[:80])

    def _validate_input(self, data: dict[str, Any], where: str) -> Architecture:
        """``validate`` on user input: deep or huge values are bad input, not a crash."""
        try:
            return self.validate(data.get("genotype", data) if isinstance(data.get("genotype"), dict) else data)
        except (RecursionError, OverflowError, ValueError, TypeError) as exc:
            if isinstance(exc, NascostError):
                raise
            raise NascostError(f"{where}: not an architecture of space {self.name!r} ({_why(exc)})") from None

    def looks_like_text(self, text: str) -> bool:
        """Whether ``text`` is meant as the text form (then its parse errors are reported as such)."""
        return text.lstrip().startswith("{")

    def describe(self, arch: Architecture) -> list[str]:
        """Lines that show an architecture to a person (``nascost search`` prints them)."""
        return [self.format_arch(arch)]

    def equivalence_key(self, arch: Architecture) -> str:
        """A key shared by architectures that compute the same function (default: the architecture's own).

        Why: a benchmark that trained such architectures separately holds several accuracies for one
        function, and their spread is the noise of its training; ``nascost pareto --merge-equivalent``
        averages them. Spaces override it where the space's reference defines the equivalence.
        """
        return arch.key()

    def num_architectures(self) -> int | None:
        """How many architectures the space holds, where it can enumerate them (else None)."""
        return None

    def enumerate(self) -> Iterator[Architecture]:
        """Every architecture once, in a fixed order (spaces with :meth:`num_architectures`)."""
        raise NascostError(f"search space {self.name!r} is too large to enumerate")

    # --- encodings -------------------------------------------------------
    @property
    @abstractmethod
    def encoding_dim(self) -> int:
        """Width D of an encoding."""

    @abstractmethod
    def encode(self, archs: Sequence[Architecture]) -> torch.Tensor:
        """``[N, D]`` float tensor (the paper: 112 one-hot bits of the normal cell)."""

    @abstractmethod
    def decode(self, encoding: torch.Tensor | Sequence[float]) -> Architecture:
        """Inverse of :meth:`encode` for one encoding (where the encoding is complete)."""

    def op_count_matrix(self) -> torch.Tensor | None:
        """``[D, K]`` 0/1 matrix: ``encoding @ matrix`` counts each operation per class of
        edges whose inputs have the same shape (so the operation costs the same on each).

        Predictors fitted with ``inputs="op-counts"`` learn from these counts: one
        cost per operation and edge class instead of one per encoding bit, far
        fewer numbers to estimate from noisy latencies. ``None`` (the default):
        the space defines no such classes.
        """
        return None

    # --- networks ---------------------------------------------------------
    @abstractmethod
    def settings(self) -> dict[str, Setting]:
        """Named settings (e.g. ``cifar10``, ``imagenet``)."""

    def default_setting_name(self) -> str:
        """:attr:`default_setting`, else the first named setting."""
        return self.default_setting or next(iter(self.settings()))

    def calibration_setting_name(self) -> str:
        """:attr:`calibration_setting`, else :meth:`default_setting_name`."""
        return self.calibration_setting or self.default_setting_name()

    def setting(self, name_or_setting: str | Setting, **overrides: Any) -> Setting:
        """A named setting, optionally with fields overridden (``channels=8``)."""
        if isinstance(name_or_setting, Setting):
            base = name_or_setting
        else:
            known = self.settings()
            if name_or_setting not in known:
                raise UnknownNameError(
                    f"unknown setting {name_or_setting!r} for space {self.name!r} "
                    f"(settings: {', '.join(known)}{closest(name_or_setting, known)})"
                )
            base = known[name_or_setting]
        overrides = {k: v for k, v in overrides.items() if v is not None}
        if not overrides:
            return base
        data = base.model_dump() | overrides
        if "name" not in overrides:
            data["name"] = f"{base.name}+custom"
        try:
            return Setting(**data)
        except Exception as exc:  # pydantic ValidationError
            raise NascostError(f"invalid setting: {exc}") from None

    #: Setting fields a command line can override, and their flags (every command spells them alike).
    SETTING_FLAGS: ClassVar[dict[str, str]] = {"channels": "--channels", "layers": "--layers",
                                               "input_size": "--input-size", "num_classes": "--num-classes"}

    def setting_options(self, setting: Setting) -> str | None:
        """The ``--setting NAME [--channels C ...]`` options that rebuild ``setting`` in any command.

        Why: a setting with overrides is displayed as ``NAME+custom``, a name no
        command accepts; printed commands must use a named setting plus flags.
        ``None`` when no named setting differs from it only in those fields.
        """
        known = self.settings()
        for name, named in known.items():
            if named.key() == setting.key():
                return f"--setting {name}"
        fixed = set(Setting.model_fields) - set(self.SETTING_FLAGS) - {"name"}
        same_base = [(n, b) for n, b in known.items()
                     if all(getattr(b, f) == getattr(setting, f) for f in fixed)]
        if not same_base:
            return None
        preferred = setting.name.split("+", 1)[0]
        name, base = min(same_base, key=lambda nb: (nb[0] != preferred, sum(
            getattr(nb[1], f) != getattr(setting, f) for f in self.SETTING_FLAGS)))
        flags = [f"{flag} {getattr(setting, f)}" for f, flag in self.SETTING_FLAGS.items()
                 if getattr(base, f) != getattr(setting, f)]
        return " ".join([f"--setting {name}", *flags])

    @abstractmethod
    def build(self, arch: Architecture, setting: Setting) -> nn.Module:
        """The evaluation network of ``arch`` in ``setting`` (random weights)."""

    def build_for_measurement(self, arch: Architecture, setting: Setting) -> nn.Module:
        """A network that computes what ``build`` returns, for forward passes only.

        Measurers call this for every architecture of a campaign, so a space may
        make it cheaper than :meth:`build` (DARTS keeps modules between builds).
        It must compute exactly what ``build(arch, setting)`` computes (same
        operations and shapes, random weights); it may not be trained. Default:
        :meth:`build`.
        """
        return self.build(arch, setting)

    def clear_measurement_cache(self) -> None:
        """Forget whatever :meth:`build_for_measurement` keeps between builds.

        Campaign passes call it before each pass after the first, so that a
        second visit of an architecture measures a newly built network (new
        modules, new memory) rather than the first visit's again. Default: nothing kept.
        """

    def example_input(self, setting: Setting, batch_size: int = 1) -> torch.Tensor:
        return torch.randn(batch_size, setting.in_channels, setting.input_size, setting.input_size)

    def count(self, arch: Architecture, setting: Setting) -> dict[str, int]:
        """``params`` (without auxiliary head), ``params_with_aux`` and ``macs``."""
        from nascost.counting import count_macs, count_params

        model = self.build(arch, setting)
        params_with_aux = count_params(model)
        params = count_params(model, exclude=("auxiliary",))
        model.eval()
        macs = count_macs(model, self.example_input(setting, 1))
        return {"params": params, "params_with_aux": params_with_aux, "macs": macs}

    @abstractmethod
    def supernet(self, previous: SuperNet | None = None, **options: Any) -> SuperNet:
        """The relaxed network for differentiable search.

        ``options`` are the supernet's size (``C``, ``layers``, ``num_classes``,
        ``in_channels``) plus one stage's options from :meth:`search_stages`;
        ``previous`` is the supernet of the previous stage (progressive methods
        such as P-DARTS keep only the strongest operations of it).
        """

    def search_defaults(self) -> dict[str, Any]:
        """The method's published search hyper-parameters (batch size, learning rates, ...)."""
        return {}

    def search_stages(self) -> list[dict[str, Any]]:
        """Stages of a progressive search; one stage for single-stage methods."""
        return [{}]

    def draw(self, arch: Architecture, path: Path) -> Path:
        """Draw an architecture to an image file."""
        raise NascostError(f"search space {self.name!r} cannot draw architectures")


def check_enumerable(space: SearchSpace, limit: int, why: str, instead: str) -> None:
    """One line when ``why`` needs every architecture and ``space`` has none to list or more than
    ``limit`` (the exact estimator, a derivation within a budget)."""
    size = space.num_architectures()
    if size is None or size > limit:
        raise NascostError(f"{why}: space {space.name!r} {'cannot enumerate them' if size is None else f'has {size:,}'} "
                           f"(at most {limit:,}); {instead}")


def _option_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def space_opt_flags(options: dict[str, Any]) -> str:
    """``--space-opt k=v ...``: the flags that give a space these options (error messages name the fix)."""
    return " ".join(f"--space-opt {k}={_option_text(v)}" for k, v in sorted(options.items()))


def check_space_options(space: SearchSpace, recorded: dict[str, Any] | None, *, what: str) -> None:
    """Refuse rows or a predictor made with other options of ``space`` (options can change
    the encoding): one line naming the ``--space-opt`` flags they were made with."""
    mine = space.option_values()
    differ = {k: v for k, v in (recorded or {}).items() if k in mine and mine[k] != v}
    if differ:
        theirs = ", ".join(f"{k}={_option_text(v)}" for k, v in sorted(differ.items()))
        ours = ", ".join(f"{k}={_option_text(mine[k])}" for k in sorted(differ))
        raise NascostError(f"{what} with space options {theirs}, but this {space.name!r} space has {ours}: "
                           f"give the same options ({space_opt_flags(differ)})")


def _why(exc: BaseException) -> str:
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    text = str(exc).splitlines()[0].split(";")[0] if str(exc) else type(exc).__name__
    return text[:120]


def closest(name: str, names: Any) -> str:
    from nascost.plugins import closest as _closest

    return _closest(name, names)
