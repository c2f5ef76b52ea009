"""Denmark's real municipalities as data (streetlevel/data/denmark-municipalities.csv) and the
preset that takes its country from them (denmark-2011-municipalities): the table agrees with
its cited source's own totals and with the region counts the Danish presets state; the preset
builds those 98 municipalities, none of them CHM's anonymous A or B; and a run's
municipality_years joins the table one to one by the official code."""

from __future__ import annotations

import tomllib
from collections import Counter
from importlib import resources
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from streetlevel.errors import ScenarioError
from streetlevel.model.country import build_country
from streetlevel.output.run import municipality_years_in_memory, run_scenario
from streetlevel.scenario.loading import list_presets, load_scenario
from streetlevel.scenario.municipality_table import (
    COLUMNS,
    municipality_table,
    parse_municipality_table,
)
from streetlevel.scenario.tables import read_user_table
from tests.conftest import small

PRESET = "denmark-2011-municipalities"
TABLE = "denmark-municipalities"
DATA = resources.files("streetlevel.data")


def sidecar() -> dict:
    return tomllib.loads((DATA / f"{TABLE}.toml").read_text(encoding="utf-8"))


# -- the table ---------------------------------------------------------------------------------


def test_the_table_has_every_municipality_once() -> None:
    rows = municipality_table(TABLE)
    assert len(rows) == sidecar()["table"]["rows"] == 98
    assert len({r.code for r in rows}) == len(rows)
    assert len({r.name for r in rows}) == len(rows)
    assert all(r.code.isdigit() for r in rows)
    assert {r.population_date for r in rows} == {"2012-01-01"}
    # Official Danish names, not English ones.
    names = {r.name for r in rows}
    assert {"København", "Aarhus", "Høje-Taastrup", "Lyngby-Taarbæk"} <= names
    assert "Copenhagen" not in names


def test_the_regions_are_the_ones_the_danish_presets_state() -> None:
    stated = {r.name: r.municipalities.value for r in load_scenario("denmark-2011").regions}
    counted = Counter(r.region for r in municipality_table(TABLE))
    assert counted == stated


def test_populations_add_up_to_the_sources_totals() -> None:
    """Statistics Denmark's own totals (all Denmark, each region) equal the table's rows
    summed, once the one unit it tables that is no municipality (Christiansø) is added back."""
    totals = sidecar()["totals"]
    rows = municipality_table(TABLE)
    left_out = sum(totals["left_out"].values())
    assert sum(r.population for r in rows) + left_out == totals["denmark"]
    for region, total in totals["regions"].items():
        in_region = sum(r.population for r in rows if r.region == region)
        extra = left_out if region == totals["left_out_region"] else 0
        assert in_region + extra == total, region


def test_the_table_reads_as_a_users_table_would(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_bytes((DATA / f"{TABLE}.csv").read_bytes())
    table = read_user_table(path, ScenarioError)
    assert table.columns == list(COLUMNS)
    assert table.frame["code"].tolist() == [r.code for r in municipality_table(TABLE)]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("code,name,region,population\n1,A,R,5\n", "missing column(s) 'population_date'"),
        ("code,name,region,population,population_date\n1,A,R,x,2012-01-01\n", "row 1 (line 2)"),
        (
            "code,name,region,population,population_date\n1,A,R,5,2012-01-01\n1,B,R,5,2012-01-01\n",
            "row 2 (line 3), column 'code': is given to more than one municipality",
        ),
        ("code,name,region,population,population_date\n1,A,R,5,1 Jan\n", "not a date"),
        ("code,name,region,population,population_date\n", "no municipalities"),
    ],
)
def test_a_broken_table_is_named_by_row_and_column(text: str, message: str) -> None:
    with pytest.raises(ScenarioError, match=r"t\.csv") as err:
        parse_municipality_table(text, "t.csv")
    assert message in str(err.value)


# -- the preset and its country ----------------------------------------------------------------


def test_the_preset_builds_the_real_country() -> None:
    assert PRESET in list_presets()
    scenario = load_scenario(PRESET)
    country = build_country(scenario)
    rows = municipality_table(TABLE)
    by_code = {r.code: r for r in rows}
    assert sorted(country.codes) == sorted(by_code)
    for m, code in enumerate(country.codes):
        row = by_code[code]
        assert country.names[m] == row.name
        assert country.region_names[country.region[m]] == row.region
        # The table's populations as they are: not scaled to synthetic.population_mean.
        assert country.population[m] == row.population
    # CHM's Municipality A and B are anonymous: none of the 98 is given their organisation.
    assert scenario.municipalities == []
    assert not {"Municipality A", "Municipality B"} & set(country.names)
    # Recipients per 100 citizens are drawn (no table by municipality was reachable), at the
    # national rate the synthetic country is scaled to.
    assert country.national_per_100 == pytest.approx(
        scenario.synthetic.recipients_per_100_mean.value
    )
    assert np.ptp(country.recipients_per_100) > 0


def test_a_scenario_without_a_table_has_no_codes() -> None:
    assert build_country(load_scenario("denmark-2011")).codes == ()


def test_region_counts_must_be_the_tables(tmp_path: Path) -> None:
    wrong = tmp_path / "wrong.toml"
    wrong.write_text(
        f'base = "{PRESET}"\n\n[[regions]]\nname = "Nordjylland"\n'
        'municipalities = { value = 12, unit = "municipalities", source = "test" }\n',
        encoding="utf-8",
    )
    with pytest.raises(ScenarioError, match="'Nordjylland' has 12 municipalities, but 0 are"):
        load_scenario(wrong)
    twice = tmp_path / "twice.toml"
    twice.write_text(
        'base = "denmark-2011"\n\n[synthetic]\nmunicipality_table = { value = "denmark-'
        'municipalities", unit = "table", source = "test" }\n',
        encoding="utf-8",
    )
    # denmark-2011 lists A and B besides: their regions then hold more than their counts.
    with pytest.raises(ScenarioError, match="'Hovedstaden' has 29 municipalities, but 1 are l"):
        load_scenario(twice)


def test_an_unknown_table_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(
        f'base = "{PRESET}"\n\n[synthetic]\nmunicipality_table = {{ value = "atlantis", '
        'unit = "table", source = "test" }\n',
        encoding="utf-8",
    )
    with pytest.raises(ScenarioError, match=r"synthetic\.municipality_table"):
        load_scenario(bad)
    with pytest.raises(ScenarioError, match="no such municipality table"):
        municipality_table("atlantis")


# -- a run joins the table by code -------------------------------------------------------------


def _tiny():
    return small(PRESET, scale=0.01, time__burn_in_years=1, time__reporting_years=1)


def test_a_runs_municipality_years_join_the_table_by_code(tmp_path: Path) -> None:
    run_scenario(_tiny(), seed=1, replications=1, out=tmp_path / "run")
    years = pq.read_table(tmp_path / "run" / "municipality_years.parquet").to_pandas()
    table = read_user_table(resources.files("streetlevel.data") / f"{TABLE}.csv", ScenarioError)
    published = table.frame
    years["municipality_code"] = years["municipality_code"].astype(str)
    joined = years.merge(published, left_on="municipality_code", right_on="code", how="outer")
    # One row per municipality and year, each matched, each with its own name and region.
    assert len(joined) == len(years) == len(published)
    assert joined["code"].notna().all() and joined["municipality"].notna().all()
    assert (joined["municipality"].astype(str) == joined["name"]).all()
    assert (joined["region_x"].astype(str) == joined["region_y"]).all()
    country = pq.read_table(tmp_path / "run" / "municipalities.parquet").to_pandas()
    assert sorted(country["municipality_code"]) == sorted(published["code"])


def test_the_in_memory_rows_carry_the_same_codes(tmp_path: Path) -> None:
    rows = municipality_years_in_memory(_tiny(), seed=1, replications=1)
    codes = dict(zip(rows["municipality"], rows["municipality_code"], strict=True))
    assert codes == {r.name: r.code for r in municipality_table(TABLE)}
