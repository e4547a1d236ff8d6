"""Inference arranged for speed: the network's forward pass, a′ = σ(W a + b) layer by layer.

The numbers are those of Dense.forward applied in turn; only the arrangement differs:
- one example travels as a vector, z = W a + b with (n,) arrays, which NumPy multiplies, adds
  and squashes about twice as fast as a (1, n) row (no broadcasting): what one image's
  latency is made of;
- a batch is Z = A @ Wᵀ + b with the bias added and the activation applied in place, so each
  layer allocates one (n, n_out) array, not three;
- a few rows of a narrow network go to the compiled kernel (engines.compiled.forward: about half
  the NumPy path's time for one image) once this process has its kernels loaded — after a
  training run on the compiled engine, or in `digitnet serve`, which loads them at start. A
  one-off call never imports Numba (that alone takes longer than thousands of images).
Shapes: A (n, n_in) -> (n, n_out); layers are digitnet.layers.Dense.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.floating]


def forward(layers: Sequence, A: Array) -> Array:
    """The output activations for checked inputs A: (n, n_in) -> (n, n_out)."""
    compiled = sys.modules.get("digitnet.engines.compiled")  # (never imported from here)
    if compiled is not None and len(A) <= compiled.DIRECT_ROWS and compiled.loaded():
        return compiled.forward(layers, A)
    if len(A) == 1:
        a = A[0]
        for layer in layers:
            z = np.dot(layer.weight, a)  # (n_out,)
            np.add(z, layer.bias, z)
            a = layer.activation_function.function(z, z)
        return a[None]
    for layer in layers:
        Z = A @ layer.weight.T  # (n, n_out)
        Z += layer.bias
        A = layer.activation_function.function(Z, Z)
    return A
