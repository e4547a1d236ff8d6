"""Numba kernels for inference of small networks: a′ = σ(W a + b), layer by layer, row by row.

Two arrangements, both computing Dense.forward's numbers up to float32 rounding:
- forward_rows: the network's own arrays, W (n_out, n_in), as they are (nothing to prepare, which
  is what one image's latency needs): zⱼ = bⱼ + Wⱼ · a, four neurons at a time in SIMD tiles.
- forward_packed: weights transposed and padded (kernels.py's training layout, W̄ = Wᵀ), an
  image's nonzero pixels listed first, then z = b + Σ over them of xᵢ W̄[i, :]: a fifth of the
  work of layer 0 on MNIST; for batches, where packing the weights once is cheap.
Activation codes as in kernels.py (0 identity, 1 sigmoid, 2 relu, 3 tanh, 4 leaky_relu, 5 softmax).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from digitnet.engines.kernels import FLAGS, HALF, LEAKY, ONE, ZERO, activate
from digitnet.engines.simd import vadd, vfma, vfmav, vload, vstore, vsum


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


@njit(cache=True, fastmath=FLAGS, error_model="numpy")
def forward_packed(X, theta, sizes, pads, woff, boff, codes, c, lanes):
    """Outputs (n, n_L) for X (n, n₀) with the training layout θ (kernels.py)."""
    n, n0 = X.shape
    L = sizes.size - 1
    width = 0
    for l in range(1, L + 1):
        width = max(width, pads[l])
    out = np.empty((n, sizes[L]), X.dtype)
    buffers = np.zeros((2, width), X.dtype)
    nonzero = np.empty(n0, np.int64)
    zero = np.zeros(lanes, X.dtype)
    for e in range(n):
        count = 0
        for i in range(n0):  # the image's nonzero pixels, without a branch
            nonzero[count] = i
            count += X[e, i] != 0
        p1 = pads[1]
        row = buffers[0]
        for j in range(0, p1, lanes):
            acc, acc2 = vload(theta, boff[0] + j), vload(zero, 0)
            q = 0
            while q + 1 < count:
                i, k = nonzero[q], nonzero[q + 1]
                acc = vfma(acc, X[e, i], vload(theta, woff[0] + i * p1 + j))
                acc2 = vfma(acc2, X[e, k], vload(theta, woff[0] + k * p1 + j))
                q += 2
            if q < count:
                i = nonzero[q]
                acc = vfma(acc, X[e, i], vload(theta, woff[0] + i * p1 + j))
            vstore(row, j, vadd(acc, acc2))
        _squash(codes[0], row, 0, sizes[1], c)
        side = 0
        for l in range(2, L + 1):
            source, row = buffers[side], buffers[1 - side]
            p_l = pads[l]
            for j in range(0, p_l, lanes):
                acc = vload(theta, boff[l - 1] + j)
                for i in range(sizes[l - 1]):
                    acc = vfma(acc, source[i], vload(theta, woff[l - 1] + i * p_l + j))
                vstore(row, j, acc)
            _squash(codes[l - 1], row, 0, sizes[l], c)
            side = 1 - side
        final = buffers[side]
        for j in range(sizes[L]):
            out[e, j] = final[j]
    return out


def constants(dtype) -> np.ndarray:
    """The c array forward_* need (kernels.py's indices), in dtype."""
    c = np.zeros(14, dtype)
    c[HALF], c[ONE], c[LEAKY] = 0.5, 1.0, 0.01
    return c
