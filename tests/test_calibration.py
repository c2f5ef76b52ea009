"""Calibration by the simulated method of moments (issue 3)."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import numpy as np
import pytest

from streetlevel.scenario.loading import load_scenario
from streetlevel.scenario.schema import Scenario
from streetlevel.validation.calibration import (
    FreeParameter,
    calibrate,
    parameter_of,
    simulated_moments,
    write_calibrated,
)
from streetlevel.validation.targets import Target
from tests.conftest import cli, small

ABSENCE = (FreeParameter("attendance.intercept", -5.0, -0.5, "national_sanction_rate"),)
TRUE_INTERCEPT = -2.2


def quick() -> Scenario:
    """A tenth of Denmark, one burn-in and one reporting year: about half a second a run."""
    return small("denmark-2011", scale=0.1, time__burn_in_years=1, time__reporting_years=1)


def synthetic_target(seed: int, replications: int) -> Target:
    """The national rate a known intercept produces: calibration must find the intercept."""
    from streetlevel.scenario.loading import with_values

    truth = with_values(quick(), {"attendance.intercept": TRUE_INTERCEPT}, "test")
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


def test_recovers_a_known_parameter() -> None:
    """From a distant start and with other random numbers than the truth's, the estimate
    lands within three standard errors of the intercept that made the target (three, not
    two: the target itself carries the truth run's simulation noise, which the reported
    standard error does not include)."""
    target = synthetic_target(seed=99, replications=4)
    start = small_with(quick(), -3.5)
    result = calibrate(start, ABSENCE, seed=1, replications=2, budget=25, targets=[target])
    (est,) = result.estimates
    assert est.start == -3.5
    assert abs(est.value - TRUE_INTERCEPT) <= 3 * est.se, est
    assert 0 < est.se < 0.5
    assert est.identified == "well identified"
    (moment,) = result.moments
    assert abs(moment["simulated"] - target.published) <= 3 * moment["sigma"]


def small_with(scenario: Scenario, intercept: float) -> Scenario:
    from streetlevel.scenario.loading import with_values

    return with_values(scenario, {"attendance.intercept": intercept}, "test")


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
    assert "interval" in raw["attendance"]["intercept"]["calibration"]


def test_shipped_presets_record_their_calibration() -> None:
    """Every parameter calibrate fits by default carries its calibration in the preset."""
    from streetlevel.validation.calibration import DANISH_PARAMETERS, parameter_of

    scenario = load_scenario("denmark-2011")
    for p in DANISH_PARAMETERS:
        param = parameter_of(scenario, p.path)
        assert param.calibration is not None, p.path
        assert param.source.startswith("calibrated"), p.path
        low, high = param.calibration.interval or (np.nan, np.nan)
        assert low <= param.value <= high, p.path


def test_calibrate_command_writes_a_calibrated_scenario(tmp_path: Path) -> None:
    """The command end to end on a small country: JSON report and a scenario file whose
    fitted parameters record their calibration."""
    from streetlevel.scenario.loading import scenario_to_toml
    from streetlevel.validation.calibration import DANISH_PARAMETERS

    start = tmp_path / "small.toml"
    start.write_text(scenario_to_toml(quick()), encoding="utf-8")
    out = tmp_path / "calibrated.toml"
    done = cli(
        "calibrate", str(start), "--budget", "48", "--replications", "1", "--workers", "1",
        "--out", str(out), "--json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert [e["path"] for e in report["estimates"]] == [p.path for p in DANISH_PARAMETERS]
    assert {m["target"] for m in report["moments"]} == {p.moves for p in DANISH_PARAMETERS}
    calibrated = load_scenario(out)
    for p in DANISH_PARAMETERS:
        record = parameter_of(calibrated, p.path).calibration
        assert record is not None and record.command.startswith("streetlevel calibrate"), p.path


def test_calibrate_norway_uses_indirect_inference(tmp_path: Path) -> None:
    out = tmp_path / "norway.toml"
    done = cli("calibrate", "norway-2010", "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert "indirect inference" in done.stdout
    calibrated = load_scenario(out)
    assert calibrated.attitudes is not None
    record = calibrated.attitudes.loading.calibration
    assert record is not None and record.method.startswith("indirect inference")
