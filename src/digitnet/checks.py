"""Argument checks at the library's boundaries, in one place.

Every check returns the value in its canonical type or raises ValueError naming the argument,
what was expected and what was got ("batch_size must be a positive integer; got 0"). They are
called where values enter (constructors, TrainConfig, train/predict, file loading, the CLI),
never inside the training loop.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

Array = NDArray[np.floating]

DTYPES = ("float32", "float64")


def _is_number(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float, np.integer, np.floating))


def check_positive(value: Any, name: str) -> float:
    """A finite number > 0, as a float."""
    if not _is_number(value):
        raise ValueError(f"{name} must be a positive number; got {value!r}")
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive number; got {value}")
    return float(value)


def check_non_negative(value: Any, name: str) -> float:
    """A finite number ≥ 0, as a float."""
    if not _is_number(value):
        raise ValueError(f"{name} must be a number ≥ 0; got {value!r}")
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a number ≥ 0; got {value}")
    return float(value)


def check_fraction(value: Any, name: str) -> float:
    """A number in [0, 1) (a probability that cannot be 1: dropout, momentum, β)."""
    if not _is_number(value) or not 0.0 <= value < 1.0:
        raise ValueError(f"{name} must be in [0, 1); got {value!r}")
    return float(value)


def check_positive_int(value: Any, name: str) -> int:
    """An integer ≥ 1 (not a bool)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer; got {value!r}")
    return int(value)


def check_non_negative_int(value: Any, name: str) -> int:
    """An integer ≥ 0 (not a bool)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"{name} must be an integer ≥ 0; got {value!r}")
    return int(value)


def check_bool(value: Any, name: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be true or false; got {value!r}")
    return bool(value)


def check_choice(value: Any, choices: Mapping[str, Any] | Sequence[str], what: str) -> str:
    """A name from a table (activations, losses, inits, optimizers, schedules, ...)."""
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"unknown {what} {value!r}; expected one of {', '.join(choices)}")
    return value


def check_sizes(sizes: Any) -> list[int]:
    """Neurons per layer, input first: at least two positive integers, like [784, 16, 16, 10]."""
    try:
        values = list(sizes)
    except TypeError:
        raise ValueError(f"sizes must be a list of layer sizes like [784, 16, 16, 10]; got {sizes!r}") from None
    if len(values) < 2:
        raise ValueError(f"sizes needs at least an input and an output size, like [784, 10]; got {values}")
    for value in values:
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"sizes must be positive integers; got {values}")
    return [int(v) for v in values]


def check_dtype(dtype: Any) -> str:
    """"float32" or "float64" (a NumPy dtype of either is accepted too)."""
    try:  # (None would be NumPy's float64: refused, it is no dtype)
        name = dtype if isinstance(dtype, str) or dtype is None else np.dtype(dtype).name
    except TypeError:
        name = None
    if name not in DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(DTYPES)}; got {dtype!r}")
    return name


def make_rng(seed: int | np.random.Generator | None, name: str = "seed") -> np.random.Generator:
    """A Generator from a seed (a non-negative integer), a Generator itself, or None (fresh entropy)."""
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0):
        raise ValueError(f"{name} must be a non-negative integer or None; got {seed!r}")
    return np.random.default_rng(seed)


def check_inputs(X: ArrayLike, n_in: int, dtype: np.dtype, name: str = "X") -> Array:
    """Validate a batch of inputs: 2-D (n, n_in), floating point, finite."""
    X = np.asarray(X)
    if X.ndim != 2 or X.shape[1] != n_in:
        hint = " (one example per row; use X.reshape(1, -1) for a single example)" if X.ndim == 1 else ""
        raise ValueError(f"{name} must have shape (n, {n_in}); got {X.shape}{hint}")
    if X.shape[0] == 0:
        raise ValueError(f"{name} must hold at least one example; got shape {X.shape}")
    if X.dtype.kind != "f":
        hint = " (divide 0..255 pixels by 255)" if X.dtype.kind in "ui" else ""
        raise ValueError(f"{name} must be floating point (values in [0, 1]); got dtype {X.dtype}{hint}")
    if not all_finite(X):
        raise ValueError(f"{name} must be finite; got NaN or inf")
    if X.dtype != dtype:
        # A float64 value beyond float32's range would silently become inf in the cast.
        with np.errstate(over="ignore"):
            X = np.ascontiguousarray(X, dtype=dtype)
        if not all_finite(X):
            raise ValueError(f"{name} must fit in {np.dtype(dtype).name}; got values beyond ±{np.finfo(dtype).max:.3g}")
    return np.ascontiguousarray(X)


# A network with 784 inputs reads 28×28 images, whose pixels are brightnesses in [0, 1]. Small
# overshoots (resampling, deskewing) pass; 0..255 pixels never divided by 255 do not.
IMAGE_INPUTS = 784
PIXEL_SLACK = 0.25


def check_pixel_range(X: Array, name: str = "x") -> None:
    """For image inputs (n, 784): values within [0, 1] (± PIXEL_SLACK), else ValueError with the fix.

    Sigmoid neurons fed 0..255 saturate at once and the network trains to chance (8.8% on
    MNIST) without any error; inputs of other widths are features of any scale and pass.
    """
    if X.shape[1] != IMAGE_INPUTS:
        return
    low, high = float(X.min()), float(X.max())
    if low < -PIXEL_SLACK or high > 1 + PIXEL_SLACK:
        hint = "; divide 0..255 pixels by 255" if high > 1 else ""
        raise ValueError(
            f"{name} must hold pixel brightnesses in [0, 1] for a network of {IMAGE_INPUTS} (28×28) "
            f"inputs; got values from {low:g} to {high:g}{hint}"
        )


def check_network_size(sizes: list[int], dtype: Any) -> None:
    """ValueError when sizes' weights and biases could not fit in this machine's memory.

    Asked before allocating: the alternative is a MemoryError, or an allocation the kernel
    grants and then a process killed while it fills the weights in.
    """
    count = sum((n_in + 1) * n_out for n_in, n_out in zip(sizes[:-1], sizes[1:]))
    needed = count * (np.dtype(dtype).itemsize + 8)  # (+ the float64 draws they start from)
    memory = _physical_memory()
    if memory is not None and needed > memory:
        raise ValueError(
            f"sizes {sizes} make {count:,} weights and biases, about {needed / 2**30:,.3g} GiB to create; "
            f"this machine has {memory / 2**30:,.3g} GiB of memory"
        )


def _physical_memory() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None  # (not POSIX: unknown; the allocation itself decides)


def all_finite(X: Array) -> bool:
    """Whether every value of X is finite (no NaN, no ±inf). Exact.

    A large array is first summarised by one dot product: x·x is finite only if every xᵢ is
    (a NaN or an inf makes it NaN or inf, and its terms xᵢ² ≥ 0 cannot cancel), and the BLAS
    computes it about twice as fast as NumPy's elementwise test. Only when x·x is not finite,
    which finite values beyond ~1e19 can also cause, does the elementwise test decide.
    """
    if X.size < 4096:
        return np.count_nonzero(np.isfinite(X)) == X.size  # (count_nonzero: the quickest reduction)
    flat = X.reshape(-1)
    with np.errstate(over="ignore", invalid="ignore"):
        squares = np.dot(flat, flat)
    return bool(np.isfinite(squares)) or bool(np.isfinite(X).all())


def check_targets(Y: ArrayLike, n: int, n_out: int, dtype: np.dtype, name: str = "Y") -> Array:
    """Labels (n,) in [0, n_out) become one-hot (n, n_out); targets (n, n_out) pass through."""
    Y = np.asarray(Y)
    if Y.ndim == 1:
        if Y.shape[0] != n:
            raise ValueError(f"{name} must have {n} labels, one per example; got {Y.shape[0]}")
        if Y.dtype.kind not in "ui":
            raise ValueError(f"{name} labels must be integers; got dtype {Y.dtype}")
        if n and (Y.min() < 0 or Y.max() >= n_out):
            raise ValueError(f"{name} labels must be in 0..{n_out - 1}; got {Y.min()}..{Y.max()}")
        return one_hot(Y, n_out, dtype)
    if Y.ndim == 2 and Y.shape == (n, n_out):
        if Y.dtype.kind not in "fiub" or not np.isfinite(Y).all():
            raise ValueError(f"{name} targets must be finite numbers; got dtype {Y.dtype} or NaN/inf")
        return np.ascontiguousarray(Y, dtype=dtype)
    raise ValueError(f"{name} must be labels of shape ({n},) or targets of shape ({n}, {n_out}); got {Y.shape}")


def one_hot(labels: NDArray[np.integer], n_classes: int, dtype=np.float32) -> Array:
    """(n,) integer labels -> (n, n_classes) rows with a single 1."""
    Y = np.zeros((len(labels), n_classes), dtype=dtype)
    Y[np.arange(len(labels)), labels] = 1
    return Y
