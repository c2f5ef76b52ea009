"""streetlevel: simulate and analyse street-level welfare bureaucracies.

The data flows one way, and the packages follow it: :mod:`~streetlevel.scenario` (files,
schema, presets) -> :mod:`~streetlevel.model` (country, population, weekly engine) ->
:mod:`~streetlevel.output` (runs, Parquet tables, summaries) -> :mod:`~streetlevel.analysis`,
:mod:`~streetlevel.survey`, :mod:`~streetlevel.validation`, :mod:`~streetlevel.experiments`
-> :mod:`~streetlevel.dashboard` and :mod:`~streetlevel.cli`. ``docs/design.md`` has the map.
The functions a notebook user needs are re-exported here.
"""

from __future__ import annotations

from streetlevel.errors import ScenarioError, StreetlevelError
from streetlevel.output.run import RunResult, run_scenario
from streetlevel.output.summary import Summary, summarize
from streetlevel.scenario.loading import list_presets, load_scenario, with_overrides, with_values
from streetlevel.version import __version__

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
    "with_overrides",
    "with_values",
]
