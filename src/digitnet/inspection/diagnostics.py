"""Diagnostics of a whole network: parameter counts and, per layer, weights and behaviour on data.

A Dense layer L holds W_L (n_out, n_in) and b_L (n_out,): n_out·n_in + n_out parameters, 13,002
in all for the video's 784-16-16-10. On inputs X (n, 784) its activations A = σ(Z), (n, n_out),
show two ways a layer stops learning:
- dead ReLU neurons: a = 0 on every input, so σ'(z) = 0 and no gradient reaches their weights;
- saturated sigmoid/tanh neurons: |a| near its limit, where σ'(z) ≈ 0 and learning crawls.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from digitnet.inspection.activations import BATCH
from digitnet.inspection.numbering import check_batch
from digitnet.network import Network

__all__ = ["SATURATION", "layer_statistics", "parameter_counts", "summary"]

Array = NDArray[np.floating]

SATURATION = 0.99  # sigmoid beyond 0.99 or below 0.01, tanh beyond ±0.99: σ' is nearly 0


def parameter_counts(net: Network) -> list[dict[str, Any]]:
    """Per layer: {"layer", "shape" [n_out, n_in], "weights" n_out·n_in, "biases" n_out, "total"}.

    The "total" values add up to net.num_parameters: 13,002 for the video's 784-16-16-10.
    """
    return [
        {
            "layer": number,
            "shape": [dense.n_out, dense.n_in],
            "weights": int(dense.weight.size),
            "biases": int(dense.bias.size),
            "total": int(dense.weight.size + dense.bias.size),
        }
        for number, dense in enumerate(net.layers)
    ]


def summary(values: Array, prefix: str) -> dict[str, float]:
    """{prefix_mean, prefix_std, prefix_min, prefix_max} of values, in float64."""
    values = values.astype(np.float64)
    return {
        f"{prefix}_mean": float(values.mean()),
        f"{prefix}_std": float(values.std()),
        f"{prefix}_min": float(values.min()),
        f"{prefix}_max": float(values.max()),
    }


def layer_statistics(net: Network, x: ArrayLike | None = None) -> list[dict[str, Any]]:
    """Per layer: what its weights and biases look like and, given inputs x, how it behaves.

    Keys: layer, n_in, n_out, activation, weights, biases (counts); weight_mean/std/min/max,
    bias_mean/std/min/max; and with x (n, 784):
    - mean_abs_activation: mean |a| over examples and neurons;
    - dead_fraction, dead_neurons: for ReLU-like layers, the neurons never active (a > 0) on
      any row of x (they pass no gradient and learn nothing); None for other activations;
    - saturated_fraction: for sigmoid, the share of activations below 0.01 or above 0.99; for
      tanh, |a| > 0.99 (σ' ≈ 0 there, so learning through them is slow); None otherwise.
    Without x these three are None.
    """
    X = None if x is None else check_batch(net, x)
    stats = []
    A = X
    for number, dense in enumerate(net.layers):
        entry: dict[str, Any] = {
            "layer": number,
            "n_in": dense.n_in,
            "n_out": dense.n_out,
            "activation": dense.activation,
            "weights": int(dense.weight.size),
            "biases": int(dense.bias.size),
            **summary(dense.weight, "weight"),
            **summary(dense.bias, "bias"),
            "mean_abs_activation": None,
            "dead_fraction": None,
            "dead_neurons": None,
            "saturated_fraction": None,
        }
        if A is not None:
            A = np.concatenate([dense.forward(A[s:s + BATCH]) for s in range(0, len(A), BATCH)])
            entry["mean_abs_activation"] = float(np.abs(A).mean(dtype=np.float64))
            if dense.activation in ("relu", "leaky_relu"):
                dead = ~(A > 0).any(axis=0)  # (n_out,)
                entry["dead_fraction"] = float(dead.mean())
                entry["dead_neurons"] = [int(j) for j in np.flatnonzero(dead)]
            if dense.activation == "sigmoid":
                entry["saturated_fraction"] = float(((A > SATURATION) | (A < 1 - SATURATION)).mean())
            elif dense.activation == "tanh":
                entry["saturated_fraction"] = float((np.abs(A) > SATURATION).mean())
        stats.append(entry)
    return stats
