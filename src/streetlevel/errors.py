"""The project's own error types.

Every failure a user can cause (a bad scenario file, a bad data row, an output directory that
would be overwritten) is raised as a :class:`StreetlevelError`, whose message names the file and
the place in it. The CLI prints the message and exits non-zero instead of showing a traceback.
"""

from __future__ import annotations

__all__ = ["ExperimentError", "OutputExistsError", "ScenarioError", "StreetlevelError"]


class StreetlevelError(Exception):
    """Base class of every error a user can cause and fix."""


class ScenarioError(StreetlevelError):
    """A scenario file is missing, unreadable, not TOML, or does not validate."""


class OutputExistsError(StreetlevelError):
    """The output directory already holds results that a run would overwrite."""


class ExperimentError(StreetlevelError):
    """An experiment file does not validate, or an experiment directory does not match it."""
