"""The catalogue of indicators (issue 17, item 6): every figure the system produces has one
entry, and everything that shows a figure takes its label and unit from it."""

from __future__ import annotations

import io
import math
import re
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from rich.console import Console

from streetlevel.analysis.benchmark import benchmark
from streetlevel.analysis.benchmark_report import funnel_figure, labelled_table, print_benchmark
from streetlevel.errors import StreetlevelError
from streetlevel.experiments.compare import comparison_figure, print_comparison
from streetlevel.experiments.sensitivity import labelled
from streetlevel.output import catalogue
from streetlevel.output.catalogue import UNITS, entries, lookup
from streetlevel.output.run import outcome_names, run_scenario
from streetlevel.output.summary import Summary, describe, summarize, summary_table
from streetlevel.scenario.loading import list_presets, load_scenario
from streetlevel.validation.targets import load_targets
from tests.conftest import small

NOT_INDICATORS = ("input", "not_modelled")
"""Kinds of target that are no figure of a run (a parameter, a figure not modelled)."""


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny run of the whole Danish country: three categories, two listed municipalities,
    two reporting years."""
    scenario = small("denmark-2011", scale=0.02, time__burn_in_years=1, time__reporting_years=2)
    out = tmp_path_factory.mktemp("catalogue") / "run"
    run_scenario(scenario, seed=5, replications=2, out=out)
    return out


@pytest.fixture(scope="module")
def summary(run_dir: Path) -> Summary:
    return summarize(run_dir)


def text(renderable: object) -> str:
    console = Console(width=200, record=True, file=io.StringIO())
    console.print(renderable)
    return console.export_text()


def test_every_figure_of_a_run_is_catalogued(run_dir: Path, summary: Summary) -> None:
    columns = pq.read_table(run_dir / "municipality_years.parquet").schema.names
    for name in columns:
        lookup(name)
    assert {"sanction_rate_category_3", "recipients_low_education", "rank"} <= set(columns)
    scenario = load_scenario(run_dir / "scenario.toml")
    for ind in summary.indicators:
        entry = describe(ind.name, scenario)
        assert entry.entry == lookup(ind.name).entry
        assert (ind.label, ind.unit, ind.description) == (
            entry.label,
            entry.unit.name,
            entry.definition,
        ), ind.name
    assert summary.get("sanction_rate_municipality_a").label == "sanction rate, Municipality A"
    assert summary.get("amount_withheld_per_recipient").label.endswith("(DKK)")
    names = {i.name for i in summary.indicators}
    assert {"sanction_rate_municipality_a", "national_sanction_rate_2012"} <= names
    for target in load_targets():
        if target.kind not in NOT_INDICATORS:
            lookup(target.name)


@pytest.mark.parametrize("preset", list_presets())
def test_every_outcome_of_every_preset_is_catalogued(preset: str) -> None:
    for name in outcome_names(load_scenario(preset)):
        assert lookup(name).label, name


def test_every_column_of_a_benchmark_is_catalogued(run_dir: Path) -> None:
    result = benchmark(run_dir)
    for frame in (result.indicators, result.ranking, result.risk_adjusted):
        for name in frame.columns:
            lookup(name, scope="benchmark")
    # A benchmark's weeks_sanctioned is per sanctioned recipient; a run's, a total of weeks.
    assert lookup("weeks_sanctioned", scope="benchmark").unit.name == "weeks"
    assert lookup("weeks_sanctioned").unit.name == "count"
    report = labelled_table(result.ranking)
    assert "sanction rate" in report.columns and "rate" not in report.columns
    assert all(v.endswith(" %") for v in report["sanction rate"])
    printed = io.StringIO()
    print_benchmark(result, run_dir / "benchmark", Console(file=printed, width=200))
    assert "observed / expected" in printed.getvalue()
    assert "rank in region" in printed.getvalue()
    # The two halves are headed, and a rank says of how many in the region.
    lines = printed.getvalue().splitlines()
    assert sum("highest" in line for line in lines) >= 1
    assert sum("lowest" in line for line in lines) >= 1
    sizes = result.ranking.groupby("region")["municipality"].nunique()
    for region, size in sizes.items():
        rows = [line for line in lines if f" {region} " in line and "│" in line]
        assert all(re.search(rf"\b\d+ of {size}\b", line) for line in rows), rows
    # The funnel's log axis is labelled in plain numbers at 1, 2 and 5 times powers of ten.
    fig = funnel_figure(result)
    ticks = [t.get_text() for t in fig.axes[0].get_xticklabels() if t.get_text()]
    assert len(ticks) >= 2 and all(re.fullmatch(r"[\d,]+(\.\d+)?", t) for t in ticks), ticks


def test_shares_are_shown_in_percent_and_gaps_in_points() -> None:
    rate, gap = lookup("national_sanction_rate"), lookup("young_share_gap")
    assert (rate.unit.name, gap.unit.name) == ("share", "percentage_points")
    assert rate.format(0.1108) == "11.1 %"
    assert gap.format(0.021) == "+2.1 pp" and "%" not in gap.format(-0.004)
    assert gap.format(-0.004) == "-0.4 pp"
    assert rate.format_difference(0.005) == "+0.5 pp"
    assert rate.format_interval(0.105, 0.116) == "10.5 - 11.6 %"
    assert rate.format_interval(math.nan, math.nan) == rate.format(None) == "-"
    assert lookup("sanctioned_recipients").format(13730.4) == "13,730"
    assert lookup("weeks_per_sanction").format(1.914) == "1.91 weeks"
    assert lookup("outside_95", scope="benchmark").format(True) == "yes"
    assert lookup("year").format(2012) == "2012"  # a key, never 2,012
    assert rate.scaled(0.25) == pytest.approx(25.0)
    assert rate.axis_label == "sanction rate, country (%)"


def test_patterns_fill_their_labels() -> None:
    assert lookup("sanction_rate_category_2").label == "sanction rate, category 2"
    municipal = lookup("sanction_rate_municipality_a")
    assert municipal.entry.name == "sanction_rate_{municipality}"
    assert municipal.parts == {"municipality": "municipality_a"}
    assert municipal.label == "sanction rate, municipality a"
    named = lookup("sanction_rate_municipality_a", municipality="Municipality A")
    assert named.label == "sanction rate, Municipality A"
    assert lookup("national_sanction_rate_2013").label == "sanction rate, country, 2013"
    assert lookup("low_education_share_gap").label == "share low-educated: sanctioned minus all"
    assert lookup("limit_998_high", scope="benchmark").label == "99.8 % control limit, high"
    withheld = lookup("amount_withheld_per_recipient", currency="NOK")
    assert withheld.label == "benefit withheld per recipient (NOK)"
    assert "in NOK" in withheld.definition


def test_an_unknown_name_is_a_clear_key_error() -> None:
    with pytest.raises(KeyError, match="'sanction_rat': not an indicator of the catalogue"):
        lookup("sanction_rat")
    with pytest.raises(KeyError, match="scope 'run'"):
        lookup("ratio")  # a benchmark's column, not a run's
    assert lookup("ratio", scope="benchmark").label == "observed / expected"
    # A benchmark's name not in its own scope means what it means in a run.
    assert lookup("repeat_share", scope="benchmark") == lookup("repeat_share")
    assert catalogue.find("policy") is None
    with pytest.raises(KeyError, match="exit_nowhere_rate"):
        lookup("exit_nowhere_rate")  # the destinations are the model's three


def test_the_catalogue_file_is_checked() -> None:
    for scope in catalogue.SCOPES:
        labels = [e.label for e in entries(scope)]
        assert len(labels) == len(set(labels)), scope
    assert {e.unit for e in entries()} <= set(UNITS)
    good = '[[indicator]]\nname = "x_{year}"\nlabel = "x in {year}"\nunit = "share"\n'
    good += 'definition = "x / y"\n'
    (entry,) = catalogue._parse(good, "test.toml")
    assert entry.regex is not None and entry.regex.fullmatch("x_2011")
    for bad, problem in (
        (good.replace('"share"', '"percent"'), "unit 'percent'"),
        (good.replace("{year}", "{when}"), "varying parts ['when']"),
        (good.replace('"x in {year}"', '"x in {category}"'), "names a part"),
        (good + good, "given twice"),
        (good.replace('unit = "share"', 'units = "share"'), "keys"),
    ):
        with pytest.raises(StreetlevelError, match=r"test\.toml: x_\{\w+\}: .*" + problem[:8]):
            catalogue._parse(bad, "test.toml")


def test_the_summary_table_shows_labels_and_units(summary: Summary) -> None:
    shown_text = text(summary_table(summary))
    assert "sanction rate, Municipality A" in shown_text
    assert "sanction rate, country" in shown_text
    gap = summary.get("male_share_gap")
    assert gap.format(gap.mean) in shown_text and gap.format(gap.mean).endswith(" pp")
    assert "national_sanction_rate" not in shown_text
    assert "benefit withheld per recipient (DKK)" in shown_text


def comparison_frame() -> pd.DataFrame:
    """A comparison of two policies, as experiments.compare.comparison returns it."""
    rows = []
    for route, rate, gap in (("caseworker", 0.34, 0.02), ("benefit_office", 0.12, -0.01)):
        for outcome, mean in (("national_sanction_rate", rate), ("young_share_gap", gap)):
            rows.append(
                {"route": route, "outcome": outcome, "mean": mean, "spread_low": mean - 0.01,
                 "spread_high": mean + 0.01, "se": 0.002, "n": 3}
            )  # fmt: skip
    return pd.DataFrame(rows)


def test_a_comparison_is_shown_by_labels_in_units() -> None:
    table = comparison_frame()
    printed = io.StringIO()
    outcomes = ["national_sanction_rate", "young_share_gap"]
    print_comparison(table, outcomes, [Path("compare.csv")], Console(file=printed, width=200))
    out = printed.getvalue()
    assert "sanction rate, country" in out and "share under 30: sanctioned minus all" in out
    assert "34.0 % (33.0 - 35.0 %)" in out and "-1.0 pp (-2.0 - 0.0 pp)" in out
    fig = comparison_figure(table, outcomes)
    assert [ax.get_title() for ax in fig.axes] == [lookup(o).label for o in outcomes]
    assert [ax.get_xlabel() for ax in fig.axes] == ["%", "pp"]
    # Drawn in the unit shown: a share of 0.34 at 34.
    assert max(fig.axes[0].get_xlim()) > 30
    # Each policy named by its lever and level, as the experiment file writes them.
    ticks = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert ticks == [f"route = {r}" for r in dict.fromkeys(table["route"])]
    sensitivity = pd.DataFrame({"outcome": ["exit_unknown_rate"], "factor": ["f"], "S1": [0.5]})
    assert labelled(sensitivity)["outcome"].tolist() == ["exits to unknown per recipient"]


def test_the_dashboard_shows_labels_and_units() -> None:
    pytest.importorskip("dash")
    from streetlevel.dashboard import views

    frame = pd.DataFrame(
        {"year": [2012], "category": ["all"], "recipients": [1234], "sanctioned": [40],
         "rate": [0.1234]}
    )  # fmt: skip
    rendered = views.table(frame, "t")
    header = [cell.children for cell in rendered.children[0].children.children]
    assert header == ["year", "category", "recipients", "sanctioned recipients", "sanction rate"]
    (row,) = rendered.children[1].children
    assert [cell.children for cell in row.children] == ["2012", "all", "1,234", "40", "12.3 %"]
    table = comparison_frame().assign(policy=lambda f: f["route"])
    side = views.side_by_side(table, "caseworker", "benefit_office")
    assert side is not None
    assert side.set_index("outcome").loc["sanction rate, country", "B - A"] == "-22.0 pp"
    assert views.outcome_options(["timeliness"]) == [
        {"label": "share of meetings on time", "value": "timeliness"}
    ]
    fig = views.policy_figure(
        table[table["outcome"] == "national_sanction_rate"], "national_sanction_rate"
    )
    assert list(fig.data[0].x) == pytest.approx([34.0, 12.0])
    assert fig.layout.xaxis.title.text == "sanction rate, country (%)"
