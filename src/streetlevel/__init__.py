"""streetlevel: simulate and analyse street-level welfare bureaucracies.

The data flows one way, and the packages follow it: :mod:`~streetlevel.scenario` (files,
schema, presets) -> :mod:`~streetlevel.model` (country, population, weekly engine) ->
:mod:`~streetlevel.output` (runs, Parquet tables, summaries) -> :mod:`~streetlevel.analysis`,
:mod:`~streetlevel.survey`, :mod:`~streetlevel.validation`, :mod:`~streetlevel.experiments`
-> :mod:`~streetlevel.dashboard` and :mod:`~streetlevel.cli`. ``docs/design.md`` has the map.
The functions a notebook user needs are re-exported here.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from streetlevel.errors import ScenarioError, StreetlevelError
from streetlevel.version import __version__

if TYPE_CHECKING:
    from streetlevel.output.run import RunResult, run_scenario
    from streetlevel.output.summary import Summary, summarize
    from streetlevel.scenario.loading import (
        list_presets,
        load_scenario,
        with_overrides,
        with_values,
    )

# Imported when first asked for: every import of a streetlevel module imports this package
# first, and a worker process that simulates a batch (the executor's spawned workers) would
# otherwise import pandas, DuckDB and rich with the summary (docs/performance.md).
_LAZY = {
    "RunResult": "streetlevel.output.run",
    "run_scenario": "streetlevel.output.run",
    "Summary": "streetlevel.output.summary",
    "summarize": "streetlevel.output.summary",
    "list_presets": "streetlevel.scenario.loading",
    "load_scenario": "streetlevel.scenario.loading",
    "with_overrides": "streetlevel.scenario.loading",
    "with_values": "streetlevel.scenario.loading",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'streetlevel' has no attribute {name!r}")


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
