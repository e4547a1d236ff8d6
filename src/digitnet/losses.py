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

from digitnet.activations import get_activation
from digitnet.checks import check_choice

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
    loss = LOSSES[check_choice(name, LOSSES, "loss")]
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


DeltaRule = Callable[[Array, Array, Array, Array], Array]


def output_delta_rule(loss: Loss, output_activation: str, *, axis: int = 1, targets_sum_to_one: bool = True) -> DeltaRule:
    """The output layer's error δ = n·∂C/∂Z for a batch of n examples: the one rule every engine uses.

    Returns delta(A, Y, out, scratch) -> out, writing δ for output activations A and targets Y
    into out (scratch: an array of A's shape). The 1/n of the batch mean is left to the caller,
    who folds it into one multiplication with whatever else scales the step.
      fused (softmax + cross-entropy, sigmoid + binary cross-entropy): δ = A − Y. The σ' of the
          output cancels against the cost's 1/σ', which is both cheaper and free of the learning
          slowdown a saturated output neuron causes under the quadratic cost. For softmax it is
          A ⊙ Σₖyₖ − Y in general, which is A − Y whenever a target sums to 1.
      quadratic: δ = (A − Y) ⊙ σ'(Z), σ' from A.
      anything else: δ = n · (∂C/∂A through the activation's backward).
    axis: the axis along which one example's outputs lie (1: one example per row; 0: per column).
    """
    activation = get_activation(output_activation)
    if loss.fused_with == output_activation:
        if output_activation == "softmax" and not targets_sum_to_one:
            def delta(A, Y, out, scratch):
                np.multiply(A, Y.sum(axis=axis, keepdims=True), out=out)
                return np.subtract(out, Y, out=out)
        else:
            def delta(A, Y, out, scratch):
                return np.subtract(A, Y, out=out)
    elif loss.name == "quadratic" and activation.derivative is not None:
        derivative = activation.derivative

        def delta(A, Y, out, scratch):
            np.subtract(A, Y, out=out)
            return np.multiply(out, derivative(A, scratch), out=out)
    else:
        def delta(A, Y, out, scratch):
            rows_A, rows_Y = (A, Y) if axis == 1 else (A.T, Y.T)  # loss gradients take rows
            dZ = activation.backward(loss.gradient(rows_A, rows_Y), rows_A) * len(rows_A)
            out[...] = dZ if axis == 1 else dZ.T
            return out
    return delta
