"""The activations of a network on given inputs: one digit's trace, a layer's outputs, who fires most.

(Not the activation functions σ themselves: those are digitnet.activations.) For a batch X
(n, 784), layer L computes Z_L = A_L @ W_Lᵀ + b_L and A_{L+1} = σ(Z_L), each (n, n_out), with
A_0 = X; net.activations(X) is [A_0, A_1, ..., A_L+1]. Neurons and layers are numbered as in
digitnet.inspection.numbering.

A connection j ← i of layer L carries wⱼᵢ aᵢ into neuron j's weighted sum zⱼ = Σᵢ wⱼᵢ aᵢ + bⱼ;
the connections that carry the most for one input are the ones the activation picture draws.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from digitnet.checks import check_positive_int
from digitnet.inspection.neurons import MONOTONE
from digitnet.inspection.numbering import check_batch, check_layer, check_neuron
from digitnet.network import Network

__all__ = ["BATCH", "activation_trace", "layer_outputs", "strongest_connections", "top_activating"]

Array = NDArray[np.floating]

BATCH = 8192  # rows per forward pass over a large x, to bound memory


def activation_trace(net: Network, x: ArrayLike) -> list[Array]:
    """One input's activations through every layer, input first: [x, a₁, ..., a_L].

    x: one example, (784,), (1, 784) or (28, 28). Returns 1-D arrays, one per layer, the
    single row of net.activations(x.reshape(1, -1)): shapes (784,), (16,), (16,), (10,) for
    the video's network.
    """
    x = np.asarray(x)
    if x.size != net.num_inputs or x.ndim > 2:
        raise ValueError(f"x must be one example of {net.num_inputs} values, (784,) or (1, 784); got shape {x.shape}")
    return [A[0] for A in net.activations(x.reshape(1, -1))]


def layer_outputs(net: Network, layer: int, x: ArrayLike) -> tuple[Array, Array]:
    """The weighted sums Z and activations A = σ(Z) of layers[layer] for each row of x.

    x: (n, 784). Returns (Z, A), each (n, n_out); computed in batches to bound memory.
    """
    layer = check_layer(net, layer)
    X = check_batch(net, x)
    Z_parts, A_parts = [], []
    for start in range(0, len(X), BATCH):
        A = X[start:start + BATCH]
        for dense in net.layers[:layer]:
            A = dense.forward(A)
        dense = net.layers[layer]
        Z = A @ dense.weight.T + dense.bias  # (batch, n_out)
        Z_parts.append(Z)
        A_parts.append(dense.activation_function.function(Z))
    return np.concatenate(Z_parts), np.concatenate(A_parts)


def top_activating(net: Network, layer: int, index: int, x: ArrayLike, k: int = 16) -> NDArray[np.int64]:
    """Indices into x of the k examples that excite neuron (layer, index) most, strongest first.

    x: (n, 784). For sigmoid, tanh and ReLU neurons the examples are ranked by the weighted sum
    z, which orders them exactly as a = σ(z) does but still tells apart the many examples whose
    sigmoid has saturated at 1.0; a softmax output is ranked by its probability. Ties keep the
    earlier example first. Returns (min(k, n),) int64.
    """
    layer, index = check_neuron(net, layer, index)
    k = check_positive_int(k, "k")
    Z, A = layer_outputs(net, layer, x)
    values = Z if net.layers[layer].activation in MONOTONE else A
    return np.argsort(-values[:, index], kind="stable")[:k].astype(np.int64)


def strongest_connections(net: Network, x: ArrayLike, layer: int, k: int = 40) -> list[dict[str, Any]]:
    """The k connections of layer `layer` that carry the most for one input: largest |wⱼᵢ aᵢ|.

    x: one example. Each connection: {"source": i (neuron of the layer before, or pixel),
    "target": j, "weight": wⱼᵢ, "contribution": wⱼᵢ aᵢ, its share of neuron j's weighted sum}.
    Sorted by |contribution|, largest first.
    """
    layer = check_layer(net, layer)
    k = check_positive_int(k, "k")
    a_in = activation_trace(net, x)[layer].astype(np.float64)  # (n_in,)
    W = net.layers[layer].weight.astype(np.float64)  # (n_out, n_in)
    contribution = W * a_in  # (n_out, n_in)
    flat = np.argsort(-np.abs(contribution), axis=None, kind="stable")[:k]
    targets, sources = np.unravel_index(flat, W.shape)
    return [
        {"source": int(i), "target": int(j), "weight": float(W[j, i]), "contribution": float(contribution[j, i])}
        for j, i in zip(targets, sources)
    ]
