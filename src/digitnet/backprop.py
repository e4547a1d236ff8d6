"""Backpropagation: the gradient of the cost with respect to every weight and bias.

For a batch of n examples (one per row) and the batch-mean cost C:
    δ_L = ∂C/∂Z_L                      the output layer's error (losses.output_delta_rule)
    dWₗ = δₗᵀ @ Aₗ    dbₗ = Σ_rows δₗ   each layer's gradients, (n_out, n_in) and (n_out,)
    δₗ₋₁ = (δₗ @ Wₗ) ⊙ σ'(Zₗ₋₁)          the error passed back, σ' taken from the stored A
Shapes: Aₗ (n, sizes[l]); Wₗ (sizes[l+1], sizes[l]). This is the reference arrangement every
engine must agree with; digitnet.engines arranges the same equations for speed.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from digitnet.layers import Dense
from digitnet.losses import Loss, output_delta_rule

Array = NDArray[np.floating]


def output_delta(cost, output_activation: str, A: Array, Y: Array) -> Array:
    """∂C/∂Z of the output layer for the batch-mean cost: δ/n (losses.output_delta_rule). (n, k)."""
    rule = output_delta_rule(cost, output_activation, targets_sum_to_one=False)
    dZ = rule(A, Y, np.empty_like(A), np.empty_like(A))
    return np.divide(dZ, A.dtype.type(len(A)), out=dZ)


def backward(
    layers: Sequence[Dense], activations: list[Array], dZ: Array, masks: list[Array | None] | None = None
) -> list[tuple[Array, Array]]:
    """Backpropagation from the output delta dZ = ∂C/∂Z_L back to every layer's (dW, db).

        dWₗ = dZₗᵀ @ Aₗ    dbₗ = Σ_rows dZₗ    dZₗ₋₁ = (dZₗ @ Wₗ) ⊙ σ'(Zₗ₋₁)

    activations: [X, A₁, ..., A_L] as stored by the forward pass. masks: optional dropout
    masks of the hidden layers (already scaled by 1/keep); a dropped layer feeds A·mask
    forward, so its gradient is masked the same way, while σ' is taken at the undropped A.
    """
    grads: list[tuple[Array, Array]] = [None] * len(layers)  # type: ignore[list-item]
    for index in reversed(range(len(layers))):
        A_prev = activations[index]
        mask = masks[index - 1] if masks is not None and index > 0 else None
        A_in = A_prev if mask is None else A_prev * mask
        grads[index] = (dZ.T @ A_in, dZ.sum(axis=0))  # (n_out, n_in), (n_out,)
        if index > 0:
            dA = dZ @ layers[index].weight  # (n, n_in)
            if mask is not None:
                dA *= mask
            dZ = layers[index - 1].activation_function.backward(dA, A_prev)
    return grads
