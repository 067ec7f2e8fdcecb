"""Measurement campaigns: sample architectures, measure each, store each row atomically.

A campaign is a function of its arguments: the architectures are drawn from
``seed``, so re-running the same command after a kill (SIGKILL included)
measures exactly the architectures that are not yet in the database's group,
and nothing twice. Each row is committed on its own (see :mod:`nascost.data`).

Streaming: sampled architectures are drawn lazily, :data:`SHUFFLE_CHUNK` at a
time, so the first is measured as soon as its chunk is drawn and memory holds
one chunk (plus the keys seen, for de-duplication), whatever ``n``.

Drift: the measurement order is shuffled (so slow phases of a shared machine
do not correlate with any property of the architectures) within each chunk of
the sampled order (a campaign of at most one chunk: over all of it), and a fixed
reference architecture is re-measured before the first architecture and after
every ``reference_every`` ones. When its median moves more than
``drift_threshold`` (relative) from the group's first reference measurement,
the event is reported and the rows measured since the previous reference are
flagged (``drift``); :meth:`CostDatabase.query` leaves flagged rows out unless
asked.

Passes: a measurement's samples share the machine state of its few seconds
and one build of the network, which more runs in the same visit do not vary.
``passes=P`` visits every architecture P times, each pass over all of them in
its own random order (chunk by chunk, as above), and pools the visits in the
architecture's one row (:meth:`CostDatabase.add_visit`); a row's ``extra.visits`` says which visits it
holds, so a killed multi-pass campaign resumes in the pass it was in, and a
finished one-pass campaign can be given a second pass by re-running it with
``--passes 2``.
"""

from __future__ import annotations

import contextlib
import itertools
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nascost import plugins
from nascost.data import CostDatabase, GroupInfo, check_row
from nascost.errors import NascostError, UnavailableError
from nascost.measure import CostMeasurer
from nascost.progress import progress as make_progress
from nascost.records import Architecture, DeviceInfo, Measurement, Setting
from nascost.space import SearchSpace

#: Seed of the reference architecture: fixed, so every campaign of a group
#: compares against the same network.
REFERENCE_SEED = 2020


@dataclass
class CampaignSummary:
    """What a campaign did; ``nascost collect`` prints it at the end."""

    db: str
    campaign: str
    space: str
    measurer: str
    setting: str
    batch_size: int
    device: str
    unit: str
    requested: int
    already_present: int
    measured: int
    noisy: int = 0
    flagged: int = 0
    drift_events: list[dict[str, Any]] = field(default_factory=list)
    wall_s: float = 0.0
    measure_s: float = 0.0
    timed_s: float = 0.0
    reference_s: float = 0.0
    executor: str = "local"
    group_count: int = 0
    #: Visits per architecture asked for; ``measured`` counts visits made.
    passes: int = 1

    @property
    def per_hour(self) -> float:
        return self.measured / self.wall_s * 3600.0 if self.wall_s > 0 else 0.0

    @property
    def overhead(self) -> float:
        """Campaign wall time over the time spent inside measure() for the architectures
        (what sampling, building, encoding, storing and drift references add)."""
        return self.wall_s / self.measure_s if self.measure_s > 0 else float("nan")

    @property
    def overhead_timed(self) -> float:
        """Campaign wall time over the timed samples alone (warm-up and re-measurement count as overhead)."""
        return self.wall_s / self.timed_s if self.timed_s > 0 else float("nan")

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "per_hour": self.per_hour, "overhead": self.overhead,
                "overhead_timed": self.overhead_timed}


#: The most architectures one campaign measures: at a second each that is 11 days of measuring.
MAX_CAMPAIGN = 1_000_000

#: Sampled architectures are measured in chunks of this many, each chunk in its own seeded random
#: order: the first measurement waits for one chunk to be drawn, not for all ``n``. A campaign of at
#: most this many architectures is one chunk, shuffled as a whole, exactly as before streaming.
SHUFFLE_CHUNK = 5_000


def check_campaign_size(n: int) -> None:
    """Refuse an ``n`` no campaign can finish (11 days at a second each), before anything is drawn."""
    if n < 1:
        raise NascostError(f"--n must be at least 1 (got {n})")
    if n > MAX_CAMPAIGN:
        raise NascostError(f"--n {n}: a campaign measures at most {MAX_CAMPAIGN:,} architectures (at a second "
                           "each that is 11 days); collect in several runs with other --seed values into the same --db")


#: How a campaign draws architectures: the space's uniform sampler (the paper's), or
#: :meth:`~nascost.space.SearchSpace.sample_varied` (each architecture with its own
#: operation preferences), which reaches the corners of the space a search ends up in.
SAMPLINGS = ("uniform", "varied")


def iter_architectures(space: SearchSpace, n: int, seed: int, sampling: str = "uniform") -> Iterator[Architecture]:
    """``n`` distinct architectures drawn from ``seed``, one at a time (fewer if the space is small).

    Lazy, so a campaign measures while it draws; only the keys seen are kept (for de-duplication).
    The uniform draws, and so the architectures and their order, are those of every earlier version.
    """
    if sampling not in SAMPLINGS:
        raise NascostError(f"unknown sampling {sampling!r} (samplings: {', '.join(SAMPLINGS)})")
    draw = space.sample if sampling == "uniform" else space.sample_varied
    size = space.num_architectures()
    if size is not None:
        n = min(n, size)  # no more distinct architectures to find
    gen = np.random.default_rng(seed)
    seen: set[str] = set()
    draws = 0
    while len(seen) < n and draws < 20 * n + 100:
        arch = draw(gen)
        draws += 1
        key = arch.key()
        if key not in seen:
            seen.add(key)
            yield arch


def sample_architectures(space: SearchSpace, n: int, seed: int, sampling: str = "uniform") -> list[Architecture]:
    """``n`` distinct architectures drawn from ``seed`` (deterministic; fewer if the space is small)."""
    return list(iter_architectures(space, n, seed, sampling))


def _chunked(archs: Iterator[Architecture], size: int) -> Iterator[list[Architecture]]:
    chunk: list[Architecture] = []
    for arch in archs:
        chunk.append(arch)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


class _Plan:
    """A local campaign's visits in measurement order, worked out one chunk at a time.

    Pass ``p`` visits the architectures with fewer than ``p`` visits; each
    chunk's share of them in its own random order, seeded by ``[seed, p]``
    for the first chunk (so a campaign of one chunk keeps the order campaigns
    always had) and ``[seed, p, k]`` for chunk ``k``. Chunks are fixed
    stretches of the sampled order, not of what is left to do, so a resumed
    campaign cuts them the same way. ``total`` (visits to make) is an upper
    bound until pass 1 has seen every chunk, exact from then on;
    ``already_present`` counts the architectures that need no visit.
    """

    def __init__(self, chunks: Callable[[], Iterator[list[Architecture]]], expected: int,
                 visits: dict[str, int], passes: int, seed: int) -> None:
        self.chunks, self.expected, self.visits, self.passes, self.seed = chunks, expected, visits, passes, seed
        self.total = expected * passes
        self.already_present = 0

    def __iter__(self) -> Iterator[tuple[int, Architecture]]:
        visits, passes = self.visits, self.passes
        for p in range(1, passes + 1):
            seen = 0
            for k, chunk in enumerate(self.chunks()):
                if p == 1:  # before any of the chunk is measured: its counts are the campaign's start
                    counts = [min(visits.get(a.key(), 0), passes) for a in chunk]
                    self.already_present += counts.count(passes)
                    self.total -= sum(counts)
                    seen += len(chunk)
                todo = [a for a in chunk if visits.get(a.key(), 0) < p]
                order = np.random.default_rng([self.seed, p] if k == 0 else [self.seed, p, k]).permutation(len(todo))
                for i in order:
                    yield p, todo[i]
            if p == 1:
                self.total -= (self.expected - seen) * passes  # the space held fewer distinct ones


def reference_architecture(space: SearchSpace) -> Architecture:
    return space.sample(np.random.default_rng(REFERENCE_SEED))


def ensure_reference(space: SearchSpace, measurer: CostMeasurer, setting: Setting, batch_size: int, *,
                     anchor: float | None = None, remeasure: bool = False) -> Measurement | None:
    """Give a paired measurer the space's reference network in ``setting`` (no-op for others).

    Returns the reference's own measurement when one was taken: no ``anchor``
    given, and none set yet for this space, setting and batch size (or
    ``remeasure``).
    """
    if not getattr(measurer, "paired", False):
        return None
    label = f"{space.name}:{reference_architecture(space).key()} in {setting.label()}, batch {batch_size}"
    if measurer.reference_label == label and anchor is None and not remeasure:
        return None
    ref = space.build(reference_architecture(space), setting)
    return measurer.set_reference(ref, space.example_input(setting, batch_size), anchor=anchor, label=label)


def measure_one(space: SearchSpace, measurer: CostMeasurer, arch: Architecture, setting: Setting,
                batch_size: int, *, anchor: float | None = None) -> tuple[Measurement, float]:
    """Build ``arch`` in ``setting`` (random weights) and measure it; returns (measurement, seconds).

    A paired measurer gets the space's reference network first (see :func:`ensure_reference`);
    ``anchor`` puts the value on a given scale (a predictor's ``reference_latency``).
    """
    if not getattr(measurer, "measures_networks", True):  # a lookup (a public device's table)
        t0 = time.perf_counter()
        m = measurer.measure_architecture(space, arch, setting, batch_size)
        return m, time.perf_counter() - t0
    ensure_reference(space, measurer, setting, batch_size, anchor=anchor)
    model = space.build_for_measurement(arch, setting)
    x = space.example_input(setting, batch_size)
    t0 = time.perf_counter()
    m = measurer.measure(model, x)
    secs = time.perf_counter() - t0
    if m.batch_size is None:  # a third-party measurer that does not record it
        m = m.model_copy(update={"batch_size": batch_size})
    return m, secs


def default_batch_size(measurer: CostMeasurer) -> int:
    return int(getattr(measurer, "batch_size", None) or measurer.default_batch_size)


def _resolve(space: SearchSpace | str, measurer: CostMeasurer | str, setting: Setting | str,
             measurer_options: dict[str, Any] | None) -> tuple[SearchSpace, CostMeasurer, Setting]:
    if isinstance(space, str):
        space = plugins.get_space(space)
    if isinstance(measurer, str):
        measurer = plugins.get_measurer(measurer, measurer_options)
    if isinstance(setting, str):
        setting = space.setting(setting)
    return space, measurer, setting


def open_for_campaign(db_path: str | Path, space: str) -> CostDatabase:
    """Open (or create) a database for a campaign of ``space``; refuses one of another space."""
    # create=True on an existing file too: of two processes creating one new
    # database, the second then waits for the first's schema instead of failing
    db = CostDatabase(Path(db_path), create=True)
    try:
        db.bind_space(space)
    except NascostError:
        db.close()
        raise
    return db


def validate_campaign(db_path: str | Path, space: SearchSpace, measurer: CostMeasurer, *,
                      here: bool = True) -> None:
    """Everything that can be checked before a file is touched (the CLI calls this first).

    ``here=False`` (Ray): the measurer runs on the workers, so its availability
    is theirs to report, not the driver's.
    """
    if here:
        measurer.require_available()
    path = Path(db_path)
    if path.exists() and path.stat().st_size > 0:
        with CostDatabase(path) as db:
            db.check_space(space.name)
    elif not path.parent.exists():
        raise NascostError(f"directory {str(path.parent)!r} does not exist")


def run_campaign(
    db_path: str | Path,
    *,
    space: SearchSpace | str,
    measurer: CostMeasurer | str,
    setting: Setting | str,
    n: int,
    seed: int = 0,
    batch_size: int | None = None,
    reference_every: int = 50,
    drift_threshold: float = 0.05,
    executor: str = "local",
    progress: bool = True,
    measurer_options: dict[str, Any] | None = None,
    campaign: str | None = None,
    ray_address: str | None = None,
    passes: int = 1,
    archs: list[Architecture] | None = None,
    sampling: str = "uniform",
) -> CampaignSummary:
    """Measure ``n`` architectures sampled from ``seed`` into ``db_path`` (resumable).

    ``sampling`` (:data:`SAMPLINGS`) says how they are drawn; a resumed campaign
    needs the same seed and sampling to see the same architectures.

    ``reference_every=0`` turns drift detection off. ``passes`` > 1 visits
    every architecture that many times, one pass over all of them after the
    other, and pools the visits' samples in its row. See the module docstring.
    ``archs`` measures these architectures instead of sampling (a transfer
    plan; resumable as long as the same list is given again).
    """
    check_campaign_size(n)
    if passes < 1:
        raise NascostError(f"--passes must be at least 1 (got {passes})")
    if passes > 1 and executor == "ray":
        raise NascostError("--passes needs --executor local (Ray tasks are not bound to one device, "
                           "and visits of one architecture must be on the same device)")
    if reference_every < 0:
        raise NascostError(f"--reference-every must be >= 0 (got {reference_every})")
    if not drift_threshold > 0 or drift_threshold == float("inf"):  # NaN fails '> 0' too
        raise NascostError(f"--drift-threshold must be a finite number > 0 (got {drift_threshold})")
    if executor not in ("local", "ray"):
        raise NascostError(f"unknown executor {executor!r} (executors: local, ray)")
    space, measurer, setting = _resolve(space, measurer, setting, measurer_options)
    if archs is None:
        next(iter_architectures(space, 1, seed, sampling))  # an unknown sampling, or a space without it
    batch = int(batch_size or default_batch_size(measurer))
    if executor == "ray":
        if getattr(measurer, "paired", False):
            raise NascostError(
                f"measurer {measurer.name!r} times against a reference on one machine; "
                "run it with --executor local on each machine"
            )
        _import_ray()
    validate_campaign(db_path, space, measurer, here=executor == "local")
    chunks: Callable[[], Iterator[list[Architecture]]]
    if archs is None:
        size = space.num_architectures()
        expected = n if size is None else min(n, size)

        def chunks() -> Iterator[list[Architecture]]:  # drawn anew for each pass: nothing held between
            return _chunked(iter_architectures(space, n, seed, sampling), SHUFFLE_CHUNK)
    else:  # a plan may be ordered by what it needs most: one chunk, shuffled as a whole
        given = list({a.key(): a for a in archs}.values())[:n]
        expected = len(given)

        def chunks() -> Iterator[list[Architecture]]:
            return iter([given] if given else [])
    campaign = campaign or f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:6]}"
    if executor == "ray":  # Ray submits every task at once: the list is held anyway
        return _run_ray(db_path, space, measurer, setting, [a for c in chunks() for a in c], batch, seed,
                        campaign, progress, measurer_options, ray_address, n)
    device = measurer.device_info()
    new = not (Path(db_path).exists() and Path(db_path).stat().st_size > 0)
    try:
        with open_for_campaign(db_path, space.name) as db:  # SQLite failures become one line naming the file
            return _run_local(db, space, measurer, setting, chunks, expected, batch, seed, campaign, device,
                              reference_every, drift_threshold, progress, n, passes)
    except BaseException:
        if new:
            _remove_if_empty(Path(db_path))
        raise


def _remove_if_empty(path: Path) -> None:
    """Remove a database this campaign created when it failed before its first row (nothing to keep)."""
    try:
        with CostDatabase(path) as db:
            empty = db.count() == 0
    except (NascostError, sqlite3.Error, OSError):
        return
    if empty:
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)


def _group(db: CostDatabase, space: SearchSpace, measurer: CostMeasurer, setting: Setting, batch: int,
           device: DeviceInfo) -> GroupInfo | None:
    return db.find_group(space=space.name, measurer=measurer.name, setting=setting, batch_size=batch,
                         device=device)


def _bar(enabled: bool, unit: str):
    if not enabled:
        return contextlib.nullcontext(None)
    return make_progress(unit)


def _run_local(db: CostDatabase, space: SearchSpace, measurer: CostMeasurer, setting: Setting,
               chunks: Callable[[], Iterator[list[Architecture]]], expected: int, batch: int, seed: int,
               campaign: str, device: DeviceInfo, reference_every: int, drift_threshold: float, show: bool,
               n: int, passes: int = 1) -> CampaignSummary:
    t_start = time.perf_counter()
    db.check_group_space(_group(db, space, measurer, setting, batch, device), space)  # one group, one encoding
    visits = db.visit_counts(_group(db, space, measurer, setting, batch, device))
    plan = _Plan(chunks, expected, visits, passes, seed)
    stream = iter(plan)
    first = next(stream, None)  # draws the first chunk only; None: nothing to do (and every chunk seen)
    summary = CampaignSummary(
        db=str(db.path), campaign=campaign, space=space.name, measurer=measurer.name, setting=setting.name,
        batch_size=batch, device=device.fingerprint, unit=measurer.unit, requested=n,
        already_present=0, measured=0, passes=passes,
    )
    noisy_threshold = getattr(measurer.options, "noisy_threshold", None)
    ref = reference_architecture(space)
    window: list[str] = []
    seq = 0

    def check_reference() -> None:
        nonlocal seq, window
        m, secs = measure_one(space, measurer, ref, setting, batch)
        summary.reference_s += secs
        db.add_reference(ref, m, measurer=measurer.name, setting=setting, campaign=campaign, seq=seq)
        seq += 1
        group = _group(db, space, measurer, setting, batch, m.device)
        history = db.references(group) if group else []
        baseline = history[0][1] if history else m.median
        drift = m.median / baseline - 1.0 if baseline else 0.0
        if abs(drift) > drift_threshold and window and group is not None:
            flagged = db.flag_drift(group, window)
            summary.flagged += flagged
            summary.drift_events.append(
                {"after": summary.measured, "reference_median": m.median, "baseline_median": baseline,
                 "drift": drift, "flagged_rows": flagged}
            )
        window = []

    if not getattr(measurer, "measures_networks", True):
        reference_every = 0  # a lookup returns the same value every time: no drift to watch
    paired = bool(getattr(measurer, "paired", False))
    if paired and first is not None:
        # Every run is timed against the reference, so periodic drift checks
        # have nothing to add; the group's first reference median is the anchor
        # all ratios are scaled by, stored so a resumed campaign keeps its scale.
        reference_every = 0
        group = _group(db, space, measurer, setting, batch, device)
        history = db.references(group) if group else []
        anchor = history[0][1] if history else (db.paired_anchor(group) if group else None)
        if anchor is not None:  # imported rows carry their anchor in extra.paired
            ensure_reference(space, measurer, setting, batch, anchor=anchor)
        else:
            ensure_reference(space, measurer, setting, batch)  # discarded: one-off costs of a fresh process
            m = ensure_reference(space, measurer, setting, batch, remeasure=True)
            assert m is not None
            db.add_reference(ref, m, measurer=measurer.name, setting=setting, campaign=campaign, seq=0)
            summary.reference_s += sum(m.samples) / 1000.0 if m.unit == "ms" else 0.0

    with _bar(show, "visit" if passes > 1 else "arch") as bar:
        shown = plan.total  # exact here for a campaign of one chunk
        task = bar.add_task("measuring", total=shown, info="") if bar is not None else None
        if first is not None and reference_every:
            # One discarded measurement first: a fresh process's first network
            # pays one-off costs (allocator, kernels) the baseline must not see.
            summary.reference_s += measure_one(space, measurer, ref, setting, batch)[1]
            check_reference()
        i = 0
        in_pass = 0
        for p, arch in itertools.chain([first] if first is not None else [], stream):
            if p != in_pass:
                if p > 1:
                    # A visit measures newly built networks: the architecture's and,
                    # for paired timing, the reference's (on the group's anchor).
                    space.clear_measurement_cache()
                    if paired:
                        ensure_reference(space, measurer, setting, batch, anchor=measurer.reference_anchor)
                if bar is not None and passes > 1:
                    bar.update(task, description=f"pass {p}/{passes}")
                in_pass = p
            m, secs = measure_one(space, measurer, arch, setting, batch)
            summary.measure_s += secs
            if m.unit == "ms":
                summary.timed_s += sum(m.samples) / 1000.0
            key = arch.key()
            enc = check_row(space, arch, space.encode([arch])[0].tolist(), m,
                            where=f"measurer {measurer.name!r} on architecture {key}")
            if visits.get(key, 0) == 0:
                db.add(arch, enc, m, measurer=measurer.name, setting=setting, campaign=campaign,
                       space_options=space.option_values())
                visits[key] = 1
            else:
                visits[key] = db.add_visit(arch, m, measurer=measurer.name, setting=setting,
                                           campaign=campaign, noisy_threshold=noisy_threshold)
            summary.measured += 1
            summary.noisy += int(m.noisy)
            window.append(key)
            i += 1
            if reference_every and i % reference_every == 0:
                check_reference()
            if bar is not None:
                if plan.total != shown:  # a later chunk showed some already measured
                    shown = plan.total
                    bar.update(task, total=shown)
                bar.update(task, advance=1, info=f"{m.median:.4g} {m.unit}")
        if bar is not None and plan.total != shown:  # the last chunks held nothing to do
            bar.update(task, total=plan.total)
        if reference_every and i % reference_every:
            check_reference()  # after the last one, as after every reference_every
    summary.already_present = plan.already_present
    summary.wall_s = time.perf_counter() - t_start
    group = _group(db, space, measurer, setting, batch, device)
    summary.group_count = group.count if group else 0
    recorded = measurer.recorded_options() if hasattr(measurer, "recorded_options") else None
    if group is not None and recorded:
        db.record_measurer_options(group, recorded)
    return summary


# --- Ray -----------------------------------------------------------------------


def _import_ray():
    try:
        import ray
    except ImportError:
        raise NascostError(
            "--executor ray needs Ray: pip install 'nascost[ray]' (or use --executor local)"
        ) from None
    return ray


def _ray_measure(space_name: str, measurer_name: str, measurer_options: dict[str, Any],
                 setting_json: str, batch: int, spec: dict[str, Any],
                 space_options: dict[str, Any] | None = None) -> tuple[list[float], str]:
    """Runs on a Ray worker: resolve plugins by name, build, measure on the worker's device."""
    space = plugins.get_space(space_name, space_options)
    measurer = plugins.get_measurer(measurer_name, measurer_options)
    setting = Setting.model_validate_json(setting_json)
    arch = space.validate(spec)
    m, _ = measure_one(space, measurer, arch, setting, batch)
    return space.encode([arch])[0].tolist(), m.model_dump_json()


def _ray_probe(measurer_name: str, measurer_options: dict[str, Any]) -> tuple[bool, str]:
    """Runs on a Ray worker: can it measure with this measurer?"""
    try:
        return plugins.get_measurer(measurer_name, measurer_options).available()
    except NascostError as exc:
        return False, str(exc)


def _run_ray(db_path: str | Path, space: SearchSpace, measurer: CostMeasurer, setting: Setting,
             archs: list[Architecture], batch: int, seed: int, campaign: str, show: bool,
             measurer_options: dict[str, Any] | None, address: str | None, n: int) -> CampaignSummary:
    """Workers measure on their own devices; the driver alone writes the database.

    Each task asks Ray for the measurer's ``ray_resources`` (default one CPU;
    ``cuda-timer``: one GPU).

    An architecture counts as done when any device already measured it for this
    measurer, setting and batch size. Drift references are not taken under Ray
    (tasks are not bound to one device); run local campaigns per device for them.
    """
    ray = _import_ray()
    t_start = time.perf_counter()
    opts = measurer.options.model_dump() if measurer_options is None else measurer_options
    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, log_to_driver=False, ignore_reinit_error=True)
    resources = dict(getattr(measurer, "ray_resources", None) or {"num_cpus": 1})
    ok, why = ray.get(ray.remote(**resources)(_ray_probe).remote(measurer.name, opts))
    if not ok:  # checked before the database is created or written
        raise UnavailableError(f"measurer {measurer.name!r} is unavailable on the Ray workers: {why}")
    remote = ray.remote(**resources)(_ray_measure)
    db = open_for_campaign(db_path, space.name)
    try:
        done: set[str] = set()
        for g in db.groups():
            if (g.measurer == measurer.name and g.setting.key() == setting.key() and g.batch_size == batch):
                done |= db.keys(g)
        todo = [a for a in archs if a.key() not in done]
        order = np.random.default_rng([seed, 1]).permutation(len(todo))
        todo = [todo[i] for i in order]
        summary = CampaignSummary(
            db=str(db.path), campaign=campaign, space=space.name, measurer=measurer.name,
            setting=setting.name, batch_size=batch, device="(ray workers)", unit=measurer.unit,
            requested=n, already_present=len(archs) - len(todo), measured=0, executor="ray",
        )
        setting_json = setting.model_dump_json()
        pending = {
            remote.remote(space.name, measurer.name, opts, setting_json, batch, a.spec, space.option_values()): a
            for a in todo
        }
        devices: set[str] = set()
        with _bar(show, "arch") as bar:
            task = bar.add_task("measuring (ray)", total=len(todo), info="") if bar is not None else None
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1)
                for ref in ready:
                    arch = pending.pop(ref)
                    try:
                        enc, m_json = ray.get(ref)
                    except Exception as exc:  # RayTaskError wraps the worker's exception
                        cause = getattr(exc, "cause", None) or exc
                        first = str(cause).strip().splitlines()[-1] if str(cause).strip() else type(cause).__name__
                        raise NascostError(f"a Ray worker failed on architecture {arch.key()}: {first}") from None
                    m = Measurement.model_validate_json(m_json)
                    enc = check_row(space, arch, enc, m, where=f"measurer {measurer.name!r} on architecture {arch.key()}")
                    db.check_group_space(_group(db, space, measurer, setting, batch, m.device), space)
                    db.add(arch, enc, m, measurer=measurer.name, setting=setting, campaign=campaign,
                           space_options=space.option_values())
                    devices.add(m.device.fingerprint)
                    summary.measured += 1
                    summary.noisy += int(m.noisy)
                    if bar is not None:
                        bar.update(task, advance=1, info=f"{m.median:.4g} {m.unit}")
        summary.device = ",".join(sorted(devices)) or summary.device
        summary.wall_s = time.perf_counter() - t_start
        summary.group_count = sum(
            g.count for g in db.groups()
            if g.measurer == measurer.name and g.setting.key() == setting.key() and g.batch_size == batch
        )
        return summary
    except sqlite3.DatabaseError as exc:
        if isinstance(exc, sqlite3.IntegrityError):
            raise
        raise db.database_error(exc) from None
    finally:
        db.close()
