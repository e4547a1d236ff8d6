"""Atomic file writes: a file is either absent, or complete and correct — never half-written.

Writers put their bytes under a temporary name in the destination's own folder (so the final
rename stays on one file system, where ``os.replace`` is atomic) and rename only on success.
A crash, an exception or a failed check leaves the destination as it was. A destination that
exists but is not a regular file (a folder, a device such as /dev/full, a FIFO) is refused
before anything is written: renaming onto it would replace the device itself.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

__all__ = ["atomic_path", "atomic_write_bytes", "not_a_regular_file"]


def _current_umask() -> int:
    # os.umask can only be read by setting it; done once, at import, before any threads write.
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


# mkstemp creates files readable by the owner only; a finished file gets the usual mode instead.
FILE_MODE = 0o666 & ~_current_umask()


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it onto `path` when the block succeeds.

    The temporary file exists (empty) when the block starts. If the block raises, the
    temporary file is removed and `path` is left untouched; the exception propagates.
    """
    destination = Path(path)
    kind = not_a_regular_file(destination)
    if kind is not None and kind not in ("missing", "a broken symbolic link") and not kind.startswith("unreadable"):
        raise OSError(f"{destination} is {kind}, not a regular file; refusing to replace it")
    destination.parent.mkdir(parents=True, exist_ok=True)
    # A dot-prefixed, '.tmp'-suffixed name marks leftovers of a killed process as ours.
    handle, temporary_name = tempfile.mkstemp(
        prefix=f".{destination.name}.", suffix=".tmp", dir=destination.parent
    )
    os.close(handle)
    temporary = Path(temporary_name)
    try:
        os.chmod(temporary, FILE_MODE)
        yield temporary
        os.replace(temporary, destination)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
        raise


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write `data` to `path` atomically (temporary name in the same folder, then rename)."""
    with atomic_path(path) as temporary:
        with open(temporary, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())


_KINDS = [
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
]


def not_a_regular_file(path: str | os.PathLike[str]) -> str | None:
    """None when `path` is a regular file (symbolic links followed); otherwise what it is:
    "missing", "a folder", "a FIFO (named pipe)", "a character device", "a symbolic-link loop", ...

    Readers ask before opening, so a FIFO is refused instead of blocking for ever, and a
    folder is named as one instead of "not found".
    """
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return "a broken symbolic link" if os.path.islink(path) else "missing"
    except OSError as error:
        if error.errno == errno.ELOOP:
            return "a symbolic-link loop"
        return f"unreadable ({error.strerror or error})"
    if stat.S_ISREG(mode):
        return None
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")
