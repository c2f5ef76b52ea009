"""The package's version, written next to every result (manifests, reports, calibrations).

A module of its own so that any layer can read it without importing the package root, which
imports the public API from the layers above (a cycle otherwise).
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

__all__ = ["__version__"]

try:
    __version__ = version("streetlevel")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0+unknown"
