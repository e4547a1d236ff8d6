"""The compiled engine for wide networks: BLAS for the dense products, compiled kernels for the rest.

With hundreds of neurons a layer the products dominate and a tuned BLAS runs them at the machine's
rate, so they stay matrix products (OpenBLAS). What is compiled is what a matrix library cannot do
or does in many passes:
- layer 0 over the nonzero pixels only (MNIST: a fifth of the dense FLOPs), forward and weight
  gradient, in blocks of 4 SIMD tiles of columns;
- bias + activation (+ dropout) in one pass, δ_{l−1} = (δ_l W̄ᵀ) ⊙ mask ⊙ σ' in one pass;
- the optimizer's update of all θ in one vectorised pass (optimizers.py's rules).
With more than one thread all of it, products included, is shared out between one team of threads
(engines/blas_calls.py): each part a block of columns, rows or chunks, so nothing is summed in
another order than on one thread.
The layout is kernels.py's (W̄ = Wᵀ per layer, padded to the SIMD width, in one flat θ), so
CompiledPlan loads and stores it the same way. Shapes: a batch of w examples is H_l (w, P_l).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from digitnet.engines.activation_kernels import (DROP_SCALE, FLAGS, H_BETA1, H_BETA2, H_EPS, H_LR, KEEP, ZERO,
                                                 softmax, squash, times_slope)
from digitnet.engines.blas_calls import bounds, matmul, parallel_threads, team
from digitnet.engines.kernels import output_delta, update
from digitnet.engines.simd import flush_subnormals, restore_subnormals, vfma, vload, vmul, vstore

# Threads: with one thread, or where blas_calls cannot call NumPy's OpenBLAS, BLAS runs the
# products on the trainer's threads and the kernels run on the calling thread. Otherwise one team
# of Numba threads runs everything (engines/blas_calls.py): each kernel below works on a range of
# columns, rows or chunks, and its *_parts twin shares the ranges out in a parallel loop.
OPTIONS = {"cache": True, "fastmath": FLAGS, "error_model": "numpy"}
PARTS = dict(OPTIONS, parallel=True)
CHUNK = 1 << 15  # elements per piece of the update


@njit(**OPTIONS)
def sparse_forward(index, value, ptr, rows, theta, bias, P, Z, lanes, lo, hi):
    """Z[e, lo:hi] = b + Σ over the nonzero pixels i of row rows[e]: xᵢ W̄₀[i, lo:hi]; Z flat (w·P);
    lo, hi multiples of lanes."""
    block = 4 * lanes
    previous = flush_subnormals()  # (per thread: the control register is each thread's own)
    for j in range(lo, hi, block):
        for e in range(rows.size):
            r = rows[e]
            start, end = 2 * ptr[r], 2 * ptr[r + 1]
            if j + block <= hi:  # four tiles of columns: four accumulators per pixel row
                a0, a1 = vload(theta, bias + j), vload(theta, bias + j + lanes)
                a2, a3 = vload(theta, bias + j + 2 * lanes), vload(theta, bias + j + 3 * lanes)
                for p in range(start, end, 2):
                    o, v = index[p] + j, value[p + 1]
                    a0 = vfma(a0, v, vload(theta, o))
                    a1 = vfma(a1, v, vload(theta, o + lanes))
                    a2 = vfma(a2, v, vload(theta, o + 2 * lanes))
                    a3 = vfma(a3, v, vload(theta, o + 3 * lanes))
                base = e * P + j
                vstore(Z, base, a0)
                vstore(Z, base + lanes, a1)
                vstore(Z, base + 2 * lanes, a2)
                vstore(Z, base + 3 * lanes, a3)
            else:
                for t in range(j, hi, lanes):
                    acc = vload(theta, bias + t)
                    for p in range(start, end, 2):
                        acc = vfma(acc, value[p + 1], vload(theta, index[p] + t))
                    vstore(Z, e * P + t, acc)
    restore_subnormals(previous)


@njit(cache=True, error_model="numpy")
def by_pixel(index, value, ptr, rows, offset, P, n_in, start, entries, values):
    """The batch's nonzero pixels regrouped by pixel (a counting sort): for pixel i, entries
    start[i]..start[i+1] of (entries: example number, values: pixel value)."""
    start[:] = 0
    for e in range(rows.size):
        r = rows[e]
        for p in range(2 * ptr[r], 2 * ptr[r + 1], 2):
            start[(index[p] - offset) // P + 1] += 1
    for i in range(n_in):
        start[i + 1] += start[i]
    fill = start[:n_in].copy()
    for e in range(rows.size):
        r = rows[e]
        for p in range(2 * ptr[r], 2 * ptr[r + 1], 2):
            i = (index[p] - offset) // P
            entries[fill[i]] = e
            values[fill[i]] = value[p + 1]
            fill[i] += 1


@njit(**OPTIONS)
def sparse_gradient(start, entries, values, grad, offset, n_in, P, DZ, lanes, lo, hi):
    """g(W̄₀)[i, lo:hi] = Σ over the batch's examples e with pixel i nonzero: xₑᵢ δₑ[lo:hi], for every
    pixel (zero where none is), into grad[offset : offset + n_in·P]: each row block summed in
    registers and written once. DZ flat (w·P); lo, hi multiples of lanes."""
    block = 4 * lanes
    previous = flush_subnormals()  # (per thread: the control register is each thread's own)
    for j in range(lo, hi, block):
        for i in range(n_in):
            o = offset + i * P + j
            if j + block <= hi:
                a0 = a1 = a2 = a3 = vmul(0.0, vload(DZ, 0))
                for q in range(start[i], start[i + 1]):
                    d, v = entries[q] * P + j, values[q]
                    a0 = vfma(a0, v, vload(DZ, d))
                    a1 = vfma(a1, v, vload(DZ, d + lanes))
                    a2 = vfma(a2, v, vload(DZ, d + 2 * lanes))
                    a3 = vfma(a3, v, vload(DZ, d + 3 * lanes))
                vstore(grad, o, a0)
                vstore(grad, o + lanes, a1)
                vstore(grad, o + 2 * lanes, a2)
                vstore(grad, o + 3 * lanes, a3)
            else:
                for t in range(0, hi - j, lanes):
                    acc = vmul(0.0, vload(DZ, 0))
                    for q in range(start[i], start[i + 1]):
                        acc = vfma(acc, values[q], vload(DZ, entries[q] * P + j + t))
                    vstore(grad, o + t, acc)
    restore_subnormals(previous)


@njit(**OPTIONS)
def bias_activate(H, theta, bias, lo, hi, P, n, code, HD, draws, draw_offset, dropout, c):
    """For rows e in [lo, hi): H[e, :n] ← σ(H[e, :n] + b) (H flat (w·P); bias < 0: b is in H
    already); with dropout HD[e, :n] = H[e, :n] ⊙ mask. Softmax (code 5) over each row."""
    for e in range(lo, hi):
        base = e * P
        if bias >= 0:
            for j in range(n):
                H[base + j] += theta[bias + j]
        if code == 5:
            softmax(H, base, n, c)
        else:
            squash(code, H, base, base + n, c)
        if dropout:
            scale, keep, zero = c[DROP_SCALE], c[KEEP], c[ZERO]
            for j in range(n):
                HD[base + j] = H[base + j] * (scale if draws[draw_offset + e * n + j] < keep else zero)


@njit(**OPTIONS)
def hidden_delta(DA, n, H, P, lo, hi, code, DZ, draws, draw_offset, dropout, c):
    """For rows e in [lo, hi): DZ[e, :n] = DA[e, :n] ⊙ mask ⊙ σ'(H[e, :n]), zero in the padding.
    DA (w, n); H, DZ flat (w·P)."""
    flat = DA.reshape(-1)
    for e in range(lo, hi):
        base = e * P
        for j in range(n):
            DZ[base + j] = flat[e * n + j]
        if dropout:
            scale, keep, zero = c[DROP_SCALE], c[KEEP], c[ZERO]
            for j in range(n):
                DZ[base + j] *= scale if draws[draw_offset + e * n + j] < keep else zero
        times_slope(code, DZ, H, base, base + n, c)
        for j in range(n, P):
            DZ[base + j] = c[ZERO]


@njit(**OPTIONS)
def update_all(theta, grad, m, s, lows, highs, decays, opt, nesterov, c, step, eps_root, first, last):
    """The optimizer on the ranges [lows[k], highs[k]) of θ for k in [first, last) (decays[k]:
    weights or biases)."""
    previous = flush_subnormals()
    for k in range(first, last):
        update(theta, grad, m, s, lows[k], highs[k], decays[k] != 0, opt, nesterov, c, step, eps_root)
    restore_subnormals(previous)


# ---- the same, shared out between `parts` threads (the team of engines/blas_calls.py)
@njit(**PARTS)
def sparse_forward_parts(index, value, ptr, rows, theta, bias, P, Z, lanes, parts):
    for t in prange(parts):
        lo, hi = bounds(P // lanes, t, parts, 1)
        sparse_forward(index, value, ptr, rows, theta, bias, P, Z, lanes, lo * lanes, hi * lanes)


@njit(**PARTS)
def sparse_gradient_parts(start, entries, values, grad, offset, n_in, P, DZ, lanes, parts):
    for t in prange(parts):
        lo, hi = bounds(P // lanes, t, parts, 1)
        sparse_gradient(start, entries, values, grad, offset, n_in, P, DZ, lanes, lo * lanes, hi * lanes)


@njit(**PARTS)
def bias_activate_parts(H, theta, bias, w, P, n, code, HD, draws, draw_offset, dropout, c, parts):
    for t in prange(parts):
        lo, hi = bounds(w, t, parts, 1)
        bias_activate(H, theta, bias, lo, hi, P, n, code, HD, draws, draw_offset, dropout, c)


@njit(**PARTS)
def hidden_delta_parts(DA, n, H, P, w, code, DZ, draws, draw_offset, dropout, c, parts):
    for t in prange(parts):
        lo, hi = bounds(w, t, parts, 1)
        hidden_delta(DA, n, H, P, lo, hi, code, DZ, draws, draw_offset, dropout, c)


@njit(**PARTS)
def update_all_parts(theta, grad, m, s, lows, highs, decays, opt, nesterov, c, step, eps_root, parts):
    for t in prange(parts):
        first, last = (lows.size * t) // parts, (lows.size * (t + 1)) // parts
        update_all(theta, grad, m, s, lows, highs, decays, opt, nesterov, c, step, eps_root, first, last)


def chunks(woff, boff, pads) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(lows, highs, decays): θ cut into pieces of at most CHUNK elements, weights and biases apart."""
    lows, highs, decays = [], [], []
    for w, b, p in zip(woff, boff, pads[1:]):
        for start, stop, decay in ((w, b, 1), (b, b + p, 0)):
            for low in range(start, stop, CHUNK):
                lows.append(low)
                highs.append(min(low + CHUNK, stop))
                decays.append(decay)
    as_array = lambda values: np.array(values, np.int64)  # noqa: E731
    return as_array(lows), as_array(highs), as_array(decays)


class WideSteps:
    """Buffers and the per-step sequence of products and kernels for one CompiledPlan."""

    def __init__(self, plan) -> None:
        self.plan = plan
        sizes, pads, woff, boff = plan.layout
        b, dtype = plan.batch_size, plan.dtype
        self.H = [None] + [np.zeros(b * p, dtype) for p in pads[1:]]  # H_l flat (b·P_l)
        self.HD = [None] + [np.zeros(b * p if plan.dropout else 0, dtype) for p in pads[1:]]
        self.DZ = [None] + [np.zeros(b * p, dtype) for p in pads[1:]]
        self.DA = np.zeros(b * max(sizes[1:-1], default=1), dtype)
        self.X = np.zeros((b, sizes[0]), dtype)  # gathered rows, for dense inputs only
        self.W = [theta_view(plan.theta, w, b_, n_in, p) for w, b_, n_in, p in zip(woff, boff, sizes[:-1], pads[1:])]
        self.G = [theta_view(plan.grad, w, b_, n_in, p) for w, b_, n_in, p in zip(woff, boff, sizes[:-1], pads[1:])]
        self.ranges = chunks(woff, boff, pads)
        self.start = np.zeros(sizes[0] + 1, np.int64)  # the batch's nonzero pixels by pixel
        self.entries = np.zeros(b * sizes[0], np.int64)
        self.values = np.zeros(b * sizes[0], dtype)

    def run(self, x, Y, labels, order, first, steps, width, draws, index, opt, nesterov, c, h) -> tuple[float, int]:
        """Steps first..first+steps−1 (each of `width` rows); returns (summed loss, correct)."""
        parts = parallel_threads()
        if parts < 2:
            return self._steps(x, Y, labels, order, first, steps, width, draws, index, opt, nesterov, c, h, 1)
        with team(parts):
            return self._steps(x, Y, labels, order, first, steps, width, draws, index, opt, nesterov, c, h, parts)

    def _steps(self, x, Y, labels, order, first, steps, width, draws, index, opt, nesterov, c, h, parts):
        """run()'s steps; parts > 1: shared out between that many threads of blas_calls.team."""
        plan = self.plan
        sizes, pads, woff, boff = plan.layout
        L, lanes, dropout = len(sizes) - 1, plan.lanes, int(bool(plan.dropout))
        sparse, ptr, pairs, values = index
        theta, grad, acts = plan.theta, plan.grad, plan.acts
        scale = plan.dtype.type(1.0) / plan.dtype.type(width)  # ∂C/∂z for the batch mean
        total_loss, correct = 0.0, 0
        no_draws = np.zeros(0, plan.dtype)
        split = parts > 1
        for k in range(steps):
            start = (first + k) * plan.batch_size
            rows = order[start : start + width]
            step_draws = draws[k] if dropout else no_draws
            offsets = np.cumsum([0] + [width * n for n in sizes[1:-1]])  # each hidden layer's draws
            H = [None] + [buffer[: width * p].reshape(width, p) for buffer, p in zip(self.H[1:], pads[1:])]
            HD = [None] + [buffer[: width * p].reshape(width, p) if dropout else buffer
                           for buffer, p in zip(self.HD[1:], pads[1:])]
            DZ = [None] + [buffer[: width * p].reshape(width, p) for buffer, p in zip(self.DZ[1:], pads[1:])]
            # ---- forward: layer 0 over the nonzero pixels (or a product), then products
            if sparse and split:
                sparse_forward_parts(pairs, values, ptr, rows, theta, boff[0], pads[1], self.H[1], lanes, parts)
            elif sparse:
                sparse_forward(pairs, values, ptr, rows, theta, boff[0], pads[1], self.H[1], lanes, 0, pads[1])
            else:
                X = self.X[:width]
                np.take(x, rows, axis=0, out=X, mode="clip")
                matmul(X, self.W[0][0], H[1], parts)
            for l in range(1, L + 1):
                if l > 1:
                    matmul((HD if dropout else H)[l - 1][:, : sizes[l - 1]], self.W[l - 1][0], H[l], parts)
                args = (self.H[l], theta, -1 if l == 1 and sparse else boff[l - 1])
                rest = (pads[l], sizes[l], acts[l - 1], self.HD[l], step_draws, offsets[l - 1] if l < L else 0,
                        dropout if l < L else 0, c)
                if split:
                    bias_activate_parts(*args, width, *rest, parts)
                else:
                    bias_activate(*args, 0, width, *rest)
            loss, right = output_delta(self.H[L], self.DZ[L], 0, pads[L], width, sizes[L], pads[L], Y, labels, order,
                                       start, plan.rule, plan.loss_code, acts[L - 1], scale, c)
            total_loss += loss
            correct += right
            # ---- backward: g = A_{l−1}ᵀ δ_l, δ_{l−1} = (δ_l W̄_lᵀ) ⊙ mask ⊙ σ'
            for l in range(L, 0, -1):
                weight, bias_grad = self.G[l - 1]
                np.sum(DZ[l], axis=0, out=bias_grad)
                if l > 1:
                    matmul((HD if dropout else H)[l - 1][:, : sizes[l - 1]].T, DZ[l], weight, parts)
                    DA = self.DA[: width * sizes[l - 1]].reshape(width, sizes[l - 1])
                    matmul(DZ[l], self.W[l - 1][0].T, DA, parts)
                    args = (DA, sizes[l - 1], self.H[l - 1], pads[l - 1])
                    rest = (acts[l - 2], self.DZ[l - 1], step_draws, offsets[l - 2], dropout, c)
                    if split:
                        hidden_delta_parts(*args, width, *rest, parts)
                    else:
                        hidden_delta(*args, 0, width, *rest)
                elif sparse:
                    by_pixel(pairs, values, ptr, rows, woff[0], pads[1], sizes[0], self.start, self.entries, self.values)
                    args = (self.start, self.entries, self.values, grad, woff[0], sizes[0], pads[1], self.DZ[1], lanes)
                    if split:
                        sparse_gradient_parts(*args, parts)
                    else:
                        sparse_gradient(*args, 0, pads[1])
                else:
                    matmul(self.X[:width].T, DZ[1], weight, parts)
            # ---- the update of all θ
            plan.t[0] += 1
            t = int(plan.t[0])
            step, eps_root = 0.0, 0.0
            if opt >= 2:  # Adam: PyTorch's step multiplied through by √c₂ (optimizers.Adam)
                root2 = math.sqrt(1.0 - h[H_BETA2] ** t)
                step, eps_root = h[H_LR] * root2 / (1.0 - h[H_BETA1] ** t), h[H_EPS] * root2
            args = (theta, grad, plan.m, plan.s, *self.ranges, opt, nesterov, c, plan.dtype.type(step),
                    plan.dtype.type(eps_root))
            if split:
                update_all_parts(*args, parts)
            else:
                update_all(*args, 0, len(self.ranges[0]))
        return total_loss, correct


def theta_view(flat, w, b, n_in, p):
    """(W̄ (n_in, P), b (P,)) views of a layer in a flat array."""
    return flat[w:b].reshape(n_in, p), flat[b : b + p]
