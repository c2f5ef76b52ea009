"""Files written durably: under a hidden temporary name, flushed, renamed into place, and the
rename itself flushed.

Whatever the moment a run is interrupted, a name holds a whole file or none (or the old one),
and after a power loss a name that was in place holds what was written under it: the file's
data reach the disk before its rename (:func:`fsync_file`), and the directory's entry after it
(:func:`fsync_directory`); :func:`replace_durably` does both.
"""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from streetlevel.errors import output_error

__all__ = [
    "PARTIAL_SUFFIX",
    "fsync_directory",
    "fsync_file",
    "make_directory",
    "replace_durably",
    "write_bytes_atomic",
    "write_json_atomic",
    "write_table_atomic",
    "write_text_atomic",
]

PARTIAL_SUFFIX = ".partial"


def fsync_file(path: str | os.PathLike[str]) -> None:
    """Flush a closed file's data and size to disk (``fsync``)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_directory(path: str | os.PathLike[str]) -> None:
    """Flush a directory's entries to disk: the names renamed, made or removed in it.

    A rename is an entry in the directory's own data, not in the file's: until the directory
    is flushed, a power loss can bring back the old name (or none) whatever was done to the
    file. Some file systems cannot flush a directory and say so with ``EINVAL`` (fsync(2):
    the descriptor "does not support synchronization"); there the rename is as durable as the
    file system makes it, and nothing more can be done, so that one error is let pass.
    """
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError as err:
        if err.errno != errno.EINVAL:
            raise
    finally:
        os.close(fd)


def replace_durably(source: str | os.PathLike[str], target: str | os.PathLike[str]) -> None:
    """Rename the finished file ``source`` to ``target`` (replacing any file there), the
    file flushed before and ``target``'s directory after: once this returns, ``target``
    holds ``source``'s whole content even after a power loss.

    Raises:
        OSError: as ``os.replace`` or ``fsync`` raise it (the caller names the file).
    """
    fsync_file(source)
    os.replace(source, target)
    fsync_directory(Path(target).parent)


def make_directory(path: Path) -> None:
    """Make ``path`` and any missing parents, flushing the entry of each one made into its
    parent, so that the files later renamed into it are found after a power loss."""
    missing = [p for p in (path, *path.parents) if not p.exists()]
    path.mkdir(parents=True, exist_ok=True)
    for made in reversed(missing):
        fsync_directory(made.parent)


def write_table_atomic(table: pa.Table, path: Path) -> None:
    """Write a Parquet file under a temporary name, then rename it into place durably.

    Raises:
        OutputError: the file cannot be written (:class:`DiskFullError` on a full disk);
            nothing is left under either name.
    """
    partial = path.with_name(path.name + PARTIAL_SUFFIX)
    try:
        # Closed here even when writing fails, so that the space it took is freed at once.
        with pa.OSFile(str(partial), "wb") as sink:
            pq.write_table(table, sink, compression="zstd")
        replace_durably(partial, path)
    except OSError as err:
        partial.unlink(missing_ok=True)
        raise output_error(path, err) from err


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write bytes under a temporary name, then rename them into place durably.

    Raises:
        OutputError: the file cannot be written (:class:`DiskFullError` on a full disk); a
            file already at ``path`` is left as it was.
    """
    partial = path.with_name(path.name + PARTIAL_SUFFIX)
    try:
        with open(partial, "wb") as f:
            f.write(data)
        replace_durably(partial, path)
    except OSError as err:
        partial.unlink(missing_ok=True)
        raise output_error(path, err) from err


def write_text_atomic(text: str, path: Path) -> None:
    """Write UTF-8 text atomically (see :func:`write_bytes_atomic`)."""
    write_bytes_atomic(path, text.encode("utf-8"))


def write_json_atomic(data: dict[str, Any], path: Path) -> None:
    """Write JSON atomically (see :func:`write_text_atomic`)."""
    write_text_atomic(json.dumps(data, indent=2, sort_keys=True) + "\n", path)
