"""The command line (``streetlevel --help``): each command parses its arguments and calls one
library function; results render themselves in their own modules. The Typer app is
``streetlevel.cli.app.app``.

May import every layer; the dashboard only lazily, inside ``streetlevel dashboard``.
"""

from __future__ import annotations

__all__ = ["main"]


def main() -> None:
    """The ``streetlevel`` command.

    The command's script imports this package, and so does every worker process a run
    spawns (spawn imports the parent's main script again): the commands, typer and rich are
    imported here, when the command runs, so that workers do without them
    (docs/performance.md, "Worker start-up").
    """
    from streetlevel.cli.app import main as run

    run()
