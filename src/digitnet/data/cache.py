"""The cache, and one fetch filling it: the only way a file enters the cache.

Verified files live as raw IDX in $XDG_CACHE_HOME/digitnet/<name>/ (~/.cache/digitnet/<name>/
when that is unset). FetchAttempt.store streams a file from any source to a temporary name in
that folder while checking its size and SHA-256, renames it into place only when both match,
then stamps it (see checksums). So no reader ever sees half a file, a cached file is never
fetched twice, and a corrupted one is removed and fetched again.

While a fetch runs, DownloadProgress shows a bar per download on stderr when stderr is a terminal.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from digitnet.files import atomic_path
from digitnet.data.checksums import Rejected, check_digest, record_stamp, verify_cached
from digitnet.data.errors import DatasetError, reason
from digitnet.data.spec import ROLES, DatasetSpec, IdxFile

__all__ = ["CacheError", "DownloadProgress", "FetchAttempt", "cache_root", "from_cache"]


def cache_root() -> Path:
    """The folder holding every dataset's cache folder: $XDG_CACHE_HOME/digitnet.

    ~/.cache/digitnet when $XDG_CACHE_HOME is unset (the XDG base directory spec ignores a
    relative $XDG_CACHE_HOME, and so do we).
    """
    base = os.environ.get("XDG_CACHE_HOME", "")
    root = Path(base) if base and os.path.isabs(base) else Path.home() / ".cache"
    return root / "digitnet"


class DownloadProgress:
    """Download progress on stderr (rich), shown only when stderr is a terminal."""

    def __init__(self) -> None:
        self._progress: Any = None
        self.enabled = sys.stderr is not None and sys.stderr.isatty()

    def __enter__(self) -> DownloadProgress:
        if self.enabled:
            # Imported here so that a warm `load` does not pay for importing rich.
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                DownloadColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
                TransferSpeedColumn,
            )

            self._progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                DownloadColumn(),
                TransferSpeedColumn(),
                TimeRemainingColumn(),
                console=Console(stderr=True, highlight=False),
                transient=False,
            )
            self._progress.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._progress is not None:
            self._progress.stop()

    def task(self, description: str, total: int | None) -> Callable[[int], None]:
        """Start a bar; returns the function that advances it by a number of bytes."""
        if self._progress is None:
            return lambda advance: None
        task_id = self._progress.add_task(description, total=total)
        return lambda advance: self._progress.update(task_id, advance=advance)

    def note(self, text: str) -> None:
        """A line above the bars (nothing when stderr is not a terminal)."""
        if self._progress is not None:
            self._progress.console.print(text)


class CacheError(DatasetError):
    """The cache cannot be written: no source can help, so the fetch stops here."""

    def __init__(self, cache: Path, error: OSError) -> None:
        super().__init__(
            f"cannot write to the cache folder {cache} ({reason(error)}); set XDG_CACHE_HOME "
            "to a writable folder, or put the files in a folder and pass --data-dir FOLDER"
        )


class _CacheSink:
    """A cache file being written: a failed write (disk full) is the cache's fault, not the
    source's, and must not be reported as an unreachable mirror."""

    def __init__(self, file: IO[bytes], cache: Path) -> None:
        self._file, self._cache = file, cache

    def write(self, data: bytes) -> None:
        try:
            self._file.write(data)
        except OSError as error:
            raise CacheError(self._cache, error) from error


@dataclass
class FetchAttempt:
    """State of one fetch: the cache folder, what is found, and why each source failed."""

    spec: DatasetSpec
    cache: Path
    progress: DownloadProgress
    roles: tuple[str, ...] = ROLES  # the files wanted; load_split wants two
    found: dict[str, Path] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    @property
    def missing(self) -> list[IdxFile]:
        """The wanted files no source has provided yet."""
        return [
            idx_file
            for idx_file in self.spec.files
            if idx_file.role in self.roles and idx_file.role not in self.found
        ]

    def store(self, chunks: Iterable[bytes], idx_file: IdxFile) -> Path:
        """Copy `chunks` into the cache under a temporary name; rename only if verified."""
        destination = self.cache / idx_file.filename
        try:
            self.cache.mkdir(parents=True, exist_ok=True)
            if not os.access(self.cache, os.W_OK):
                raise PermissionError("not writable")
        except OSError as error:
            raise CacheError(self.cache, error) from error
        with atomic_path(destination) as temporary:
            with open(temporary, "wb") as file:
                check_digest(chunks, idx_file, _CacheSink(file, self.cache))
        record_stamp(destination, idx_file)
        self.found[idx_file.role] = destination
        return destination


def from_cache(attempt: FetchAttempt) -> None:
    """Take the missing files from the cache folder; remove a copy that no longer verifies."""
    problems = []
    for idx_file in attempt.missing:
        path = attempt.cache / idx_file.filename
        if not path.is_file():
            continue
        try:
            verify_cached(path, idx_file)
            attempt.found[idx_file.role] = path
        except (Rejected, OSError) as error:
            # The cache is ours: a damaged copy goes, and is fetched again below.
            problems.append(f"{idx_file.filename} was corrupt ({reason(error)}), removed")
            with contextlib.suppress(OSError):
                path.unlink()
    if problems:
        attempt.failures.append(f"cache {attempt.cache}: " + "; ".join(problems))

