"""streetlevel: simulate and analyse street-level welfare bureaucracies.

The data flows one way: scenario file -> country and population -> weekly engine -> records
(Parquet) -> analysis -> report. The functions a notebook user needs are re-exported here.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("streetlevel")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0+unknown"

from streetlevel.errors import ScenarioError, StreetlevelError
from streetlevel.loading import list_presets, load_scenario
from streetlevel.run import RunResult, run_scenario
from streetlevel.summary import Summary, summarize

__all__ = [
    "RunResult",
    "ScenarioError",
    "StreetlevelError",
    "Summary",
    "__version__",
    "list_presets",
    "load_scenario",
    "run_scenario",
    "summarize",
]
