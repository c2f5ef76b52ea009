"""One writer per output directory: a run or a sweep holds ``DIR/.lock`` while it writes.

Two processes writing one run or sweep directory would race on its manifest and its files
(two ``run --resume`` would both simulate the same batches; two sweeps would both rewrite the
catalog). The lock is an advisory ``flock`` on ``.lock``: the kernel releases it when its
process ends, however it ends (SIGKILL included), so a killed run never leaves a stale lock.
The file also records who holds it, for the message the second writer gets. Where ``fcntl`` is
missing (Windows), directories are not locked.

>>> import tempfile, pathlib
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> with DirectoryLock(folder):
...     with DirectoryLock(folder):  # doctest: +ELLIPSIS
...         pass
Traceback (most recent call last):
...
streetlevel.output.locking.DirectoryBusyError: ...: another streetlevel process is writing ...
"""

from __future__ import annotations

import json
import os
import platform
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from streetlevel.errors import OutputExistsError
from streetlevel.output.files import make_directory

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["LOCK", "DirectoryBusyError", "DirectoryLock"]

LOCK = ".lock"


class DirectoryBusyError(OutputExistsError):
    """Another process is writing the directory."""


class DirectoryLock:
    """Hold ``folder/.lock`` (creating ``folder``) for the time of a ``with`` block."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.file: IO[str] | None = None

    def __enter__(self) -> DirectoryLock:
        # Its entry flushed into its parent: the files later renamed into it are durable.
        make_directory(self.folder)
        path = self.folder / LOCK
        file = open(path, "a+", encoding="utf-8")
        if fcntl is not None:
            try:
                fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                file.seek(0)
                holder = _holder(file.read())
                file.close()
                raise DirectoryBusyError(
                    f"{self.folder}: another streetlevel process is writing here ({holder}); "
                    "wait for it to finish, or choose another --out"
                ) from None
        file.seek(0)
        file.truncate()
        file.write(
            json.dumps(
                {
                    "pid": os.getpid(),
                    "host": platform.node(),
                    "since": datetime.now(UTC).isoformat(timespec="seconds"),
                }
            )
        )
        file.flush()
        self.file = file
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self.file is not None:
            self.file.close()  # releases the flock
            self.file = None


def _holder(text: str) -> str:
    try:
        held: dict[str, Any] = json.loads(text)
        return f"pid {held['pid']} on {held['host']}, since {held['since']}"
    except (ValueError, KeyError, TypeError):
        return "holder unknown"
