"""The command line (``streetlevel --help``): each command parses its arguments and calls one
library function; results render themselves in their own modules.

May import every layer; the dashboard only lazily, inside ``streetlevel dashboard``.
"""

from __future__ import annotations

import sys
import types
from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from streetlevel.cli.app import app

__all__ = ["app", "main"]


def main() -> None:
    """The ``streetlevel`` command.

    The command's script imports this package, and so does every worker process a run
    spawns (spawn imports the parent's main script again): the commands, typer and rich are
    imported here, when the command runs, so that workers do without them
    (docs/performance.md, "Worker start-up").
    """
    from streetlevel.cli.app import main as run

    run()


class _Package(types.ModuleType):
    """This package, whose ``app`` is the Typer app of its submodule ``app``, imported when
    first asked for (Python's documented way to customise a module's attributes)."""

    def __getattr__(self, name: str) -> Any:
        if name == "app":
            return import_module("streetlevel.cli.app").app
        raise AttributeError(f"module {self.__name__!r} has no attribute {name!r}")

    def __setattr__(self, name: str, value: Any) -> None:
        # Importing the submodule binds its name here: the app keeps the name instead.
        if name == "app" and isinstance(value, types.ModuleType):
            value = value.app
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
