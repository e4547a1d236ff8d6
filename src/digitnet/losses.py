"""Cost functions C(a, y): how wrong the output activations a are for the targets y.

The cost of a batch is the mean over its examples of the per-example cost:
- quadratic (the video's cost):  C = ½ Σₖ (aₖ − yₖ)²          ∂C/∂a = a − y
- cross-entropy (with softmax):  C = −Σₖ yₖ log pₖ             ∂C/∂z = p − y (fused)
- binary-cross-entropy (sigmoid): C = −Σₖ [yₖ log aₖ + (1 − yₖ) log(1 − aₖ)]  ∂C/∂z = a − y

Shapes: A and Y are (n, k) with one-hot (or soft) targets in Y. The gradients returned
here already include the 1/n of the mean, so summing over the batch gives ∂C/∂W.
Logs are clipped at 1e-12 so a confident mistake costs a large finite number, not inf.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.floating]

_LOG_FLOOR = 1e-12


def quadratic(A: Array, Y: Array) -> float:
    """C = (1/n) Σₓ ½‖a − y‖². A, Y: (n, k)."""
    D = A - Y
    return float(0.5 * np.einsum("ij,ij->", D, D) / len(A))


def quadratic_gradient(A: Array, Y: Array) -> Array:
    """∂C/∂A = (A − Y) / n. (n, k)."""
    return (A - Y) / len(A)


def cross_entropy(A: Array, Y: Array) -> float:
    """C = −(1/n) Σₓ Σₖ yₖ log pₖ for softmax probabilities P = A. A, Y: (n, k)."""
    logs = np.log(np.clip(A, _LOG_FLOOR, None))
    return float(-np.einsum("ij,ij->", Y, logs) / len(A))


def cross_entropy_gradient(A: Array, Y: Array) -> Array:
    """∂C/∂A = −Y / (n·A); only used if the fused softmax form does not apply."""
    return -Y / (np.clip(A, _LOG_FLOOR, None) * len(A))


def binary_cross_entropy(A: Array, Y: Array) -> float:
    """C = −(1/n) Σₓ Σₖ [y log a + (1 − y) log(1 − a)]. A, Y: (n, k)."""
    log_a = np.log(np.clip(A, _LOG_FLOOR, None))
    log_1a = np.log(np.clip(1.0 - A, _LOG_FLOOR, None))
    return float(-(np.einsum("ij,ij->", Y, log_a) + np.einsum("ij,ij->", 1.0 - Y, log_1a)) / len(A))


def binary_cross_entropy_gradient(A: Array, Y: Array) -> Array:
    """∂C/∂A = (A − Y) / (n·A(1 − A)); only used if the fused sigmoid form does not apply."""
    denominator = np.clip(A * (1.0 - A), _LOG_FLOOR, None) * len(A)
    return (A - Y) / denominator


def fused_gradient(A: Array, Y: Array) -> Array:
    """∂C/∂Z = (A − Y) / n: softmax + cross-entropy, and sigmoid + binary cross-entropy.

    The σ' of the output cancels against the cost's 1/σ', which is both cheaper and free
    of the learning slowdown a saturated output neuron causes under the quadratic cost.
    """
    return (A - Y) / len(A)


@dataclass(frozen=True)
class Loss:
    name: str
    function: Callable[[Array, Array], float]
    gradient: Callable[[Array, Array], Array]  # ∂C/∂A
    fused_with: str | None  # output activation whose derivative cancels: ∂C/∂Z = (A − Y)/n
    requires_output: tuple[str, ...] | None  # output activations this cost is defined for


LOSSES: dict[str, Loss] = {
    "quadratic": Loss("quadratic", quadratic, quadratic_gradient, None, None),
    "cross-entropy": Loss(
        "cross-entropy", cross_entropy, cross_entropy_gradient, "softmax", ("softmax",)
    ),
    "binary-cross-entropy": Loss(
        "binary-cross-entropy",
        binary_cross_entropy,
        binary_cross_entropy_gradient,
        "sigmoid",
        ("sigmoid",),
    ),
}


def get_loss(name: str, output_activation: str | None = None) -> Loss:
    """Look up a cost by name, checking that it suits the output activation."""
    if not isinstance(name, str) or name not in LOSSES:
        raise ValueError(f"unknown loss {name!r}; expected one of {', '.join(LOSSES)}")
    loss = LOSSES[name]
    if (
        output_activation is not None
        and loss.requires_output is not None
        and output_activation not in loss.requires_output
    ):
        raise ValueError(
            f"loss {name!r} needs a {' or '.join(loss.requires_output)} output layer; "
            f"got output activation {output_activation!r}"
        )
    return loss
