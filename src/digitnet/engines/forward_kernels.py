"""Numba kernels for inference of a small network: a′ = σ(W a + b), layer by layer.

Both compute Dense.forward's numbers up to float32 rounding.
- forward_rows, for a few rows: on the network's own arrays, W (n_out, n_in), as they are
  (nothing to prepare, which is what one image's latency needs): zⱼ = bⱼ + Wⱼ · a, four neurons
  at a time in SIMD tiles, each neuron's sum in its own register.
- forward_blocks, for batches: on W̄ = Wᵀ padded to the SIMD width (n_in, pad), eight rows at a
  time: for each input i, one load of W̄ᵢ and one FMA per row, z_r += a_r[i] · W̄ᵢ, so each
  weight is read once per eight rows and the eight sums are eight registers. For the video's
  network that is one 16-float register per row and 784 FMAs per image, the machine's FMA rate
  (measured: 285 ns an image from cache, 330 ns from memory, one core). Skipping zero pixels,
  as training does, was tried: it does fewer FMAs (the union of nonzero pixels over eight MNIST
  rows is 45% of them), but finding them costs most of what it saves, and a 10,000-image batch
  streams from memory either way (345 ns an image against 330). It releases the GIL, so a
  batch can be split over threads: forward_batch does that.
Activation codes as in kernels.py (0 identity, 1 sigmoid, 2 relu, 3 tanh, 4 leaky_relu, 5 softmax).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from digitnet.engines.activation_kernels import FLAGS, HALF, LEAKY, ONE, ZERO, activate, softmax, squash
from digitnet.engines.simd import sload, vfma, vfmav, vload, vstore, vsum

BLOCK = 8  # rows per pass of forward_blocks (eight accumulators, one shared load of each weight row)


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


@njit(cache=True, fastmath=FLAGS, error_model="numpy", inline="always")
def _dense_block(src, base, stride, rows, WT, b, dst, lanes):
    """dst[k·pad + j] = b[j] + Σᵢ src[base + k·stride + i] · WT[i, j] for the block's rows k < 8
    (rows ≥ `rows` repeat the last real row, so every load is inside src) and every j < pad."""
    n_in, pad = WT.shape
    flat = WT.reshape(-1)
    last = rows - 1
    s0, s1, s2, s3 = base, base + min(1, last) * stride, base + min(2, last) * stride, base + min(3, last) * stride
    s4, s5, s6, s7 = base + min(4, last) * stride, base + min(5, last) * stride, base + min(6, last) * stride, base + last * stride
    for j in range(0, pad, lanes):
        a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = vload(b, j)
        o = j
        for i in range(n_in):  # (sload: plain loads, no negative-index arithmetic in this loop)
            w = vload(flat, o)
            a0 = vfma(a0, sload(src, s0 + i), w)
            a1 = vfma(a1, sload(src, s1 + i), w)
            a2 = vfma(a2, sload(src, s2 + i), w)
            a3 = vfma(a3, sload(src, s3 + i), w)
            a4 = vfma(a4, sload(src, s4 + i), w)
            a5 = vfma(a5, sload(src, s5 + i), w)
            a6 = vfma(a6, sload(src, s6 + i), w)
            a7 = vfma(a7, sload(src, s7 + i), w)
            o += pad
        vstore(dst, j, a0)
        vstore(dst, pad + j, a1)
        vstore(dst, 2 * pad + j, a2)
        vstore(dst, 3 * pad + j, a3)
        vstore(dst, 4 * pad + j, a4)
        vstore(dst, 5 * pad + j, a5)
        vstore(dst, 6 * pad + j, a6)
        vstore(dst, 7 * pad + j, a7)


@njit(cache=True, fastmath=FLAGS, error_model="numpy", inline="always")
def _squash_block(code, H, rows, pad, n, c):
    """σ over a block's rows of pad values each (softmax: over each row's n real values)."""
    if code == 5:
        for k in range(rows):
            softmax(H, k * pad, n, c)
    else:
        squash(code, H, 0, BLOCK * pad, c)


@njit(cache=True, fastmath=FLAGS, error_model="numpy", nogil=True)
def forward_blocks(X, start, stop, weights_t, biases, codes, widths, c, lanes, out):
    """out[start:stop] ← the network's outputs for X[start:stop] (out: (n, n_L)).

    weights_t: per layer W̄ = Wᵀ zero-padded to (n_in, pad), pad a multiple of lanes; biases: per
    layer b zero-padded to (pad,); widths: per layer n_out. Padded neurons compute σ(0) and are
    never read (the next layer's W̄ has rows for the real ones only)."""
    n0 = X.shape[1]
    n_out = out.shape[1]
    widest = 0
    for WT in weights_t:
        widest = max(widest, WT.shape[1])
    work = np.empty((2, BLOCK * widest), X.dtype)
    flat_x = X.reshape(-1)
    for r in range(start, stop, BLOCK):
        rows = min(BLOCK, stop - r)
        # Layer 0 reads X (which may be read-only, a type of its own to Numba), the rest the work rows.
        source, stride = work[0], weights_t[0].shape[1]
        _dense_block(flat_x, r * n0, n0, rows, weights_t[0], biases[0], source, lanes)
        _squash_block(codes[0], source, rows, stride, widths[0], c)
        side = 1
        for WT, b, code, n in zip(weights_t[1:], biases[1:], codes[1:], widths[1:]):  # (typed per network)
            dst = work[side]
            _dense_block(source, 0, stride, rows, WT, b, dst, lanes)
            _squash_block(code, dst, rows, WT.shape[1], n, c)
            source, stride, side = dst, WT.shape[1], 1 - side
        for k in range(rows):
            for j in range(n_out):
                out[r + k, j] = source[k * stride + j]


def forward_batch(layers, X: np.ndarray, codes: tuple, c: np.ndarray, lanes: int, split_rows: int) -> np.ndarray:
    """The outputs (n, n_L) of the network of digitnet.layers.Dense `layers` for a batch X (n, n₀)
    of their dtype: forward_blocks on the transposed, padded weights (made afresh each call, so
    weights trained in place are always current: 50 KB for the video's network), the rows split in
    parts of whole blocks (at least split_rows rows each) over the threads BLAS may use. codes: the
    layers' activation codes; c: constants(dtype); lanes: the SIMD width in values."""
    from digitnet.engines.threads import current_blas_threads, inference_pool

    weights_t, biases = [], []
    for layer in layers:
        pad = -(-layer.n_out // lanes) * lanes
        WT = np.zeros((layer.n_in, pad), X.dtype)
        WT[:, :layer.n_out] = layer.weight.T
        b = np.zeros(pad, X.dtype)
        b[:layer.n_out] = layer.bias
        weights_t.append(WT)
        biases.append(b)
    widths = tuple(layer.n_out for layer in layers)
    X = np.ascontiguousarray(X)
    n = len(X)
    out = np.empty((n, layers[-1].n_out), X.dtype)
    args = (tuple(weights_t), tuple(biases), codes, widths, c, lanes, out)
    parts = max(1, min(current_blas_threads(), n // split_rows))
    step = math.ceil(n / parts / BLOCK) * BLOCK
    bounds = [(lo, min(n, lo + step)) for lo in range(0, n, step)]
    others = [inference_pool().submit(forward_blocks, X, lo, hi, *args) for lo, hi in bounds[1:]]
    try:
        forward_blocks(X, *bounds[0], *args)
    finally:  # (the other parts write into `out` too: never return or raise while they run)
        for part in others:
            part.result()
    return out


def constants(dtype) -> np.ndarray:
    """The c array forward_* need (kernels.py's indices), in dtype."""
    c = np.zeros(14, dtype)
    c[HALF], c[ONE], c[LEAKY] = 0.5, 1.0, 0.01
    return c
