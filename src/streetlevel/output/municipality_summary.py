"""A run's figures by municipality: one row per municipality, each figure first averaged over
the reporting years within a replication, then summarised across replications (its mean,
the spread of replications and the 95 % CI of the mean), as the run's summary does for the
country (:mod:`streetlevel.output.summary`).

What ``streetlevel summary RUN --by municipality`` prints and ``--csv`` writes, and what the
run's report (:mod:`streetlevel.analysis.run_report`) tables.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow.parquet as pq

from streetlevel.output.catalogue import MEAN_CI, SPREAD_PERCENTILES, lookup
from streetlevel.output.summary import complete_manifest
from streetlevel.output.uncertainty import interval, mean_ci

if TYPE_CHECKING:
    import pandas as pd
    from rich.console import Console

__all__ = ["FIGURES", "IDENTITY", "labelled", "municipality_summary", "print_municipality_summary"]

IDENTITY = ("municipality", "municipality_code", "region", "absence_route")
"""What names a municipality and its organisation (the code only where the scenario names a
published table of municipalities)."""
FIGURES = (
    "recipients",
    "sanctioned",
    "sanction_rate",
    "repeat_share",
    "exit_work_rate",
    "exit_unknown_rate",
)
"""The figures of each municipality: counts per year, then shares (the catalogue's names)."""
SPREAD_OF = "sanction_rate"
"""The figure whose spread and CI the table gives beside its mean (the others give means)."""


def municipality_summary(run_dir: Path | str) -> pd.DataFrame:
    """One row per municipality of the finished run in ``run_dir``: its identity
    (:data:`IDENTITY`), each of :data:`FIGURES` as its mean over replications of the mean
    over the reporting years, and for the sanction rate also ``spread_low``,
    ``spread_high`` and ``mean_ci_low``, ``mean_ci_high``; sorted by region, then name.

    Raises:
        OutputError: the run is not complete (its manifest says so).
    """
    run_dir = Path(run_dir)
    complete_manifest(run_dir)
    # A directory of batch files: the schema is the dataset's (a code only with a table).
    path = run_dir / "municipality_years.parquet"
    identity = [c for c in IDENTITY if c in pq.ParquetDataset(path).schema.names]
    frame = pq.read_table(path, columns=["replication", *identity, *FIGURES]).to_pandas()
    for column in identity:
        frame[column] = frame[column].astype(str)
    # Per replication, the mean over the reporting years, as the country's summary does.
    per_replication = frame.groupby([*identity, "replication"], observed=True, sort=False)[
        list(FIGURES)
    ].mean()
    rows = []
    for key, group in per_replication.groupby(level=list(range(len(identity))), sort=False):
        values = group[SPREAD_OF].to_numpy(dtype=np.float64)
        mean, low, high = interval(values)
        ci_low, ci_high = mean_ci(values)
        row = dict(zip(identity, key if isinstance(key, tuple) else (key,), strict=True))
        row.update({name: float(group[name].mean()) for name in FIGURES})
        row.update(
            {
                SPREAD_OF: mean,
                "spread_low": low,
                "spread_high": high,
                "mean_ci_low": ci_low,
                "mean_ci_high": ci_high,
            }
        )
        rows.append(row)
    import pandas as pd

    table = pd.DataFrame(rows)
    return table.sort_values(["region", "municipality"], ignore_index=True)


def labelled(table: pd.DataFrame) -> pd.DataFrame:
    """The table as it is shown: the catalogue's labels as headers, figures in their units
    (``8.3 %``, ``2,311``), the sanction rate's spread of replications and the CI of its mean
    as ranges."""
    import pandas as pd

    rate = lookup(SPREAD_OF)
    shown = [c for c in IDENTITY if c in table.columns and c != "absence_route"]
    columns: dict[str, list[str]] = {}
    for column in shown:
        header = "code" if column == "municipality_code" else lookup(column).label
        columns[header] = [str(v) for v in table[column]]
    for column in FIGURES:
        entry = lookup(column)
        columns[entry.label] = [entry.format(v) for v in table[column]]
    columns[SPREAD_PERCENTILES] = [
        rate.format_interval(lo, hi)
        for lo, hi in zip(table["spread_low"], table["spread_high"], strict=True)
    ]
    columns[MEAN_CI] = [
        rate.format_interval(lo, hi)
        for lo, hi in zip(table["mean_ci_low"], table["mean_ci_high"], strict=True)
    ]
    return pd.DataFrame(columns)


def print_municipality_summary(table: pd.DataFrame, console: Console) -> None:
    """The table as ``summary --by municipality`` prints it (:func:`labelled`)."""
    from rich.markup import escape
    from rich.table import Table

    shown = labelled(table)
    view = Table(
        caption=(
            "means over the reporting years and the replications; counts per year; the "
            f"intervals are the {lookup(SPREAD_OF).label}'s"
        )
    )
    identity = {"code", *(lookup(c).label for c in IDENTITY if c != "municipality_code")}
    for header in shown.columns:
        # Names whole, on one line: they are what a reader looks for.
        named = header in identity
        view.add_column(header, no_wrap=named, justify="left" if named else "right")
    for row in shown.itertuples(index=False):
        view.add_row(*(escape(str(v)) for v in row))
    console.print(view)
