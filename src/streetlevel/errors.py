"""The project's own error types.

Every failure a user can cause (a bad scenario file, a bad data row, an output directory that
would be overwritten) is raised as a :class:`StreetlevelError`, whose message names the file and
the place in it. The CLI prints the message and exits non-zero instead of showing a traceback.
"""

from __future__ import annotations

import errno
from pathlib import Path

__all__ = [
    "DiskFullError",
    "ExperimentError",
    "OutputError",
    "OutputExistsError",
    "ScenarioError",
    "StreetlevelError",
    "output_error",
]


class StreetlevelError(Exception):
    """Base class of every error a user can cause and fix."""


class ScenarioError(StreetlevelError):
    """A scenario file is missing, unreadable, not TOML, or does not validate."""


class OutputExistsError(StreetlevelError):
    """The output directory already holds results that a run would overwrite."""


class ExperimentError(StreetlevelError):
    """An experiment file does not validate, or an experiment directory does not match it."""


class OutputError(StreetlevelError):
    """Results cannot be written: the disk is full, a directory is not writable."""


class DiskFullError(OutputError):
    """The disk (or the user's quota on it) is full."""


_FULL = (errno.ENOSPC, errno.EDQUOT)
"""Errors that mean "no room left": the file system's, and the user's quota."""


def output_error(path: Path | str, err: OSError) -> OutputError:
    """The error to raise when writing ``path`` failed with ``err``.

    >>> import errno
    >>> print(output_error("runs/a/events.parquet", OSError(errno.ENOSPC, "disk full")))
    runs/a/events.parquet: cannot write: no space left on device
    """
    if err.errno in _FULL:
        return DiskFullError(f"{path}: cannot write: no space left on device")
    return OutputError(f"{path}: cannot write: {err.strerror or err}")
