"""Numba kernels of the compiled engine: whole mini-batch steps of a small dense network.

One call runs `steps` mini-batch steps; per step, for the rows order[k·b:(k+1)·b] (read in place,
never copied into a batch):
    forward    z = b + Σₖ aₖ W̄[k, :]   a = σ(z)   (layer by layer: each example's sum in SIMD tiles,
               then σ over the layer's whole block; sigmoid and tanh as a rational tanh)
    delta      δ_L from the output rule (fused softmax/sigmoid forms, or (a − y) ⊙ σ')
    backward   δ_{l−1}[k] = (W̄[k, :] · δ_l) ⊙ σ'(a_{l−1}[k])   (⊙ the dropout mask)
    update     g = Σ_examples a_{l−1}[k] δ_l, and the optimizer on each row (optimizers.py's rules)

Layout (compiled.py builds it): each layer's weights are stored transposed, W̄ = Wᵀ with shape
(n_in, P), one row per input unit, P = n_out rounded up to the SIMD width (the padding is zero and
stays zero under every update rule); the bias (P,) follows. All layers live in one flat θ; the
optimizer's buffers (m, s, or the velocity in m) are laid out alike. Layer 0 reads its input
through an index of the nonzero pixels when the data is sparse: for row r, entries
ptr[r]..ptr[r+1] of (index, value), two views of one buffer holding pairs (offset of the pixel's
row of W̄₀ in θ, pixel value) side by side, so a random row is one stream of memory. An MNIST image
has ~150 nonzero pixels of 784, so the forward product and the weight gradient of layer 0 cost
~150 row operations per image instead of 784.

Activation codes: 0 identity, 1 sigmoid, 2 relu, 3 tanh, 4 leaky_relu, 5 softmax (output only).
Output rules: 0 quadratic (a − y) ⊙ σ', 1 quadratic through softmax, 2 softmax + cross-entropy
((a·Σy − y)), 3 sigmoid + binary cross-entropy (a − y); each divided by the batch width.
Optimizers: 0 SGD, 1 momentum, 2 Adam, 3 AdamW; plain SGD without weight decay is "folded": η
rides in the output delta and layer 0 is updated straight from each image's nonzero pixels.
The kernels run with subnormal numbers flushed to zero (simd.flush_subnormals says why).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from digitnet.engines.activation_kernels import (BETA1, BETA2, DECAY, DECAY_FACTOR, DROP_SCALE, FLAGS, H_BETA1,
                                                 H_BETA2, H_EPS, H_GRAD_SCALE, H_LR, KEEP, LR, MU, ONE,
                                                 ONE_MINUS_BETA1, ONE_MINUS_BETA2, ZERO, slope, softmax, squash,
                                                 times_slope)
from digitnet.engines.simd import flush_subnormals, prefetch, restore_subnormals, sload, vadd, vfma, vload, vstore, vsub

SGD, MOMENTUM, ADAM, ADAMW = range(4)
AHEAD = 10  # rows prefetched ahead (measured: 4–40 all help; 10 was best)


@njit(cache=True)
def count_nonzero(x, ptr):
    """ptr (n + 1,) ← where each row's nonzero entries start in a row-by-row list of them: ptr[n]
    of them in all (x: (n, m))."""
    n, m = x.shape
    ptr[0] = 0
    for r in range(n):
        count = 0
        for i in range(m):
            count += x[r, i] != 0
        ptr[r + 1] = ptr[r] + count


@njit(cache=True)
def fill_pairs(x, ptr, stride, offset, index, value):
    """The nonzero entries x[r, i] as pairs in one buffer seen two ways, row r's from 2·ptr[r]:
    index[2p] = i·stride + offset (where pixel i's weight row starts in θ), value[2p + 1] = x[r, i]."""
    n, m = x.shape
    for r in range(n):
        p = 2 * ptr[r]
        for i in range(m):
            if x[r, i] != 0:
                index[p] = i * stride + offset
                value[p + 1] = x[r, i]
                p += 2


@njit(cache=True, fastmath=FLAGS, error_model="numpy")
def update(theta, grad, m, s, lo, hi, decay, opt, nesterov, c, step, eps_root):
    """One optimizer step on θ[lo:hi] from g (optimizers.py's rules, operation for operation).
    decay: whether weight decay applies (weights yes, biases no).

    The options enter as factors, not branches, so each loop vectorises: a term that does not
    apply is multiplied by 0 (x·0 + g is g) or a factor by 1 (x·1 is x), exactly."""
    zero, one = c[ZERO], c[ONE]
    lr = c[LR]
    lam = c[DECAY] if decay else zero  # weights only, never biases
    # Views with indices from 0: Numba then knows no index is negative and the loops vectorise.
    P, G = theta[lo:hi], grad[lo:hi]
    if opt == SGD:
        for i in range(P.size):
            d = P[i] * lam + G[i]
            P[i] = P[i] - d * lr
    elif opt == MOMENTUM:
        V = m[lo:hi]
        mu = c[MU]
        own, carried = (one, mu) if nesterov else (zero, one)  # Nesterov: η(g + μv); else ηv
        for i in range(P.size):
            d = P[i] * lam + G[i]
            v = V[i] * mu + d
            V[i] = v
            P[i] = P[i] - (d * own + v * carried) * lr
    else:
        M, S = m[lo:hi], s[lo:hi]
        beta1, beta2, one_minus_beta1, one_minus_beta2 = c[BETA1], c[BETA2], c[ONE_MINUS_BETA1], c[ONE_MINUS_BETA2]
        coupled = lam if opt == ADAM else zero  # Adam: g + λp
        factor = c[DECAY_FACTOR] if opt == ADAMW and decay else one  # AdamW: p ← p(1 − ηλ) first
        for i in range(P.size):
            p = P[i] * factor
            d = p * coupled + G[i]
            mi = M[i] * beta1 + d * one_minus_beta1
            si = S[i] * beta2 + (d * d) * one_minus_beta2
            M[i] = mi
            S[i] = si
            P[i] = p - (mi / (math.sqrt(si) + eps_root)) * step


@njit(cache=True, fastmath=FLAGS, error_model="numpy")
def output_delta(H, DZ, first, stride, width, n_out, p_out, Y, labels, order, start, rule, loss_code, out_code, scale,
                 c):
    """Loss, accuracy and δ_L for the output rows H[first + e·stride :][:n_out] of examples
    order[start + e], e < width; δ into DZ alike (zero in the padding up to p_out). Returns
    (summed loss, correct count)."""
    total_loss = 0.0
    correct = 0
    for e in range(width):
        r = order[start + e]
        base = first + e * stride
        best, top = 0, H[base]
        row_sum, inner = c[ZERO], c[ZERO]
        for j in range(n_out):
            a, y = H[base + j], Y[r, j]
            if a > top:  # the first largest output, as argmax
                best, top = j, a
            row_sum += y
            if loss_code == 0:
                d = float(a) - float(y)
                total_loss += 0.5 * d * d
            elif loss_code == 1:
                if y != 0:  # (0 · log a adds nothing: one log per one-hot row)
                    total_loss -= float(y) * math.log(max(float(a), 1e-12))
            else:
                total_loss -= float(y) * math.log(max(float(a), 1e-12)) + (1.0 - float(y)) * math.log(
                    max(1.0 - float(a), 1e-12))
            if rule == 1:  # quadratic through softmax: δ = a ⊙ (d − Σ d·a), d = (a − y)/w
                inner += (a - y) * scale * a
        correct += best == labels[r]
        for j in range(n_out):
            a, y = H[base + j], Y[r, j]
            if rule == 0:
                delta = (a - y) * scale * slope(out_code, a, c)
            elif rule == 1:
                delta = a * ((a - y) * scale - inner)
            elif rule == 2:
                delta = (a * row_sum - y) * scale
            else:
                delta = (a - y) * scale
            DZ[base + j] = delta
        for j in range(n_out, p_out):
            DZ[base + j] = c[ZERO]
    return total_loss, correct


@njit(cache=True, fastmath=FLAGS, error_model="numpy")
def train_steps(x, sparse, ptr, index, value, Y, labels, order, first, steps, batch,
                theta, grad, m, s, sizes, pads, woff, boff, acts, rule, loss_code, opt, fold, nesterov,
                c, h, t, draws, dropout, lanes, H, HD, DZ, zeros, scratch, back):
    """Mini-batch steps first..first+steps−1 of an epoch; returns (summed loss, correct count).

    x (n, n₀); Y (n, n_L); labels (n,); order (n,) this epoch's permutation; θ, g, m, s flat (see
    the module docstring); sizes, pads (L + 1,); woff, boff, acts (L,); c, h constants; t (1,) the
    optimizer's step count (advanced in place); draws (steps, b·Σ hidden units) uniform dropout
    draws; H, HD, DZ (L + 1)·b·Pmax buffers (activations, dropped activations, deltas); zeros
    (lanes,); scratch (2,) in the network's dtype; back: room for each layer l ≥ 1 as W (P_l rows of
    P_{l−1}), zero-initialised.
    """
    previous = flush_subnormals()  # (see simd.py: Adam's decaying moments)
    n = order.size
    L = sizes.size - 1
    pmax = H.size // ((L + 1) * batch)
    total_loss = 0.0
    correct = 0
    n0, p1, w0, b0 = sizes[0], pads[1], woff[0], boff[0]
    for k in range(steps):
        start = (first + k) * batch
        width = min(batch, n - start)
        # ---- forward, layer by layer: the products example by example, then σ over the block
        for e in range(width):
            r = order[start + e]
            base = (1 * batch + e) * pmax
            if sparse and start + e + AHEAD < n:  # ask for a coming row: random rows miss the cache
                ahead = order[start + e + AHEAD]
                for q in range(2 * ptr[ahead], 2 * ptr[ahead + 1], 64 // index.itemsize):
                    prefetch(index, q)
            for j in range(0, p1, lanes):
                acc = vload(theta, b0 + j)
                acc2 = vload(zeros, 0)
                if sparse:  # pairs (offset of the pixel's row in θ, value) of the nonzero pixels
                    p, end = 2 * ptr[r], 2 * ptr[r + 1]
                    while p + 2 < end:  # two accumulators: two FMA chains in flight
                        acc = vfma(acc, sload(value, p + 1), vload(theta, sload(index, p) + j))
                        acc2 = vfma(acc2, sload(value, p + 3), vload(theta, sload(index, p + 2) + j))
                        p += 4
                    if p < end:
                        acc = vfma(acc, sload(value, p + 1), vload(theta, sload(index, p) + j))
                else:
                    for i in range(n0):
                        acc = vfma(acc, x[r, i], vload(theta, w0 + i * p1 + j))
                vstore(H, base + j, vadd(acc, acc2))
        for l in range(1, L + 1):
            n_l, block = sizes[l], l * batch * pmax
            if l > 1:  # z = b + Σₖ aₖ W̄[k, :] from the previous layer's (dropped) output
                source = HD if dropout else H
                n_in, p_l = sizes[l - 1], pads[l]
                for e in range(width):
                    below, base = ((l - 1) * batch + e) * pmax, (l * batch + e) * pmax
                    for j in range(0, p_l, lanes):
                        acc = vload(theta, boff[l - 1] + j)
                        for i in range(n_in):
                            acc = vfma(acc, sload(source, below + i), vload(theta, woff[l - 1] + i * p_l + j))
                        vstore(H, base + j, acc)
            code = acts[l - 1]
            if code == 5:
                for e in range(width):
                    softmax(H, block + e * pmax, n_l, c)
            else:  # elementwise over every row of the block at once (padding too: never read)
                squash(code, H, block, block + width * pmax, c)
            if dropout and l < L:  # inverted dropout: kept units × 1/keep
                offset = 0
                for u in range(1, l):
                    offset += width * sizes[u]
                for e in range(width):
                    base = block + e * pmax
                    for j in range(n_l):
                        mask = c[DROP_SCALE] if draws[k, offset + e * n_l + j] < c[KEEP] else c[ZERO]
                        HD[base + j] = H[base + j] * mask
        # ---- loss, accuracy and the output delta
        n_out, p_out = sizes[L], pads[L]
        scratch[0] = h[H_GRAD_SCALE] / width  # ∂C/∂z for the batch mean (× η when SGD is folded)
        scale = scratch[0]
        loss, right = output_delta(H, DZ, L * batch * pmax, pmax, width, n_out, p_out, Y, labels, order, start, rule,
                                   loss_code, acts[L - 1], scale, c)
        total_loss += loss
        correct += right
        # ---- backward: δ_{l−1} = (Σⱼ δ_l[j] W_l[j, :]) ⊙ mask ⊙ σ'(a_{l−1}), with W_l = W̄_lᵀ copied
        # row by row into `back` first (a few hundred values: cheaper than a horizontal sum per unit)
        offset_back = 0
        for l in range(2, L + 1):
            n_in, p_l, p_in = sizes[l - 1], pads[l], pads[l - 1]
            for j in range(sizes[l]):
                for i in range(n_in):
                    back[offset_back + j * p_in + i] = theta[woff[l - 1] + i * p_l + j]
            offset_back += p_l * p_in
        for l in range(L, 1, -1):
            n_in, p_l, p_in = sizes[l - 1], pads[l], pads[l - 1]
            offset_back = 0
            for u in range(2, l):
                offset_back += pads[u] * pads[u - 1]
            offset = 0
            for u in range(1, l - 1):
                offset += width * sizes[u]
            for e in range(width):
                above, below = (l * batch + e) * pmax, ((l - 1) * batch + e) * pmax
                for j0 in range(0, p_in, lanes):  # (the padding of `back` is zero: so is δ's)
                    acc = vload(zeros, 0)
                    for j in range(sizes[l]):
                        acc = vfma(acc, sload(DZ, above + j), vload(back, offset_back + j * p_in + j0))
                    vstore(DZ, below + j0, acc)
                if dropout:
                    for i in range(n_in):
                        DZ[below + i] *= c[DROP_SCALE] if draws[k, offset + e * n_in + i] < c[KEEP] else c[ZERO]
                times_slope(acts[l - 2], DZ, H, below, below + n_in, c)
        # ---- gradients and the update
        if not fold:
            t[0] += 1
        for l in range(1, L + 1):
            n_in, p_l = sizes[l - 1], pads[l]
            wo, bo = woff[l - 1], boff[l - 1]
            target = theta if fold else grad
            if l == 1:
                if not fold:
                    for i in range(wo, wo + n_in * p_l):
                        grad[i] = c[ZERO]
                for e in range(width):
                    r = order[start + e]
                    above = (batch + e) * pmax
                    if sparse:
                        p_start, p_end = 2 * ptr[r], 2 * ptr[r + 1]
                        for j in range(0, p_l, lanes):  # the delta tile stays in a register
                            delta_tile = vload(DZ, above + j)
                            if fold:  # folded SGD: θ ← θ − x·δ, straight from the nonzero pixels
                                for p in range(p_start, p_end, 2):
                                    o = sload(index, p) + j
                                    vstore(theta, o, vfma(vload(theta, o), -sload(value, p + 1), delta_tile))
                            else:
                                for p in range(p_start, p_end, 2):
                                    o = sload(index, p) + j
                                    vstore(grad, o, vfma(vload(grad, o), sload(value, p + 1), delta_tile))
                    else:
                        for i in range(n_in):
                            v = -x[r, i] if fold else x[r, i]
                            o = wo + i * p_l
                            for j in range(0, p_l, lanes):
                                vstore(target, o + j, vfma(vload(target, o + j), v, vload(DZ, above + j)))
            else:
                source = HD if dropout else H
                for i in range(n_in):
                    o = wo + i * p_l
                    for j in range(0, p_l, lanes):
                        acc = vload(zeros, 0)
                        for e in range(width):
                            below, above = ((l - 1) * batch + e) * pmax, (l * batch + e) * pmax
                            acc = vfma(acc, sload(source, below + i), vload(DZ, above + j))
                        if fold:
                            vstore(theta, o + j, vsub(vload(theta, o + j), acc))
                        else:
                            vstore(grad, o + j, acc)
            for j in range(0, p_l, lanes):  # the bias gradient: Σ over the batch
                acc = vload(zeros, 0)
                for e in range(width):
                    acc = vadd(acc, vload(DZ, (l * batch + e) * pmax + j))
                if fold:
                    vstore(theta, bo + j, vsub(vload(theta, bo + j), acc))
                else:
                    vstore(grad, bo + j, acc)
        if fold:
            t[0] += 1
        else:
            step, eps_root = 0.0, 0.0
            if opt >= ADAM:  # PyTorch's step, multiplied through by √c₂ (optimizers.Adam)
                root2 = math.sqrt(1.0 - h[H_BETA2] ** t[0])
                step = h[H_LR] * root2 / (1.0 - h[H_BETA1] ** t[0])
                eps_root = h[H_EPS] * root2
            scratch[0], scratch[1] = step, eps_root
            for l in range(L):
                update(theta, grad, m, s, woff[l], boff[l], True, opt, nesterov, c, scratch[0], scratch[1])
                update(theta, grad, m, s, boff[l], boff[l] + pads[l + 1], False, opt, nesterov, c, scratch[0],
                       scratch[1])
    restore_subnormals(previous)
    return total_loss, correct
