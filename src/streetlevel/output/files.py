"""Files written atomically: under a hidden temporary name, flushed, then renamed into place.

Whatever the moment a run is interrupted, a name holds a whole file or none (or the old one).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from streetlevel.errors import output_error

__all__ = [
    "PARTIAL_SUFFIX",
    "write_bytes_atomic",
    "write_json_atomic",
    "write_table_atomic",
    "write_text_atomic",
]

PARTIAL_SUFFIX = ".partial"


def write_table_atomic(table: pa.Table, path: Path) -> None:
    """Write a Parquet file under a temporary name, then rename it into place.

    Raises:
        OutputError: the file cannot be written (:class:`DiskFullError` on a full disk);
            nothing is left under either name.
    """
    partial = path.with_name(path.name + PARTIAL_SUFFIX)
    try:
        # Closed here even when writing fails, so that the space it took is freed at once.
        with pa.OSFile(str(partial), "wb") as sink:
            pq.write_table(table, sink, compression="zstd")
        # On disk before the rename, as write_bytes_atomic does: after a power loss the name
        # holds the whole file or the old one (these files are small; batch files are not
        # flushed, and a resumed run rewrites any batch the manifest does not list).
        fd = os.open(partial, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(partial, path)
    except OSError as err:
        partial.unlink(missing_ok=True)
        raise output_error(path, err) from err


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write bytes under a temporary name, flush them to disk, then rename into place.

    Raises:
        OutputError: the file cannot be written (:class:`DiskFullError` on a full disk); a
            file already at ``path`` is left as it was.
    """
    partial = path.with_name(path.name + PARTIAL_SUFFIX)
    try:
        with open(partial, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(partial, path)
    except OSError as err:
        partial.unlink(missing_ok=True)
        raise output_error(path, err) from err


def write_text_atomic(text: str, path: Path) -> None:
    """Write UTF-8 text atomically (see :func:`write_bytes_atomic`)."""
    write_bytes_atomic(path, text.encode("utf-8"))


def write_json_atomic(data: dict[str, Any], path: Path) -> None:
    """Write JSON atomically (see :func:`write_text_atomic`)."""
    write_text_atomic(json.dumps(data, indent=2, sort_keys=True) + "\n", path)
