"""The compiled engine for wide networks: BLAS for the dense products, compiled kernels for the rest.

With hundreds of neurons a layer the products dominate and a tuned BLAS runs them at the machine's
rate, so they stay matrix products (NumPy, on the trainer's threads). What is compiled is what a
matrix library cannot do or does in many passes:
- layer 0 over the nonzero pixels only (MNIST: a fifth of the dense FLOPs), forward and weight
  gradient, in blocks of 4 SIMD tiles of columns shared out between threads;
- bias + activation (+ dropout) in one pass, δ_{l−1} = (δ_l W̄ᵀ) ⊙ mask ⊙ σ' in one pass;
- the optimizer's update of all θ in one vectorised, threaded pass (optimizers.py's rules).
The layout is kernels.py's (W̄ = Wᵀ per layer, padded to the SIMD width, in one flat θ), so
CompiledPlan loads and stores it the same way. Shapes: a batch of w examples is H_l (w, P_l).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from digitnet.engines.activation_kernels import (DROP_SCALE, FLAGS, H_BETA1, H_BETA2, H_EPS, H_LR, KEEP, ZERO,
                                                 softmax, squash, times_slope)
from digitnet.engines.kernels import output_delta, update
from digitnet.engines.simd import flush_subnormals, restore_subnormals, vfma, vload, vmul, vstore

# Threads: BLAS runs the products on the trainer's threads; the kernels run on the calling thread.
# (Threaded kernels measured slower on this shared 2-core machine: OpenMP's and OpenBLAS's spinning
# threads fought over the cores, 2-3x slower than one thread under load.) prange is then range.
PARALLEL = False
OPTIONS = {"cache": True, "fastmath": FLAGS, "error_model": "numpy", "parallel": PARALLEL}
CHUNK = 1 << 15  # elements per thread task in the update


@njit(**OPTIONS)
def sparse_forward(index, value, ptr, rows, theta, bias, P, Z, lanes):
    """Z[e, :] = b + Σ over the nonzero pixels i of row rows[e]: xᵢ W̄₀[i, :]; Z flat (w·P)."""
    block = 4 * lanes
    for b in prange((P + block - 1) // block):
        previous = flush_subnormals()  # (per thread: the control register is each thread's own)
        j = b * block
        for e in range(rows.size):
            r = rows[e]
            start, end = 2 * ptr[r], 2 * ptr[r + 1]
            if j + block <= P:  # four tiles of columns: four accumulators per pixel row
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
                for t in range(j, P, lanes):
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
def sparse_gradient(start, entries, values, grad, offset, n_in, P, DZ, lanes):
    """g(W̄₀)[i, :] = Σ over the batch's examples e with pixel i nonzero: xₑᵢ δₑ, for every pixel
    (zero where none is), into grad[offset : offset + n_in·P]: each row block summed in registers
    and written once; threads own whole column blocks. DZ flat (w·P)."""
    block = 4 * lanes
    for b in prange((P + block - 1) // block):
        previous = flush_subnormals()  # (per thread: the control register is each thread's own)
        j = b * block
        for i in range(n_in):
            o = offset + i * P + j
            if j + block <= P:
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
                for t in range(0, P - j, lanes):
                    acc = vmul(0.0, vload(DZ, 0))
                    for q in range(start[i], start[i + 1]):
                        acc = vfma(acc, values[q], vload(DZ, entries[q] * P + j + t))
                    vstore(grad, o + t, acc)
        restore_subnormals(previous)


@njit(**OPTIONS)
def bias_activate(H, theta, bias, w, P, n, code, HD, draws, draw_offset, dropout, c):
    """H[e, :n] ← σ(H[e, :n] + b) (H flat (w·P); bias < 0: b is in H already); with dropout
    HD[e, :n] = H[e, :n] ⊙ mask. Softmax (code 5) over each row."""
    for e in prange(w):
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
def hidden_delta(DA, n, H, P, w, code, DZ, draws, draw_offset, dropout, c):
    """DZ[e, :n] = DA[e, :n] ⊙ mask ⊙ σ'(H[e, :n]), zero in the padding. DA (w, n); H, DZ flat (w·P)."""
    flat = DA.reshape(-1)
    for e in prange(w):
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
def update_all(theta, grad, m, s, lows, highs, decays, opt, nesterov, c, step, eps_root):
    """The optimizer on every range [lows[k], highs[k]) of θ (decays[k]: weights or biases), in
    chunks shared out between threads."""
    for k in prange(lows.size):
        previous = flush_subnormals()
        update(theta, grad, m, s, lows[k], highs[k], decays[k] != 0, opt, nesterov, c, step, eps_root)
        restore_subnormals(previous)


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
        plan = self.plan
        sizes, pads, woff, boff = plan.layout
        L, lanes, dropout = len(sizes) - 1, plan.lanes, int(bool(plan.dropout))
        sparse, ptr, pairs, values = index
        theta, grad, acts = plan.theta, plan.grad, plan.acts
        scale = plan.dtype.type(1.0) / plan.dtype.type(width)  # ∂C/∂z for the batch mean
        total_loss, correct = 0.0, 0
        no_draws = np.zeros(0, plan.dtype)
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
            if sparse:
                sparse_forward(pairs, values, ptr, rows, theta, boff[0], pads[1], self.H[1], lanes)
            else:
                X = self.X[:width]
                np.take(x, rows, axis=0, out=X, mode="clip")
                np.matmul(X, self.W[0][0], out=H[1])
            for l in range(1, L + 1):
                if l > 1:
                    below = (HD if dropout else H)[l - 1][:, : sizes[l - 1]]
                    np.matmul(below, self.W[l - 1][0], out=H[l])
                bias = -1 if l == 1 and sparse else boff[l - 1]
                drop = dropout if l < L else 0
                bias_activate(self.H[l], theta, bias, width, pads[l], sizes[l], acts[l - 1], self.HD[l],
                              step_draws, offsets[l - 1] if l < L else 0, drop, c)
            loss, right = output_delta(self.H[L], self.DZ[L], 0, pads[L], width, sizes[L], pads[L], Y, labels, order,
                                       start, plan.rule, plan.loss_code, acts[L - 1], scale, c)
            total_loss += loss
            correct += right
            # ---- backward: g = A_{l−1}ᵀ δ_l, δ_{l−1} = (δ_l W̄_lᵀ) ⊙ mask ⊙ σ'
            for l in range(L, 0, -1):
                weight, bias_grad = self.G[l - 1]
                np.sum(DZ[l], axis=0, out=bias_grad)
                if l > 1:
                    below = (HD if dropout else H)[l - 1][:, : sizes[l - 1]]
                    np.matmul(below.T, DZ[l], out=weight)
                    DA = self.DA[: width * sizes[l - 1]].reshape(width, sizes[l - 1])
                    np.matmul(DZ[l], self.W[l - 1][0].T, out=DA)
                    hidden_delta(DA, sizes[l - 1], self.H[l - 1], pads[l - 1], width, acts[l - 2], self.DZ[l - 1],
                                 step_draws, offsets[l - 2], dropout, c)
                elif sparse:
                    by_pixel(pairs, values, ptr, rows, woff[0], pads[1], sizes[0], self.start, self.entries, self.values)
                    sparse_gradient(self.start, self.entries, self.values, grad, woff[0], sizes[0], pads[1], self.DZ[1],
                                    lanes)
                else:
                    np.matmul(self.X[:width].T, DZ[1], out=weight)
            # ---- the update of all θ
            plan.t[0] += 1
            t = int(plan.t[0])
            step, eps_root = 0.0, 0.0
            if opt >= 2:  # Adam: PyTorch's step multiplied through by √c₂ (optimizers.Adam)
                root2 = math.sqrt(1.0 - h[H_BETA2] ** t)
                step, eps_root = h[H_LR] * root2 / (1.0 - h[H_BETA1] ** t), h[H_EPS] * root2
            update_all(theta, grad, plan.m, plan.s, *self.ranges, opt, nesterov, c, plan.dtype.type(step),
                       plan.dtype.type(eps_root))
        return total_loss, correct


def theta_view(flat, w, b, n_in, p):
    """(W̄ (n_in, P), b (P,)) views of a layer in a flat array."""
    return flat[w:b].reshape(n_in, p), flat[b : b + p]
