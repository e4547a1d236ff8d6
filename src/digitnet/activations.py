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

from digitnet.checks import check_choice

Array = NDArray[np.floating]

LEAKY_SLOPE = 0.01

# Every function takes an optional `out` (which may be Z itself): the training engines apply
# activations in place in preallocated buffers. Constants enter as 0-d arrays of the data's
# dtype, which NumPy takes about twice as fast as a Python float: on one example's 16 numbers
# that is most of the cost of the call.
def typed(value: float, dtype) -> NDArray[np.floating]:
    """value as a read-only 0-d array of dtype."""
    array = np.array(value, dtype=dtype)
    array.flags.writeable = False
    return array


_ZERO_HALF_ONE = {np.dtype(t): (typed(0.0, t), typed(0.5, t), typed(1.0, t)) for t in (np.float16, np.float32, np.float64)}


_multiply, _add, _subtract, _tanh = np.multiply, np.add, np.subtract, np.tanh


def _constants(dtype) -> tuple:
    """(0, ½, 1) as 0-d arrays of dtype."""
    constants = _ZERO_HALF_ONE.get(dtype)
    return constants if constants is not None else tuple(typed(v, dtype) for v in (0.0, 0.5, 1.0))


def sigmoid(Z: Array, out: Array | None = None) -> Array:
    """σ(z) = 1 / (1 + e⁻ᶻ), computed as ½(1 + tanh(z/2)).

    The tanh form is exact algebra, never overflows (tanh saturates at ±1 instead of
    e⁻ᶻ reaching inf at z = −1000) and is a single fast ufunc call.
    """
    # Written for the training step at batch 10, which calls it several times per step on a few
    # hundred numbers: constants looked up inline (not through _constants()), ufuncs bound at
    # module level, out given by position (NumPy parses it a little faster).
    constants = _ZERO_HALF_ONE.get(Z.dtype) or _constants(Z.dtype)
    A = out if out is not None else np.empty_like(Z)
    _multiply(Z, constants[1], A)
    _tanh(A, A)
    _add(A, constants[2], A)
    _multiply(A, constants[1], A)
    return A


def sigmoid_derivative(A: Array, out: Array | None = None) -> Array:
    """σ'(z) = σ(z)(1 − σ(z)), from A = σ(Z). Shape as A."""
    D = out if out is not None else np.empty_like(A)
    _subtract((_ZERO_HALF_ONE.get(A.dtype) or _constants(A.dtype))[2], A, D)
    _multiply(A, D, D)
    return D


def relu(Z: Array, out: Array | None = None) -> Array:
    """relu(z) = max(0, z)."""
    return np.maximum(Z, _constants(Z.dtype)[0], out=np.empty_like(Z) if out is None else out)


def relu_derivative(A: Array, out: Array | None = None) -> Array:
    """relu'(z) = 1 where z > 0 else 0; z > 0 exactly where a > 0."""
    return np.greater(A, _constants(A.dtype)[0], out=np.empty_like(A) if out is None else out)


def leaky_relu(Z: Array, out: Array | None = None) -> Array:
    """leaky_relu(z) = z for z > 0, 0.01·z otherwise."""
    A = np.where(Z > 0, Z, Z * LEAKY_SLOPE).astype(Z.dtype, copy=False)
    if out is None:
        return A
    out[...] = A
    return out


def leaky_relu_derivative(A: Array, out: Array | None = None) -> Array:
    """1 for z > 0 else 0.01; the sign of a equals the sign of z."""
    D = np.where(A > 0, 1.0, LEAKY_SLOPE).astype(A.dtype, copy=False)
    if out is None:
        return D
    out[...] = D
    return out


def tanh(Z: Array, out: Array | None = None) -> Array:
    """tanh(z) = (eᶻ − e⁻ᶻ) / (eᶻ + e⁻ᶻ)."""
    return np.tanh(Z, np.empty_like(Z) if out is None else out)


def tanh_derivative(A: Array, out: Array | None = None) -> Array:
    """tanh'(z) = 1 − tanh²(z), from A = tanh(Z)."""
    D = np.multiply(A, A, np.empty_like(A) if out is None else out)
    return np.subtract(_constants(A.dtype)[2], D, D)


def identity(Z: Array, out: Array | None = None) -> Array:
    """identity(z) = z (a linear output layer)."""
    if out is None:
        return Z.copy()
    if out is not Z:
        out[...] = Z
    return out


def identity_derivative(A: Array, out: Array | None = None) -> Array:
    D = np.empty_like(A) if out is None else out
    D.fill(1.0)
    return D


def softmax(Z: Array, out: Array | None = None, axis: int = -1) -> Array:
    """softmax(z)ᵢ = e^(zᵢ − max z) / Σⱼ e^(zⱼ − max z), over each example (row, or `axis`).

    Subtracting the maximum changes nothing mathematically and keeps exp ≤ 1.
    Z: (n, k) -> (n, k), rows sum to 1.
    """
    E = np.subtract(Z, Z.max(axis=axis, keepdims=True), np.empty_like(Z) if out is None else out)
    np.exp(E, out=E)
    E /= E.sum(axis=axis, keepdims=True)
    return E


def softmax_backward(dA: Array, A: Array, axis: int = -1) -> Array:
    """Vector–Jacobian product of softmax: dZ = A ⊙ (dA − Σⱼ dAⱼ Aⱼ), per example.

    Used when softmax meets a loss other than cross-entropy (with cross-entropy the
    fused gradient P − Y is used instead). dA, A: (n, k) -> (n, k).
    """
    return A * (dA - (dA * A).sum(axis=axis, keepdims=True))


@dataclass(frozen=True)
class Activation:
    """An activation function and the way back through it."""

    name: str
    function: Callable[..., Array]  # function(Z, out=None) -> A
    derivative: Callable[..., Array] | None  # σ'(z) from a, derivative(A, out=None); None for softmax
    hidden_ok: bool = True

    def backward(self, dA: Array, A: Array, *, axis: int = -1, scratch: Array | None = None) -> Array:
        """dZ = dA ⊙ σ'(Z) (elementwise activations) or the softmax Jacobian product.

        With scratch (an array of A's shape) an elementwise activation works in place:
        dA itself is overwritten with dZ and returned, nothing is allocated.
        """
        if self.derivative is None:
            return softmax_backward(dA, A, axis)
        if scratch is None:
            return dA * self.derivative(A)
        return np.multiply(dA, self.derivative(A, scratch), dA)


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
    activation = ACTIVATIONS[check_choice(name, ACTIVATIONS, "activation")]
    if hidden and not activation.hidden_ok:
        valid = ", ".join(n for n, a in ACTIVATIONS.items() if a.hidden_ok)
        raise ValueError(f"activation {name!r} is for the output layer only; hidden layers take {valid}")
    return activation
