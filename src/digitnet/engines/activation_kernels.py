"""Activation functions for the compiled kernels, and the constants every kernel shares.

σ and σ' as activations.py computes them, on scalars (activate, slope) or over a range of a flat
array in one loop per kind, so that each loop vectorises (squash, times_slope); softmax over a
row. Codes: 0 identity, 1 sigmoid, 2 relu, 3 tanh, 4 leaky_relu, 5 softmax (output only).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, types
from numba.extending import overload

# No contract or reassoc: with them LLVM optimises a freshly compiled kernel and one loaded from
# Numba's disk cache differently (numba#10617), and the first run on a machine (compiling) trained
# other weights than every later run (cached). Without them both round alike (measured: 3b1b epoch
# +15%, modern +9%, wide unchanged). No nnan/ninf: a diverging run must still show NaN. (error_model="numpy" everywhere: x/0 is inf or
# NaN as in NumPy, with no check to stop a loop vectorising.)
FLAGS = {"nsz"}

# Indices into c, the constants in the network's dtype (the reference casts the same Python floats
# to the array's dtype, so the values agree), and into h, float64 hyper-parameters.
LR, DECAY, MU, BETA1, ONE_MINUS_BETA1, BETA2, ONE_MINUS_BETA2, HALF, ONE, LEAKY, KEEP, DROP_SCALE, DECAY_FACTOR, \
    ZERO = range(14)
H_LR, H_BETA1, H_BETA2, H_EPS, H_GRAD_SCALE = range(5)


@njit(cache=True, fastmath=FLAGS, error_model="numpy", inline="always")
def activate(code, z, c):
    """σ(z) for an elementwise activation, as activations.py computes it."""
    if code == 1:
        return (fast_tanh(z * c[HALF]) + c[ONE]) * c[HALF]  # ½(1 + tanh(z/2)): never overflows
    if code == 2:
        return c[ZERO] if z <= c[ZERO] else z  # (NaN stays NaN, as in np.maximum)
    if code == 3:
        return fast_tanh(z)
    if code == 4:
        return z if z > c[ZERO] else z * c[LEAKY]
    return z


@njit(cache=True, fastmath=FLAGS, error_model="numpy", inline="always")
def slope(code, a, c):
    """σ'(z) from a = σ(z)."""
    if code == 1:
        return a * (c[ONE] - a)
    if code == 2:
        return c[ONE] if a > c[ZERO] else c[ZERO]
    if code == 3:
        return c[ONE] - a * a
    if code == 4:
        return c[ONE] if a > c[ZERO] else c[LEAKY]
    return c[ONE]


# float32 tanh as a rational function (Eigen's and XLA's: odd polynomial of degree 13 over an even
# one of degree 6, clamped at ±7.9, where tanh is 1 in float32): a few ulp from libm's value, and
# pure arithmetic, so a loop of it vectorises; libm's tanhf is a call per value (32 ns here).
T1, T3, T5, T7 = 4.89352455891786e-03, 6.37261928875436e-04, 1.48572235717979e-05, 5.12229709037114e-08
T9, T11, T13 = -8.60467152213735e-11, 2.00018790482477e-13, -2.76076847742355e-16
U0, U2, U4, U6 = 4.89352518554385e-03, 2.26843463243900e-03, 1.18534705686654e-04, 1.19825839466702e-06
T_CLAMP, T_TINY = 7.90531110763549805, 0.0004


def fast_tanh(z):
    """tanh(z): for float32 the rational approximation (tanh(z) = z below 4e-4), for float64
    libm's tanh (the approximation is float32-accurate only). Numba only."""
    raise NotImplementedError("compiled only")


@overload(fast_tanh, jit_options={"fastmath": FLAGS, "error_model": "numpy"})
def _fast_tanh(z):
    if z != types.float32:
        return lambda z: math.tanh(z)
    t1, t3, t5, t7, t9, t11, t13 = (np.float32(v) for v in (T1, T3, T5, T7, T9, T11, T13))
    u0, u2, u4, u6 = (np.float32(v) for v in (U0, U2, U4, U6))
    clamp, tiny = np.float32(T_CLAMP), np.float32(T_TINY)

    def implementation(z):
        x = min(max(z, -clamp), clamp)
        x2 = x * x
        p = x2 * t13 + t11
        p = x2 * p + t9
        p = x2 * p + t7
        p = x2 * p + t5
        p = x2 * p + t3
        p = x2 * p + t1
        q = x2 * u6 + u4
        q = x2 * q + u2
        q = x2 * q + u0
        return z if abs(z) < tiny else x * p / q

    return implementation


@njit(cache=True, fastmath=FLAGS, error_model="numpy")
def squash(code, H, lo, hi, c):
    """H[lo:hi] ← σ(H[lo:hi]) for an elementwise activation (one loop per kind: it vectorises)."""
    half, one, zero, leaky = c[HALF], c[ONE], c[ZERO], c[LEAKY]
    if code == 1:
        for i in range(lo, hi):
            H[i] = (fast_tanh(H[i] * half) + one) * half  # ½(1 + tanh(z/2)): never overflows
    elif code == 2:
        for i in range(lo, hi):
            H[i] = zero if H[i] <= zero else H[i]  # (NaN stays NaN, as in np.maximum)
    elif code == 3:
        for i in range(lo, hi):
            H[i] = fast_tanh(H[i])
    elif code == 4:
        for i in range(lo, hi):
            H[i] = H[i] if H[i] > zero else H[i] * leaky


@njit(cache=True, fastmath=FLAGS, error_model="numpy")
def times_slope(code, D, H, lo, hi, c):
    """D[lo:hi] ← D[lo:hi] ⊙ σ'(z), from a = H[lo:hi] (one loop per kind: it vectorises)."""
    one, zero, leaky = c[ONE], c[ZERO], c[LEAKY]
    if code == 1:
        for i in range(lo, hi):
            D[i] = D[i] * (H[i] * (one - H[i]))
    elif code == 2:
        for i in range(lo, hi):
            D[i] = D[i] * (one if H[i] > zero else zero)
    elif code == 3:
        for i in range(lo, hi):
            D[i] = D[i] * (one - H[i] * H[i])
    elif code == 4:
        for i in range(lo, hi):
            D[i] = D[i] * (one if H[i] > zero else leaky)


@njit(cache=True, fastmath=FLAGS, error_model="numpy")
def softmax(H, base, n, c):
    """H[base : base + n] ← softmax of it (the max subtracted: exp ≤ 1)."""
    top = H[base]
    for j in range(1, n):
        top = max(top, H[base + j])
    total = c[ZERO]
    for j in range(n):
        H[base + j] = math.exp(H[base + j] - top)
        total += H[base + j]
    for j in range(n):
        H[base + j] = H[base + j] / total
