"""The command line (``streetlevel --help``): each command parses its arguments and calls one
library function; results render themselves in their own modules.

May import every layer; the dashboard only lazily, inside ``streetlevel dashboard``.
"""

from __future__ import annotations

from streetlevel.cli.app import app, main

__all__ = ["app", "main"]
