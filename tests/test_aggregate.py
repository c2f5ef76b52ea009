"""Aggregated counts: the schema's checks (each bad input named by row, line and column,
nothing written), the delimiter recognised, the example file benchmarked, any indicator of a
run over the years, and a run benchmarked as client-years and as aggregates giving the same
observed and expected counts."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from streetlevel.analysis.aggregate import (
    INDICATORS,
    AggregateDataError,
    Columns,
    read_aggregates,
)
from streetlevel.analysis.benchmark import benchmark
from streetlevel.analysis.benchmark_report import write_benchmark
from streetlevel.analysis.standardise import benchmark_source, is_microdata
from streetlevel.output.run import run_scenario
from streetlevel.scenario.loading import load_scenario, with_values

HEADER = "municipality,region,year,category,sanctioned,recipients"
GOOD = [
    "Aarhus,Midtjylland,2011,match-1,10,100",
    "Aarhus,Midtjylland,2011,match-2,30,100",
    "Randers,Midtjylland,2011,match-1,5,80",
    "Randers,Midtjylland,2011,match-2,40,90",
]


def example() -> Path:
    return Path(str(resources.files("streetlevel") / "data" / "example-aggregated.csv"))


def write(tmp_path: Path, rows: list[str], header: str = HEADER, sep: str = ",") -> Path:
    path = tmp_path / "counts.csv"
    lines = [header, *rows]
    path.write_text("\n".join(line.replace(",", sep) for line in lines) + "\n", encoding="utf-8")
    return path


@pytest.mark.slow
def test_the_example_file_is_benchmarked(tmp_path: Path) -> None:
    assert not is_microdata(example())
    result = benchmark_source(example())
    assert result.input == "aggregated" and result.year == 2013
    # Indirect standardisation: the expected counts add up to the observed in the country.
    adjusted = result.risk_adjusted
    np.testing.assert_allclose(adjusted["expected"].sum(), adjusted["observed"].sum(), rtol=1e-12)
    assert result.persistent is not None and result.over_years is not None
    assert set(result.over_years["year"]) == {2011, 2012, 2013}
    written = write_benchmark(result, tmp_path / "example")
    assert {"persistent.csv", "ratios_over_years.png", "report.html"} <= {p.name for p in written}
    split = benchmark_source(example(), by_category=True)
    assert set(split.risk_adjusted["category"]) == {"match-1", "match-2", "match-3"}


def test_the_semicolon_is_recognised(tmp_path: Path) -> None:
    comma = read_aggregates(write(tmp_path, GOOD))
    semicolon = read_aggregates(write(tmp_path, GOOD, sep=";"))
    assert semicolon.frame.equals(comma.frame)
    assert semicolon.strata == ("category",) and semicolon.years == [2011]


def test_other_names_are_mapped(tmp_path: Path) -> None:
    header = "kommune,region,aar,category,sanktionerede,modtagere"
    got = read_aggregates(
        write(tmp_path, GOOD, header),
        Columns(unit="kommune", observed="sanktionerede", denominator="modtagere", year="aar"),
    )
    assert got.frame["observed"].sum() == 85 and got.years == [2011]


def with_cell(row: int, column: str, value: str) -> list[str]:
    rows = [r.split(",") for r in GOOD]
    rows[row][HEADER.split(",").index(column)] = value
    return [",".join(r) for r in rows]


@pytest.mark.parametrize(
    ("rows", "header", "expected"),
    [
        (GOOD, HEADER.replace("recipients", "modtagere"),
         "line 1: missing column(s) 'recipients'; unknown column(s) 'modtagere'"),
        (with_cell(2, "sanctioned", "-3"), HEADER,
         "row 3 (line 4), column 'sanctioned': -3 is negative"),
        (with_cell(1, "sanctioned", "120"), HEADER,
         "row 2 (line 3), column 'sanctioned': 120 people counted out of 100"),
        ([*GOOD, GOOD[1]], HEADER,
         "row 5 (line 6), column 'municipality': Aarhus x match-2 x 2011"),
        (with_cell(0, "recipients", "many"), HEADER,
         "row 1 (line 2), column 'recipients': 'many' is not a number"),
    ],
)  # fmt: skip
def test_bad_input_is_named_by_row_line_and_column(
    tmp_path: Path, rows: list[str], header: str, expected: str
) -> None:
    path = write(tmp_path, rows, header)
    with pytest.raises(AggregateDataError) as err:
        benchmark_source(path)
    assert f"{path}: {expected}" in str(err.value)
    from streetlevel.cli import analysis

    app = typer.Typer()
    app.command()(analysis.benchmark)
    app.command("other")(lambda: None)
    out = tmp_path / "bench"
    done = CliRunner().invoke(app, ["benchmark", str(path), "--out", str(out)])
    assert done.exit_code != 0
    assert not out.exists()


def test_the_duplicate_names_its_first_row(tmp_path: Path) -> None:
    with pytest.raises(AggregateDataError, match=r"also in row 2 \(line 3\)"):
        read_aggregates(write(tmp_path, [*GOOD, GOOD[1]]))


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """denmark-2011 at 5 % scale, one replication, two reporting years (a few seconds)."""
    out = tmp_path_factory.mktemp("aggregate") / "run"
    scenario = with_values(
        load_scenario("denmark-2011"),
        {"scale.client_scale": 0.05, "time.reporting_years": 2},
        "test",
    )
    run_scenario(scenario, seed=3, replications=1, out=out)
    return out


def test_a_run_as_client_years_and_as_aggregates_agrees(run: Path) -> None:
    """With the same strata (category alone), indirect standardisation of the
    municipality-year counts and the risk model of the client-years expect the same."""
    micro = benchmark(run, risk_factors=("category",)).risk_adjusted
    aggregated = benchmark_source(run, input="aggregated").risk_adjusted
    both = micro.merge(aggregated, on=["municipality", "category"], suffixes=("_m", "_a"))
    assert len(both) == len(micro) == len(aggregated)
    np.testing.assert_allclose(both["observed_a"], both["observed_m"], rtol=0, atol=1e-9)
    np.testing.assert_allclose(both["expected_a"], both["expected_m"], rtol=0, atol=1e-9)
    np.testing.assert_array_equal(both["outside_95_a"], both["outside_95_m"])


@pytest.mark.parametrize("indicator", list(INDICATORS))
def test_any_indicator_of_a_run_over_the_years(run: Path, indicator: str) -> None:
    result = benchmark_source(run, indicator=indicator)
    assert result.indicator == indicator
    assert result.over_years is not None and result.persistent is not None
    years = sorted(result.over_years["year"].unique())
    assert len(years) == 2 and result.year == years[-1]
    # A unit listed as persistent is outside the 95 % limits in both years.
    for name in result.persistent["municipality"]:
        rows = result.over_years[result.over_years["municipality"] == name]
        assert rows["outside_95"].all()
