"""Streamed campaigns: architectures drawn while measuring, in the order campaigns always had.

The reference below is the sampling and ordering of nascost before streaming
(every architecture drawn first, each pass shuffled as a whole): a campaign of
at most one chunk must measure exactly as it did, and a huge one must start
measuring without drawing everything first.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

import nascost.collect as collect
from nascost.collect import iter_architectures, run_campaign, sample_architectures
from nascost.data import CostDatabase
from nascost.records import Architecture, Measurement, Setting

from .fakes import CostModelMeasurer, ToySpace


def _legacy_sample(space: Any, n: int, seed: int) -> list[Architecture]:
    """``sample_architectures`` as it was before streaming (every draw held in one dict)."""
    size = space.num_architectures()
    if size is not None:
        n = min(n, size)
    gen = np.random.default_rng(seed)
    seen: dict[str, Architecture] = {}
    draws = 0
    while len(seen) < n and draws < 20 * n + 100:
        arch = space.sample(gen)
        draws += 1
        seen.setdefault(arch.key(), arch)
    return list(seen.values())


def _legacy_order(archs: list[Architecture], visits: dict[str, int], passes: int, seed: int) -> list[str]:
    """The keys in the order a campaign measured them before streaming."""
    out = []
    for p in range(1, passes + 1):
        todo = [a for a in archs if visits.get(a.key(), 0) < p]
        out += [todo[i].key() for i in np.random.default_rng([seed, p]).permutation(len(todo))]
    return out


class RecordingSpace(ToySpace):
    """The toy space, counting draws and recording which architectures are built to be measured."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.draws = 0
        self.built: list[str] = []

    def sample(self, rng: Any = None) -> Architecture:
        self.draws += 1
        return super().sample(rng)

    def build_for_measurement(self, arch: Architecture, setting: Setting) -> nn.Module:
        self.built.append(arch.key())
        return super().build_for_measurement(arch, setting)


class BigSpace(RecordingSpace):
    """Twelve positions of four operations: 16.7 million architectures, none enumerable."""

    name = "big"
    encoding_id = "big-onehot-v1"
    positions = 12

    def settings(self) -> dict[str, Setting]:
        return {"tiny": Setting(name="tiny", channels=2, layers=12, num_classes=3, input_size=4)}


class Interrupted(CostModelMeasurer):
    """``costmodel`` (the same group) whose user presses Ctrl-C during its ``stop_after + 1``-th measurement."""

    def __init__(self, stop_after: int) -> None:
        super().__init__()
        self.stop_after = stop_after

    def measure(self, model: nn.Module, example_input: torch.Tensor) -> Measurement:
        if self.calls >= self.stop_after:
            raise KeyboardInterrupt
        return super().measure(model, example_input)


def _stored(db_path: Path) -> list[str]:
    with CostDatabase(db_path) as db:
        return [r["arch_key"] for r in db.rows()]


def _visits(db_path: Path) -> dict[str, int]:
    with CostDatabase(db_path) as db:
        return db.visit_counts(db.groups()[0]) if db.groups() else {}


@pytest.mark.parametrize(("n", "seed"), [(1, 0), (17, 3), (256, 1), (300, 2)])
def test_streamed_draws_are_the_materialised_ones(n: int, seed: int) -> None:
    # 300 > the toy space's 256: the draw budget ends both the same way
    assert [a.key() for a in iter_architectures(ToySpace(), n, seed)] == \
        [a.key() for a in _legacy_sample(ToySpace(), n, seed)]
    assert sample_architectures(ToySpace(), n, seed) == _legacy_sample(ToySpace(), n, seed)


@pytest.mark.parametrize("passes", [1, 2])
def test_a_campaign_of_one_chunk_measures_in_the_order_it_always_had(tmp_path: Path, passes: int) -> None:
    db, n, seed = tmp_path / "c.db", 40, 5
    kw = dict(setting="tiny", n=n, seed=seed, reference_every=0, progress=False)
    with pytest.raises(KeyboardInterrupt):  # a first campaign killed part way
        run_campaign(db, space=ToySpace(), measurer=Interrupted(stop_after=9), **kw)
    before = _visits(db)
    assert len(before) == 9
    space = RecordingSpace()
    s = run_campaign(db, space=space, measurer=CostModelMeasurer(), passes=passes, **kw)
    assert space.built == _legacy_order(_legacy_sample(ToySpace(), n, seed), before, passes, seed)
    assert s.measured == n * passes - 9 and s.already_present == (9 if passes == 1 else 0)
    assert sorted(_visits(db).items()) == sorted((a.key(), passes) for a in _legacy_sample(ToySpace(), n, seed))


def test_a_huge_campaign_measures_before_drawing_everything_and_resumes(tmp_path: Path) -> None:
    db, seed = tmp_path / "big.db", 4
    kw = dict(setting="tiny", n=collect.MAX_CAMPAIGN, seed=seed, reference_every=0, progress=False)
    first = BigSpace()
    with pytest.raises(KeyboardInterrupt):
        run_campaign(db, space=first, measurer=Interrupted(stop_after=3), **kw)
    # one chunk drawn (plus the rare duplicate), not a million
    assert collect.SHUFFLE_CHUNK <= first.draws < collect.SHUFFLE_CHUNK + 50
    chunk = [a.key() for a in sample_architectures(BigSpace(), collect.SHUFFLE_CHUNK, seed)]
    done = _stored(db)
    assert len(done) == 3 and first.built[:3] == done and set(first.built) <= set(chunk)
    # the same command again: the same architectures, the ones left of the first chunk in its order
    again = BigSpace()
    with pytest.raises(KeyboardInterrupt):
        run_campaign(db, space=again, measurer=Interrupted(stop_after=4), **kw)
    todo = [k for k in chunk if k not in done]
    assert again.built == [todo[i] for i in np.random.default_rng([seed, 1]).permutation(len(todo))][:5]
    assert _stored(db) == done + again.built[:4] and again.draws < collect.SHUFFLE_CHUNK + 50


class _Bar:
    """Stands in for the progress bar: records the totals it is given."""

    def __init__(self) -> None:
        self.totals: list[float] = []
        self.completed = 0

    def __enter__(self) -> _Bar:
        return self

    def __exit__(self, *exc: Any) -> None:
        return None

    def add_task(self, description: str, total: float, **_: Any) -> int:
        self.totals.append(total)
        return 0

    def update(self, task: int, *, total: float | None = None, advance: int = 0, **_: Any) -> None:
        if total is not None:
            self.totals.append(total)
        self.completed += advance


def _chunk_order(chunks: list[list[str]], p: int, seed: int) -> list[str]:
    out = []
    for k, chunk in enumerate(chunks):
        rng = np.random.default_rng([seed, p] if k == 0 else [seed, p, k])
        out += [chunk[i] for i in rng.permutation(len(chunk))]
    return out


def test_chunks_are_shuffled_on_their_own_and_a_resume_cuts_them_the_same_way(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(collect, "SHUFFLE_CHUNK", 8)
    db, n, seed = tmp_path / "c.db", 30, 2
    kw = dict(setting="tiny", n=n, seed=seed, reference_every=0, passes=2, progress=False)
    archs = [a.key() for a in sample_architectures(ToySpace(), n, seed)]
    chunks = [archs[i: i + 8] for i in range(0, n, 8)]
    space = RecordingSpace()
    with pytest.raises(KeyboardInterrupt):  # killed in pass 2, three visits into its second chunk
        run_campaign(db, space=space, measurer=Interrupted(stop_after=n + 11), **kw)
    assert space.built == (_chunk_order(chunks, 1, seed) + _chunk_order(chunks, 2, seed))[: n + 12]
    visits = _visits(db)
    resumed = RecordingSpace()
    s = run_campaign(db, space=resumed, measurer=CostModelMeasurer(), **kw)
    left = [[k for k in chunk if visits[k] < 2] for chunk in chunks]
    assert resumed.built == _chunk_order(left, 2, seed)
    assert s.measured == n - 11 and sorted(_visits(db).items()) == sorted((k, 2) for k in archs)


def test_the_bar_total_shrinks_to_the_visits_made_and_the_last_reference_is_taken(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(collect, "SHUFFLE_CHUNK", 8)
    db, n, seed = tmp_path / "c.db", 30, 2
    kw = dict(space=ToySpace(), setting="tiny", seed=seed, reference_every=5)
    archs = sample_architectures(ToySpace(), n, seed)
    # the last chunk's six are already in the group (measured as a given list, 1 + 1 + 1 references)
    run_campaign(db, measurer=CostModelMeasurer(), n=6, archs=archs[24:], progress=False, **kw)
    bar = _Bar()
    monkeypatch.setattr(collect, "make_progress", lambda unit: bar)
    s = run_campaign(db, measurer=CostModelMeasurer(), n=n, progress=True, **kw)
    assert s.measured == 24 and s.already_present == 6 and s.group_count == 30
    assert bar.totals[0] == 30  # an upper bound until the last chunk is seen ...
    assert bar.totals[-1] == bar.completed == 24  # ... then exact
    with CostDatabase(db) as cdb:  # baseline, after 5, 10, 15, 20, and after the last (24)
        assert len(cdb.references(cdb.groups()[0], campaign=s.campaign)) == 6
