"""BLAS threads per matrix shape, and one spare thread for gathering rows.

For networks of this size a second BLAS thread often costs more in hand-off than it saves, so
the fused engine narrows BLAS to one thread for small products (threadpoolctl; without it
nothing changes) and may use the idle core to gather the next block of training rows.
"""

from __future__ import annotations

import contextlib
import os

# Threads per shape: below about this many multiply-adds in a step's largest matrix product, a
# second BLAS thread costs more in hand-off than it saves (measured on this project's 2-core
# machine: 128×784×16 ran 2.5× slower on 2 threads, 32×784×100 1.5× faster), so such networks
# train on one thread whatever the thread setting. Needs threadpoolctl; without it nothing changes.
SMALL_MATMUL = 2_000_000

def blas_threads(sizes: list[int], batch_size: int) -> int | None:
    """1 for networks whose matrix products are too small to share, None (keep the setting) otherwise."""
    largest = batch_size * max(n_in * n_out for n_in, n_out in zip(sizes[:-1], sizes[1:]))
    return 1 if largest < SMALL_MATMUL else None


_controller = None


def limit_blas_threads(threads: int | None):
    """A context limiting BLAS to `threads` (threadpoolctl), or doing nothing."""
    controller = blas_controller() if threads is not None else None
    if controller is None:
        return contextlib.nullcontext()
    return controller.limit(limits=threads, user_api="blas")


def current_blas_threads() -> int:
    """The number of threads BLAS may use now (1 if threadpoolctl cannot tell)."""
    controller = blas_controller()
    if controller is None:
        return 1
    counts = [lib.num_threads for lib in controller.select(user_api="blas").lib_controllers]
    return max(1, min(counts, default=1))


def blas_controller():
    """threadpoolctl's controller of the thread pools loaded in this process (None without threadpoolctl)."""
    global _controller
    if _controller is None:
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:
            return None
        _controller = ThreadpoolController()
    return _controller


_pools: dict[str, object] = {}  # name -> ThreadPoolExecutor, made on first use


def _forget_pools() -> None:
    _pools.clear()  # a forked child has the executor objects but not their threads


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pools)


def _pool(name: str, workers: int):
    if name not in _pools:
        from concurrent.futures import ThreadPoolExecutor

        _pools[name] = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"digitnet-{name}")
    return _pools[name]


def gather_pool():
    """The one worker thread that gathers training rows ahead (made on first use)."""
    return _pool("gather", 1)


def augment_pool():
    """Worker threads for the chunks of an epoch's augmentation (made on first use; one per core
    beyond the caller's own)."""
    return _pool("augment", max(1, (os.cpu_count() or 2) - 1))


def inference_pool():
    """Worker threads for the parts of a batch that compiled inference splits (made on first use;
    one per core beyond the caller's own)."""
    return _pool("infer", max(1, (os.cpu_count() or 2) - 1))
