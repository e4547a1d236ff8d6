"""Numba kernel for inference of a few rows of a small network: a′ = σ(W a + b), layer by layer.

forward_rows computes Dense.forward's numbers up to float32 rounding, on the network's own arrays,
W (n_out, n_in), as they are (nothing to prepare, which is what one image's latency needs):
zⱼ = bⱼ + Wⱼ · a, four neurons at a time in SIMD tiles, each neuron's sum in its own register.
Activation codes as in kernels.py (0 identity, 1 sigmoid, 2 relu, 3 tanh, 4 leaky_relu, 5 softmax).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from digitnet.engines.activation_kernels import FLAGS, HALF, LEAKY, ONE, ZERO, activate
from digitnet.engines.simd import vfmav, vload, vsum


@njit(cache=True, fastmath=FLAGS, error_model="numpy", inline="always")
def _squash(code, z, base, n, c):
    """z[base : base + n] ← σ(z[base : base + n]) in place (softmax over the whole row)."""
    if code == 5:
        top = z[base]
        for j in range(1, n):
            top = max(top, z[base + j])
        total = c[ZERO]
        for j in range(n):
            z[base + j] = math.exp(z[base + j] - top)
            total += z[base + j]
        for j in range(n):
            z[base + j] = z[base + j] / total
    else:
        for j in range(n):
            z[base + j] = activate(code, z[base + j], c)


@njit(cache=True, fastmath=FLAGS, error_model="numpy", inline="always")
def _dense_rows(W, b, a, a_base, z, z_base, lanes, zero):
    """z[z_base + j] = b[j] + W[j, :] · a[a_base : a_base + n_in] for every neuron j."""
    n_out, n_in = W.shape
    flat = W.reshape(-1)
    tiles = n_in - n_in % lanes
    j = 0
    while j < n_out:  # four neurons at a time: four independent FMA chains share each load of a
        rows = min(4, n_out - j)
        o0, o1, o2, o3 = j * n_in, (j + min(1, rows - 1)) * n_in, (j + min(2, rows - 1)) * n_in, (j + rows - 1) * n_in
        acc0 = acc1 = acc2 = acc3 = vload(zero, 0)
        for i in range(0, tiles, lanes):
            x = vload(a, a_base + i)
            acc0 = vfmav(acc0, vload(flat, o0 + i), x)
            acc1 = vfmav(acc1, vload(flat, o1 + i), x)
            acc2 = vfmav(acc2, vload(flat, o2 + i), x)
            acc3 = vfmav(acc3, vload(flat, o3 + i), x)
        sums = (vsum(acc0), vsum(acc1), vsum(acc2), vsum(acc3))
        for r in range(rows):
            total = sums[r]
            for i in range(tiles, n_in):
                total += W[j + r, i] * a[a_base + i]
            z[z_base + j + r] = b[j + r] + total
        j += rows


@njit(cache=True, fastmath=FLAGS, error_model="numpy")
def forward_rows(X, weights, biases, codes, c, lanes, work):
    """Outputs (n, n_L) for X (n, n₀); weights/biases: tuples of the layers' own arrays; work: a
    (3, widest) scratch of X's dtype whose last row is zeros."""
    n = X.shape[0]
    n_out = biases[-1].shape[0]
    out = np.empty((n, n_out), X.dtype)
    flat_x = X.reshape(-1)
    for e in range(n):
        source, base = flat_x, e * X.shape[1]
        side = 0
        for W, b, code in zip(weights, biases, codes):  # (unrolled: the tuples are typed per network)
            row = work[side]
            _dense_rows(W, b, source, base, row, 0, lanes, work[2])
            _squash(code, row, 0, W.shape[0], c)
            source, base, side = row, 0, 1 - side
        for j in range(n_out):
            out[e, j] = source[j]
    return out


def constants(dtype) -> np.ndarray:
    """The c array forward_* need (kernels.py's indices), in dtype."""
    c = np.zeros(14, dtype)
    c[HALF], c[ONE], c[LEAKY] = 0.5, 1.0, 0.01
    return c
