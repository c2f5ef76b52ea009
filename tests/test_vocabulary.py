"""One vocabulary for uncertainty, validate's warning on too few replications, and the
labels of summaries (issue 22).

The spread of replications (where one replication's figure falls) and the 95 % CI of the
mean are named as such wherever they are shown; no table or report calls either a bare
"95 % interval".
"""

from __future__ import annotations

import io
import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from rich.console import Console
from scipy import stats
from typer.testing import CliRunner

from streetlevel.cli.app import app
from streetlevel.experiments.compare import comparison_table
from streetlevel.output.catalogue import MEAN_CI, SPREAD, SPREAD_PERCENTILES, SPREAD_PREDICTION
from streetlevel.output.run import run_scenario
from streetlevel.output.summary import (
    Indicator,
    Summary,
    mean_ci,
    print_summary,
    replication_indicators,
    spread_coverage,
    summarize,
)
from streetlevel.validation.targets import load_targets, prediction_interval
from streetlevel.validation.validate import (
    ENOUGH_REPLICATIONS,
    WIDENING_LIMIT,
    TargetResult,
    Validation,
    interval_widening,
    replication_warning,
    validate_run,
)
from streetlevel.validation.validation_report import (
    TARGET_LINES,
    TARGET_WIDTH,
    print_validation,
    printed_frame,
    write_validation_report,
)
from tests.conftest import tiny_scenario

AMBIGUOUS = re.compile(r"95 % interval", re.IGNORECASE)
"""The words that named both intervals."""
WIDTH = 80


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Municipality B alone, one reporting year, 3 replications: under a second."""
    out = tmp_path_factory.mktemp("vocabulary") / "run"
    run_scenario(tiny_scenario(), seed=3, replications=3, out=out)
    return out


def _rendered(printer: object, *args: object, width: int = WIDTH) -> str:
    console = Console(width=width, record=True, file=io.StringIO())
    printer(*args, console)  # type: ignore[operator]
    return console.export_text()


# -- the CI of the mean -------------------------------------------------------------------------


def test_mean_ci_is_mean_plus_minus_t_sd_over_root_n() -> None:
    """Against the textbook formula with SciPy's own t distribution, for a few sample sizes."""
    rng = np.random.default_rng(22)
    for n in (2, 3, 10, 40):
        values = rng.normal(0.11, 0.01, n)
        half = stats.t.ppf(0.975, n - 1) * values.std(ddof=1) / math.sqrt(n)
        assert mean_ci(values) == pytest.approx((values.mean() - half, values.mean() + half))
    # NaN replications are left out; fewer than two measured: no CI.
    assert mean_ci([0.1, float("nan"), 0.3]) == pytest.approx(mean_ci([0.1, 0.3]))
    assert all(math.isnan(x) for x in mean_ci([0.1]))


def test_summary_carries_the_ci_of_each_indicator(tiny_run: Path) -> None:
    """The summary's CI is computed from the same per-replication values as its mean and
    spread; it is narrower than the spread would suggest only by the √n it should be."""
    import pyarrow.parquet as pq

    from streetlevel.scenario.loading import load_scenario

    summary = summarize(tiny_run)
    my = pq.read_table(tiny_run / "municipality_years.parquet").to_pandas()
    per_rep = {
        name: values
        for name, values, _ in replication_indicators(my, load_scenario(tiny_run / "scenario.toml"))
    }
    values = per_rep["repeat_share"]
    assert len(values) == 3
    ind = summary.get("repeat_share")
    half = stats.t.ppf(0.975, 2) * values.std(ddof=1) / math.sqrt(3)
    assert (ind.ci_low, ind.ci_high) == pytest.approx((values.mean() - half, values.mean() + half))
    assert ind.ci_low <= ind.mean <= ind.ci_high
    data = json.loads(summary.to_json())["indicators"]
    row = next(i for i in data if i["name"] == "repeat_share")
    assert (row["mean_ci_low"], row["mean_ci_high"]) == pytest.approx((ind.ci_low, ind.ci_high))
    assert (row["spread_low"], row["spread_high"]) == pytest.approx((ind.low, ind.high))
    assert not {"low", "high", "ci_low", "ci_high"} & set(row)  # no ambiguous key left


def test_one_replication_has_no_ci_and_shows_a_dash() -> None:
    summary = Summary(
        "s", 1, 1, 0.1, "runs/s", [Indicator("repeat_share", 0.4, 0.4, 0.4, "d", "repeat share")]
    )
    frame = summary.to_frame()
    assert frame.loc[0, "mean_ci_shown"] == "-"
    assert json.loads(summary.to_json())["indicators"][0]["mean_ci_low"] is None


# -- the words -----------------------------------------------------------------------------------


def test_summary_table_names_both_intervals_and_the_years(tiny_run: Path) -> None:
    text = _rendered(print_summary, summarize(tiny_run), width=140)
    assert not AMBIGUOUS.search(text)
    assert SPREAD_PERCENTILES in text and MEAN_CI in text
    # The headline rows are means over the reporting years, and the caption says which.
    assert "averaged over the reporting year 2011" in text
    # 3 replications: the spread holds a new one's figure about half the time.
    assert f"only 3 replications: the {SPREAD}" in text and "50 %" in text


def test_spread_coverage_threshold_is_19() -> None:
    assert spread_coverage(3) == pytest.approx(0.5)
    assert spread_coverage(18) < 0.9 <= spread_coverage(19)


def test_profile_gaps_are_in_percentage_points(tiny_run: Path) -> None:
    text = _rendered(print_summary, summarize(tiny_run), width=160)
    rows = [line for line in text.splitlines() if "sanctioned minus all" in line]
    assert len(rows) == 3
    for line in rows:
        cells = [c.strip() for c in line.split("│") if c.strip()]
        assert all(cell.endswith(" pp") for cell in cells[1:]), line


def test_a_one_municipality_run_is_not_labelled_as_the_country(tiny_run: Path) -> None:
    """The key stays (experiments and scripts read it); its label names what was simulated."""
    summary = summarize(tiny_run)
    assert summary.municipalities == 1
    ind = summary.get("national_sanction_rate")
    assert ind.label == "sanction rate, Municipality B alone"
    yearly = summary.get("national_sanction_rate_2011")
    assert yearly.label == "sanction rate, Municipality B alone, 2011"
    assert "country" not in _rendered(print_summary, summary, width=140).split("results in")[0]


def test_the_country_keeps_its_label() -> None:
    from streetlevel.output.catalogue import lookup

    assert lookup("national_sanction_rate").label == "sanction rate, country"


def test_comparison_table_names_the_spread() -> None:
    table = pd.DataFrame(
        [
            {"route": route, "outcome": "national_sanction_rate", "mean": m, "spread_low": m - 0.01,
             "spread_high": m + 0.01, "se": 0.002, "n": 3}
            for route, m in (("caseworker", 0.11), ("benefit_office", 0.12))
        ]
    )  # fmt: skip
    from streetlevel.experiments.compare import print_comparison

    text = _rendered(print_comparison, table, None, [Path("compare.csv")], width=140)
    assert not AMBIGUOUS.search(text) and SPREAD_PERCENTILES in text
    assert not AMBIGUOUS.search(str(comparison_table(table).caption or ""))


# -- validate: the warning, the words, the width -----------------------------------------------


def test_the_warning_threshold_follows_from_the_widening() -> None:
    assert interval_widening(ENOUGH_REPLICATIONS) <= WIDENING_LIMIT
    assert interval_widening(ENOUGH_REPLICATIONS - 1) > WIDENING_LIMIT
    # The widening is the rule's own: its half-width over the normal's, for a unit spread.
    half = prediction_interval(0.0, 1.0, 3)[1]
    assert interval_widening(3) == pytest.approx(half / stats.norm.ppf(0.975))
    assert replication_warning(ENOUGH_REPLICATIONS) is None
    assert "nothing is tested" in (replication_warning(1) or "")


def test_validate_warns_at_three_replications(tiny_run: Path, tmp_path: Path) -> None:
    v = validate_run(tiny_run, effect=False)
    assert v.replications == 3
    assert v.warning is not None and v.warning.startswith("only 3 replications")
    assert f"--replications {ENOUGH_REPLICATIONS}" in v.warning
    assert v.to_dict()["warning"] == v.warning
    text = _rendered(print_validation, v)
    assert "warning: only 3 replications" in text
    assert not AMBIGUOUS.search(text) and SPREAD_PREDICTION in " ".join(text.split())
    write_validation_report(v, tmp_path)
    html = (tmp_path / "validation.html").read_text(encoding="utf-8")
    assert "Warning: only 3 replications" in html
    assert not AMBIGUOUS.search(html) and SPREAD_PREDICTION in html


def test_validate_json_has_the_warning(tiny_run: Path) -> None:
    result = CliRunner().invoke(
        app, ["validate", str(tiny_run), "--json", "--parameter-draws", "0"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["warning"].startswith("only 3 replications")


def _every_danish_target(replications: int = 3) -> Validation:
    """A validation of every denmark-2011 target with made-up figures: the tables' layout
    without a simulation."""
    results = []
    for t in load_targets("denmark-2011"):
        value = t.published
        results.append(
            TargetResult(
                name=t.name, description=t.description, kind=t.kind, role=t.role,
                published=value, simulated=value, low=0.9 * value, high=1.1 * value,
                met=None if t.role == "input" else True, within_tolerance=None,
                tolerance=t.tolerance, widening=t.widening(),
                published_range=(t.low, t.high) if t.low is not None and t.high is not None
                else None,
                source=t.source, note="", year=t.year,
            )
        )  # fmt: skip
    return Validation("denmark-2011", replications, 1, "runs/x", results, None)


def test_validate_tables_fit_80_columns() -> None:
    """Each target in two lines at most, no line wider than the terminal, every figure whole
    (no column cut with an ellipsis but the targets' own)."""
    v = _every_danish_target()
    text = _rendered(print_validation, v)
    lines = text.splitlines()
    assert max(len(line.rstrip()) for line in lines) <= WIDTH
    for role in ("fitted", "derived", "check"):
        frame = printed_frame(v, role)
        for target in frame["target"]:
            parts = target.split("\n")
            assert len(parts) <= TARGET_LINES and max(map(len, parts)) <= TARGET_WIDTH, target
            assert parts[0] in text
        for column in frame.columns[1:]:
            for cell in frame[column]:
                assert str(cell) in text, (column, cell)
    # 23 targets and their headings in well under 80 lines (the wrapped table took ~110).
    tables = text.split("verdict: met when")[0]
    assert len(tables.splitlines()) < 2 * len(v.targets) + 30


# -- --help --------------------------------------------------------------------------------------


def test_run_help_shows_the_whole_set_example_at_80_columns() -> None:
    result = CliRunner().invoke(
        app, ["run", "--help"], env={"COLUMNS": str(WIDTH)}, terminal_width=WIDTH
    )
    assert result.exit_code == 0
    text = result.stdout
    assert max(len(line) for line in text.splitlines()) <= WIDTH
    assert "--set decision.caseworker.intercept=-3" in text
    assert "--set 'municipalities[*].management_strictness=0.5'" in text
    assert "…" not in "\n".join(line for line in text.splitlines() if "--set" in line)
