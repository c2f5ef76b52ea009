"""Validation in honest tiers (issue 18): the targets' roles, the pass rule with the calibrated
parameters' uncertainty, and the year a figure is compared with."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from streetlevel.constants import Z95
from streetlevel.output.run import run_scenario
from streetlevel.scenario.loading import load_scenario, scenario_from_dict
from streetlevel.scenario.sources import list_presets
from streetlevel.validation.calibration_report import calibrated_parameters
from streetlevel.validation.calibration_setup import list_setups, load_setup
from streetlevel.validation.figures import choose_year, dispersion
from streetlevel.validation.targets import Target, load_targets, prediction_interval
from streetlevel.validation.uncertainty import (
    AT_BOUND,
    parameter_variance,
    plan_propagation,
)
from streetlevel.validation.validate import validate_run
from tests.conftest import small


def _setup_moments() -> set[str]:
    return {p.moves for name in list_setups() for p in load_setup(name).parameters}


def _recorded_targets() -> set[str]:
    """Every target the calibration records of the presets validated here name (the
    Norwegian preset's name DK's survey figures, compared by `streetlevel survey`)."""
    return {
        target
        for preset in list_presets()
        if load_targets(preset)
        for _, param in calibrated_parameters(load_scenario(preset))
        for target in param["calibration"].get("targets", [])
    }


def test_fitted_roles_are_exactly_the_setups_moments() -> None:
    fitted = {t.name for t in load_targets() if t.role == "fitted"}
    assert fitted == _setup_moments()
    # What the presets' calibrations fitted is among them too.
    assert _recorded_targets() <= fitted


def test_a_check_is_never_named_in_a_calibration() -> None:
    checks = {t.name for t in load_targets() if t.role == "check"}
    assert checks, "the targets have no check"
    assert not checks & _setup_moments()
    assert not checks & _recorded_targets()


def test_an_input_never_counts_as_met() -> None:
    for t in load_targets():
        if t.role == "input":
            value = t.published
            assert t.is_met(value, value, value) is None, t.name
    # Even one compared like a share, as the country's figures are.
    share = Target(
        name="x", description="x", kind="share", role="input", source="s", presets=[], value=0.1
    )
    assert share.is_met(0.1, 0.09, 0.11) is None


def test_fewer_replications_widen_the_interval() -> None:
    """The t quantile on R - 1 degrees of freedom and the 1 + 1/R of one realisation: the
    half-width falls with R towards 1.96 s and is never below it."""
    spread = 0.01
    halves = [prediction_interval(0.1, spread, r)[1] - 0.1 for r in (2, 3, 5, 10, 20, 100)]
    assert all(a > b for a, b in itertools.pairwise(halves)), halves
    assert halves[-1] > Z95 * spread
    # The parameters' variance adds to it.
    assert (
        prediction_interval(0.1, spread, 10, 0.01**2)[1] > prediction_interval(0.1, spread, 10)[1]
    )
    assert math.isnan(prediction_interval(0.1, spread, 1)[0])


def test_parameter_variance_separates_parameters_from_noise() -> None:
    """Draws x replications with common random numbers: a replication effect shared by all
    draws, the parameters' effect per draw, and noise; the estimate finds the parameters'
    variance within its sampling error, and none where there is none."""
    rng = np.random.default_rng(7)
    d, r, sd_param = 400, 2, 0.5
    shared = rng.normal(0, 2.0, size=r)  # large, but common to every draw
    noise = rng.normal(0, 0.3, size=(d, r))
    with_params = rng.normal(0, sd_param, size=d)[:, None] + shared[None, :] + noise
    estimate = parameter_variance(with_params, spread=2.0)
    # var of a sample variance of d normals: 2 sigma^4 / (d - 1), plus the noise term's.
    tolerance = 4 * math.sqrt(2 / (d - 1)) * (sd_param**2 + 0.3**2 / r)
    assert abs(estimate - sd_param**2) < tolerance, estimate
    assert parameter_variance(shared[None, :] + noise, spread=2.0) < tolerance


def _with_record_at_bound() -> object:
    """denmark-2011 with attendance.intercept at its set-up's lower bound, its record kept."""
    scenario = load_scenario("denmark-2011")
    setup = load_setup("denmark")
    lower = next(p.lower for p in setup.parameters if p.path == "attendance.intercept")
    data = scenario.model_dump(mode="json", exclude_none=True)
    data["attendance"]["intercept"]["value"] = lower
    return scenario_from_dict(data, "test")


def test_a_parameter_at_a_bound_is_held_and_flagged() -> None:
    scenario = _with_record_at_bound()
    plan = plan_propagation(scenario)  # type: ignore[arg-type]
    status = {p.path: p for p in plan.parameters}
    assert status["attendance.intercept"].status == AT_BOUND
    assert "attendance.intercept" not in plan.paths
    # The others are still drawn, each within its set-up's bounds.
    assert plan.paths
    sets = plan.draw(200, seed=3)
    assert sets.shape == (200, len(plan.paths))
    assert np.all(sets >= plan.lower) and np.all(sets <= plan.upper)


def _with_interval(low: float, high: float, value: float) -> object:
    """denmark-2011 with attendance.intercept's record holding ``[low, high]`` (no covariance)."""
    data = load_scenario("denmark-2011").model_dump(mode="json", exclude_none=True)
    param = data["attendance"]["intercept"]
    param["value"] = value
    param["calibration"]["interval"] = [low, high]
    param["calibration"].pop("covariance", None)
    return scenario_from_dict(data, "test")


def test_an_interval_cut_at_a_bound_is_not_widened_by_it() -> None:
    """Cut at one bound (the set-up's -8 to -0.5), the other side gives the standard error;
    reaching both, the parameter is held and flagged."""
    one = plan_propagation(_with_interval(-8.0, -4.0, -5.0))  # type: ignore[arg-type]
    intercept = next(p for p in one.parameters if p.path == "attendance.intercept")
    assert intercept.propagated and intercept.sd == pytest.approx(1.0 / Z95)
    both = plan_propagation(_with_interval(-8.0, -0.5, -5.0))  # type: ignore[arg-type]
    intercept = next(p for p in both.parameters if p.path == "attendance.intercept")
    assert not intercept.propagated and "both bounds" in intercept.status
    assert "attendance.intercept" not in both.paths


def test_year_selection() -> None:
    assert choose_year(2011, [2011, 2012, 2013]).year == 2011
    later = choose_year(2011, [2014, 2015, 2016])
    assert later.year == 2014 and "no 2011" in later.note
    assert choose_year(2012, [2011, 2013]).year == 2011  # the earlier of two as near
    assert choose_year(None, [2011, 2012]).year is None


@pytest.fixture(scope="module")
def small_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tenth of Denmark, 3 replications, 2 reporting years."""
    out = tmp_path_factory.mktemp("runs") / "dk"
    scenario = small("denmark-2011", scale=0.1, time__reporting_years=2)
    run_scenario(scenario, seed=3, replications=3, out=out)
    return out


def test_a_years_figure_is_compared_with_that_year(small_run: Path) -> None:
    v = validate_run(small_run, effect=False)
    rate = next(t for t in v.targets if t.name == "national_sanction_rate")
    assert rate.year == 2011
    my = pq.read_table(small_run / "municipality_years.parquet").to_pandas()
    year = my[my["year"] == 2011].groupby("replication")[["sanctioned", "recipient_years"]].sum()
    expected = float((year["sanctioned"] / year["recipient_years"]).mean())
    assert rate.simulated == pytest.approx(expected)
    assert rate.replications == 3 and rate.quantile == pytest.approx(4.303, abs=1e-3)


def test_parameter_draws_widen_the_intervals(small_run: Path) -> None:
    """Two parameter draws of one replication each, at a tenth of the country: every measured
    figure gets a parameter term, and no interval narrows."""
    without = {t.name: t for t in validate_run(small_run, effect=False).targets}
    v = validate_run(small_run, effect=False, parameter_draws=2, draw_replications=1)
    assert v.parameter_draws == 2 and "2 parameter draws" in v.uncertainty
    assert {p["status"] for p in v.parameters} >= {"propagated"}
    rate = next(t for t in v.targets if t.name == "national_sanction_rate")
    assert rate.parameter_sd is not None
    for t in v.targets:
        before = without[t.name]
        if t.role != "input" and not math.isnan(t.low) and t.kind != "range":
            assert t.high - t.low >= before.high - before.low - 1e-12, t.name


def test_dispersion_is_one_without_municipal_differences() -> None:
    """Binomial counts around one rate: the factor is near 1 (within its sampling error,
    sqrt(2 / df)); with municipal rates that differ, far above."""
    rng = np.random.default_rng(11)
    m, n = 200, 2000
    rows = pd.DataFrame(
        {
            "replication": 0,
            "municipality": [f"m{i}" for i in range(m)],
            "recipients": n,
            "recipients_category_1": n // 2,
            "recipients_category_2": n - n // 2,
        }
    )
    same = rows.assign(sanctioned=rng.binomial(n, 0.1, size=m))
    phi = dispersion(same)[0]
    assert abs(phi - 1) < 4 * math.sqrt(2 / (m - 2)), phi
    differ = rows.assign(sanctioned=rng.binomial(n, rng.uniform(0.05, 0.15, size=m)))
    assert dispersion(differ)[0] > 1 + 4 * math.sqrt(2 / (m - 2))


def test_a_direction_is_judged_by_its_sign_across_the_draws() -> None:
    """A built-in sign whose size the parameters make uncertain (every draw positive, their
    spread wide) is met; one that some plausible draws reverse is not."""
    from streetlevel.validation.figures import YearChoice
    from streetlevel.validation.validate import _compared

    gap = next(t for t in load_targets("denmark-2011") if t.name == "male_share_gap")
    assert gap.kind == "positive"
    rng = np.random.default_rng(3)
    values = 0.02 + 0.003 * rng.standard_normal(20)  # the run: 20 replications at the estimate
    sizes = rng.uniform(0.002, 0.08, 20)  # 20 draws, all positive, of very different size
    noise = 0.003 * rng.standard_normal((20, 2))
    draws = {"g": sizes[:, None] + noise}
    held = _compared(gap, YearChoice(2011), values, draws, "g", drawn=True)
    assert held.met and held.low > 0
    # The same sizes, a quarter of them reversed: the sign is not robust.
    reversed_ = np.where(np.arange(20) % 4 == 0, -sizes, sizes)
    flipped = _compared(gap, YearChoice(2011), values, {"g": reversed_[:, None] + noise}, "g", True)
    assert not flipped.met and flipped.low < 0
