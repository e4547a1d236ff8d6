"""OpenBLAS's matrix product called from compiled code, and a step's products split between threads.

On two cores a wide network's step is three big products, which OpenBLAS runs on both cores, and
compiled kernels (layer 0 over the nonzero pixels, the update, the activations), which ran on one:
a second team of threads for them lost to OpenBLAS (7× slower with Numba's threads, 1.4× with
Python's), because OpenBLAS's worker spins on the second core for ~0.1 s after every product and
a sleeping thread takes ~50 µs to wake on this machine. So on the parallel path one team does all
of a step's work: Numba's threads (OpenMP, which keeps its workers spinning between the step's
parallel loops: ~1.5 µs to start one), with OpenBLAS set to one thread for the step, each big
product split into one one-thread OpenBLAS call per thread from inside a parallel loop. The first
team to start also ends OpenBLAS's own worker threads (blas_thread_shutdown_, which OpenBLAS itself
uses at fork), so a worker left spinning by the last product outside the team (the trainer's
evaluation between epochs) does not take the second core from the team for its ~0.1 s; OpenBLAS
starts them again on its next threaded call (config D: 0.30-0.32 s an epoch with, 0.36-0.41 s
without, on the same quiet machine). Each part is a block of whole rows or columns of the result,
so the split changes no value: in float32 the parts equal one one-thread call bit for bit
(tests/test_compiled_wide_parallel.py).

The OpenBLAS is the one NumPy loaded: threadpoolctl finds it, its cblas_sgemm/dgemm are registered
with LLVM under fixed names, and the kernels call them as external functions (so Numba caches them
like the other kernels). Only an ILP64 build named the way NumPy's wheels name it
(scipy_cblas_sgemm64_) is used; with any other BLAS, a threading layer that cannot keep its workers
spinning (Numba's workqueue), or in a child forked from this process (GNU OpenMP is not fork-safe),
`parallel_threads()` is 1 and the wide path keeps NumPy's products and one-thread kernels.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import threading

import numpy as np
from numba import njit, prange, types

from digitnet.engines import threads

ROW_MAJOR, NO_TRANS, TRANS = 101, 111, 112
# A product is split only when each part is still a real BLAS job: at least this many multiply-adds
# (the wide network's 128×800×800 products are 82 M; its 128×800×16 output layer is not split).
SPLIT_MIN = 8_000_000
ALIGN = 16  # parts start at multiples of this many rows or columns (a 64-byte line of floats)

_SYMBOLS = {"digitnet_cblas_sgemm": "cblas_sgemm", "digitnet_cblas_dgemm": "cblas_dgemm"}
# OpenBLAS's setter that takes effect from any thread (openblas_set_num_threads called from a thread
# other than the one that last set it was ignored here); in a pthreads build it sets the process's count.
SETTER = "openblas_set_num_threads_local"
_i32, _i64 = types.int32, types.int64
_ARGS = (_i32, _i32, _i32, _i64, _i64, _i64)  # order, trans A, trans B, M, N, K (ILP64)
sgemm = types.ExternalFunction("digitnet_cblas_sgemm", types.void(
    *_ARGS, types.float32, _i64, _i64, _i64, _i64, types.float32, _i64, _i64))  # pointers as addresses
dgemm = types.ExternalFunction("digitnet_cblas_dgemm", types.void(
    *_ARGS, types.float64, _i64, _i64, _i64, _i64, types.float64, _i64, _i64))

_state: dict = {}  # "library": threadpoolctl's controller of NumPy's OpenBLAS (None: not usable), "layer": ok
_first_use = threading.Lock()  # finding the library and probing the layer happen once, in one thread


def _find_openblas():
    """threadpoolctl's controller of the ILP64 OpenBLAS NumPy uses, its gemms registered with LLVM; or None."""
    import llvmlite.binding as llvm

    controller = threads.blas_controller()
    if controller is None:
        return None
    for lib in controller.select(internal_api="openblas").lib_controllers:
        prefix, suffix = getattr(lib, "_symbol_prefix", None), getattr(lib, "_symbol_suffix", None)
        if suffix != "64_" or prefix is None:  # int width unknown: not ours to call
            continue
        try:
            addresses = {name: _address(lib.dynlib, f"{prefix}{symbol}{suffix}") for name, symbol in _SYMBOLS.items()}
            setter = getattr(lib.dynlib, SETTER)  # (NumPy's build exports it without prefix or suffix)
        except AttributeError:
            continue
        for name, address in addresses.items():
            llvm.add_symbol(name, address)
        setter.argtypes, setter.restype = [ctypes.c_int], ctypes.c_int
        _state["setter"] = setter
        _state["shutdown"] = getattr(lib.dynlib, "blas_thread_shutdown_", None)
        return lib
    return None


def _address(dynlib, symbol: str) -> int:
    return ctypes.cast(getattr(dynlib, symbol), ctypes.c_void_p).value


def _library():
    """NumPy's OpenBLAS (threadpoolctl's controller of it), its gemms callable from compiled code; or None."""
    if "library" not in _state:
        with _first_use:
            if "library" not in _state:
                _state["library"] = _find_openblas()
    return _state["library"]


@njit(parallel=True, cache=True)
def _probe(out):
    for t in prange(out.size):
        out[t] = t


def _layer_ok() -> bool:
    """Whether Numba's threading layer keeps its workers ready (OpenMP or TBB, not workqueue)."""
    import numba

    _probe(np.zeros(2))
    return numba.threading_layer() in ("omp", "tbb")


def parallel_threads() -> int:
    """How many threads the parallel path may use now: BLAS's thread setting, when NumPy's OpenBLAS
    can be called from compiled code and Numba's threads can take over; else 1."""
    if _state.get("forked") or not hasattr(os, "register_at_fork"):
        return 1
    library = _library()
    if library is None:
        return 1
    if "layer" not in _state:
        with _first_use:  # (Numba's workqueue layer aborts on two parallel loops started at once)
            if "layer" not in _state:
                _state["layer"] = _layer_ok()
    if not _state["layer"]:
        return 1
    import numba

    return max(1, min(library.num_threads, numba.config.NUMBA_NUM_THREADS))


def _forked() -> None:
    _state["forked"] = True


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forked)


_teams = {"open": 0, "blas": 1}  # teams running now, and OpenBLAS's count before the first of them
_teams_lock = threading.Lock()


@contextlib.contextmanager
def team(parts: int):
    """For a block of steps on the parallel path: Numba's threads (this thread's setting) set to
    `parts`, and OpenBLAS (a setting of the whole process) to one thread until the last team
    running in the process has ended."""
    import numba

    before_numba = numba.get_num_threads()
    numba.set_num_threads(max(1, min(parts, numba.config.NUMBA_NUM_THREADS)))  # (prange(parts) shares out the rest)
    with _teams_lock:
        if _teams["open"] == 0:
            _teams["blas"] = _state["setter"](1)  # (returns the count before)
            if _teams["blas"] > 1 and _state.get("shutdown") is not None:
                _state["shutdown"]()
        _teams["open"] += 1
    try:
        yield
    finally:
        numba.set_num_threads(before_numba)
        with _teams_lock:
            _teams["open"] -= 1
            if _teams["open"] == 0:
                _state["setter"](_teams["blas"])


@njit(cache=True)
def bounds(n: int, part: int, parts: int, align: int) -> tuple[int, int]:
    """[lo, hi) of part `part` of range(n) in `parts` near-equal pieces starting at multiples of align."""
    lo = (n * part // parts) // align * align
    hi = n if part == parts - 1 else (n * (part + 1) // parts) // align * align
    return lo, hi


@njit(parallel=True, cache=True)
def gemm_parts(trans_a, trans_b, M, N, K, a, lda, b, ldb, c, ldc, size, parts):
    """C (M, N) = op(A) op(B) in `parts` one-thread calls: blocks of rows of C when M ≥ N, else of
    columns. a, b, c: addresses; lda/ldb/ldc: row strides in elements; size: bytes per element."""
    by_rows = M >= N
    for t in prange(parts):
        lo, hi = bounds(M if by_rows else N, t, parts, ALIGN)
        if hi <= lo:
            continue
        if by_rows:  # rows lo..hi of op(A) and of C
            pa = a + size * lo * (1 if trans_a == TRANS else lda)
            pb, pc, m, n = b, c + size * lo * ldc, hi - lo, N
        else:  # columns lo..hi of op(B) and of C
            pa, pc, m, n = a, c + size * lo, M, hi - lo
            pb = b + size * lo * (ldb if trans_b == TRANS else 1)
        if size == 4:
            sgemm(ROW_MAJOR, trans_a, trans_b, m, n, K, 1.0, pa, lda, pb, ldb, 0.0, pc, ldc)
        else:
            dgemm(ROW_MAJOR, trans_a, trans_b, m, n, K, 1.0, pa, lda, pb, ldb, 0.0, pc, ldc)


def _operand(x: np.ndarray) -> tuple[int, int] | None:
    """(transpose flag, row stride in elements) of a 2-D view of a row-major buffer; None if neither axis is unit-stride."""
    step = x.itemsize
    if x.strides[1] == step and x.strides[0] % step == 0:
        return NO_TRANS, max(x.strides[0] // step, x.shape[1], 1)
    if x.strides[0] == step and x.strides[1] % step == 0:
        return TRANS, max(x.strides[1] // step, x.shape[0], 1)
    return None


def matmul(a: np.ndarray, b: np.ndarray, out: np.ndarray, parts: int) -> None:
    """out = a @ b, split in `parts` one-thread OpenBLAS calls when it pays (see SPLIT_MIN), else
    np.matmul (parts 1: on BLAS's own threads; in a team: on one). out must be C-contiguous; a and
    b may be transposed views."""
    (M, K), N = a.shape, b.shape[1]
    ops = (_operand(a), _operand(b))
    if (parts < 2 or M * N * K < SPLIT_MIN * parts or None in ops or not out.flags.c_contiguous or _library() is None
            or not (a.dtype == b.dtype == out.dtype) or a.dtype not in (np.float32, np.float64)
            or b.shape[0] != K or out.shape != (M, N)):  # (NumPy's own error for shapes that do not fit)
        np.matmul(a, b, out=out)
        return
    (ta, lda), (tb, ldb) = ops
    with contextlib.nullcontext() if _teams["open"] else team(parts):  # each part on one OpenBLAS thread
        gemm_parts(ta, tb, M, N, K, a.ctypes.data, lda, b.ctypes.data, ldb, out.ctypes.data, N, a.itemsize, parts)


def warm_up(dtype) -> None:
    """Get the split product for dtype ready (compiled, or loaded from Numba's cache) when this
    process would use it: a 32×32 product in parts (which matmul would not split)."""
    parts = parallel_threads()
    if parts > 1:
        square, out = np.ones((32, 32), dtype), np.empty((32, 32), dtype)
        with team(parts):
            gemm_parts(NO_TRANS, NO_TRANS, 32, 32, 32, square.ctypes.data, 32, square.ctypes.data, 32,
                       out.ctypes.data, 32, square.itemsize, parts)
