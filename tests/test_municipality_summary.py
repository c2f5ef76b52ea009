"""A run's figures by municipality (`summary --by municipality`, the run report's table):
each figure averaged over the reporting years within a replication, then over replications,
as the country's summary does; the sanction rate with its spread and the CI of its mean."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from streetlevel.cli.app import app
from streetlevel.output.municipality_summary import (
    FIGURES,
    labelled,
    municipality_summary,
)
from streetlevel.output.run import run_scenario
from streetlevel.output.uncertainty import interval, mean_ci
from tests.conftest import small


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The whole country, small: three replications of two reporting years."""
    out = tmp_path_factory.mktemp("by-municipality") / "run"
    scenario = small("denmark-2011", scale=0.02, time__burn_in_years=1, time__reporting_years=2)
    run_scenario(scenario, seed=3, replications=3, out=out)
    return out


def test_each_municipality_is_summarised_as_the_country_is(run: Path) -> None:
    table = municipality_summary(run)
    years = pq.read_table(run / "municipality_years.parquet").to_pandas()
    assert len(table) == years["municipality"].nunique() == 98
    assert table["region"].is_monotonic_increasing
    # One municipality by hand: the mean over its years within each replication, then the
    # mean, percentiles and t-interval over the replications.
    name = str(table["municipality"].iloc[len(table) // 2])
    mine = years[years["municipality"] == name]
    per_replication = mine.groupby("replication")[list(FIGURES)].mean()
    row = table[table["municipality"] == name].iloc[0]
    for figure in FIGURES:
        assert row[figure] == pytest.approx(per_replication[figure].mean())
    rates = per_replication["sanction_rate"].to_numpy(dtype=np.float64)
    assert (row["spread_low"], row["spread_high"]) == pytest.approx(interval(rates)[1:])
    assert (row["mean_ci_low"], row["mean_ci_high"]) == pytest.approx(mean_ci(rates))
    # Shown in the catalogue's labels and units.
    shown = labelled(table)
    assert {"municipality", "sanction rate", "recipients"} <= set(shown.columns)
    assert all(v.endswith(" %") for v in shown["sanction rate"])


def test_summary_by_municipality_prints_and_writes_csv(run: Path, tmp_path: Path) -> None:
    path = tmp_path / "municipalities.csv"
    done = CliRunner().invoke(
        app, ["summary", str(run), "--by", "municipality", "--csv", str(path)]
    )
    assert done.exit_code == 0, done.output
    written = pd.read_csv(path)
    expected = municipality_summary(run)
    assert list(written["municipality"]) == list(expected["municipality"])
    assert np.allclose(written["sanction_rate"], expected["sanction_rate"])
    assert "Municipality A" in done.output and "the sanction rate" in done.output
    refused = CliRunner().invoke(app, ["summary", str(run), "--by", "region"])
    assert refused.exit_code == 2


def test_the_run_report_tables_every_municipality(run: Path, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    done = CliRunner().invoke(app, ["report", str(run), "--out", str(out)])
    assert done.exit_code == 0, done.output
    page = out.read_text(encoding="utf-8")
    assert all(str(name) in page for name in municipality_summary(run)["municipality"])
