"""What every command shares: the consoles, the progress bars' callbacks and the signals.

A signal (Ctrl-C, SIGTERM) raises ``KeyboardInterrupt`` in the command; it is also remembered,
and the progress callbacks raise it again, so that one landing where Python would swallow it
still ends the run.
"""

from __future__ import annotations

import sys
from types import FrameType

from rich.console import Console
from rich.progress import Progress, TaskID

__all__ = ["err_console", "out_console", "signalled", "swept", "terminate", "weekly"]

err_console = Console(stderr=True, soft_wrap=True)  # whole messages, one per line
# Piped output (files, CI logs) gets room for a whole summary row per line.
PIPE_WIDTH = 120
out_console = Console(width=None if sys.stdout.isatty() else PIPE_WIDTH)

signalled: list[int] = []
"""Signals received (SIGINT, SIGTERM); a run checks it every simulated week."""


def terminate(signum: int, frame: FrameType | None) -> None:
    # SIGTERM ends a run like Ctrl-C: partial tables are removed, the manifest says so.
    # The signal is also remembered: Python reports an exception raised while a __del__ or
    # a finaliser runs as "ignored" and carries on, so a KeyboardInterrupt that lands there
    # would be lost; the run's weekly check raises it again.
    signalled.append(signum)
    raise KeyboardInterrupt(f"signal {signum}")


def swept(progress: Progress, task: TaskID, done: int, total: int) -> None:
    """After each finished point: raise a signal that was lost, move the progress bar."""
    if signalled:
        raise KeyboardInterrupt(f"signal {signalled[0]}")
    progress.update(task, completed=done, total=total)


def weekly(progress: Progress, task: TaskID, completed: float) -> None:
    """After each simulated week: raise a signal that was lost, move the progress bar."""
    if signalled:
        raise KeyboardInterrupt(f"signal {signalled[0]}")
    progress.update(task, completed=completed)
