"""Benchmarking aggregated counts by indirect standardisation, and the one entry point of
``streetlevel benchmark`` (microdata or aggregates, a file or a run directory).

A unit's expected count is the national rate of each stratum its file has (category, age
group, ...) times the unit's denominator in that stratum, summed over its strata: what the unit
would count if it were like the country with its own mix. Observed / expected is then judged
against funnel limits (:func:`streetlevel.analysis.outliers.funnel`): binomial for people out of
a denominator, Poisson for events. With several years, every year is standardised against its
own country, and the units outside the limits year after year are listed.

With the same strata, aggregates and client-years give the same observed and expected counts
(``tests/test_aggregate.py`` checks a run both ways to 1e-9).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from streetlevel.analysis.aggregate import (
    Aggregates,
    Columns,
    Counts,
    read_aggregates,
    run_aggregates,
)
from streetlevel.analysis.benchmark import (
    ALL,
    Benchmark,
    benchmark,
    compared,
    regional_ranking,
    with_adjusted_rank,
)
from streetlevel.analysis.funnel import LEVELS, poisson_ratio_interval
from streetlevel.analysis.microdata import required_columns
from streetlevel.analysis.overdispersion import estimate
from streetlevel.errors import StreetlevelError
from streetlevel.model.indicators import ratio
from streetlevel.scenario.tables import read_user_table

__all__ = ["Input", "benchmark_aggregates", "benchmark_source", "is_microdata", "standardised"]

Input = Literal["auto", "microdata", "aggregated"]
CLIENT_YEAR_ONLY = {"weeks_in_year", "weeks_on_benefit", "sanctions", "client_id", "minority"}
"""Columns of the decision schema that no aggregated file has."""
COUNT_COLUMNS = ("denominator", "observed")
"""Columns shown beside the rate in an aggregated benchmark's ranking."""


def is_microdata(path: Path | str, delimiter: str | None = None) -> bool:
    """Whether a file holds client-years or aggregated counts: client-years when it has every
    required column of the decision schema, or any column only client-years have (so that a
    client-year file missing a column is told what it misses as one)."""
    from streetlevel.analysis.microdata import DecisionDataError

    table = read_user_table(path, DecisionDataError, delimiter=delimiter)
    names = set(table.columns)
    return set(required_columns()) <= names or bool(names & CLIENT_YEAR_ONLY)


def _units(frame: pd.DataFrame, by_category: bool) -> pd.Series:
    if not by_category:
        return pd.Series(ALL, index=frame.index)
    return frame["category"].astype(str)


def standardised(aggregates: Aggregates, year: int, by_category: bool = False) -> pd.DataFrame:
    """Observed against expected per unit (and category) in ``year``: the columns of
    :attr:`Benchmark.risk_adjusted`, the denominator in ``denominator``."""
    frame = aggregates.frame[aggregates.frame["year"] == year]
    strata = list(aggregates.strata)
    if strata:
        totals = frame.groupby(strata, sort=False)[["observed", "denominator"]].transform("sum")
        rate = ratio(totals["observed"], totals["denominator"])
    else:
        rate = np.full(len(frame), frame["observed"].sum() / frame["denominator"].sum())
    data = pd.DataFrame(
        {
            "municipality": frame["municipality"].astype(str),
            "region": frame["region"].astype(str),
            "category": _units(frame, by_category),
            "denominator": frame["denominator"],
            "observed": frame["observed"],
            # A stratum with no denominator anywhere expects nothing.
            "expected": np.nan_to_num(rate * frame["denominator"].to_numpy()),
        }
    )
    out = (
        data.groupby(["municipality", "region", "category"], sort=True)[
            ["denominator", "observed", "expected"]
        ]
        .sum()
        .reset_index()
    )
    o, e, n = out["observed"], out["expected"], out["denominator"]
    out["ratio"] = ratio(o, e)
    out["low"], out["high"] = poisson_ratio_interval(o, e, LEVELS[0])
    out["share"] = ratio(o, n)
    sums = out.groupby("category")[["observed", "denominator"]].transform("sum")
    out["adjusted_share"] = out["ratio"] * ratio(sums["observed"], sums["denominator"])
    judged = out[out["expected"] > 0]
    if judged.empty:
        raise StreetlevelError(f"{aggregates.source}: nothing is expected in {year}")
    people = aggregates.counts == "people"
    return compared(judged.reset_index(drop=True), "denominator" if people else None)


def _indicators(aggregates: Aggregates, by_category: bool) -> pd.DataFrame:
    frame = aggregates.frame.assign(category=_units(aggregates.frame, by_category))
    keys = ["municipality", "region", "year", "category"]
    out = frame.groupby(keys, sort=True)[["denominator", "observed"]].sum().reset_index()
    out["rate"] = ratio(out["observed"], out["denominator"])
    return out.sort_values(["year", "category", "municipality"], ignore_index=True)


def _over_years(
    aggregates: Aggregates, by_category: bool
) -> tuple[pd.DataFrame | None, pd.DataFrame | None]:
    """Each unit's ratio in every year, and the units outside the 95 % limits in all of
    them (None with a single year)."""
    if len(aggregates.years) < 2:
        return None, None
    columns = ["municipality", "region", "category", "observed", "expected", "ratio",
               "outside_95", "outside_998", "outside_95_overdispersed"]  # fmt: skip
    yearly = pd.concat(
        [standardised(aggregates, y, by_category)[columns].assign(year=y)
         for y in aggregates.years],
        ignore_index=True,
    )  # fmt: skip
    keys = ["municipality", "region", "category"]
    summary = yearly.groupby(keys).agg(
        years=("year", "nunique"),
        years_outside_95=("outside_95", "sum"),
        years_above=("ratio", lambda r: int((r > 1).sum())),
        mean_ratio=("ratio", "mean"),
    )
    every = summary[
        (summary["years"] == len(aggregates.years))
        & (summary["years_outside_95"] == summary["years"])
    ]
    return yearly, every.reset_index().sort_values("mean_ratio", ascending=False,
                                                   ignore_index=True)  # fmt: skip


def benchmark_aggregates(
    aggregates: Aggregates,
    year: int | None = None,
    by_category: bool = False,
    replication: int | None = None,
) -> Benchmark:
    """Benchmark aggregated counts: the indicators per unit and year, the regional ranking,
    indirectly standardised ratios with funnel limits in ``year`` (default: the latest), and
    the ratios over the years."""
    if by_category and "category" not in aggregates.strata:
        raise StreetlevelError(
            f"{aggregates.source}: --by category needs a category column (strata: "
            f"{', '.join(aggregates.strata) or 'none'})"
        )
    years = aggregates.years
    year = years[-1] if year is None else year
    if year not in years:
        raise StreetlevelError(f"{aggregates.source}: no rows for year {year} (years: {years})")
    adjusted = standardised(aggregates, year, by_category)
    table = _indicators(aggregates, by_category)
    ranking = with_adjusted_rank(
        regional_ranking(table[table["year"] == year], COUNT_COLUMNS), adjusted
    )
    in_year = aggregates.frame[aggregates.frame["year"] == year]
    strata = list(aggregates.strata)
    model = (
        in_year.groupby(strata)[["observed", "denominator"]].sum().reset_index()
        if strata
        else pd.DataFrame(
            {"observed": [in_year["observed"].sum()], "denominator": [in_year["denominator"].sum()]}
        )
    )
    model["rate"] = ratio(model["observed"], model["denominator"])
    people = aggregates.counts == "people"
    dispersion = estimate(
        "proportion" if people else "shmi",
        adjusted["observed"],
        adjusted["expected"],
        adjusted["denominator"] if people else None,
    )
    over_years, persistent = _over_years(aggregates, by_category)
    return Benchmark(
        source=aggregates.source,
        year=year,
        replication=replication,
        by_category=by_category,
        indicators=table,
        ranking=ranking,
        risk_adjusted=adjusted,
        risk_model=model,
        overdispersion=dispersion.phi,
        national_rate=float(in_year["observed"].sum() / in_year["denominator"].sum()),
        input="aggregated",
        indicator=aggregates.indicator,
        proportion=people,
        denominator="denominator",
        over_years=over_years,
        persistent=persistent,
    )


def benchmark_source(
    source: Path | str,
    *,
    input: Input = "auto",
    indicator: str | None = None,
    year: int | None = None,
    by_category: bool = False,
    replication: int | None = None,
    columns: Columns | None = None,
    counts: Counts = "people",
    denominator: str = "recipients",
    delimiter: str | None = None,
) -> Benchmark:
    """``streetlevel benchmark``: a run directory or a file, as client-years (risk model over
    the clients' attributes) or as aggregates (indirect standardisation over the strata).

    A file is taken as client-years when it has every required column of the decision schema
    (unless ``input`` says); a run directory is read as aggregates (its municipality-year
    table) when ``input="aggregated"`` or an ``indicator`` is chosen.
    """
    path = Path(source)
    if path.is_dir():
        if input == "aggregated" or indicator is not None:
            aggregates, chosen = run_aggregates(path, indicator or "sanction_rate", replication)
            return benchmark_aggregates(aggregates, year, by_category, chosen)
        return benchmark(path, year=year, by_category=by_category, replication=replication)
    if indicator is not None:
        raise StreetlevelError(
            "--indicator chooses among a run directory's indicators; for a file, name its "
            "columns with --observed and --denominator"
        )
    if input == "microdata" or (input == "auto" and is_microdata(path, delimiter)):
        return benchmark(path, year=year, by_category=by_category, replication=replication)
    if replication not in (None, 0):
        raise StreetlevelError(f"--replication {replication}: the data have no replications")
    aggregates = read_aggregates(path, columns, counts, denominator=denominator,
                                 delimiter=delimiter)  # fmt: skip
    return benchmark_aggregates(aggregates, year, by_category)
