"""Fitted baselines on encodings: ridge, XGBoost, gradient boosting, random forest.

Like the LPM, each learns from the encoding or, with ``inputs="op-counts"``,
from the space's per-operation counts (:meth:`CostPredictor.map_inputs`).

Files stay code-free: ridge stores its coefficients; XGBoost stores its own
JSON model (``Booster.save_raw("json")``) as bytes; the scikit-learn tree
ensembles are exported to plain node arrays (children, feature, threshold,
leaf value) and always predict through :func:`predict_trees`, right after
fitting as after loading, so a loaded file predicts exactly what the fitted
model did.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import torch
from pydantic import Field

from nascost.errors import NascostError
from nascost.predict import CostPredictor, FittedOptions


def _xy(x: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
    xa = torch.as_tensor(x).detach().cpu().numpy().astype(np.float64)
    ya = torch.as_tensor(y).detach().cpu().numpy().astype(np.float64).reshape(-1)
    if xa.ndim != 2 or xa.shape[0] != ya.shape[0] or xa.shape[0] < 2:
        raise NascostError(f"fitting needs [N, D] encodings and N costs (N >= 2), got {xa.shape} and {ya.shape}")
    return xa, ya


def _x(x: Any, dim: int, name: str) -> np.ndarray:
    xa = torch.as_tensor(x).detach().cpu().numpy()
    if xa.ndim == 1:
        xa = xa[None, :]
    if xa.shape[-1] != dim:
        raise NascostError(f"{name} expects {dim}-wide encodings, got {xa.shape[-1]}")
    return xa


class Ridge(CostPredictor):
    """Ridge regression on the encoding: a linear (additive) cost model, differentiable."""

    name = "ridge"
    differentiable = True
    additive = True

    class Options(FittedOptions):
        alpha: float = Field(default=1.0, ge=0, description="L2 penalty of scikit-learn's Ridge")

    def __init__(self, options: Any = None, **kwargs: Any) -> None:
        super().__init__(options, **kwargs)
        self.coef: torch.Tensor | None = None
        self.intercept = 0.0

    def fit(self, x: torch.Tensor, y: torch.Tensor, space: Any = None, **_: Any) -> Ridge:
        from sklearn.linear_model import Ridge as SkRidge

        xa, ya = _xy(self.map_inputs(x, space), y)
        model = SkRidge(alpha=self.options.alpha).fit(xa, ya)
        self.coef = torch.as_tensor(model.coef_, dtype=torch.float64)
        self.intercept = float(model.intercept_)
        return self

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        if self.coef is None:
            raise NascostError("ridge predictor is not fitted")
        x = self.map_inputs(torch.as_tensor(x))
        if x.shape[-1] != self.coef.shape[0]:
            raise NascostError(f"ridge expects {self.coef.shape[0]}-wide encodings, got {x.shape[-1]}")
        coef = self.coef.to(device=x.device, dtype=x.dtype if x.is_floating_point() else torch.float64)
        return x.to(coef.dtype) @ coef + self.intercept

    def get_state(self) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
        if self.coef is None:
            raise NascostError("ridge predictor is not fitted; nothing to save")
        return {"intercept": self.intercept}, {"coef": self.coef}

    def set_state(self, state: dict[str, Any], tensors: dict[str, torch.Tensor]) -> None:
        self.intercept = float(state["intercept"])
        self.coef = tensors["coef"].to(torch.float64)


class XGBoost(CostPredictor):
    """Gradient-boosted trees (XGBoost) on the encoding; saved in XGBoost's JSON model format."""

    name = "xgboost"

    class Options(FittedOptions):
        n_estimators: int = Field(default=500, gt=0)
        max_depth: int = Field(default=6, gt=0)
        learning_rate: float = Field(default=0.05, gt=0)
        subsample: float = Field(default=0.8, gt=0, le=1)
        colsample_bytree: float = Field(default=0.8, gt=0, le=1)
        n_jobs: int = Field(default=1, gt=0, description="threads (1: best on a shared machine)")
        seed: int = 0

    def __init__(self, options: Any = None, **kwargs: Any) -> None:
        super().__init__(options, **kwargs)
        self.booster: Any = None
        self.dim = 0

    def fit(self, x: torch.Tensor, y: torch.Tensor, space: Any = None, **_: Any) -> XGBoost:
        import xgboost as xgb

        xa, ya = _xy(self.map_inputs(x, space), y)
        o = self.options
        model = xgb.XGBRegressor(
            n_estimators=o.n_estimators, max_depth=o.max_depth, learning_rate=o.learning_rate,
            subsample=o.subsample, colsample_bytree=o.colsample_bytree, n_jobs=o.n_jobs,
            random_state=o.seed, tree_method="hist",
        )
        model.fit(xa, ya)
        self.booster = model.get_booster()
        self.dim = xa.shape[1]
        return self

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        if self.booster is None:
            raise NascostError("xgboost predictor is not fitted")
        xa = _x(self.map_inputs(x), self.dim, self.name).astype(np.float32)
        return torch.as_tensor(np.asarray(self.booster.inplace_predict(xa), dtype=np.float64))

    def get_state(self) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
        if self.booster is None:
            raise NascostError("xgboost predictor is not fitted; nothing to save")
        raw = bytes(self.booster.save_raw(raw_format="json"))
        return {"dim": self.dim}, {"model_json": torch.frombuffer(bytearray(raw), dtype=torch.uint8)}

    def set_state(self, state: dict[str, Any], tensors: dict[str, torch.Tensor]) -> None:
        import xgboost as xgb

        raw = tensors["model_json"].numpy().tobytes()
        try:
            json.loads(raw)
            booster = xgb.Booster()
            booster.load_model(bytearray(raw))
        except Exception as exc:
            raise NascostError(f"xgboost model in the predictor file is damaged: {exc}") from None
        self.booster = booster
        self.dim = int(state["dim"])


# --- scikit-learn tree ensembles as plain arrays ---------------------------------------


def export_trees(trees: list[Any]) -> dict[str, np.ndarray]:
    """Concatenate fitted sklearn trees into global node arrays (children re-indexed)."""
    left, right, feat, thr, val, roots = [], [], [], [], [], []
    offset = 0
    for t in trees:
        tr = t.tree_
        n = tr.node_count
        cl, cr = tr.children_left.astype(np.int64), tr.children_right.astype(np.int64)
        left.append(np.where(cl >= 0, cl + offset, -1))
        right.append(np.where(cr >= 0, cr + offset, -1))
        feat.append(np.maximum(tr.feature.astype(np.int64), 0))
        thr.append(tr.threshold.astype(np.float64))
        val.append(tr.value[:, 0, 0].astype(np.float64))
        roots.append(offset)
        offset += n
    return {
        "left": np.concatenate(left), "right": np.concatenate(right), "feature": np.concatenate(feat),
        "threshold": np.concatenate(thr), "value": np.concatenate(val), "roots": np.asarray(roots, np.int64),
    }


def predict_trees(arrays: dict[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    """``[N, T]`` leaf values of every tree for every row; splits as sklearn: ``x[f] <= threshold`` goes left.

    sklearn compares float32 features with float64 thresholds; so does this.
    """
    x = np.asarray(x, dtype=np.float32)
    left, right, feat, thr = arrays["left"], arrays["right"], arrays["feature"], arrays["threshold"]
    n, t = x.shape[0], arrays["roots"].size
    node = np.broadcast_to(arrays["roots"], (n, t)).reshape(-1).copy()
    row = np.repeat(np.arange(n), t)
    active = np.arange(n * t)
    while active.size:
        # only (row, tree) pairs still at an internal node move on: work follows path lengths
        cur = node[active]
        keep = left[cur] >= 0
        active, cur = active[keep], cur[keep]
        go_left = x[row[active], feat[cur]] <= thr[cur]
        node[active] = np.where(go_left, left[cur], right[cur])
    node = node.reshape(n, t)
    return arrays["value"][node]


class _TreeEnsemble(CostPredictor):
    """Shared code of the tree ensembles: export after fit, predict from arrays, save arrays."""

    def __init__(self, options: Any = None, **kwargs: Any) -> None:
        super().__init__(options, **kwargs)
        self.arrays: dict[str, np.ndarray] | None = None
        self.base = 0.0
        self.scale = 1.0
        self.combine = "mean"
        self.dim = 0

    def _make(self) -> Any:
        raise NotImplementedError

    def _trees(self, model: Any) -> list[Any]:
        raise NotImplementedError

    def fit(self, x: torch.Tensor, y: torch.Tensor, space: Any = None, **_: Any) -> _TreeEnsemble:
        xa, ya = _xy(self.map_inputs(x, space), y)
        model = self._make().fit(xa, ya)
        self.arrays = export_trees(self._trees(model))
        self._set_combination(model)
        self.dim = xa.shape[1]
        mine = self._predict_np(xa[: min(200, len(xa))])
        theirs = model.predict(xa[: min(200, len(xa))])
        if not np.allclose(mine, theirs, rtol=1e-6, atol=1e-9 * max(1.0, float(np.abs(ya).max()))):
            raise NascostError(f"{self.name}: exported trees disagree with scikit-learn (unsupported version?)")
        return self

    def _set_combination(self, model: Any) -> None:
        raise NotImplementedError

    def _predict_np(self, xa: np.ndarray) -> np.ndarray:
        assert self.arrays is not None
        leaves = predict_trees(self.arrays, xa)
        agg = leaves.mean(axis=1) if self.combine == "mean" else leaves.sum(axis=1)
        return self.base + self.scale * agg

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        if self.arrays is None:
            raise NascostError(f"{self.name} predictor is not fitted")
        return torch.as_tensor(self._predict_np(_x(self.map_inputs(x), self.dim, self.name)))

    def get_state(self) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
        if self.arrays is None:
            raise NascostError(f"{self.name} predictor is not fitted; nothing to save")
        state = {"base": self.base, "scale": self.scale, "combine": self.combine, "dim": self.dim}
        return state, {k: torch.from_numpy(v.copy()) for k, v in self.arrays.items()}

    def set_state(self, state: dict[str, Any], tensors: dict[str, torch.Tensor]) -> None:
        need = {"left", "right", "feature", "threshold", "value", "roots"}
        if set(tensors) != need:
            raise NascostError(f"{self.name} predictor file lacks tree arrays")
        self.arrays = {k: tensors[k].numpy() for k in need}
        n = self.arrays["value"].size
        for k in ("left", "right"):
            if self.arrays[k].max(initial=-1) >= n:
                raise NascostError(f"{self.name} predictor file has damaged tree arrays")
        self.base, self.scale = float(state["base"]), float(state["scale"])
        self.combine, self.dim = str(state["combine"]), int(state["dim"])


class RandomForest(_TreeEnsemble):
    """scikit-learn random forest on the encoding; trees exported to arrays."""

    name = "random-forest"

    class Options(FittedOptions):
        n_estimators: int = Field(default=200, gt=0)
        max_depth: int | None = Field(default=None, gt=0)
        min_samples_leaf: int = Field(default=1, gt=0)
        max_features: float = Field(default=0.5, gt=0, le=1, description="share of features per split")
        n_jobs: int = Field(default=1, gt=0, description="threads (1: best on a shared machine)")
        seed: int = 0

    def _make(self) -> Any:
        from sklearn.ensemble import RandomForestRegressor

        o = self.options
        return RandomForestRegressor(
            n_estimators=o.n_estimators, max_depth=o.max_depth, min_samples_leaf=o.min_samples_leaf,
            max_features=o.max_features, n_jobs=o.n_jobs, random_state=o.seed,
        )

    def _trees(self, model: Any) -> list[Any]:
        return list(model.estimators_)

    def _set_combination(self, model: Any) -> None:
        self.base, self.scale, self.combine = 0.0, 1.0, "mean"


class GradientBoosting(_TreeEnsemble):
    """scikit-learn gradient-boosted regression trees on the encoding; trees exported to arrays."""

    name = "gbrt"

    class Options(FittedOptions):
        n_estimators: int = Field(default=300, gt=0)
        max_depth: int = Field(default=3, gt=0)
        learning_rate: float = Field(default=0.1, gt=0)
        subsample: float = Field(default=1.0, gt=0, le=1)
        seed: int = 0

    def _make(self) -> Any:
        from sklearn.ensemble import GradientBoostingRegressor

        o = self.options
        return GradientBoostingRegressor(
            n_estimators=o.n_estimators, max_depth=o.max_depth, learning_rate=o.learning_rate,
            subsample=o.subsample, random_state=o.seed,
        )

    def _trees(self, model: Any) -> list[Any]:
        return [est[0] for est in model.estimators_]

    def _set_combination(self, model: Any) -> None:
        init = model.init_
        if init == "zero":
            base = 0.0
        else:
            base = float(np.ravel(init.constant_)[0])
        self.base, self.scale, self.combine = base, float(model.learning_rate), "sum"
