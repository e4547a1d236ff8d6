"""How layers and neurons are numbered, and the checks that one exists in a given network.

Numbering, the same everywhere in digitnet (library, CLI, web app): layers are numbered from 0,
and layer L is the weight layer net.layers[L] (layer 0 maps the 784 pixels to the first hidden
layer). "Neuron (layer L, index J)" is the J-th neuron whose activations layer L outputs:

    net.activations(X)[L + 1][:, J]        # net.activations(X)[0] is the input X itself

so its incoming weights are row J of net.layers[L].weight, W_L (n_out, n_in), and its bias is
net.layers[L].bias[J].

Each check returns the value in its canonical type or raises one ValueError saying what was
expected (the valid range for this network) and what was got. Network-free checks (positive
integers, numbers) are digitnet.checks.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray

from digitnet.network import Network

__all__ = ["check_batch", "check_labels", "check_layer", "check_neuron", "image_side"]

Array = NDArray[np.floating]


def check_layer(net: Network, layer: int) -> int:
    """layer as an int in 0..len(net.layers) − 1; ValueError otherwise."""
    count = len(net.layers)
    if isinstance(layer, bool) or not isinstance(layer, (int, np.integer)) or not 0 <= layer < count:
        raise ValueError(
            f"layer must be in 0..{count - 1} (this network has {count} weight layers, "
            f"numbered from 0); got {layer!r}"
        )
    return int(layer)


def check_neuron(net: Network, layer: int, index: int) -> tuple[int, int]:
    """(layer, index) of an existing neuron; ValueError naming the valid range otherwise."""
    layer = check_layer(net, layer)
    count = net.layers[layer].n_out
    if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or not 0 <= index < count:
        raise ValueError(
            f"index must be in 0..{count - 1} for layer {layer} ({count} neurons); got {index!r}"
        )
    return layer, int(index)


def image_side(net: Network) -> int:
    """The side of the square input image: 28 for 784 inputs; ValueError if not a square."""
    side = math.isqrt(net.num_inputs)
    if side * side != net.num_inputs:
        raise ValueError(
            f"the network takes {net.num_inputs} inputs, which is not a square image "
            f"(784 = 28×28 for MNIST); pictures of its weights need a square number of inputs"
        )
    return side


def check_batch(net: Network, x: ArrayLike, name: str = "x") -> Array:
    """x as (n, n_in): also accepts one example (n_in,) or one square image (side, side)."""
    x = np.asarray(x)
    if x.ndim == 1 or (x.ndim == 2 and x.shape[0] == x.shape[1] and x.size == net.num_inputs):
        x = x.reshape(1, -1)
    return net.check_inputs(x, name)


def check_labels(y: ArrayLike, n: int, n_classes: int) -> NDArray[np.int64]:
    """y as (n,) int64 class labels in 0..n_classes − 1, one per row of x."""
    y = np.asarray(y)
    if y.ndim != 1 or len(y) != n:
        raise ValueError(f"y must be {n} labels, one per row of x; got shape {y.shape}")
    if y.dtype.kind not in "ui":
        raise ValueError(f"y must hold integer labels; got dtype {y.dtype}")
    if n and (y.min() < 0 or y.max() >= n_classes):
        raise ValueError(f"y labels must be in 0..{n_classes - 1}; got {y.min()}..{y.max()}")
    return y.astype(np.int64)
