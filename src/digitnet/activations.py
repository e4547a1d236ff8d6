"""Activation functions σ: a = σ(z), applied elementwise to a layer's weighted sums.

Every activation here has a derivative that can be written in terms of its own output
a = σ(z) (σ' = a(1 − a) for the sigmoid, 1 − a² for tanh, [a > 0] for ReLU), so
backpropagation only needs the activations it already stored, never the sums z.

Shapes: Z and A are (n, units), one example per row. Functions never modify their input.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.floating]

LEAKY_SLOPE = 0.01


def sigmoid(Z: Array) -> Array:
    """σ(z) = 1 / (1 + e⁻ᶻ), computed as ½(1 + tanh(z/2)).

    The tanh form is exact algebra, never overflows (tanh saturates at ±1 instead of
    e⁻ᶻ reaching inf at z = −1000) and is a single fast ufunc call.
    """
    A = np.multiply(Z, 0.5)
    np.tanh(A, out=A)
    A += 1.0
    A *= 0.5
    return A


def sigmoid_derivative(A: Array) -> Array:
    """σ'(z) = σ(z)(1 − σ(z)), from A = σ(Z). Shape as A."""
    return A * (1.0 - A)


def relu(Z: Array) -> Array:
    """relu(z) = max(0, z)."""
    return np.maximum(Z, 0.0)


def relu_derivative(A: Array) -> Array:
    """relu'(z) = 1 where z > 0 else 0; z > 0 exactly where a > 0."""
    return (A > 0).astype(A.dtype)


def leaky_relu(Z: Array) -> Array:
    """leaky_relu(z) = z for z > 0, 0.01·z otherwise."""
    return np.where(Z > 0, Z, Z * LEAKY_SLOPE).astype(Z.dtype, copy=False)


def leaky_relu_derivative(A: Array) -> Array:
    """1 for z > 0 else 0.01; the sign of a equals the sign of z."""
    return np.where(A > 0, 1.0, LEAKY_SLOPE).astype(A.dtype, copy=False)


def tanh(Z: Array) -> Array:
    """tanh(z) = (eᶻ − e⁻ᶻ) / (eᶻ + e⁻ᶻ)."""
    return np.tanh(Z)


def tanh_derivative(A: Array) -> Array:
    """tanh'(z) = 1 − tanh²(z), from A = tanh(Z)."""
    return 1.0 - A * A


def identity(Z: Array) -> Array:
    """identity(z) = z (a linear output layer)."""
    return Z.copy()


def identity_derivative(A: Array) -> Array:
    return np.ones_like(A)


def softmax(Z: Array) -> Array:
    """softmax(z)ᵢ = e^(zᵢ − max z) / Σⱼ e^(zⱼ − max z), over each row.

    Subtracting the row maximum changes nothing mathematically and keeps exp ≤ 1.
    Z: (n, k) -> (n, k), rows sum to 1.
    """
    E = Z - Z.max(axis=1, keepdims=True)
    np.exp(E, out=E)
    E /= E.sum(axis=1, keepdims=True)
    return E


def softmax_backward(dA: Array, A: Array) -> Array:
    """Vector–Jacobian product of softmax: dZ = A ⊙ (dA − Σⱼ dAⱼ Aⱼ), per row.

    Used when softmax meets a loss other than cross-entropy (with cross-entropy the
    fused gradient P − Y is used instead). dA, A: (n, k) -> (n, k).
    """
    return A * (dA - (dA * A).sum(axis=1, keepdims=True))


@dataclass(frozen=True)
class Activation:
    """An activation function and the way back through it."""

    name: str
    function: Callable[[Array], Array]
    derivative: Callable[[Array], Array] | None  # σ'(z) from a; None for softmax
    hidden_ok: bool = True

    def backward(self, dA: Array, A: Array) -> Array:
        """dZ = dA ⊙ σ'(Z) (elementwise activations) or the softmax Jacobian product."""
        if self.derivative is None:
            return softmax_backward(dA, A)
        return dA * self.derivative(A)


ACTIVATIONS: dict[str, Activation] = {
    "sigmoid": Activation("sigmoid", sigmoid, sigmoid_derivative),
    "relu": Activation("relu", relu, relu_derivative),
    "leaky_relu": Activation("leaky_relu", leaky_relu, leaky_relu_derivative),
    "tanh": Activation("tanh", tanh, tanh_derivative),
    "identity": Activation("identity", identity, identity_derivative),
    "softmax": Activation("softmax", softmax, None, hidden_ok=False),
}


def get_activation(name: str, *, hidden: bool = False) -> Activation:
    """Look up an activation by name; ValueError listing the valid names otherwise."""
    if not isinstance(name, str) or name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; expected one of {', '.join(ACTIVATIONS)}")
    activation = ACTIVATIONS[name]
    if hidden and not activation.hidden_ok:
        valid = ", ".join(n for n, a in ACTIVATIONS.items() if a.hidden_ok)
        raise ValueError(f"activation {name!r} is for the output layer only; hidden layers take {valid}")
    return activation
