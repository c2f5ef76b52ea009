"""The simulated figure of each target, per replication, in the year the target describes.

A published figure is one realisation of one year, so :mod:`~streetlevel.validation.validate`
compares it with that year of a run, not with the mean of the reporting years: each summary
indicator is computed per replication from the ``municipality_years`` rows of that year
(:func:`streetlevel.output.summary.replication_indicators`). :func:`choose_year` says which
year a target is compared with, and why, where the run does not contain the year it names.

Two figures are no summary indicators, and are computed here: the municipalities' excess
dispersion of sanction rates given their client mix (:func:`dispersion`, CHM 3.2) and the
sanction rate among recipients with problems besides unemployment
(:func:`problems_sanction_rate`, from the client-years).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import numpy.typing as npt
import pandas as pd
import statsmodels.api as sm

from streetlevel.model.tally import PROFILE
from streetlevel.output.summary import replication_indicators
from streetlevel.scenario.schema import Scenario

__all__ = [
    "DISPERSION",
    "PROBLEMS",
    "YearChoice",
    "choose_year",
    "dispersion",
    "problems_sanction_rate",
    "yearly_figures",
]

F64 = npt.NDArray[np.float64]

DISPERSION = "municipal_dispersion"
"""The target name of :func:`dispersion`."""
PROBLEMS = "problems_sanction_rate"
"""The target name of :func:`problems_sanction_rate`."""


@dataclass(frozen=True)
class YearChoice:
    """The calendar year a target is compared with (None: the mean of the reporting years),
    and a note where that is not the year it describes."""

    year: int | None
    note: str = ""


def choose_year(wanted: int | None, reporting: Sequence[int]) -> YearChoice:
    """The year of the run to compare a figure of year ``wanted`` with.

    The year itself where the run has it; else the nearest reporting year (the earlier of two
    as near), with a note; a figure without a year is compared with the mean of the
    reporting years.

    >>> choose_year(2011, [2011, 2012, 2013])
    YearChoice(year=2011, note='')
    >>> choose_year(2011, [2014, 2015]).note
    'the run has no 2011: compared with 2014, its nearest reporting year'
    >>> choose_year(None, [2011, 2012, 2013]).note
    'mean of the reporting years 2011-2013 (the source gives no year)'
    """
    years = sorted(int(y) for y in reporting)
    if wanted is None:
        span = f"{years[0]}-{years[-1]}" if len(years) > 1 else str(years[0])
        return YearChoice(None, f"mean of the reporting years {span} (the source gives no year)")
    if wanted in years:
        return YearChoice(wanted)
    nearest = min(years, key=lambda y: (abs(y - wanted), y))
    return YearChoice(
        nearest, f"the run has no {wanted}: compared with {nearest}, its nearest reporting year"
    )


def yearly_figures(my: pd.DataFrame, scenario: Scenario, year: int | None) -> dict[str, F64]:
    """Each summary indicator per replication (in replication order) from the rows of
    ``year`` of a ``municipality_years`` frame (all reporting years for None), and
    :func:`dispersion`."""
    rows = my if year is None else my[my["year"] == year]
    figures = {name: values for name, values, _ in replication_indicators(rows, scenario)}
    figures[DISPERSION] = dispersion(rows, [m.name for m in scenario.municipalities])
    return figures


def dispersion(rows: pd.DataFrame, leave_out: Sequence[str] = ()) -> F64:
    """The over-dispersion factor of the municipalities' sanction rates given their client
    mix, per replication: Pearson's chi-square over its degrees of freedom in a binomial
    regression of the recipients sanctioned on each municipality's client mix (the shares of
    each category beyond the first, and of the young, men and the low-educated).

    1 is what chance alone gives (binomial variation around the rates the client mix
    predicts); above 1, the municipalities differ more. ``leave_out`` names municipalities
    whose rates are fitted (CHM's A and B), so that the fit does not make the check.
    """
    rows = rows[~rows["municipality"].astype(str).isin(list(leave_out))]
    mix = [c for c in rows.columns if c.startswith("recipients_category_")][1:]
    mix += [f"recipients_{trait}" for trait in PROFILE if f"recipients_{trait}" in rows.columns]
    out = []
    for _, rep in rows.groupby("replication", sort=True):
        per = rep.groupby("municipality", observed=True)[["recipients", "sanctioned", *mix]].sum()
        per = per[per["recipients"] > 0]
        n = per["recipients"].to_numpy(dtype=np.float64)
        y = per["sanctioned"].to_numpy(dtype=np.float64)
        shares = per[mix].to_numpy(dtype=np.float64) / n[:, None]
        design = np.column_stack([np.ones(len(n)), shares])
        if len(n) <= design.shape[1] or y.sum() == 0:
            out.append(float("nan"))  # too few municipalities or no sanctions to judge by
            continue
        with warnings.catch_warnings():
            # A small run's perfectly separated cells are a fact of the data, not an error.
            warnings.simplefilter("ignore")
            fit = sm.GLM(np.column_stack([y, n - y]), design, family=sm.families.Binomial()).fit()
        out.append(float(fit.pearson_chi2 / fit.df_resid))
    return np.array(out, dtype=np.float64)


def problems_sanction_rate(run_dir: Path, year: int | None, replications: int) -> F64:
    """The share of the client-years of recipients with problems besides unemployment with
    at least one sanction, per replication, in ``year`` (all reporting years for None)."""
    table = Path(run_dir) / "client_years.parquet"
    files = str(table / "*.parquet") if table.is_dir() else str(table)
    where = "problems" + ("" if year is None else " AND year = ?")
    params: list[object] = [files] + ([] if year is None else [year])
    counts = (
        duckdb.connect()
        .execute(
            "SELECT replication, count(*) AS n, count(*) FILTER (sanctions > 0) AS sanctioned "
            f"FROM read_parquet(?) WHERE {where} GROUP BY replication",
            params,
        )
        .fetchnumpy()
    )
    out = np.full(replications, np.nan)
    reps = counts["replication"].astype(np.int64)
    n = counts["n"].astype(np.float64)
    out[reps] = counts["sanctioned"].astype(np.float64) / n
    return out
