"""Where Numba keeps the compiled kernels: a folder named after the kernels' own source.

Numba checks a cached function only against the file that defines it. The kernels inline
helpers and constants from other files (activation_kernels, simd), so after a change to one of
those a cache keyed by file alone still hands out machine code compiled from the old source (it
happened: fastmath flags changed in activation_kernels.py and kernels.py kept the old ones). Here
the cache folder is named by a hash of every kernel source file and Numba's version, so any change
to any of them starts a fresh folder.

The folder: engines/__pycache__/numba-KEY beside this file when the package directory is
writable, else $XDG_CACHE_HOME/digitnet/numba-KEY (~/.cache by default); under $NUMBA_CACHE_DIR
when the user set it. `kernel_imports()` wraps the first import of a kernel module: Numba picks a
function's cache folder when the function is defined, and the setting is put back afterwards, so
other Numba code in the process keeps its own.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

HERE = Path(__file__).resolve().parent
# Every file whose code ends up in a compiled kernel (inlined or called).
SOURCES = ("activation_kernels.py", "blas_calls.py", "forward_kernels.py", "kernels.py", "simd.py", "wide.py")


def source_key() -> str:
    """16 hex digits of SHA-256 over the kernel sources and Numba's version."""
    import numba

    digest = hashlib.sha256(numba.__version__.encode())
    for name in SOURCES:
        digest.update(name.encode() + b"\0" + (HERE / name).read_bytes())
    return digest.hexdigest()[:16]


def _writable(folder: Path) -> bool:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    return os.access(folder, os.W_OK | os.X_OK)


def cache_folder() -> Path:
    """The folder for this source's kernels (see the module's docstring)."""
    name = f"numba-{source_key()}"
    if os.environ.get("NUMBA_CACHE_DIR"):
        return Path(os.environ["NUMBA_CACHE_DIR"]) / name
    in_tree = HERE / "__pycache__" / name
    if _writable(in_tree):
        return in_tree
    home = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return home / "digitnet" / name


@contextmanager
def kernel_imports() -> Iterator[None]:
    """Import kernel modules inside this block: their functions cache in cache_folder()."""
    from numba.core import config

    before = config.CACHE_DIR
    config.CACHE_DIR = str(cache_folder())
    try:
        yield
    finally:
        config.CACHE_DIR = before
