"""Why municipalities differ (`streetlevel explain`): the Shapley arithmetic on data whose
answer is known, and the decomposition on small countries built so that only organisation, or
only the caseworkers drawn, differ between municipalities."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from streetlevel.analysis.explain import CHANCE, GROUPS, explain
from streetlevel.analysis.explain_report import FILES, explanation_figure, print_explanation
from streetlevel.analysis.variance import logit_rate, r_squared, sequential, shapley, stable_share
from streetlevel.errors import StreetlevelError
from streetlevel.output.catalogue import lookup
from streetlevel.output.run import run_scenario
from streetlevel.scenario.loading import load_scenario, with_values
from streetlevel.scenario.schema import Scenario
from tests.conftest import cli, small

REGION_MUNICIPALITIES = 4
"""Municipalities per region of the test countries (5 regions: 20, CHM's A and B among them)."""
REPLICATIONS = 3


# -- the arithmetic --------------------------------------------------------------------------


def test_shapley_shares_of_independent_factors_are_their_variances() -> None:
    # y = a + b + c + noise, independent, with variances 4, 2, 1 and 1: each factor's share
    # is its variance / 8, whatever the order, and chance is 1/8.
    rng = np.random.default_rng(7)
    n = 40_000
    sd = {"a": 2.0, "b": np.sqrt(2.0), "c": 1.0}
    x = {k: rng.normal(0.0, s, n) for k, s in sd.items()}
    y = x["a"] + x["b"] + x["c"] + rng.normal(0.0, 1.0, n)
    groups = {k: pd.DataFrame({k: v}) for k, v in x.items()}
    weight = np.ones(n)
    shares = shapley(y, groups, weight)
    seq = sequential(y, groups, weight)
    total = 8.0
    # Sampling error of a share of n = 40,000: a few 1/sqrt(n) = 0.005.
    tolerance = 4 / np.sqrt(n)
    for k, s in sd.items():
        assert shares[k] == pytest.approx(s**2 / total, abs=tolerance)
        assert seq[k] == pytest.approx(shares[k], abs=tolerance)  # independent: order-free
    full = r_squared(y, pd.concat(groups.values(), axis=1), weight)
    assert sum(shares.values()) == pytest.approx(full, abs=1e-12)
    assert sum(seq.values()) == pytest.approx(full, abs=1e-12)
    assert 1.0 - full == pytest.approx(1.0 / total, abs=tolerance)


def test_shapley_splits_what_two_factors_share_and_weights_count() -> None:
    rng = np.random.default_rng(3)
    n = 20_000
    common = rng.normal(size=n)
    # The same regressor in two groups: Shapley halves it; the sequential order gives it all
    # to whichever comes first.
    groups = {"first": pd.DataFrame({"x": common}), "second": pd.DataFrame({"x": common})}
    y = common + rng.normal(size=n)
    shares, seq = shapley(y, groups, np.ones(n)), sequential(y, groups, np.ones(n))
    assert shares["first"] == pytest.approx(shares["second"], abs=1e-12)
    assert seq["second"] == pytest.approx(0.0, abs=1e-9)
    assert seq["first"] == pytest.approx(shares["first"] + shares["second"], abs=1e-9)
    # Weights: rows where y is pure noise, weighted to nothing, do not dilute the fit.
    noise = rng.normal(size=n)
    y2 = np.concatenate([common, noise])
    x2 = pd.DataFrame({"x": np.concatenate([common, rng.normal(size=n)])})
    weight = np.concatenate([np.ones(n), np.full(n, 1e-12)])
    assert r_squared(y2, x2, weight) == pytest.approx(1.0, abs=1e-6)
    assert r_squared(y2, x2, np.ones(2 * n)) < 0.6


def test_stable_share_is_the_intraclass_correlation() -> None:
    rng = np.random.default_rng(11)
    groups, per = 400, 10
    between, within = 1.0, 2.0
    means = rng.normal(0.0, between, groups)
    values = np.repeat(means, per) + rng.normal(0.0, within, groups * per)
    share, sd_b, sd_w = stable_share(values, np.repeat(np.arange(groups), per))
    expected = between**2 / (between**2 + within**2)
    # The standard error of an ICC of 0.2 with 400 groups of 10 is about 0.03.
    assert share == pytest.approx(expected, abs=0.08)
    assert sd_w == pytest.approx(within, rel=0.05)
    assert sd_b == pytest.approx(between, rel=0.2)
    # No difference between groups: nothing stable (never below 0).
    flat, _, _ = stable_share(rng.normal(size=groups * per), np.repeat(np.arange(groups), per))
    assert 0.0 <= flat < 0.05


def test_logit_rates_are_clipped_by_half_a_client() -> None:
    got = logit_rate([0.0, 1.0, 1.2, 0.1], [4, 4, 4, 1000])
    assert np.isfinite(got).all()
    assert got[0] == pytest.approx(np.log(0.125 / 0.875))
    assert got[1] == got[2] == pytest.approx(-got[0])
    assert got[3] == pytest.approx(np.log(0.1 / 0.9))


# -- the decomposition of a run --------------------------------------------------------------


def _country(scenario: Scenario, values: dict[str, Any]) -> Scenario:
    """A country of 20 municipalities, one burn-in and two reporting years, with ``values``."""
    regions = {
        f"regions[{i}].municipalities": REGION_MUNICIPALITIES for i in range(len(scenario.regions))
    }
    base = {"time.burn_in_years": 1, "time.reporting_years": 2, **regions, **values}
    return with_values(scenario, base, "test")


def organisation_only() -> Scenario:
    """Municipalities differ only in organisation: half route absences to the cash-benefit
    office, management strictness spreads widely; every municipality has about 4,600
    recipients (chance is small) and a caseworker per recipient, so the caseworkers a
    municipality draws average out (with the highest-priority rule, the spread of their
    strictness is not a free parameter that could be set to zero)."""
    return _country(
        load_scenario("denmark-2011"),
        {
            "scale.client_scale": 0.5,
            "synthetic.population_mean": 200_000,
            "synthetic.population_log_sd": 0.1,
            "synthetic.benefit_office_route": 0.5,
            "synthetic.management_strictness_concentration": 2.0,
            "caseworkers.clients_per_caseworker": 1,
            "caseworkers.caseload_dispersion": 0.0,
        },
    )


def caseworkers_only() -> Scenario:
    """Organisation the same everywhere (every absence to the caseworker, the management norm
    without weight, no rankings, no office culture where the scenario has one) and about two
    caseworkers per municipality: the draw of caseworkers is what differs."""
    scenario = load_scenario("denmark-2011")
    values: dict[str, Any] = {
        "scale.client_scale": 1.0,
        "synthetic.population_mean": 30_000,
        "synthetic.population_log_sd": 0.1,
        "synthetic.benefit_office_route": 0.0,
        "decision.caseworker.management_strictness": 0.0,
        "pressure.ranking_published": False,
        "caseworkers.clients_per_caseworker": 300,
    }
    for i in range(len(scenario.municipalities)):
        values[f"municipalities[{i}].absence_route"] = "caseworker"
    if getattr(scenario.caseworkers, "culture_share", None) is not None:
        values["caseworkers.culture_share"] = 0.0
    return _country(scenario, values)


def _run(scenario: Scenario, out: Path, seed: int) -> Path:
    run_scenario(scenario, seed=seed, replications=REPLICATIONS, out=out)
    return out


@pytest.mark.slow
def test_organisation_explains_a_country_that_differs_only_in_organisation(
    tmp_path: Path,
) -> None:
    result = explain(_run(organisation_only(), tmp_path / "run", seed=5))
    assert (result.municipalities, result.replications) == (20, REPLICATIONS)
    assert result.years == sorted(result.years) and len(result.years) == 2
    assert result.shapley["organisation"] >= 0.9, result.shapley
    assert result.sequential["organisation"] >= 0.9
    assert result.chance < 0.05
    assert sum(result.shapley.values()) + result.chance == pytest.approx(1.0)
    # The same municipalities stand out in every replication.
    assert result.stable["stable_share"] is not None and result.stable["stable_share"] > 0.9
    assert "management_strictness" in result.columns["organisation"]


def test_the_caseworkers_drawn_explain_a_country_that_differs_only_in_them(
    tmp_path: Path,
) -> None:
    run = _run(caseworkers_only(), tmp_path / "run", seed=5)
    result = explain(run)
    if "caseworker_strictness" in result.absent["caseworkers"]:
        pytest.skip("this run's tables do not record caseworker_strictness")
    others = [result.shapley[g] for g in GROUPS if g != "caseworkers"] + [result.chance]
    assert result.shapley["caseworkers"] > max(others), (result.shapley, result.chance)
    assert "absence_route" in result.absent["organisation"]
    # What the caseworkers give a municipality changes with every draw: little is stable.
    stable = result.stable["stable_share"]
    assert stable is not None and stable < 0.5


# -- the command, its files and its errors ---------------------------------------------------


@pytest.fixture(scope="module")
def denmark(folder: Path) -> Path:
    """denmark-2011 at one client per 20 recipients, 2 replications, 2 reporting years."""
    out = folder / "dk"
    scenario = small(time__burn_in_years=1, time__reporting_years=2)
    run_scenario(scenario, seed=2, replications=2, out=out)
    return out


def test_a_year_is_chosen_and_every_figure_is_catalogued(denmark: Path) -> None:
    pooled = explain(denmark)
    year = pooled.years[-1]
    one = explain(denmark, year=year)
    assert one.years == [year] and pooled.years == [year - 1, year]
    assert one.rows == pooled.rows == 2 * 98
    data = one.to_dict()
    for group in (*GROUPS, CHANCE):
        for name in ("explained_shapley", "explained_sequential"):
            assert 0.0 <= data["factors"][group][name] <= 1.0
            lookup(name)
    for name in ("explained_r_squared", *one.stable):
        lookup(name)
    for column in one.municipal_means.columns:
        lookup(column)
    assert len(one.municipal_means) == 98
    with pytest.raises(StreetlevelError, match=r"--year 1999: not in .*municipality_years"):
        explain(denmark, year=1999)
    # CHM's Figure-1 municipalities alone: the route no longer differs.
    figure1 = explain(denmark, route="caseworker")
    assert figure1.route == "caseworker" and 2 <= 98 - figure1.municipalities < 98
    assert "absence_route" in figure1.absent["organisation"]
    assert set(figure1.municipal_means["absence_route"]) == {"caseworker"}
    with pytest.raises(StreetlevelError, match=r"--route nowhere: .*caseworker"):
        explain(denmark, route="nowhere")


@pytest.mark.slow
def test_the_command_prints_json_and_writes_its_files(denmark: Path, tmp_path: Path) -> None:
    out = tmp_path / "explained"
    done = cli("explain", str(denmark), "--json", "--out", str(out))
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["replications"] == 2 and data["municipalities"] == 98
    assert data["order"] == list(GROUPS)
    shares = [f["explained_shapley"] for f in data["factors"].values()]
    assert sum(shares) == pytest.approx(1.0)
    assert "Shapley" in data["method"]
    assert sorted(p.name for p in out.iterdir()) == sorted(FILES)
    assert json.loads((out / "explain.json").read_text()) == data
    means = pd.read_csv(out / "explain_municipalities.csv")
    assert len(means) == 98 and {"sanction_rate", "expected_sanction_rate"} <= set(means)


def test_the_table_names_every_factor(denmark: Path) -> None:
    import io

    from rich.console import Console

    result = explain(denmark)
    printed = io.StringIO()
    print_explanation(result, Console(file=printed, width=200))
    text = printed.getvalue()
    for words in ("organisation", "client mix", "caseworkers drawn", "chance", "stable share"):
        assert words in text
    fig = explanation_figure(result)
    assert len(fig.axes) == 2  # the shares, and the stable share


def test_one_replication_has_no_stable_share(tmp_path: Path) -> None:
    out = tmp_path / "one"
    run_scenario(small(time__burn_in_years=1, time__reporting_years=1), seed=1,
                 replications=1, out=out)  # fmt: skip
    result = explain(out)
    assert result.replications == 1
    assert all(v is None for v in result.stable.values())
    assert any("at least 2 replications" in n for n in result.notes)
    assert len(explanation_figure(result).axes) == 1


@pytest.mark.slow
def test_a_directory_without_the_tables_is_a_clear_error(denmark: Path, tmp_path: Path) -> None:
    with pytest.raises(StreetlevelError, match="not a run directory"):
        explain(tmp_path)
    broken = tmp_path / "broken"
    shutil.copytree(denmark, broken)
    shutil.rmtree(broken / "client_years.parquet")
    with pytest.raises(StreetlevelError, match=r"client_years.parquet: missing"):
        explain(broken)
    table = pq.read_table(broken / "municipality_years.parquet").drop_columns(["sanctioned"])
    shutil.rmtree(broken / "municipality_years.parquet")
    pq.write_table(table, broken / "municipality_years.parquet")
    with pytest.raises(StreetlevelError, match=r"municipality_years.parquet: no column sanctioned"):
        explain(broken)
    (broken / "municipality_years.parquet").unlink()
    done = cli("explain", str(broken))
    assert done.returncode == 2 and "municipality_years.parquet: missing" in done.stderr
