"""Cost measurers: run a built network on a device and return a Measurement.

A measurer knows nothing of search spaces: it gets a ``torch.nn.Module`` and an
example input. ``available()`` says whether it can run here and, if not, why.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import Any, ClassVar

import numpy as np
import torch
from pydantic import Field
from torch import nn

from nascost import plugins
from nascost.base import Plugin, PluginOptions
from nascost.errors import NascostError, UnavailableError
from nascost.records import DeviceInfo, Measurement


class CostMeasurer(Plugin, ABC):
    """Measures one cost (latency, MACs, energy) of a network on one device."""

    #: Unit of the measured value: "ms", "MACs", "mJ", ...
    unit: ClassVar[str] = ""
    #: Batch size used when the caller does not choose one.
    default_batch_size: ClassVar[int] = 1

    @classmethod
    def kind_label(cls) -> str:
        return "cost measurer"

    @abstractmethod
    def available(self) -> tuple[bool, str]:
        """``(True, "")`` if it can measure here, else ``(False, reason)``."""

    def require_available(self) -> None:
        """Raise :func:`unavailable_measurer`'s error where this measurer cannot measure."""
        ok, why = self.available()
        if not ok:
            raise unavailable_measurer(self.name, why)

    @abstractmethod
    def device_info(self) -> DeviceInfo:
        """The fingerprint of the device this measurer measures on."""

    @abstractmethod
    def measure(self, model: nn.Module, example_input: torch.Tensor) -> Measurement:
        """Measure ``model`` (random weights, eval mode) on ``example_input``."""

    #: False for measurers that look architectures up instead of running networks
    #: (the ``table`` measurer: a public device's published latencies); campaigns
    #: then call :meth:`measure_architecture` and build nothing.
    measures_networks: ClassVar[bool] = True

    def measure_architecture(self, space: Any, arch: Any, setting: Any, batch_size: int) -> Measurement:
        """The cost of ``arch`` of ``space`` in ``setting`` (measurers with ``measures_networks = False``)."""
        raise NascostError(f"measurer {self.name!r} measures built networks, not architectures")

    def known_costs(self, space: Any) -> dict[str, float] | None:
        """Architecture key -> cost of every architecture the measurer can look up (None: it measures).

        A device table knows them all, which is what the true Pareto front of
        the device is drawn from.
        """
        return None

    def recorded_options(self) -> dict[str, Any] | None:
        """Options a database keeps with the measurer's rows so they can be measured again the same way.

        ``None`` (default): nothing to keep. The ``table`` measurer returns its
        file and column, so a cost fitted on imported rows can look up the true
        cost of the architecture a search derives.
        """
        return None


class TimerMeasurer(CostMeasurer):
    """Base of repeated-sample measurers: warm-up, n runs, statistics, bounded re-measurement.

    The protocol (the paper: random weights, each latency the average of 20
    runs; nascost keeps the samples and uses the median):

    1. eval mode and ``torch.inference_mode`` (no autograd bookkeeping in the numbers);
    2. :meth:`prepare` (move to the device, export, compile, ...) at the
       ``threads`` option's torch thread count, which the base sets and restores;
    3. ``warmup`` untimed forward passes (caches, allocator, autotuning);
    4. ``runs`` samples from :meth:`collect`;
    5. if IQR/median exceeds ``noisy_threshold`` the samples are taken again,
       up to ``max_retries`` more times; the attempt with the smallest IQR/median
       is kept and flagged ``noisy`` if it is still above the threshold.

    Subclasses implement :meth:`collect` (and usually :meth:`prepare`,
    :meth:`available`, :meth:`device_info`).

    **Paired timing** (``paired = True``, e.g. ``cpu-timer-paired``): on a
    shared or virtual machine the speed of the CPU itself changes by tens of
    percent over seconds (neighbours, frequency), far more than the
    differences between architectures. A paired measurer times the model and a
    fixed reference network alternately (model first on even runs, reference
    first on odd ones) and keeps ``t_model / t_reference * anchor`` per run,
    where ``anchor`` is the reference's own latency measured once per group
    of comparable rows. Slow phases scale both timings and cancel in the
    ratio; the unit stays the measurer's. It costs one extra forward pass per
    run. The reference is deployed through the same :meth:`prepare` as the
    model (once per :meth:`set_reference`), so an exporting or compiling
    measurer times both in its runtime. Callers set the reference with :meth:`set_reference` (campaigns and
    ``nascost measure`` do it through :func:`nascost.collect.measure_one`).
    """

    unit: ClassVar[str] = "ms"
    #: Time every run against a reference network (see the class docstring).
    paired: ClassVar[bool] = False

    class Options(PluginOptions):
        warmup: int = Field(5, ge=0, description="untimed forward passes before timing")
        runs: int = Field(20, ge=1, description="timed samples per attempt (the paper: 20)")
        noisy_threshold: float = Field(
            0.1, gt=0, description="re-measure when IQR/median exceeds this"
        )
        max_retries: int = Field(2, ge=0, description="re-measurements of a noisy architecture")
        batch_size: int | None = Field(None, ge=1, description="batch size (None: the measurer's default)")
        threads: int | None = Field(None, ge=1, description="CPU threads (None: torch's current count)")

    @property
    def batch_size(self) -> int:
        """The batch size a caller should build the example input with."""
        return self.options.batch_size or self.default_batch_size

    def prepare(self, model: nn.Module, example_input: torch.Tensor) -> tuple[Any, torch.Tensor]:
        """Deploy the model where it runs (move it, export it, compile it); default: leave it as it is.

        Called once per measured network, and once per :meth:`set_reference`
        for a paired measurer's reference, at the ``threads`` option's torch
        thread count (the base sets it and restores it after :meth:`finish`).
        What it returns is what :meth:`forward` and :meth:`collect` get: it
        need not be an ``nn.Module`` (an ONNX Runtime session, a compiled
        function). Keep global changes idempotent: it runs twice per paired
        measurement (model and reference) before one :meth:`finish`.
        """
        return model, example_input

    def forward(self, model: Any, example_input: torch.Tensor) -> None:
        """One untimed forward pass (warm-up)."""
        model(example_input)

    def finish(self) -> None:
        """Undo what :meth:`prepare` changed globally (thread counts, ...)."""

    @abstractmethod
    def collect(self, model: Any, example_input: torch.Tensor, runs: int) -> list[float]:
        """``runs`` samples, in :attr:`unit`, of the prepared model."""

    def extra(self) -> dict[str, Any]:
        """Measurer-specific details recorded with each measurement."""
        return {}

    def set_reference(self, model: nn.Module, example_input: torch.Tensor, *, anchor: float | None = None,
                      label: str = "reference") -> Measurement | None:
        """Set the reference network of paired timing.

        ``anchor`` is the reference latency the ratios are scaled by; pass the
        value stored with earlier rows so that a resumed campaign keeps its
        scale. Without it the reference is measured now (unpaired protocol)
        and that measurement is returned, for the caller to store.
        """
        model.eval()
        measured = None
        self._reference_prepared = None
        if anchor is None:
            self._reference = None
            # keep_prepared: the deployed reference is reused for the paired runs (one export, not two)
            measured = self._measure(model, example_input, None, keep_prepared=True)
            anchor = measured.median
        if not (anchor > 0 and math.isfinite(anchor)):
            raise NascostError(f"the reference latency must be a positive number (got {anchor})")
        self._reference = (model, example_input, float(anchor), label)
        return measured

    @property
    def reference_anchor(self) -> float | None:
        """The anchor latency of the reference set by :meth:`set_reference`, if any."""
        ref = getattr(self, "_reference", None)
        return ref[2] if ref else None

    @property
    def reference_label(self) -> str | None:
        """The label of the reference set by :meth:`set_reference`, if any."""
        ref = getattr(self, "_reference", None)
        return ref[3] if ref else None

    def measure(self, model: nn.Module, example_input: torch.Tensor) -> Measurement:
        ref = getattr(self, "_reference", None)
        if self.paired and ref is None:
            raise NascostError(
                f"measurer {self.name!r} times every run against a reference network and none is set; "
                "use it through 'nascost collect' or 'nascost measure' (they set one), "
                "or call set_reference() first"
            )
        return self._measure(model, example_input, ref if self.paired else None)

    def _collect_paired(self, model: Any, x: torch.Tensor, ref: Any, rx: torch.Tensor,
                        runs: int, anchor: float, raw: dict[str, list[float]]) -> list[float]:
        out = []
        for i in range(runs):
            if i % 2 == 0:
                t = self.collect(model, x, 1)[0]
                r = self.collect(ref, rx, 1)[0]
            else:
                r = self.collect(ref, rx, 1)[0]
                t = self.collect(model, x, 1)[0]
            raw["model"].append(t)
            raw["reference"].append(r)
            out.append(t / r * anchor)
        return out

    def measure_threads(self) -> int | None:
        """The torch thread count :meth:`prepare` and the timed runs happen at (``threads`` option)."""
        return getattr(self.options, "threads", None)

    def _prepared_reference(self, reference: tuple[nn.Module, torch.Tensor, float, str]
                            ) -> tuple[Any, torch.Tensor]:
        """The reference deployed through :meth:`prepare`, once per :meth:`set_reference`.

        Why: a measurer that exports or compiles in ``prepare`` must time the
        reference the way it times the model, not as an eager ``nn.Module``.
        """
        cached = getattr(self, "_reference_prepared", None)
        if cached is not None and cached[0] is reference[0]:
            return cached[1], cached[2]
        ref, rx = self.prepare(reference[0].eval(), reference[1])
        self._reference_prepared = (reference[0], ref, rx)
        return ref, rx

    def _measure(self, model: nn.Module, example_input: torch.Tensor,
                 reference: tuple[nn.Module, torch.Tensor, float, str] | None, *,
                 keep_prepared: bool = False) -> Measurement:
        self.require_available()
        opts = self.options
        model.eval()
        raw: dict[str, list[float]] = {"model": [], "reference": []}
        best_raw = raw
        saved_threads = torch.get_num_threads()
        threads = self.measure_threads()
        try:
            if threads:  # the base applies it, so every subclass's prepare() and runs honour it
                torch.set_num_threads(threads)
            with torch.inference_mode():
                original = model
                model, x = self.prepare(model, example_input)
                if keep_prepared:
                    self._reference_prepared = (original, model, x)
                if reference is not None:
                    ref, rx = self._prepared_reference(reference)
                for _ in range(opts.warmup):
                    self.forward(model, x)
                    if reference is not None:
                        self.forward(ref, rx)
                best: list[float] | None = None
                best_rel = math.inf
                history: list[float] = []
                attempts = 0
                for _ in range(1 + opts.max_retries):
                    attempts += 1
                    if reference is None:
                        samples = self.collect(model, x, opts.runs)
                    else:
                        raw = {"model": [], "reference": []}
                        samples = self._collect_paired(model, x, ref, rx, opts.runs, reference[2], raw)
                    rel = relative_iqr(samples)
                    history.append(rel)
                    if rel < best_rel or best is None:
                        best, best_rel, best_raw = samples, rel, raw
                    if rel <= opts.noisy_threshold:
                        break
        finally:
            try:
                self.finish()
            finally:
                torch.set_num_threads(saved_threads)
        extra = {"relative_iqr_per_attempt": history, "warmup": opts.warmup, **self.extra()}
        if reference is not None:
            extra["paired"] = {
                "reference": reference[3],
                "anchor": reference[2],
                "model_median_raw": float(np.median(best_raw["model"])),
                "reference_median_raw": float(np.median(best_raw["reference"])),
                # The raw times behind the ratios, in run order, so other
                # estimators can be evaluated on a finished campaign.
                "model_samples": [float(t) for t in best_raw["model"]],
                "reference_samples": [float(t) for t in best_raw["reference"]],
            }
        return Measurement.from_samples(
            best,
            unit=self.unit,
            device=self.device_info(),
            noisy=best_rel > opts.noisy_threshold,
            attempts=attempts,
            batch_size=int(example_input.shape[0]),
            extra=extra,
        )


def unavailable_measurer(name: str, why: str) -> UnavailableError:
    """The error for a measurer that cannot measure here: why first, then the measurers that can.

    Why in that order: a user without a GPU who asks for ``cuda-timer`` needs
    to hear that there is no CUDA device before the list of what to use instead.
    """
    others = [m for m in plugins.runnable_measurers() if m != name]
    return UnavailableError(f"measurer {name!r} is unavailable here: {why}; measurers that measure on this "
                            f"machine: {', '.join(others) or 'none'}")


def relative_iqr(samples: list[float]) -> float:
    """IQR / median: the noise statistic the re-measurement rule uses."""
    arr = np.asarray(samples, dtype=np.float64)
    q1, med, q3 = np.percentile(arr, [25, 50, 75])
    if med == 0:
        return 0.0 if q3 == q1 else math.inf
    return float((q3 - q1) / abs(med))
