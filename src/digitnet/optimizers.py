"""Gradient-descent optimizers: state + step(params, grads), nothing about layers.

Each step updates the parameter arrays in place from their gradients ∂C/∂p:
- SGD:       p ← p − η g                                  (the video's gradient descent)
- momentum:  v ← μ v + g;  p ← p − η v                    (Nesterov: p ← p − η (g + μ v))
- Adam:      m ← β₁m + (1−β₁)g;  s ← β₂s + (1−β₂)g²;  p ← p − η m̂ / (√ŝ + ε)
             with m̂ = m / (1 − β₁ᵗ), ŝ = s / (1 − β₂ᵗ)
- AdamW:     Adam, plus decoupled weight decay p ← p − η λ p before the step.
These are the update rules of PyTorch's SGD, Adam and AdamW, so the two can be compared
step by step. weight_decay λ (L2) applies to weights (arrays of 2 or more dimensions), not to
biases: for SGD, momentum and Adam it adds λ·W to the gradient (the cost gains ½λ‖W‖²).

The training engines call update() on one flat vector holding every parameter (with λ as a
vector: λ at weights, 0 at biases), so each rule below is written once for every engine.
Learning-rate schedules live in digitnet.training.schedules.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from digitnet.checks import check_choice, check_fraction, check_non_negative, check_positive

Array = NDArray[np.floating]


class Optimizer:
    """Base class: subclasses define update(p, g, buffers, decay, work), the rule for one array.

    state_names: the per-parameter buffers the rule keeps (in update's buffers order).
    """

    name = "optimizer"
    state_names: tuple[str, ...] = ()

    def __init__(self, learning_rate: float, weight_decay: float = 0.0) -> None:
        self.learning_rate = check_positive(learning_rate, "learning_rate")
        self.weight_decay = check_non_negative(weight_decay, "weight_decay")
        self.t = 0
        self.state: dict[str, list[Array]] = {}

    def step(self, params: list[Array], grads: list[Array]) -> None:
        """Update every array of params in place from grads (same shapes; grads untouched)."""
        if not self.state:
            self.state = {name: [np.zeros_like(p) for p in params] for name in self.state_names}
        self.t += 1
        for i, (p, g) in enumerate(zip(params, grads)):
            decay = self.weight_decay if p.ndim >= 2 else 0.0  # weights only, never biases
            self.update(p, g, [self.state[name][i] for name in self.state_names], decay)

    def update(self, p: Array, g: Array, buffers: list[Array], decay, work: tuple[Array, Array] | None = None) -> None:
        """One step of the rule for one array p (in place), its gradient g (left untouched) and
        its state buffers (in state_names order, updated in place).

        decay: the weight decay λ for p, a number, or an array of p's shape (λ at weights, 0 at
        biases) when p holds a whole network's parameters in one flat vector (digitnet.engines.fused).
        work: two scratch arrays of p's shape and dtype, or None to allocate them.
        """
        raise NotImplementedError

    @staticmethod
    def _scratch(p: Array, work):
        return work if work is not None else (np.empty_like(p), np.empty_like(p))

    @staticmethod
    def _decayed(p: Array, g: Array, decay, out: Array) -> Array:
        """g + λp (coupled weight decay, the L2 penalty ½λ‖W‖²) in out; g itself when λ is 0."""
        if np.ndim(decay) == 0 and not decay:
            return g
        np.multiply(p, decay, out=out)
        np.add(out, g, out=out)
        return out

    def state_dict(self) -> dict[str, Array]:
        """A snapshot of the state as named arrays (for checkpoints): step count and every buffer.

        Copies, not the live buffers: the buffers are updated in place by every step, so a
        reference taken now would silently drift away from the step count it was saved with.
        """
        arrays = {"t": np.array([self.t], dtype=np.int64)}
        for name, buffers in self.state.items():
            for i, buffer in enumerate(buffers):
                arrays[f"{name}.{i}"] = buffer.copy()
        return arrays

    def load_state_dict(self, arrays: dict[str, Array]) -> None:
        self.t = int(arrays["t"][0])
        self.state = {}
        for name in self.state_names:
            count = sum(1 for key in arrays if key.startswith(name + "."))
            if count:
                self.state[name] = [np.array(arrays[f"{name}.{i}"]) for i in range(count)]


class SGD(Optimizer):
    """p ← p − η g."""

    name = "sgd"

    def update(self, p, g, buffers, decay, work=None):
        u, _ = self._scratch(p, work)
        d = self._decayed(p, g, decay, u)
        np.multiply(d, self.learning_rate, out=u)
        np.subtract(p, u, out=p)


class Momentum(Optimizer):
    """v ← μ v + g; p ← p − η v (or p − η (g + μ v) with Nesterov)."""

    name = "momentum"
    state_names = ("velocity",)

    def __init__(self, learning_rate, momentum=0.9, nesterov=False, weight_decay=0.0):
        super().__init__(learning_rate, weight_decay)
        self.momentum = check_fraction(momentum, "momentum")
        self.nesterov = bool(nesterov)

    def update(self, p, g, buffers, decay, work=None):
        (v,) = buffers
        u, w = self._scratch(p, work)
        d = self._decayed(p, g, decay, u)
        np.multiply(v, self.momentum, out=v)
        np.add(v, d, out=v)
        if self.nesterov:
            np.multiply(v, self.momentum, out=w)  # g + μ v
            np.add(d, w, out=w)
            np.multiply(w, self.learning_rate, out=w)
        else:
            np.multiply(v, self.learning_rate, out=w)
        np.subtract(p, w, out=p)


class Adam(Optimizer):
    """Adam (Kingma & Ba, 2015) with bias correction."""

    name = "adam"
    state_names = ("m", "s")

    def __init__(self, learning_rate=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0):
        super().__init__(learning_rate, weight_decay)
        self.beta1, self.beta2 = check_fraction(beta1, "beta1"), check_fraction(beta2, "beta2")
        self.eps = check_positive(eps, "eps")

    # The rule is written for scaled quantities, which saves two of its twelve passes over the
    # parameters (the fused engine keeps them scaled for a whole epoch):
    #   g′ = (1 − β₁)g        then m ← β₁m + g′ is two passes, not three;
    #   s̃ = s/k, k = (1 − β₂)/(1 − β₁)²   then s̃ ← β₂s̃ + g′² is three, not four.
    # k returns in the step's constants: p ← p − (η/c₁)√(c₂/k) · m / (√s̃ + ε√(c₂/k)), with
    # c₁ = 1 − β₁ᵗ, c₂ = 1 − β₂ᵗ: PyTorch's p − (η/c₁) m / (√(s/c₂) + ε) up to rounding.
    @property
    def gradient_scale(self) -> float:
        """The factor 1 − β₁ the gradient is taken with (g′ = (1 − β₁)g)."""
        return 1.0 - self.beta1

    @property
    def state_scales(self) -> dict[str, float]:
        """Buffers kept divided by a constant while scaled_update runs: s̃ = s/k."""
        return {"s": (1.0 - self.beta2) / (1.0 - self.beta1) ** 2}

    def decay_terms(self, mask, dtype) -> tuple:
        """(coupled, factor) for scaled_update, from mask: 1 where p holds weights, 0 at biases
        (a number for one array, or an array over a flat vector). Adam adds coupled·p =
        (1 − β₁)λp to g′; AdamW multiplies p by factor = 1 − ηλ. (None, None) without decay."""
        if not self.weight_decay or (np.ndim(mask) == 0 and not mask):
            return None, None
        if isinstance(self, AdamW):
            return None, np.asarray(1.0 - self.learning_rate * self.weight_decay * mask).astype(dtype)
        return np.asarray(self.gradient_scale * self.weight_decay * mask).astype(dtype), None

    def scaled_update(self, p: Array, g: Array, m: Array, s: Array, w: Array, coupled, factor) -> None:
        """The Adam/AdamW step on p (in place) from g′ = (1 − β₁)g (overwritten), m and s̃ = s/k
        (updated in place); w: scratch of p's shape; coupled, factor: from decay_terms()."""
        beta1, beta2, t = self.beta1, self.beta2, self.t
        if factor is not None:
            np.multiply(p, factor, out=p)  # AdamW: p ← p(1 − ηλ) at the weights
        if coupled is not None:
            np.multiply(p, coupled, out=w)  # Adam: g′ ← g′ + (1 − β₁)λp at the weights
            np.add(g, w, out=g)
        np.multiply(m, beta1, out=m)
        np.add(m, g, out=m)
        np.multiply(g, g, out=w)
        np.multiply(s, beta2, out=s)
        np.add(s, w, out=s)
        root = math.sqrt((1.0 - beta2**t) / self.state_scales["s"])
        np.sqrt(s, out=w)
        np.add(w, self.eps * root, out=w)
        np.divide(m, w, out=w)
        np.multiply(w, self.learning_rate * root / (1.0 - beta1**t), out=w)
        np.subtract(p, w, out=p)

    def update(self, p, g, buffers, decay, work=None):
        m, s = buffers
        u, w = self._scratch(p, work)
        np.multiply(g, self.gradient_scale, out=u)  # g′, leaving g untouched
        k = s.dtype.type(self.state_scales["s"])
        np.divide(s, k, out=s)
        mask = (decay != 0) if np.ndim(decay) else float(decay != 0)  # weights: 1, biases: 0
        self.scaled_update(p, u, m, s, w, *self.decay_terms(mask, p.dtype))
        np.multiply(s, k, out=s)


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter, 2019): p ← p(1 − ηλ), then Adam."""

    name = "adamw"

    def __init__(self, learning_rate=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.01):
        super().__init__(learning_rate, beta1, beta2, eps, weight_decay)


OPTIMIZERS = {cls.name: cls for cls in (SGD, Momentum, Adam, AdamW)}


def make_optimizer(name: str, learning_rate: float, **options) -> Optimizer:
    """An optimizer by name: sgd, momentum, adam, adamw. Unknown options raise ValueError."""
    check_choice(name, OPTIMIZERS, "optimizer")
    try:
        return OPTIMIZERS[name](learning_rate, **options)
    except TypeError as error:
        raise ValueError(f"bad option for optimizer {name!r}: {error}") from None
