"""The architecture step of bi-level search (first or second order), with a cost term.

Follows quark0/darts ``architect.py``: Adam on the architecture parameters;
first order takes the gradient of the validation loss at the current weights;
second order ("unrolled") takes it at ``w' = w - eta * (momentum buffer *
momentum + grad_w L_train + weight_decay * w)`` and subtracts ``eta`` times the
finite-difference Hessian-vector product
``(grad_alpha L_train(w + R v) - grad_alpha L_train(w - R v)) / 2R`` with
``v = grad_w' L_val(w', alpha)`` and ``R = 0.01 / ||v||``.

Unlike the reference, which copies the whole model for the unrolled step,
``w'`` is evaluated with :func:`torch.func.functional_call` on clones of the
weights and buffers, so the real model's batch-norm statistics are untouched.
The cost term depends on ``alpha`` only, so its gradient is simply added.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from torch.func import functional_call
from torch.nn import functional as F


def _concat(ts: list[torch.Tensor]) -> torch.Tensor:
    return torch.cat([t.reshape(-1) for t in ts])


class Architect:
    """One Adam step on the architecture parameters per call of :meth:`step`."""

    def __init__(
        self,
        model: nn.Module,
        w_optimizer: torch.optim.Optimizer,
        *,
        arch_learning_rate: float,
        arch_betas: tuple[float, float] = (0.5, 0.999),
        arch_weight_decay: float = 1e-3,
        momentum: float = 0.9,
        weight_decay: float = 3e-4,
        order: str = "first",
        hessian_r: float = 1e-2,
        arch_grad_clip: float | None = None,
    ) -> None:
        self.model = model
        self.w_optimizer = w_optimizer
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.order = order
        self.hessian_r = hessian_r
        self.arch_grad_clip = arch_grad_clip
        self.optimizer = torch.optim.Adam(
            model.arch_parameters(), lr=arch_learning_rate, betas=arch_betas, weight_decay=arch_weight_decay
        )

    def step(
        self,
        x_train: torch.Tensor,
        y_train: torch.Tensor,
        x_val: torch.Tensor,
        y_val: torch.Tensor,
        eta: float,
        cost_loss: Callable[[], torch.Tensor] | None = None,
    ) -> tuple[float, float]:
        """Update alpha; return the validation loss and accuracy it was computed on.

        ``cost_loss`` computes the cost term (called once, after the data term).
        """
        self.optimizer.zero_grad(set_to_none=True)
        if self.order == "second":
            val_loss, val_acc = self._second_order_grads(x_train, y_train, x_val, y_val, eta)
        else:
            logits = self.model(x_val)
            loss = F.cross_entropy(logits, y_val)
            loss.backward()
            val_loss = float(loss.detach())
            val_acc = float((logits.argmax(1) == y_val).float().mean())
        if cost_loss is not None:
            term = cost_loss()
            if term.requires_grad:
                term.backward()
        if self.arch_grad_clip is not None:
            nn.utils.clip_grad_norm_(self.model.arch_parameters(), self.arch_grad_clip)
        self.optimizer.step()
        return val_loss, val_acc

    # -- second order -------------------------------------------------------
    def _named_weights(self) -> list[tuple[str, nn.Parameter]]:
        arch = {id(p) for p in self.model.arch_parameters()}
        return [(n, p) for n, p in self.model.named_parameters() if id(p) not in arch]

    def _second_order_grads(
        self, x_train: torch.Tensor, y_train: torch.Tensor, x_val: torch.Tensor, y_val: torch.Tensor, eta: float
    ) -> tuple[float, float]:
        named = self._named_weights()
        weights = [p for _, p in named]
        alphas = list(self.model.arch_parameters())

        # w' = w - eta * (momentum * buffer + dL_train/dw + wd * w)   (quark0/darts _compute_unrolled_model)
        train_loss = F.cross_entropy(self.model(x_train), y_train)
        grads = torch.autograd.grad(train_loss, weights, allow_unused=True)
        unrolled: dict[str, torch.Tensor] = {}
        with torch.no_grad():
            for (name, p), g in zip(named, grads, strict=True):
                g = torch.zeros_like(p) if g is None else g
                state = self.w_optimizer.state.get(p, {})
                buf = state.get("momentum_buffer")
                moment = buf * self.momentum if buf is not None else torch.zeros_like(p)
                unrolled[name] = (p - eta * (moment + g + self.weight_decay * p)).detach().requires_grad_(True)
        buffers = {n: b.clone() for n, b in self.model.named_buffers()}
        logits = functional_call(self.model, {**unrolled, **buffers}, (x_val,))
        val_loss = F.cross_entropy(logits, y_val)
        unrolled_list = [unrolled[n] for n, _ in named]
        g_all = torch.autograd.grad(val_loss, alphas + unrolled_list, allow_unused=True)
        dalpha = [torch.zeros_like(a) if g is None else g for a, g in zip(alphas, g_all[: len(alphas)], strict=True)]
        vector = [torch.zeros_like(w) if g is None else g for w, g in zip(weights, g_all[len(alphas) :], strict=True)]

        implicit = self._hessian_vector_product(vector, x_train, y_train, self.hessian_r)
        for a, da, ig in zip(alphas, dalpha, implicit, strict=True):
            a.grad = (da - eta * ig).detach()
        acc = float((logits.argmax(1) == y_val).float().mean())
        return float(val_loss.detach()), acc

    def _hessian_vector_product(
        self, vector: list[torch.Tensor], x: torch.Tensor, y: torch.Tensor, r: float = 1e-2
    ) -> list[torch.Tensor]:
        """Finite-difference ``d2 L_train / (d alpha d w) . v`` as quark0/darts (R = 0.01 / ||v||)."""
        weights = [p for _, p in self._named_weights()]
        alphas = list(self.model.arch_parameters())
        norm = float(_concat(vector).norm())
        radius = r / norm if norm > 0 else r
        with torch.no_grad():
            for p, v in zip(weights, vector, strict=True):
                p.add_(v, alpha=radius)
        loss = F.cross_entropy(self.model(x), y)
        grads_p = torch.autograd.grad(loss, alphas, allow_unused=True)
        with torch.no_grad():
            for p, v in zip(weights, vector, strict=True):
                p.sub_(v, alpha=2 * radius)
        loss = F.cross_entropy(self.model(x), y)
        grads_n = torch.autograd.grad(loss, alphas, allow_unused=True)
        with torch.no_grad():
            for p, v in zip(weights, vector, strict=True):
                p.add_(v, alpha=radius)
        out = []
        for a, gp, gn in zip(alphas, grads_p, grads_n, strict=True):
            gp = torch.zeros_like(a) if gp is None else gp
            gn = torch.zeros_like(a) if gn is None else gn
            out.append((gp - gn) / (2 * radius))
        return out
