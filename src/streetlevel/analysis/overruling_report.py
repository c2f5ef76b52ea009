"""``streetlevel overruling``: the gap attributable to overruling
(:class:`~streetlevel.analysis.overruling.OverrulingGap`) as the table the command prints, and
as JSON.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from rich.table import Table

from streetlevel.analysis.overruling import COMPARED, GAP, OverrulingGap
from streetlevel.output.catalogue import SPREAD_PERCENTILES, lookup

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["overruling_json", "overruling_table", "print_overruling"]


def overruling_table(result: OverrulingGap) -> Table:
    """Each compared indicator's mean in the run and with every proposal approved, their
    difference, and the gap attributable to overruling with its standard error and its spread
    of replications (where one replication's figure falls)."""
    table = Table(
        title=f"{result.scenario}: the gap attributable to overruling "
        f"({result.replications} replications, seed {result.seed})",
    )
    table.add_column("indicator")
    table.add_column("run", justify="right")
    table.add_column("every proposal approved", justify="right")
    table.add_column("difference", justify="right")
    data = result.to_dict()["indicators"]
    for name in COMPARED:
        entry = lookup(name)
        run, approved = data[name]["run"], data[name]["approve_all"]
        diff = None if run is None or approved is None else run - approved
        table.add_row(
            entry.label, entry.format(run), entry.format(approved), entry.format_difference(diff)
        )
    mean, se, low, high = result.estimate()
    gap = lookup(GAP)
    table.add_section()
    table.add_row(
        gap.label,
        "",
        "",
        f"{gap.format(mean)} (s.e. {gap.format_difference(se, signed=False)}; "
        f"{SPREAD_PERCENTILES}: {gap.format_interval(low, high)})",
    )
    return table


def print_overruling(result: OverrulingGap, console: Console) -> None:
    """Print :func:`overruling_table` on ``console``."""
    console.print(overruling_table(result))


def overruling_json(result: OverrulingGap) -> str:
    """The result as one line of JSON (``--json``)."""
    return json.dumps(result.to_dict(), ensure_ascii=False)
