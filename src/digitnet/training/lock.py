"""One training run per model file: a lock file beside --out, held while the run writes there.

    models/3b1b.safetensors.lock      exists while a run trains into models/3b1b.safetensors

The lock is flock(2) on that file, taken without waiting: a second `digitnet train` with the same
--out fails at once with one line instead of interleaving its checkpoints and model with the
first's. The kernel drops the lock when the process ends, however it ends (even SIGKILL), so a
lock file left behind by a killed run never blocks the next one. Where flock does not exist
(Windows), runs are not locked.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None  # type: ignore[assignment]

__all__ = ["OutLocked", "lock_path", "locked_out"]


class OutLocked(ValueError):
    """Another training run is writing the same model file."""


def lock_path(out: str | os.PathLike[str]) -> Path:
    """models/3b1b.safetensors -> models/3b1b.safetensors.lock."""
    out = Path(out)
    return out.with_name(out.name + ".lock")


@contextlib.contextmanager
def locked_out(out: str | os.PathLike[str]) -> Iterator[Path]:
    """Hold the lock on `out` for the block; OutLocked at once if another process holds it."""
    path = lock_path(out)
    if fcntl is None:
        yield path
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise OutLocked(
                f"another `digitnet train` is writing {out} (it holds {path}); "
                "wait for it to finish, or train into another --out"
            ) from None
        # The run that held the lock removes the file as it finishes: if it did so between our
        # open and our flock, we hold a lock on a file nobody else can see. Then try again.
        with contextlib.suppress(FileNotFoundError):
            if os.path.samestat(os.fstat(fd), os.stat(path)):
                break
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())  # who holds it, for a curious reader
        yield path
    finally:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()  # (while still locked: the next run locks a fresh file)
        os.close(fd)
