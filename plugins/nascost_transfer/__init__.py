"""nascost built-in plugin: ``transfer``, a cost for a new device from ten of its measurements.

Two parts, both differentiable in the encoding:

1. **A source model**: one MLP ``encoding -> S outputs`` fitted on every source
   device at once, output ``s`` the standardised log-cost of source ``s``
   (masked where a source did not measure an architecture). It learns how
   the devices one has measured rank architectures; cached per set of sources
   (``NASCOST_HOME/transfer/``), so planning, fitting and benchmarks share one.
2. **A head for the target**, fitted on its few rows in log space, chosen by
   the option ``method``:

   - ``mixture`` (default, the best measured, see docs/benchmarks.md): the target's
     log-cost as a non-negative combination of the sources' plus an offset
     (non-negative least squares), plus per-operation offsets
     (``SearchSpace.op_count_matrix``) under a ridge penalty that leave-one-out
     chooses, including "none". Devices of one kind rank alike, and a new
     device is most often a blend of known kinds; the constraint keeps ten rows
     from fitting noise with opposite-signed weights, and the offsets catch a
     device whose operations cost in proportions no source has (another
     setting, an accelerator).
   - ``embedding``: the same features with unconstrained weights (ridge, its
     penalty chosen by leave-one-out): a learned device embedding in the basis
     of the sources, HELP's idea of representing a device by how it relates to others.
   - ``ridge``: the closest source (by rank agreement on the rows), scaled, plus a
     per-operation offset (``SearchSpace.op_count_matrix``), ridge: the cheap
     correction every method must beat.
   - ``finetune``: the closest source's network fine-tuned on the rows with a
     prior that keeps it near the source (L2-SP: ``prior * ||theta - theta_0||^2``).

Predictions are ``exp`` of the head, in the target's unit, always positive.
"""

from __future__ import annotations

import itertools
import math
from typing import Annotated, Any, ClassVar, Literal

import numpy as np
import torch
from pydantic import Field

from nascost.base import PluginOptions
from nascost.errors import NascostError
from nascost.hookspecs import hookimpl
from nascost.predict import CostPredictor, ProgressFn

RIDGE_ALPHAS = tuple(float(a) for a in np.logspace(-3, 3, 13))


# --- a small MLP as plain tensors (saved code-free, trained without torch.optim) --------------


def _init_mlp(dims: list[int], gen: torch.Generator) -> list[torch.Tensor]:
    params = []
    for a, b in itertools.pairwise(dims):
        bound = 1.0 / math.sqrt(a)
        params.append((torch.rand(b, a, generator=gen) * 2 - 1) * bound)
        params.append((torch.rand(b, generator=gen) * 2 - 1) * bound)
    return params


def _forward(params: list[torch.Tensor], x: torch.Tensor, upto: int | None = None) -> torch.Tensor:
    """ReLU MLP; ``upto`` stops after that many layers (the body, without the output layer)."""
    h = x
    layers = len(params) // 2 if upto is None else upto
    for k in range(layers):
        h = torch.addmm(params[2 * k + 1], h, params[2 * k].t())
        if k < len(params) // 2 - 1:
            h = torch.relu(h)
    return h


class _Adam:
    """Adam (Kingma & Ba) with foreach ops: a few lines instead of torch.optim's dynamo import."""

    def __init__(self, params: list[torch.Tensor], lr: float, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8) -> None:
        self.params, self.lr, self.betas, self.eps, self.t = params, lr, betas, eps, 0
        self.m = [torch.zeros_like(p) for p in params]
        self.v = [torch.zeros_like(p) for p in params]

    @torch.no_grad()
    def step(self, grads: list[torch.Tensor]) -> None:
        b1, b2 = self.betas
        self.t += 1
        torch._foreach_mul_(self.m, b1)
        torch._foreach_add_(self.m, grads, alpha=1 - b1)
        torch._foreach_mul_(self.v, b2)
        torch._foreach_addcmul_(self.v, grads, grads, value=1 - b2)
        c1, c2 = 1 - b1**self.t, 1 - b2**self.t
        denom = torch._foreach_sqrt(self.v)
        torch._foreach_div_(denom, math.sqrt(c2))
        torch._foreach_add_(denom, self.eps)
        torch._foreach_addcdiv_(self.params, self.m, denom, value=-self.lr / c1)


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    from scipy import stats

    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    return float(stats.spearmanr(a, b).statistic)


def _nnls_head(f: np.ndarray, z: np.ndarray, c: np.ndarray | None = None,
               penalty: float = math.inf) -> tuple[float, np.ndarray, np.ndarray]:
    """``z ~ a + f @ w + c @ b`` with ``w >= 0``, a free offset ``a`` and ``penalty * ||b||^2`` on ``b``.

    Solved as one non-negative least-squares problem: ``a`` and ``b`` split into positive
    and negative parts, the penalty as extra rows. ``penalty=inf`` leaves ``b`` out.
    """
    from scipy.optimize import nnls

    n = len(f)
    cols = [f, np.ones((n, 1)), -np.ones((n, 1))]
    k = 0 if c is None or not math.isfinite(penalty) else c.shape[1]
    if k:
        cols += [c, -c]
    a_mat = np.hstack(cols)
    rhs = z
    if k:
        reg = np.zeros((2 * k, a_mat.shape[1]))
        reg[:, -2 * k:] = math.sqrt(penalty) * np.eye(2 * k)
        a_mat, rhs = np.vstack([a_mat, reg]), np.concatenate([z, np.zeros(2 * k)])
    sol, _ = nnls(a_mat, rhs)
    s = f.shape[1]
    b = sol[s + 2: s + 2 + k] - sol[s + 2 + k:] if k else np.zeros(0 if c is None else c.shape[1])
    return float(sol[s] - sol[s + 1]), sol[:s], b


#: Penalties the mixture's per-operation offsets are chosen among (by leave-one-out); inf: no offsets.
OFFSET_PENALTIES = (math.inf, 30.0, 10.0, 3.0, 1.0, 0.3, 0.1)


def _mixture_head(f: np.ndarray, z: np.ndarray, c: np.ndarray | None) -> tuple[float, np.ndarray, np.ndarray, float]:
    """The mixture with per-operation offsets whose penalty leave-one-out prefers (inf: none)."""
    if c is None or len(z) < 4:
        a, w, b = _nnls_head(f, z)
        return a, w, b, math.inf
    best, best_err = math.inf, math.inf
    for pen in OFFSET_PENALTIES:
        err = 0.0
        for i in range(len(z)):
            keep = np.arange(len(z)) != i
            a, w, b = _nnls_head(f[keep], z[keep], c[keep], pen)
            err += (a + f[i] @ w + (c[i] @ b if len(b) else 0.0) - z[i]) ** 2
        if err < best_err - 1e-12:
            best, best_err = pen, err
    a, w, b = _nnls_head(f, z, c, best)
    return a, w, b, best


def _ridge_head(f: np.ndarray, z: np.ndarray) -> tuple[float, np.ndarray]:
    """Ridge with its penalty chosen by efficient leave-one-out (scikit-learn's RidgeCV)."""
    from sklearn.linear_model import RidgeCV

    m = RidgeCV(alphas=RIDGE_ALPHAS).fit(f, z)
    return float(m.intercept_), np.asarray(m.coef_, dtype=np.float64)


class Transfer(CostPredictor):
    """A cost for a new device from its few rows plus full campaigns of source devices."""

    name = "transfer"
    differentiable = True
    requires_fit = True
    additive = False
    #: fitted with ``fit(x, y, sources=[...])`` (see :mod:`nascost.transfer`)
    transfers: ClassVar[bool] = True

    class Options(PluginOptions):
        method: Literal["mixture", "embedding", "ridge", "finetune"] = Field(
            "mixture", description="how the target's head is fitted (see the plugin's docstring)")
        hidden: list[Annotated[int, Field(ge=1)]] = Field(
            default=[256, 128], description="hidden widths of the source model, each >= 1")
        epochs: int = Field(200, gt=0, description="source-model training epochs (Adam)")
        batch_size: int = Field(256, gt=0)
        lr: float = Field(1e-3, gt=0, description="source-model learning rate")
        finetune_steps: int = Field(300, gt=0, description="finetune: Adam steps on the target rows")
        finetune_lr: float = Field(1e-3, gt=0)
        prior: float = Field(1.0, ge=0, description="finetune: weight of ||theta - theta_source||^2")
        cache: bool = Field(True, description="reuse a source model fitted earlier on the same sources")
        seed: int = 0
        threads: int | None = Field(1, ge=1, description="intra-op threads while fitting (None: torch's setting)")

    def __init__(self, options: Any = None, **kwargs: Any) -> None:
        super().__init__(options, **kwargs)
        self.source_params: list[torch.Tensor] = []
        self.source_names: list[str] = []
        self.input_dim = 0
        self.head: dict[str, torch.Tensor] = {}
        self.best: int = 0
        self.counts_map: torch.Tensor | None = None
        self.tuned: list[torch.Tensor] = []
        self.source_key = ""

    # --- the source model -------------------------------------------------------------------
    def _source_model(self, sources: list[Any], progress: ProgressFn | None) -> None:
        from nascost.cost import user_data_dir
        from nascost.files import torch_save
        from nascost.transfer import sources_key

        if not sources:
            raise NascostError("transfer needs at least one source device (--transfer-from)")
        o = self.options
        dims = {int(s.x.shape[1]) for s in sources}
        if len(dims) != 1:
            raise NascostError(f"the sources encode architectures with different widths {sorted(dims)}")
        for s in sources:
            if bool((s.y <= 0).any()):
                raise NascostError(f"source {s.name}: transfer works on positive costs (log scale)")
        key = sources_key(sources, {"hidden": o.hidden, "epochs": o.epochs, "batch_size": o.batch_size,
                                    "lr": o.lr, "seed": o.seed, "version": 1})
        path = user_data_dir() / "transfer" / f"{key}.pt"
        if o.cache and path.is_file():
            try:
                state = torch.load(path, map_location="cpu", weights_only=True)
                if state.get("key") == key:
                    self.source_params = list(state["params"])
                    self.source_names = [s.name for s in sources]
                    self.input_dim = int(state["input_dim"])
                    self.source_key = key
                    return
            except Exception:  # a damaged cache file is refitted, never trusted
                pass
        self._train_sources(sources, progress)
        self.source_key = key
        if o.cache:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                torch_save({"key": key, "params": self.source_params, "input_dim": self.input_dim}, path)
            except OSError:
                pass  # no cache is slower, not wrong

    def _train_sources(self, sources: list[Any], progress: ProgressFn | None) -> None:
        o = self.options
        index: dict[bytes, int] = {}
        rows: list[torch.Tensor] = []
        for s in sources:
            for r in s.x.to(torch.float32):
                k = r.numpy().tobytes()
                if k not in index:
                    index[k] = len(rows)
                    rows.append(r)
        x = torch.stack(rows)
        target = torch.full((len(rows), len(sources)), float("nan"))
        for j, s in enumerate(sources):
            z = torch.log(s.y.to(torch.float64))
            z = ((z - z.mean()) / (z.std() if len(z) > 1 and float(z.std()) > 0 else 1.0)).to(torch.float32)
            for r, v in zip(s.x.to(torch.float32), z, strict=True):
                target[index[r.numpy().tobytes()], j] = v
        mask = ~torch.isnan(target)
        target = torch.nan_to_num(target)
        gen = torch.Generator().manual_seed(o.seed)
        self.input_dim = int(x.shape[1])
        params = [p.requires_grad_(True) for p in _init_mlp([self.input_dim, *o.hidden, len(sources)], gen)]
        opt = _Adam(params, o.lr)
        n, bs = len(x), min(o.batch_size, len(x))
        for epoch in range(o.epochs):
            perm = torch.randperm(n, generator=gen)
            total = 0.0
            for start in range(0, n, bs):
                idx = perm[start: start + bs]
                out = _forward(params, x[idx])
                err = (out - target[idx]) * mask[idx]
                loss = err.pow(2).sum() / mask[idx].sum().clamp_min(1)
                grads = torch.autograd.grad(loss, params)
                opt.step(list(grads))
                total += float(loss.detach()) * len(idx)
            if progress:
                progress(epoch + 1, o.epochs, f"source model loss {total / n:.4g}")
        self.source_params = [p.detach().clone() for p in params]
        self.source_names = [s.name for s in sources]

    def source_features(self, x: torch.Tensor, *, sources: list[Any] | None = None, space: Any = None,
                        progress: ProgressFn | None = None) -> np.ndarray:
        """``[N, S]``: the sources' standardised log-costs of ``x`` (fits the source model if needed)."""
        if sources is not None:
            with _threads(self.options.threads):
                self._source_model(sources, progress)
        if not self.source_params:
            raise NascostError("transfer predictor has no source model; fit it with sources first")
        with torch.no_grad():
            return _forward(self.source_params, torch.as_tensor(x, dtype=torch.float32)).double().numpy()

    def source_predictions(self, x: torch.Tensor) -> dict[str, np.ndarray]:
        f = self.source_features(x)
        return {name: f[:, j] for j, name in enumerate(self.source_names)}

    # --- the head -------------------------------------------------------------------------------
    def _counts(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.as_tensor(x, dtype=torch.float32)
        return x @ self.counts_map if self.counts_map is not None else x

    def _fit_head(self, x: torch.Tensor, z: np.ndarray) -> dict[str, torch.Tensor]:
        method = self.options.method
        f = self.source_features(x)
        if method == "mixture":
            c = self._counts(x).double().numpy() if self.counts_map is not None else None
            a, w, b, pen = _mixture_head(f, z, c)
            return {"a": torch.tensor(a, dtype=torch.float64), "w": torch.as_tensor(w),
                    "b": torch.as_tensor(b, dtype=torch.float64), "penalty": torch.tensor(pen)}
        if method == "embedding":
            a, w = _ridge_head(f, z)
            return {"a": torch.tensor(a, dtype=torch.float64), "w": torch.as_tensor(w)}
        rho = [_spearman(f[:, j], z) for j in range(f.shape[1])]
        best = int(np.nanargmax(rho)) if not all(np.isnan(rho)) else 0
        if method == "ridge":
            g = np.hstack([f[:, [best]], self._counts(x).double().numpy()])
            a, w = _ridge_head(g, z)
            return {"a": torch.tensor(a, dtype=torch.float64), "w": torch.as_tensor(w),
                    "best": torch.tensor(best)}
        return self._finetune(x, z, best)

    def _finetune(self, x: torch.Tensor, z: np.ndarray, best: int) -> dict[str, torch.Tensor]:
        o = self.options
        layers = len(self.source_params) // 2
        theta0 = [p.clone() for p in self.source_params[:-2]]
        theta0 += [self.source_params[-2][best: best + 1].clone(), self.source_params[-1][best: best + 1].clone()]
        xt = torch.as_tensor(x, dtype=torch.float32)
        zt = torch.as_tensor(z, dtype=torch.float32)
        with torch.no_grad():
            s = _forward(theta0, xt).squeeze(-1).double().numpy()
        slope, icpt = np.polyfit(s, z, 1) if np.ptp(s) > 0 else (1.0, float(np.mean(z) - np.mean(s)))
        params = [p.clone().requires_grad_(True) for p in theta0]
        ac = torch.tensor([icpt, slope], dtype=torch.float32, requires_grad=True)
        opt = _Adam([*params, ac], o.finetune_lr)
        for _ in range(o.finetune_steps):
            pred = ac[0] + ac[1] * _forward(params, xt, upto=layers).squeeze(-1)
            loss = (pred - zt).pow(2).mean() + o.prior * sum(((p - q).pow(2).sum() for p, q in zip(params, theta0, strict=True)))
            grads = torch.autograd.grad(loss, [*params, ac])
            opt.step(list(grads))
        head = {f"tuned.{i}": p.detach().clone() for i, p in enumerate(params)}
        head["ac"] = ac.detach().clone()
        head["best"] = torch.tensor(best)
        return head

    def _head_out(self, head: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        """The head's log-cost, differentiable in ``x`` (float64 where the head is)."""
        method = self.options.method
        x = torch.as_tensor(x)
        if method == "finetune":
            tuned = [head[f"tuned.{i}"] for i in range(len(self.source_params))]
            out = _forward(tuned, x.to(torch.float32)).squeeze(-1)
            return (head["ac"][0] + head["ac"][1] * out).to(torch.float64)
        f = _forward(self.source_params, x.to(torch.float32)).to(torch.float64)
        if method == "ridge":
            f = torch.cat([f[:, int(head["best"]): int(head["best"]) + 1], self._counts(x).to(torch.float64)], dim=1)
        out = head["a"] + f @ head["w"]
        if method == "mixture" and "b" in head and head["b"].numel():
            out = out + self._counts(x).to(torch.float64) @ head["b"]
        return out

    # --- the predictor interface ---------------------------------------------------------------
    def fit(self, x: torch.Tensor, y: torch.Tensor, sources: list[Any] | None = None, space: Any = None,
            progress: ProgressFn | None = None, **_: Any) -> Transfer:
        """Fit the head on the target rows ``(x, y)``; ``sources`` are :class:`nascost.transfer.Source`."""
        if sources is None:
            raise NascostError("the transfer predictor is fitted from source devices: "
                               "nascost fit --transfer-from SOURCES (see docs/tutorial-add-your-hardware.md)")
        y = torch.as_tensor(y, dtype=torch.float64).reshape(-1)
        if len(y) < 2:
            raise NascostError(f"transfer needs at least 2 target rows, got {len(y)}")
        if bool((y <= 0).any()):
            raise NascostError("transfer works on positive costs (it fits log-costs)")
        with _threads(self.options.threads):
            self._source_model(sources, progress)
            self.counts_map = None
            if self.options.method in ("ridge", "mixture") and space is not None and hasattr(space, "op_count_matrix"):
                m = space.op_count_matrix()
                self.counts_map = None if m is None else torch.as_tensor(m, dtype=torch.float32)
            self.head = self._fit_head(torch.as_tensor(x, dtype=torch.float32), torch.log(y).numpy())
        return self

    def leave_one_out(self, x: torch.Tensor, y: torch.Tensor) -> np.ndarray:
        """Each target row predicted by a head fitted on the others (the source model kept)."""
        x = torch.as_tensor(x, dtype=torch.float32)
        z = torch.log(torch.as_tensor(y, dtype=torch.float64)).numpy()
        out = np.empty(len(z))
        with _threads(self.options.threads):
            for i in range(len(z)):
                keep = np.arange(len(z)) != i
                head = self._fit_head(x[keep], z[keep])
                with torch.no_grad():
                    out[i] = float(torch.exp(self._head_out(head, x[i: i + 1]))[0])
        return out

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        if not self.head:
            raise NascostError("transfer predictor is not fitted")
        x = torch.as_tensor(x)
        if x.ndim == 1:
            x = x.unsqueeze(0)
        if x.shape[-1] != self.input_dim:
            raise NascostError(f"transfer expects {self.input_dim}-wide encodings, got {x.shape[-1]}")
        return torch.exp(self._head_out(self.head, x))

    def get_state(self) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
        if not self.head:
            raise NascostError("transfer predictor is not fitted; nothing to save")
        tensors = {f"source.{i}": p for i, p in enumerate(self.source_params)}
        tensors.update({f"head.{k}": v for k, v in self.head.items()})
        if self.counts_map is not None:
            tensors["counts_map"] = self.counts_map
        state = {"sources": self.source_names, "input_dim": self.input_dim, "layers": len(self.source_params),
                 "source_key": self.source_key}
        return state, tensors

    def set_state(self, state: dict[str, Any], tensors: dict[str, torch.Tensor]) -> None:
        try:
            self.source_names = list(state["sources"])
            self.input_dim = int(state["input_dim"])
            self.source_key = str(state.get("source_key", ""))
            self.source_params = [tensors[f"source.{i}"] for i in range(int(state["layers"]))]
            self.head = {k.removeprefix("head."): v for k, v in tensors.items() if k.startswith("head.")}
            self.counts_map = tensors.get("counts_map")
        except (KeyError, TypeError, ValueError) as exc:
            raise NascostError(f"transfer predictor file does not match its options: {exc}") from None
        if not self.head:
            raise NascostError("transfer predictor file holds no fitted head")


class _threads:
    def __init__(self, n: int | None) -> None:
        self.n, self.saved = n, None

    def __enter__(self) -> None:
        if self.n:
            self.saved = torch.get_num_threads()
            torch.set_num_threads(self.n)

    def __exit__(self, *_: Any) -> None:
        if self.saved is not None:
            torch.set_num_threads(self.saved)


@hookimpl
def register_cost_predictors(register: Any) -> None:
    register(Transfer)


__all__ = ["Transfer"]
