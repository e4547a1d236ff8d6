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

Learning-rate schedules give η for each epoch: constant, step (×gamma every step_size
epochs) and cosine (from η down to η·min_factor over the run).
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.floating]


class Optimizer:
    """Base class: subclasses define _update(p, g, buffers, decay, work) for one array."""

    name = "optimizer"
    _state_names: tuple[str, ...] = ()

    def __init__(self, learning_rate: float, weight_decay: float = 0.0) -> None:
        self.learning_rate = check_positive(learning_rate, "learning_rate")
        self.weight_decay = check_non_negative(weight_decay, "weight_decay")
        self.t = 0
        self.state: dict[str, list[Array]] = {}

    def step(self, params: list[Array], grads: list[Array]) -> None:
        """Update every array of params in place from grads (same shapes; grads untouched)."""
        if not self.state:
            self.state = {name: [np.zeros_like(p) for p in params] for name in self._state_names}
        self.t += 1
        for i, (p, g) in enumerate(zip(params, grads)):
            decay = self.weight_decay if p.ndim >= 2 else 0.0  # weights only, never biases
            self._update(p, g, [self.state[name][i] for name in self._state_names], decay)

    def _update(self, p: Array, g: Array, buffers: list[Array], decay, work: tuple[Array, Array] | None = None) -> None:
        """One step of the rule for one array p (in place), its gradient g (left untouched) and
        its state buffers (in _state_names order, updated in place).

        decay: the weight decay λ for p, a number, or an array of p's shape (λ at weights, 0 at
        biases) when p holds a whole network's parameters in one flat vector (digitnet.fastpath).
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
        for name in self._state_names:
            count = sum(1 for key in arrays if key.startswith(name + "."))
            if count:
                self.state[name] = [np.array(arrays[f"{name}.{i}"]) for i in range(count)]


class SGD(Optimizer):
    """p ← p − η g."""

    name = "sgd"

    def _update(self, p, g, buffers, decay, work=None):
        u, _ = self._scratch(p, work)
        d = self._decayed(p, g, decay, u)
        np.multiply(d, self.learning_rate, out=u)
        np.subtract(p, u, out=p)


class Momentum(Optimizer):
    """v ← μ v + g; p ← p − η v (or p − η (g + μ v) with Nesterov)."""

    name = "momentum"
    _state_names = ("velocity",)

    def __init__(self, learning_rate, momentum=0.9, nesterov=False, weight_decay=0.0):
        super().__init__(learning_rate, weight_decay)
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"momentum must be in [0, 1); got {momentum}")
        self.momentum = float(momentum)
        self.nesterov = bool(nesterov)

    def _update(self, p, g, buffers, decay, work=None):
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
    _state_names = ("m", "s")

    def __init__(self, learning_rate=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0):
        super().__init__(learning_rate, weight_decay)
        for value, label in ((beta1, "beta1"), (beta2, "beta2")):
            if not 0.0 <= value < 1.0:
                raise ValueError(f"{label} must be in [0, 1); got {value}")
        self.beta1, self.beta2 = float(beta1), float(beta2)
        self.eps = check_positive(eps, "eps")

    def _update(self, p, g, buffers, decay, work=None):
        m, s = buffers
        u, w = self._scratch(p, work)
        g = self._decayed(p, g, decay, u)
        self._adam(p, g, m, s, w)

    def _adam(self, p, g, m, s, w):
        # m ← β₁m + (1−β₁)g;  s ← β₂s + (1−β₂)g²  (w is scratch; g may be the other scratch)
        np.multiply(m, self.beta1, out=m)
        np.multiply(g, 1.0 - self.beta1, out=w)
        np.add(m, w, out=m)
        np.multiply(s, self.beta2, out=s)
        np.multiply(g, g, out=w)
        np.multiply(w, 1.0 - self.beta2, out=w)
        np.add(s, w, out=s)
        correction1 = 1.0 - self.beta1**self.t
        root2 = math.sqrt(1.0 - self.beta2**self.t)
        # PyTorch's p −= (η/c₁) · m / (√s/√c₂ + ε), multiplied through by √c₂ to save a pass
        # over the parameters: p −= (η√c₂/c₁) · m / (√s + ε√c₂). Equal up to rounding.
        np.sqrt(s, out=w)
        np.add(w, self.eps * root2, out=w)
        np.divide(m, w, out=w)
        np.multiply(w, self.learning_rate * root2 / correction1, out=w)
        np.subtract(p, w, out=p)


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter, 2019): p ← p(1 − ηλ), then Adam."""

    name = "adamw"

    def __init__(self, learning_rate=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.01):
        super().__init__(learning_rate, beta1, beta2, eps, weight_decay)

    def _update(self, p, g, buffers, decay, work=None):
        m, s = buffers
        u, w = self._scratch(p, work)
        if np.ndim(decay) == 0:
            if decay:
                np.multiply(p, 1.0 - self.learning_rate * decay, out=p)
        else:  # per-element λ (0 at biases): the same factor 1 − ηλ, element by element
            np.multiply(decay, -self.learning_rate, out=u)
            np.add(u, 1.0, out=u)
            np.multiply(p, u, out=p)
        self._adam(p, g, m, s, w)


OPTIMIZERS = {cls.name: cls for cls in (SGD, Momentum, Adam, AdamW)}


def make_optimizer(name: str, learning_rate: float, **options) -> Optimizer:
    """An optimizer by name: sgd, momentum, adam, adamw. Unknown options raise ValueError."""
    if not isinstance(name, str) or name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; expected one of {', '.join(OPTIMIZERS)}")
    try:
        return OPTIMIZERS[name](learning_rate, **options)
    except TypeError as error:
        raise ValueError(f"bad option for optimizer {name!r}: {error}") from None


# --------------------------------------------------------------------- schedules
def constant_schedule(base: float, epoch: int, epochs: int, **_) -> float:
    """η_e = η."""
    return base


def step_schedule(base: float, epoch: int, epochs: int, step_size: int = 10, gamma: float = 0.5, **_) -> float:
    """η_e = η · gamma^⌊e / step_size⌋."""
    return base * gamma ** (epoch // step_size)


def cosine_schedule(base: float, epoch: int, epochs: int, min_factor: float = 0.0, **_) -> float:
    """η_e = η_min + ½(η − η_min)(1 + cos(π e / E)), η_min = η · min_factor."""
    low = base * min_factor
    return low + 0.5 * (base - low) * (1.0 + math.cos(math.pi * epoch / max(epochs, 1)))


SCHEDULES = {"constant": constant_schedule, "step": step_schedule, "cosine": cosine_schedule}


def scheduled_learning_rate(schedule: str, base: float, epoch: int, epochs: int, **options) -> float:
    """The learning rate for epoch (0-based) of a run of `epochs` epochs."""
    check_schedule(schedule)
    return SCHEDULES[schedule](base, epoch, epochs, **options)


def check_schedule(name: str) -> str:
    if not isinstance(name, str) or name not in SCHEDULES:
        raise ValueError(f"unknown schedule {name!r}; expected one of {', '.join(SCHEDULES)}")
    return name


def check_positive(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise ValueError(f"{name} must be a positive number; got {value!r}")
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive number; got {value}")
    return float(value)


def check_non_negative(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise ValueError(f"{name} must be a number ≥ 0; got {value!r}")
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a number ≥ 0; got {value}")
    return float(value)
