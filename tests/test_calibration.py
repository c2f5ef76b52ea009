"""Calibration by the simulated method of moments (issue 3): the set-up as data, the search,
the standard errors and their covariance, and the calibrated scenario's records (issue 17)."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import numpy as np
import pytest

from streetlevel.scenario.loading import load_scenario
from streetlevel.scenario.schema import Scenario
from streetlevel.validation.calibration import (
    FreeParameter,
    calibrate,
    load_setup,
    parameter_of,
    simulated_moments,
    write_calibrated,
)
from streetlevel.validation.calibration_report import recorded_covariance
from streetlevel.validation.calibration_setup import SetupError, resolve_path, setup_for
from streetlevel.validation.targets import Target
from tests.conftest import cli, small

ABSENCE = (FreeParameter("attendance.intercept", -5.0, -0.5, "national_sanction_rate"),)
TRUE_INTERCEPT = -2.2


def quick() -> Scenario:
    """A tenth of Denmark, one burn-in and one reporting year: about half a second a run."""
    return small("denmark-2011", scale=0.1, time__burn_in_years=1, time__reporting_years=1)


def with_truth(scenario: Scenario) -> Scenario:
    """``scenario`` with the intercept that made the synthetic target."""
    from streetlevel.scenario.loading import with_values

    return with_values(scenario, {"attendance.intercept": TRUE_INTERCEPT}, "test")


def synthetic_target(seed: int, replications: int) -> Target:
    """The national rate a known intercept produces: calibration must find the intercept."""
    truth = with_truth(quick())
    rate = float(np.mean(simulated_moments(truth, seed, replications)["national_sanction_rate"]))
    return Target(
        name="national_sanction_rate",
        description="synthetic",
        kind="share",
        source="test",
        presets=[],
        value=rate,
        precision=0.001,
    )


@pytest.mark.slow
def test_recovers_a_known_parameter() -> None:
    """From a distant start and with other random numbers than the truth's, the estimate
    lands within three standard errors of the intercept that made the target, and the moment
    at the estimate within three of the target; the target itself carries the truth run's
    simulation noise (and the moment the search's), which the reported standard error does
    not include, so both tolerances add it, measured from the truth's replications."""
    target = synthetic_target(seed=99, replications=4)
    start = small_with(quick(), -3.5)
    result = calibrate(start, ABSENCE, seed=1, replications=2, budget=25, targets=[target])
    (est,) = result.estimates
    (moment,) = result.moments
    assert est.start == -3.5
    # The truth's own noise, in the intercept's units: the standard error of its mean rate
    # over the slope of the rate in the intercept (sigma / se for one moment).
    spread = np.std(simulated_moments(with_truth(quick()), 99, 4)["national_sanction_rate"], ddof=1)
    truth, search = spread / np.sqrt(4), spread / np.sqrt(2)  # 4 and 2 replications
    noise = truth * est.se / moment["sigma"]
    assert abs(est.value - TRUE_INTERCEPT) <= 3 * np.hypot(est.se, noise), (est, noise)
    assert 0 < est.se < 0.5
    assert est.identified == "well identified"
    tolerance = 3 * np.sqrt(moment["sigma"] ** 2 + truth**2 + search**2)
    assert abs(moment["simulated"] - target.published) <= tolerance


def small_with(scenario: Scenario, intercept: float) -> Scenario:
    from streetlevel.scenario.loading import with_values

    return with_values(scenario, {"attendance.intercept": intercept}, "test")


@pytest.mark.slow
def test_reproducible_from_its_seed_with_any_workers() -> None:
    target = synthetic_target(seed=99, replications=2)
    runs = [
        calibrate(quick(), ABSENCE, seed=4, replications=1, budget=12, targets=[target], workers=w)
        for w in (1, 1, 2)
    ]
    values = [r.estimates[0].value for r in runs]
    assert values[0] == values[1] == values[2]
    assert runs[0].history == runs[2].history


def test_unidentified_parameter_is_reported() -> None:
    """A parameter that does not move the national rate (the benefit office's intercept
    when no municipality routes absences there) is reported as not or weakly identified."""
    scenario = small(
        "municipality-b",
        scale=1.0,
        time__burn_in_years=1,
        time__reporting_years=1,
        **{"municipalities[0].absence_route": "caseworker"},
    )
    params = (
        FreeParameter("decision.benefit_office.intercept", -5.0, 3.0, "national_sanction_rate"),
    )
    target = Target(
        name="national_sanction_rate",
        description="x",
        kind="share",
        source="t",
        presets=[],
        value=0.2,
        precision=0.005,
    )
    result = calibrate(scenario, params, seed=1, replications=1, budget=12, targets=[target])
    assert result.estimates[0].identified != "well identified"


@pytest.mark.slow
def test_calibrated_file_records_its_calibration(tmp_path: Path) -> None:
    target = synthetic_target(seed=99, replications=2)
    result = calibrate(
        quick(),
        ABSENCE,
        seed=1,
        replications=1,
        budget=12,
        targets=[target],
        command="streetlevel calibrate test",
    )
    path = tmp_path / "calibrated.toml"
    write_calibrated(result, path)
    loaded = load_scenario(path)
    param = loaded.attendance.intercept
    assert param.value == pytest.approx(result.estimates[0].value, abs=1e-6)
    assert param.calibration is not None
    assert param.calibration.targets == ["national_sanction_rate"]
    assert param.calibration.command == "streetlevel calibrate test"
    assert param.calibration.method.startswith("simulated method of moments")
    raw = tomllib.loads(path.read_text(encoding="utf-8"))
    record = raw["attendance"]["intercept"]["calibration"]
    assert "interval" in record
    # The variance, written in full: the standard error squared.
    ((name, variance),) = record["covariance"].items()
    assert name == "attendance.intercept"
    assert variance == result.covariance[0][0] == pytest.approx(result.estimates[0].se ** 2)


def test_shipped_presets_record_their_calibration() -> None:
    """Every parameter calibrate fits by default carries its calibration in the preset."""
    scenario = load_scenario("denmark-2011")
    setup = setup_for(scenario)
    assert setup.name == "denmark"
    for p in setup.parameters:
        param = parameter_of(scenario, p.path)
        assert param.calibration is not None, p.path
        assert param.source.startswith("calibrated"), p.path
        low, high = param.calibration.interval or (np.nan, np.nan)
        assert low <= param.value <= high, p.path


@pytest.mark.slow
def test_calibrate_command_writes_a_calibrated_scenario(tmp_path: Path) -> None:
    """The command end to end on a small country: JSON report and a scenario file whose
    fitted parameters record their calibration."""
    from streetlevel.scenario.loading import scenario_to_toml

    free = load_setup("denmark").parameters
    start = tmp_path / "small.toml"
    start.write_text(scenario_to_toml(quick()), encoding="utf-8")
    out = tmp_path / "calibrated.toml"
    done = cli(
        "calibrate", str(start), "--budget", "48", "--replications", "1", "--workers", "1",
        "--out", str(out), "--json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    names = [p.path for p in free]
    assert [e["path"] for e in report["estimates"]] == names
    assert {m["target"] for m in report["moments"]} == {p.moves for p in free}
    assert report["setup"] == "denmark"
    calibrated = load_scenario(out)
    for p in free:
        record = parameter_of(calibrated, p.path).calibration
        assert record is not None and record.command.startswith("streetlevel calibrate"), p.path
    # The covariance, printed and recorded parameter by parameter, gathers back whole: the
    # same matrix, symmetric, with the squared standard errors on its diagonal.
    matrix = np.array(report["covariance"]["matrix"], dtype=float)
    assert report["covariance"]["names"] == names
    np.testing.assert_array_equal(matrix, matrix.T)
    se = np.array([e["se"] for e in report["estimates"]])
    np.testing.assert_allclose(np.diag(matrix), se**2)
    recorded = recorded_covariance(calibrated)
    assert sorted(recorded.names) == sorted(names)
    order = [recorded.names.index(n) for n in names]
    np.testing.assert_array_equal(recorded.covariance[np.ix_(order, order)], matrix)
    assert recorded.paths[order[3]] == "decision.benefit_office.intercept"
    estimates = [e["value"] for e in report["estimates"]]
    np.testing.assert_allclose(recorded.values[order], estimates, atol=1e-6)


@pytest.mark.slow
def test_calibrate_norway_uses_indirect_inference(tmp_path: Path) -> None:
    out = tmp_path / "norway.toml"
    done = cli("calibrate", "norway-2010", "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert "indirect inference" in done.stdout
    calibrated = load_scenario(out)
    assert calibrated.attitudes is not None
    record = calibrated.attitudes.loading.calibration
    assert record is not None and record.method.startswith("indirect inference")


# -- the set-up as data -----------------------------------------------------------------------

SETUP = """
[setup]
name = "mine"
description = "a test"
countries = ["Denmark"]
targets = "denmark-2011"

[[parameters]]
path = 'categories["match-3"].exit_other'
lower = 0.001
upper = 0.02
unit = "per week"
moves = "long_term_10y_share"
source = "test"
"""


def test_a_setup_addresses_list_elements_by_name() -> None:
    """A name follows its element wherever it stands; a position would not."""
    scenario = load_scenario("denmark-2011")
    assert resolve_path(scenario, 'categories["match-3"].exit_other') == "categories[2].exit_other"
    assert parameter_of(scenario, 'categories["match-3"].exit_other') is parameter_of(
        scenario, "categories[2].exit_other"
    )
    data = scenario.model_dump(mode="json", exclude_none=True)
    data["municipalities"].reverse()
    from streetlevel.scenario.loading import scenario_from_dict

    swapped = scenario_from_dict(data, "test")
    path = 'municipalities["Municipality B"].management_strictness'
    assert resolve_path(swapped, path) == "municipalities[0].management_strictness"
    with pytest.raises(SetupError, match=r"named 'Municipality C'.*Municipality A, Municipality B"):
        resolve_path(scenario, 'municipalities["Municipality C"].management_strictness')


def test_a_setup_file_is_validated_like_a_scenario(tmp_path: Path) -> None:
    """Every problem at once, each with the file, the key path and what was expected."""
    path = tmp_path / "bad.toml"
    bad = (
        SETUP.replace("upper = 0.02", "upper = 0.0001")
        .replace('unit = "per week"', 'unit = "per week"\nbound = 3')
        .replace('moves = "long_term_10y_share"', 'moves = "no_such_figure"')
    )
    path.write_text(bad, encoding="utf-8")
    with pytest.raises(SetupError) as raised:
        load_setup(path)
    message = str(raised.value)
    assert message.startswith(f"{path}: ")
    assert "parameters[0].bound: unknown key (expected one of: path, lower, upper, unit" in message
    assert "parameters[0]" in message and "must be below upper" in message
    path.write_text(SETUP.replace("long_term_10y_share", "no_such_figure"), encoding="utf-8")
    with pytest.raises(SetupError, match=r"parameters\[0\]\.moves: no published figure"):
        load_setup(path)
    path.write_text(SETUP.replace('categories["match-3"]', "categories..x"), encoding="utf-8")
    with pytest.raises(SetupError, match=r"parameters\[0\]\.path: .*not a key path"):
        load_setup(path)
    with pytest.raises(SetupError, match=r"no such calibration set-up.*shipped: denmark"):
        load_setup(tmp_path / "missing.toml")


def test_a_setup_must_fit_the_scenario(tmp_path: Path) -> None:
    """A parameter the scenario lacks, or bounds in another unit, are refused before any
    simulation, naming the set-up and the parameter."""
    path = tmp_path / "mine.toml"
    path.write_text(SETUP.replace('"per week"', '"share"'), encoding="utf-8")
    with pytest.raises(SetupError, match=r"parameters\[0\]\.unit: the bounds are in 'share'"):
        calibrate(quick(), load_setup(path), budget=12)
    path.write_text(SETUP.replace("match-3", "match-9"), encoding="utf-8")
    expected = rf"(?s){re.escape(str(path))}: 1 problem.*named 'match-9'"
    with pytest.raises(SetupError, match=expected):
        calibrate(quick(), load_setup(path), budget=12)


def test_the_setup_is_chosen_by_the_scenario_country() -> None:
    assert setup_for(load_scenario("municipality-b")).name == "denmark"
    with pytest.raises(SetupError, match="no calibration set-up serves country 'Norway'"):
        setup_for(load_scenario("norway-2010"))


def test_a_setup_file_fits_what_it_names(tmp_path: Path) -> None:
    """A user's set-up: its one parameter, found by name, is fitted and recorded."""
    path = tmp_path / "mine.toml"
    path.write_text(SETUP, encoding="utf-8")
    result = calibrate(quick(), load_setup(path), seed=1, replications=1, budget=12)
    assert result.setup == "mine"
    ((name, value),) = (
        result.history[0].items()
        - {("evaluation", 1)}
        - {(k, v) for k, v in result.history[0].items() if k == "long_term_10y_share"}
    )
    assert name == 'categories["match-3"].exit_other'
    assert 0.001 <= value <= 0.02
    fitted = result.scenario.categories[2].exit_other
    assert fitted.value == pytest.approx(result.estimates[0].value, abs=1e-6)
    assert fitted.calibration is not None and fitted.calibration.covariance is not None
    assert list(fitted.calibration.covariance) == ['categories["match-3"].exit_other']
