"""Costs for a new device from a handful of its measurements plus full campaigns of other devices.

``nascost fit --transfer-from SOURCES`` fits a cost for a *target* device from
its few rows (ten, say) and the rows of *source* devices in the same space:

- a source is a database (every group of it but the target's), one device of a
  database (``DB:DEVICE``, a name or fingerprint prefix), or a cost-store name
  (a fitted predictor, scored on architectures of the space);
- a predictor that ``transfers`` (the built-in ``transfer``) is fitted with
  ``fit(x, y, sources=[Source, ...])``; the result is an ordinary predictor file
  that records its sources in its metadata;
- :func:`leave_one_out` is the honest figure of a fit on ten rows (each row
  predicted by the fit on the other nine), and :func:`source_agreement` says
  when the target looks unlike every source;
- :func:`plan_architectures` chooses which ``K`` architectures to measure on the
  target (``nascost collect --plan transfer``): a D-optimal design in the space
  of the sources' predictions, so ten measurements pin the target down as well
  as ten can.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from nascost import plugins
from nascost.data import CostData, CostDatabase, GroupInfo
from nascost.errors import NascostError
from nascost.predict import regression_metrics
from nascost.records import Architecture, DeviceInfo

#: Architectures a cost-store source is scored on (all of them in spaces this small).
POOL = 4000
ENUMERATE_UP_TO = 20_000


@dataclass
class Source:
    """The rows of one source device: encodings, costs, and where they came from."""

    name: str
    x: torch.Tensor
    y: torch.Tensor
    unit: str
    device: DeviceInfo | None = None
    origin: dict[str, Any] = field(default_factory=dict)

    def fingerprint(self) -> str:
        """A hash of the rows (what a cached source model depends on)."""
        h = hashlib.sha256(self.name.encode())
        h.update(self.x.detach().to(torch.float32).contiguous().numpy().tobytes())
        h.update(self.y.detach().to(torch.float64).contiguous().numpy().tobytes())
        return h.hexdigest()[:16]

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "rows": len(self.y), "unit": self.unit,
                "device": self.device.label() if self.device else None, **self.origin}


def split_sources(text: str | list[str] | tuple[str, ...]) -> list[str]:
    """``"a.db:pixel3,b.db,gpu-lpm"`` (or a list of such strings) -> one item per source."""
    items = [text] if isinstance(text, str) else list(text)
    out = [p.strip() for item in items for p in item.split(",") if p.strip()]
    if not out:
        raise NascostError("--transfer-from is empty: name databases (DB or DB:DEVICE) or costs to transfer from")
    return out


def _same_group(g: GroupInfo, data: CostData | None) -> bool:
    return data is not None and (g.measurer == data.measurer and g.setting.key() == data.setting.key()
                                 and g.batch_size == data.batch_size
                                 and g.device.fingerprint == data.device.fingerprint)


def _group_source(db: CostDatabase, g: GroupInfo, space: Any, path: Path) -> Source:
    data = db.query(space=space.name, measurer=g.measurer, setting=g.setting.key(), device=g.device.fingerprint,
                    batch_size=g.batch_size)
    if len(data) == 0:
        raise NascostError(f"source {g.label()} in {str(path)!r} has no usable rows")
    data.check_encoding(space, what=f"the rows of source {g.label()} in {str(path)!r}")
    name = f"{path.name}:{g.device.name or g.device.fingerprint}"
    if g.measurer != "table":
        name += f"/{g.measurer}/{g.setting.name}/b{g.batch_size}"
    stored = data.encodings
    if stored is not None and stored.ndim == 2 and stored.shape == (len(data), space.encoding_dim):
        x = torch.from_numpy(stored).to(torch.float32)  # as collected: no re-encoding of thousands of rows
    else:
        x = space.encode(data.archs).to(torch.float32)
    return Source(name=name, x=x, y=torch.as_tensor(data.values),
                  unit=data.unit, device=data.device,
                  origin={"db": str(path), "measurer": g.measurer, "setting": g.setting.name, "batch_size": g.batch_size,
                          "device_fingerprint": g.device.fingerprint})


def load_sources(spec: str | list[str] | tuple[str, ...], space: Any, *, target: CostData | None = None,
                 seed: int = 0) -> list[Source]:
    """Resolve ``--transfer-from`` into sources; the target's own group is never one of them."""
    from nascost.cost import load_cost

    out: list[Source] = []
    for item in split_sources(spec):
        path, device = Path(item), None
        if not path.is_file() and ":" in item and Path(item.rsplit(":", 1)[0]).is_file():
            head, device = item.rsplit(":", 1)
            path = Path(head)
        if path.is_file() and path.suffix not in (".nascost", ".pt"):
            with CostDatabase(path) as db:
                db.check_space(space.name)
                groups = [g for g in db.groups() if g.space == space.name and not _same_group(g, target)]
                if device is not None:
                    groups = [g for g in groups if g.device.fingerprint.startswith(device) or g.device.name == device]
                    if not groups:
                        have = ", ".join(sorted({g.device.name or g.device.fingerprint for g in db.groups()}))
                        raise NascostError(f"source {item!r}: no device {device!r} in {str(path)!r} besides the "
                                           f"target (devices: {have})")
                if not groups:
                    raise NascostError(f"source {item!r}: {str(path)!r} holds no rows of space {space.name!r} "
                                       "besides the target's")
                out += [_group_source(db, g, space, path) for g in groups]
            continue
        if path.suffix in (".nascost", ".pt") and not path.is_file():
            raise NascostError(f"source {item!r} does not exist")
        # a fitted predictor: its predictions on architectures of the space are the source's rows
        pred, meta = load_cost(item, space=space)
        archs = pool_architectures(space, seed)
        x = space.encode(archs).to(torch.float32)
        with torch.no_grad():
            y = torch.cat([torch.as_tensor(pred.predict(x[i: i + 2048])).reshape(-1) for i in range(0, len(x), 2048)])
        out.append(Source(name=f"cost:{item}", x=x, y=y.to(torch.float64), unit=meta.unit, device=meta.device,
                          origin={"cost": item, "predictor": meta.predictor, "setting": meta.setting.name if meta.setting else None}))
    names = [s.name for s in out]
    dupes = {n for n in names if names.count(n) > 1}
    if dupes:
        raise NascostError(f"sources named twice: {', '.join(sorted(dupes))}")
    return out


def pool_architectures(space: Any, seed: int = 0, size: int = POOL) -> list[Architecture]:
    """Every architecture of a small space, else ``size`` sampled ones (seeded)."""
    n = space.num_architectures()
    if n is not None and n <= ENUMERATE_UP_TO:
        return list(space.enumerate())
    from nascost.collect import sample_architectures

    return sample_architectures(space, size, seed)


# --- the fit's own honesty ---------------------------------------------------------------


def leave_one_out(predictor: Any, x: torch.Tensor, y: torch.Tensor) -> np.ndarray | None:
    """Each target row predicted by the predictor refitted without it (None if it cannot refit cheaply)."""
    fn = getattr(predictor, "leave_one_out", None)
    if fn is None or len(y) < 3:
        return None
    return np.asarray(fn(x, y), dtype=np.float64)


def source_agreement(predictor: Any, x: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
    """Spearman of each source's prediction with the target's rows (how alike the devices rank)."""
    fn = getattr(predictor, "source_predictions", None)
    if fn is None or len(y) < 3:
        return {}
    from scipy import stats

    preds = fn(x)
    out = {}
    for name, p in preds.items():
        rho = stats.spearmanr(np.asarray(p), y.numpy()).statistic if np.ptp(np.asarray(p)) > 0 else float("nan")
        out[name] = float(rho)
    return out


#: Below this, the target device ranks architectures unlike every source.
UNLIKE = 0.6


def transfer_report(predictor: Any, x: torch.Tensor, y: torch.Tensor) -> dict[str, Any]:
    """Leave-one-out agreement on the target rows, agreement with each source, and a warning if due."""
    report: dict[str, Any] = {"target_rows": len(y)}
    loo = leave_one_out(predictor, x, y)
    if loo is not None:
        m = regression_metrics(y.numpy(), loo)
        report["leave_one_out"] = {k: v for k, v in m.items() if k in ("mape", "kendall_tau", "spearman", "n")}
    agree = source_agreement(predictor, x, y)
    if agree:
        best = max(agree, key=lambda k: agree[k] if agree[k] == agree[k] else -2)
        report["source_agreement"] = agree
        report["closest_source"] = {"name": best, "spearman": agree[best]}
    warnings = []
    if agree and not max((v for v in agree.values() if v == v), default=-1.0) >= UNLIKE:
        warnings.append(
            f"the target ranks its {len(y)} rows unlike every source (best Spearman "
            f"{max((v for v in agree.values() if v == v), default=float('nan')):.2f} < {UNLIKE}): the transfer "
            "has little to lean on; measure more rows (50-100) or add sources of the target's kind"
        )
    loo_rho = (report.get("leave_one_out") or {}).get("spearman")
    if loo_rho is not None and loo_rho < UNLIKE:
        warnings.append(f"leave-one-out Spearman {loo_rho:.2f} on the target rows: too few or too noisy rows to "
                        "trust this cost; measure more (nascost collect --plan transfer --n 20)")
    report["warnings"] = warnings
    return report


# --- which architectures to measure ---------------------------------------------------------


def d_optimal(features: np.ndarray, k: int, *, exclude: set[int] | None = None, eps: float = 1e-3) -> list[int]:
    """Greedy D-optimal design: ``k`` rows maximising ``det(F^T F + eps I)``, one at a time.

    Each step adds the row with the largest ``f^T M^-1 f`` (the leverage it would have),
    which maximises the determinant's growth: the rows a linear head on these
    features learns most from.
    """
    n, d = features.shape
    chosen: list[int] = []
    taken = np.zeros(n, dtype=bool)
    for i in exclude or ():
        taken[i] = True
    M = eps * np.eye(d)
    for _ in range(min(k, n - int(taken.sum()))):
        Minv = np.linalg.inv(M)
        gain = np.einsum("ij,jk,ik->i", features, Minv, features)
        gain[taken] = -np.inf
        i = int(np.argmax(gain))
        chosen.append(i)
        taken[i] = True
        M += np.outer(features[i], features[i])
    return chosen


def plan_architectures(space: Any, sources: list[Source], k: int, *, predictor: str = "transfer",
                       options: dict[str, Any] | None = None, seed: int = 0, components: int = 5,
                       progress: Any = None, exclude: set[str] | None = None,
                       candidates: list[Architecture] | None = None) -> list[Architecture]:
    """The ``k`` architectures to measure on a new device, for a transfer from ``sources``.

    The sources' model predicts every candidate (all architectures of a small
    space, else a seeded sample); the design is D-optimal on the intercept and the
    first ``components`` principal components of those predictions, the
    directions in which devices differ. Deterministic for the same sources and seed.
    ``exclude`` holds keys of architectures not to choose (a benchmark's test set);
    ``candidates`` replaces the pool (e.g. architectures already measured elsewhere).
    """
    if k < 1:
        raise NascostError(f"--n must be at least 1 (got {k})")
    model = plugins.get_predictor(predictor, options)
    if not getattr(model, "transfers", False):
        raise NascostError(f"predictor {predictor!r} does not transfer between devices (use 'transfer')")
    if candidates is None:
        candidates = pool_architectures(space, seed)
    x = space.encode(candidates).to(torch.float32)
    feats = model.source_features(x, sources=sources, space=space, progress=progress)
    f = feats - feats.mean(0)
    u, s, _ = np.linalg.svd(f, full_matrices=False)
    c = min(components, f.shape[1])
    pcs = u[:, :c] * s[:c]
    pcs = pcs / np.maximum(pcs.std(0), 1e-12)
    design = np.hstack([np.ones((len(pcs), 1)), pcs])
    skip = {i for i, a in enumerate(candidates) if a.key() in exclude} if exclude else None
    return [candidates[i] for i in d_optimal(design, k, exclude=skip)]


def sources_metadata(sources: list[Source]) -> list[dict[str, Any]]:
    return [s.describe() for s in sources]


def sources_key(sources: list[Source], extra: dict[str, Any]) -> str:
    """A stable hash of the sources' rows and the options that shape a source model."""
    h = hashlib.sha256(json.dumps(extra, sort_keys=True).encode())
    for s in sorted(sources, key=lambda s: s.name):
        h.update(s.fingerprint().encode())
    return h.hexdigest()[:20]


def fit_transfer(target: CostData, sources_spec: str | list[str] | tuple[str, ...], *, space: Any,
                 predictor: str = "transfer", options: dict[str, Any] | None = None, progress: Any = None,
                 seed: int = 0, sources: list[Source] | None = None) -> tuple[Any, Any, dict[str, Any]]:
    """Fit a transferring predictor on the target's rows; returns ``(predictor, metadata, report)``.

    The report (also in the metadata's metrics, prefixed ``loo_``) holds the
    leave-one-out agreement on the target rows, each source's agreement with
    them, and warnings when the target looks unlike every source.
    """
    from nascost.predict import make_metadata

    if target.space != space.name:
        raise NascostError(f"the target rows hold architectures of space {target.space!r}, not {space.name!r}")
    if len(target) < 2:
        raise NascostError(f"a transfer needs at least 2 rows of the target device, found {len(target)}; "
                           "measure some with 'nascost collect --plan transfer --transfer-from SOURCES --n 10'")
    target.check_encoding(space, what="the target rows")
    model = plugins.get_predictor(predictor, options)
    if not getattr(model, "transfers", False):
        raise NascostError(f"predictor {predictor!r} does not transfer between devices; use --predictor transfer")
    if sources is None:
        sources = load_sources(sources_spec, space, target=target, seed=seed)
    x = space.encode(target.archs).to(torch.float32)
    y = torch.as_tensor(target.values, dtype=torch.float64)
    model.fit(x, y, sources=sources, space=space, progress=progress)
    report = transfer_report(model, x, y)
    report["sources"] = sources_metadata(sources)
    metrics = {f"loo_{k}": v for k, v in (report.get("leave_one_out") or {}).items() if k != "n"}
    if "closest_source" in report:
        metrics["closest_source_spearman"] = report["closest_source"]["spearman"]
    meta = make_metadata(
        model, space=space.name, encoding_id=space.encoding_id, encoding_dim=space.encoding_dim,
        space_options=space.option_values(), setting=target.setting, batch_size=target.batch_size,
        device=target.device, measurer=target.measurer,
        unit=target.unit, n_train=len(target), metrics=metrics, reference_latency=target.reference_latency,
        measurer_options=dict(target.measurer_options), sources=sources_metadata(sources),
    )
    return model, meta, report
