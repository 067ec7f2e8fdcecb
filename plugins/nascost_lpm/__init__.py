"""nascost built-in plugin: ``lpm``, the paper's latency prediction module.

The paper (section 3.3): "The 112D vector is propagated through four
fully-connected layers with 112, 256, 64 and 1 neurons ... We use sigmoid as
the activation function for each layer, excluding the last one", trained
"from scratch for 1,000 epochs using a batch size of 200 ... momentum SGD with
a fixed learning rate of 0.01, a momentum of 0.9, a weight decay of 1e-5, and
a mean square error (MSE) loss". Here the input layer has the encoding's
width (DARTS: 224 for both cells by default, the paper's 112 with
``cells=normal``) followed by hidden layers of 256 and 64 units
and one output: ``Linear(D,256) - sigmoid - Linear(256,64) - sigmoid - Linear(64,1)``.

One deviation, an option: ``target_scaling="standard"`` (the default) trains
on standardised targets ``(y - mean) / std`` and un-scales predictions, so
the same learning rate works for milliseconds, seconds or MACs; the paper
trains on raw targets (``target_scaling="none"``). Predictions are always in
the unit of the training costs.

Another deviation, off by default: ``inputs="op-counts"`` feeds the MLP the
space's per-operation counts (``encoding @ space.op_count_matrix()``) instead
of the encoding's bits; see :meth:`nascost.predict.CostPredictor.map_inputs`.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

import torch
from pydantic import Field
from torch import nn

from nascost.errors import NascostError
from nascost.hookspecs import hookimpl
from nascost.predict import CostPredictor, FittedOptions, ProgressFn

_ACTIVATIONS = {"sigmoid": nn.Sigmoid, "relu": nn.ReLU, "tanh": nn.Tanh, "gelu": nn.GELU}


def make_mlp(input_dim: int, hidden: list[int], activation: str) -> nn.Sequential:
    """Fully-connected layers ``input_dim -> hidden... -> 1``, ``activation`` between them."""
    layers: list[nn.Module] = []
    width = input_dim
    for h in hidden:
        layers += [nn.Linear(width, h), _ACTIVATIONS[activation]()]
        width = h
    layers.append(nn.Linear(width, 1))
    return nn.Sequential(*layers)


#: Derivative of each activation written in terms of its output ``h``.
_DERIVATIVES = {
    "sigmoid": lambda h: h * (1 - h),
    "tanh": lambda h: 1 - h * h,
    "relu": lambda h: (h > 0).to(h.dtype),
}


@torch.no_grad()
def _mlp_grads(params: list[nn.Parameter], activation: str, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """MSE loss of the MLP on ``(x, z)``; sets every parameter's ``.grad`` to its exact gradient.

    The backward pass of ``make_mlp``'s network written out (the same
    gradients autograd computes, checked by a test), without building an
    autograd graph per step: for ``h_k = act(h_{k-1} W_k^T + b_k)`` and
    ``out = h_L W^T + b``, ``d = 2 (out - z) / B`` and, layer by layer,
    ``grad W = d^T h``, ``grad b = sum d``, ``d <- (d W) * act'(h)``.
    """
    act = {"sigmoid": torch.sigmoid, "tanh": torch.tanh, "relu": torch.relu}[activation]
    deriv = _DERIVATIVES[activation]
    weights, biases = params[0::2], params[1::2]
    hs = [x]
    for w, b in zip(weights[:-1], biases[:-1], strict=True):
        hs.append(act(torch.addmm(b, hs[-1], w.t())))
    out = torch.addmm(biases[-1], hs[-1], weights[-1].t()).squeeze(-1)
    diff = out - z
    loss = diff.pow(2).mean()
    d = diff.mul_(2.0 / x.shape[0]).unsqueeze(1)
    for k in range(len(weights) - 1, -1, -1):
        weights[k].grad = d.t() @ hs[k]
        biases[k].grad = d.sum(0)
        if k:
            d = (d @ weights[k]).mul_(deriv(hs[k]))
    return loss


@torch.no_grad()
def _sgd_step(params: list[nn.Parameter], bufs: list[torch.Tensor | None], lr: float, momentum: float,
              weight_decay: float) -> None:
    """One step of momentum SGD exactly as ``torch.optim.SGD`` (dampening 0, no Nesterov).

    ``d = grad + weight_decay * p``; ``buf = d`` on the first step, else
    ``momentum * buf + d``; ``p -= lr * buf``. Written out because
    constructing ``torch.optim.SGD`` imports ``torch._dynamo``, which costs
    seconds per process (tens of seconds on a loaded machine) for a model
    this small.
    """
    grads = [p.grad for p in params]
    if any(g is None for g in grads):
        raise RuntimeError("every LPM parameter needs a gradient before a step")
    if weight_decay:
        grads = torch._foreach_add(grads, params, alpha=weight_decay)
    if momentum:
        if bufs[0] is None:
            bufs[:] = [g.clone() for g in grads]
        else:
            torch._foreach_mul_(bufs, momentum)
            torch._foreach_add_(bufs, grads)
        grads = bufs
    torch._foreach_add_(params, grads, alpha=-lr)


class LPM(CostPredictor):
    """The paper's latency prediction module: an MLP on the encoding, differentiable in its input."""

    name = "lpm"
    differentiable = True
    requires_fit = True
    additive = False

    class Options(FittedOptions):
        hidden: list[Annotated[int, Field(ge=1)]] = Field(
            default=[256, 64], description="hidden layer widths, each >= 1 (paper: 256, 64)")
        activation: Literal["sigmoid", "relu", "tanh", "gelu"] = "sigmoid"
        epochs: int = Field(default=1000, gt=0, description="training epochs (paper: 1000)")
        batch_size: int = Field(default=200, gt=0, description="minibatch size (paper: 200)")
        lr: float = Field(default=0.01, gt=0, description="SGD learning rate, fixed (paper: 0.01)")
        momentum: float = Field(default=0.9, ge=0, lt=1)
        weight_decay: float = Field(default=1e-5, ge=0)
        target_scaling: Literal["none", "standard", "log"] = Field(
            default="standard",
            description="train on raw targets (paper), standardised targets, or standardised log targets",
        )
        val_fraction: float = Field(
            default=0.0, ge=0, lt=1, description="share of the training data held out for early stopping (0: off)"
        )
        patience: int = Field(default=50, gt=0, description="epochs without validation improvement before stopping")
        seed: int = 0
        threads: int | None = Field(
            default=1, ge=1,
            description=(
                "intra-op threads while fitting (default 1: this network is too small to gain from more, "
                "and extra threads spin against other work, 10x slower beside a campaign; None: torch's setting)"
            ),
        )

    #: Train with the closed-form MSE gradients of :func:`_mlp_grads` (the same
    #: numbers as autograd, ~1.5x faster for this small network); False uses autograd.
    manual_backward: bool = True

    def __init__(self, options: Any = None, **kwargs: Any) -> None:
        super().__init__(options, **kwargs)
        self.model: nn.Sequential | None = None
        self.input_dim = 0
        self.y_shift = 0.0
        self.y_scale = 1.0
        self.history: list[float] = []
        self.stopped_epoch: int | None = None

    # --- scaling -----------------------------------------------------------
    def _scale(self, y: torch.Tensor) -> torch.Tensor:
        if self.options.target_scaling == "log":
            y = torch.log(y)
        return (y - self.y_shift) / self.y_scale

    def _unscale(self, z: torch.Tensor) -> torch.Tensor:
        y = z * self.y_scale + self.y_shift
        return torch.exp(y) if self.options.target_scaling == "log" else y

    # --- fitting -----------------------------------------------------------
    def fit(self, x: torch.Tensor, y: torch.Tensor, progress: ProgressFn | None = None, space: Any = None,
            **_: Any) -> LPM:
        """Minibatch momentum SGD on MSE, as the paper; tensors only, indices reshuffled per epoch."""
        x = self.map_inputs(x, space)
        saved = torch.get_num_threads()
        if self.options.threads:
            torch.set_num_threads(self.options.threads)
        try:
            return self._fit(x, y, progress)
        finally:
            torch.set_num_threads(saved)

    def _fit(self, x: torch.Tensor, y: torch.Tensor, progress: ProgressFn | None) -> LPM:
        o = self.options
        x = torch.as_tensor(x, dtype=torch.float32).detach()
        y = torch.as_tensor(y, dtype=torch.float32).detach().reshape(-1)
        if x.ndim != 2 or x.shape[0] != y.shape[0] or x.shape[0] < 2:
            raise NascostError(f"lpm needs [N, D] encodings and N costs with N >= 2, got {tuple(x.shape)} and {tuple(y.shape)}")
        if o.target_scaling == "log" and bool((y <= 0).any()):
            raise NascostError("target_scaling=log needs positive costs")
        gen = torch.Generator().manual_seed(o.seed)
        torch.manual_seed(o.seed)
        self.input_dim = x.shape[1]
        self.model = make_mlp(self.input_dim, o.hidden, o.activation)
        if o.target_scaling == "none":
            self.y_shift, self.y_scale = 0.0, 1.0
        else:
            base = torch.log(y) if o.target_scaling == "log" else y
            self.y_shift = float(base.mean())
            self.y_scale = float(base.std()) or 1.0
        z = self._scale(y)
        n = x.shape[0]
        val_idx = None
        if o.val_fraction > 0:
            perm = torch.randperm(n, generator=gen)
            n_val = max(1, round(n * o.val_fraction))
            val_idx, train_idx = perm[:n_val], perm[n_val:]
            xv, zv = x[val_idx], z[val_idx]
            x, z = x[train_idx], z[train_idx]
            n = x.shape[0]
        params = list(self.model.parameters())
        bufs: list[torch.Tensor | None] = [None] * len(params)
        loss_fn = nn.MSELoss()
        best, best_state, bad = math.inf, None, 0
        self.history = []
        self.stopped_epoch = None
        bs = min(o.batch_size, n)
        manual = self.manual_backward and o.activation in _DERIVATIVES
        self.model.train()
        for epoch in range(o.epochs):
            # One gather per epoch, then contiguous slices: no DataLoader, no per-step indexing.
            perm = torch.randperm(n, generator=gen)
            xs, zs = x[perm], z[perm]
            total = torch.zeros(())
            for start in range(0, n, bs):
                xb, zb = xs[start : start + bs], zs[start : start + bs]
                if manual:
                    loss = _mlp_grads(params, o.activation, xb, zb)
                else:
                    for p in params:
                        p.grad = None
                    loss = loss_fn(self.model(xb).squeeze(-1), zb)
                    loss.backward()
                _sgd_step(params, bufs, o.lr, o.momentum, o.weight_decay)
                total += loss.detach() * xb.shape[0]
            train_loss = float(total) / n
            if not math.isfinite(train_loss):
                raise NascostError(
                    "lpm training diverged (loss is not finite); lower lr or use target_scaling=standard"
                )
            info = f"loss {train_loss:.4g}"
            if val_idx is not None:
                with torch.no_grad():
                    val_loss = float(loss_fn(self.model(xv).squeeze(-1), zv))
                info += f" val {val_loss:.4g}"
                self.history.append(val_loss)
                if val_loss < best - 1e-9:
                    best, bad = val_loss, 0
                    best_state = {k: v.clone() for k, v in self.model.state_dict().items()}
                else:
                    bad += 1
                if bad >= o.patience:
                    self.stopped_epoch = epoch + 1
                    if progress:
                        progress(o.epochs, o.epochs, info + f" (early stop at epoch {epoch + 1})")
                    break
            else:
                self.history.append(train_loss)
            if progress:
                progress(epoch + 1, o.epochs, info)
        if best_state is not None:
            self.model.load_state_dict(best_state)
        self._freeze()
        return self

    def _freeze(self) -> None:
        """Fitted weights take no gradient: the search backpropagates to the encoding only."""
        assert self.model is not None
        self.model.eval()
        for p in self.model.parameters():
            p.grad = None
            p.requires_grad_(False)

    # --- prediction --------------------------------------------------------
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """``[N]`` costs in the training unit; autograd flows to ``x``."""
        if self.model is None:
            raise NascostError("lpm predictor is not fitted; fit it or load a fitted file")
        x = torch.as_tensor(x)
        if x.ndim == 1:
            x = x.unsqueeze(0)
        x = self.map_inputs(x)
        if x.shape[-1] != self.input_dim:
            raise NascostError(f"lpm expects {self.input_dim}-wide encodings, got {x.shape[-1]}")
        first = next(self.model.parameters())
        if first.device != x.device:
            self.model.to(x.device)
        out = self.model(x.to(first.dtype)).squeeze(-1)
        return self._unscale(out)

    def to(self, device: torch.device | str) -> LPM:
        if self.model is not None:
            self.model.to(device)
        return self

    # --- files -------------------------------------------------------------
    def get_state(self) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
        if self.model is None:
            raise NascostError("lpm predictor is not fitted; nothing to save")
        state = {"input_dim": self.input_dim, "y_shift": self.y_shift, "y_scale": self.y_scale,
                 "stopped_epoch": self.stopped_epoch}
        return state, {f"model.{k}": v for k, v in self.model.state_dict().items()}

    def set_state(self, state: dict[str, Any], tensors: dict[str, torch.Tensor]) -> None:
        try:
            self.input_dim = int(state["input_dim"])
            self.y_shift = float(state["y_shift"])
            self.y_scale = float(state["y_scale"])
            self.stopped_epoch = state.get("stopped_epoch")
            self.model = make_mlp(self.input_dim, self.options.hidden, self.options.activation)
            self.model.load_state_dict({k.removeprefix("model."): v for k, v in tensors.items()})
        except (KeyError, RuntimeError, TypeError, ValueError) as exc:
            raise NascostError(f"lpm predictor file does not match its options: {exc}") from None
        self._freeze()


@hookimpl
def register_cost_predictors(register: Any) -> None:
    register(LPM)
