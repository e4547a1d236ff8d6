"""DatasetError, the data room's one error, and `reason`: any exception as one short line.

Every failure to read, find or verify a data file is a DatasetError. It is a ValueError, so the
CLI prints it as one line and the web app answers 4xx: a missing or damaged file is the user's
to fix, not a bug. Its message names the file and says what was expected and what was got.
"""

from __future__ import annotations

import subprocess
import urllib.error

__all__ = ["DatasetError", "reason"]


class DatasetError(ValueError):
    """A data file is missing, corrupt or not what was expected; the message says which and why."""


def reason(error: BaseException) -> str:
    """What went wrong, on one line: the cause behind a URLError, "timed out", or the message."""
    if isinstance(error, urllib.error.URLError) and not isinstance(
        error, urllib.error.HTTPError
    ):
        error = error.reason if isinstance(error.reason, BaseException) else error
    if isinstance(error, subprocess.TimeoutExpired):
        return f"timed out after {error.timeout:g} s"
    if isinstance(error, TimeoutError):
        return "timed out"
    text = str(error) or type(error).__name__
    return " ".join(text.split())
