"""Indirect inference for the job-placement model: per-proposal coefficients from DK's survey.

DK's regression is fitted to caseworkers, not to proposals: its outcome is "overruled at least
once in six months", which depends on how many minority clients' proposals a caseworker had as
well as on how likely each one is overruled. Copying DK's B into the per-proposal model would
therefore overstate every effect that comes with more proposals (a caseworker with more than 250
users has more of them) and the overall share. MODEL.md 7.2 asks for indirect inference instead:

1. Draw a large frame of eligible caseworkers (covariates, number of proposals) from the
   scenario, with common random numbers.
2. The *binding function* ``B(theta)``: the survey-level logistic regression fitted to the
   frame's expected outcomes ``1 - (1 - p_theta)^proposals`` (exact expectations, so the
   function is smooth in ``theta`` and needs no simulated answers).
3. Solve ``B(theta) = B_DK`` for the 15 per-proposal coefficients ``theta``
   (``scipy.optimize.root``).
4. Outer loop: the attitude model's ``loading`` (how strongly restrictive attitudes go
   together) changes the joint distribution of the covariates and so the bivariate tables; it
   is chosen to minimise the chi-square distance between the frame's expected bivariate
   shares and DK's, each weighted by DK's sampling variance, with ``theta`` re-solved at every
   loading.

:func:`calibrate_survey` returns the result; :meth:`SurveyCalibration.toml` prints the
scenario lines with their ``calibration`` record, and :meth:`SurveyCalibration.apply` returns
the calibrated scenario.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.optimize import minimize_scalar, root
from scipy.special import expit

from streetlevel.errors import StreetlevelError
from streetlevel.model.attitudes import COVARIATES, published_survey
from streetlevel.model.country import build_country
from streetlevel.scenario.loading import load_scenario, scenario_from_dict, with_values
from streetlevel.scenario.schema import Scenario
from streetlevel.survey.simulate import Population, draw_population

__all__ = ["CalibrationError", "SurveyCalibration", "binding_function", "calibrate_survey"]

F64 = npt.NDArray[np.float64]
DEFAULT_FRAME = 100_000
"""Eligible caseworkers in the calibration frame: the binding function's simulation error
(about 1 / sqrt(frame) of a survey-level SE at n = 1) is then far below DK's standard errors."""
LOADING_BOUNDS = (0.0, 0.9)
LOADING_TOLERANCE = 0.005
NEWTON_TOLERANCE = 1e-10
NEWTON_STEPS = 100
ROOT_TOLERANCE = 1e-8


class CalibrationError(StreetlevelError):
    """Indirect inference did not converge."""


@dataclass(frozen=True)
class Frame:
    """Eligible caseworkers pooled from several countries, with their answers."""

    x: F64
    """Covariates with a trailing constant column."""
    proposals: F64
    answers: dict[str, npt.NDArray[np.int8]]


def draw_frame(scenario: Scenario, size: int, seed: int) -> Frame:
    """At least ``size`` eligible caseworkers from independent countries (replication 0, pools
    0, 1, ...): common random numbers for every ``theta`` and ``loading``."""
    country = build_country(scenario)
    pools: list[Population] = []
    while sum(len(p.proposals) for p in pools) < size:
        pools.append(draw_population(scenario, seed, 0, len(pools), country))
    x = np.concatenate([p.covariates for p in pools])
    return Frame(
        x=np.column_stack([x, np.ones(len(x))]),
        proposals=np.concatenate([p.proposals for p in pools]).astype(np.float64),
        answers={k: np.concatenate([p.answers[k] for p in pools]) for k in pools[0].answers},
    )


def _expected_outcome(theta: F64, frame: Frame) -> F64:
    """Chance of overruling at least once: ``1 - (1 - p)^proposals``."""
    p = expit(frame.x @ theta)
    return np.asarray(-np.expm1(frame.proposals * np.log1p(-p)), dtype=np.float64)


def _fractional_logit(x: F64, y: F64, start: F64) -> F64:
    """Maximise the Bernoulli quasi-likelihood of fractional outcomes ``y`` (Newton)."""
    b = start.copy()
    for _ in range(NEWTON_STEPS):
        mu = expit(x @ b)
        hessian = (x * (mu * (1.0 - mu))[:, None]).T @ x
        step = np.linalg.solve(hessian, x.T @ (y - mu))
        b += step
        if np.max(np.abs(step)) < NEWTON_TOLERANCE:
            return b
    raise CalibrationError("the survey-level regression did not converge")


def binding_function(theta: F64, frame: Frame, start: F64) -> F64:
    """Survey-level B (covariates, then the constant) for per-proposal ``theta``."""
    return _fractional_logit(frame.x, _expected_outcome(theta, frame), start)


def _target() -> F64:
    b = published_survey().b()
    return np.array([b[name] for name in (*COVARIATES, "constant")], dtype=np.float64)


def solve_theta(frame: Frame, start: F64 | None = None) -> F64:
    """Per-proposal ``theta`` whose binding function equals DK's B."""
    target = _target()
    theta0 = target.copy() if start is None else start

    def gap(theta: F64) -> F64:
        return binding_function(theta, frame, target) - target

    solution = root(gap, theta0, method="hybr", tol=ROOT_TOLERANCE)
    if not solution.success:
        raise CalibrationError(f"indirect inference did not converge: {solution.message}")
    return np.asarray(solution.x, dtype=np.float64)


def expected_bivariate(theta: F64, frame: Frame) -> list[dict[str, Any]]:
    """The frame's expected share who overruled by answer, beside DK's."""
    y = _expected_outcome(theta, frame)
    survey = published_survey()
    rows = []
    for table in survey.bivariate:
        labels = survey.question(table.question).labels
        codes = frame.answers[table.question]
        for answer, share, n in zip(table.answers, table.overruled, table.n, strict=True):
            members = codes == labels.index(answer)
            rows.append(
                {
                    "question": table.question,
                    "answer": answer,
                    "simulated": float(y[members].mean()),
                    "published": share,
                    "n": n,
                }
            )
    return rows


def _chi_square(rows: list[dict[str, Any]]) -> float:
    return float(
        sum(
            (r["simulated"] - r["published"]) ** 2
            / (r["published"] * (1 - r["published"]) / r["n"])
            for r in rows
        )
    )


@dataclass(frozen=True)
class SurveyCalibration:
    """Calibrated loading and per-proposal coefficients, with what they reproduce."""

    scenario: str
    loading: float
    theta: dict[str, float]
    """Per-proposal coefficients, by ``placements.overrule`` key."""
    bivariate: list[dict[str, Any]]
    chi_square: float
    overruled_share: float
    """Expected share who overruled at least once, over the frame."""
    frame: int
    seed: int
    date: str = field(default_factory=lambda: datetime.now(UTC).strftime("%Y-%m-%d"))

    def values(self) -> dict[str, float]:
        """Calibrated values by key path (for :func:`streetlevel.scenario.loading.with_values`)."""
        out = {"attitudes.loading": self.loading}
        out.update({f"placements.overrule.{k}": v for k, v in self.theta.items()})
        return out

    def _record(self, targets: list[str], command: str) -> dict[str, Any]:
        return {
            "method": "indirect inference (MODEL.md 7.2)",
            "targets": targets,
            "date": self.date,
            "command": command,
        }

    def apply(self, scenario: Scenario, command: str = "calibrate_survey") -> Scenario:
        """``scenario`` with the calibrated values and their calibration records."""
        data = with_values(scenario, self.values(), "calibrated").model_dump(
            mode="json", exclude_none=True
        )
        data["attitudes"]["loading"].update(
            source="calibrated: DK's bivariate tables (overruled by answer)",
            calibration=self._record(["DK bivariate tables"], command),
        )
        for key in self.theta:
            data["placements"]["overrule"][key].update(
                source="calibrated: DK's logistic regression, by indirect inference",
                calibration=self._record(["DK logistic regression B"], command),
            )
        return scenario_from_dict(data, "calibration")

    def toml(self, command: str = "calibrate_survey") -> str:
        """The calibrated lines, to paste into a scenario file."""
        date = self.date

        def line(key: str, value: float, unit: str, source: str, target: str) -> str:
            return (
                f'{key} = {{ value = {value:.4f}, unit = "{unit}", source = "calibrated: '
                f'{source}", calibration = {{ method = "indirect inference (MODEL.md 7.2)", '
                f'targets = ["{target}"], date = "{date}", command = "{command}" }} }}'
            )

        lines = [
            "[attitudes]",
            line("loading", self.loading, "correlation", "DK's bivariate tables",
                 "DK bivariate tables"),
            "",
            "[placements.overrule]",
        ]  # fmt: skip
        lines += [
            line(k, v, "log-odds", "DK's logistic regression, by indirect inference",
                 "DK logistic regression B")
            for k, v in self.theta.items()
        ]  # fmt: skip
        return "\n".join(lines) + "\n"


def calibrate_survey(
    preset: str | Path | Scenario,
    *,
    frame_size: int = DEFAULT_FRAME,
    seed: int = 1,
    loading: float | None = None,
) -> SurveyCalibration:
    """Choose the loading and the per-proposal coefficients by indirect inference.

    Args:
        preset: a preset name, scenario file or scenario with ``[attitudes]`` and
            ``[placements]``.
        frame_size: eligible caseworkers in the calibration frame.
        loading: keep this loading and solve only the coefficients.
    """
    scenario = preset if isinstance(preset, Scenario) else load_scenario(preset)
    names = ["intercept", *COVARIATES]

    def at(lam: float) -> tuple[F64, Frame]:
        s = with_values(scenario, {"attitudes.loading": lam}, "calibration")
        frame = draw_frame(s, frame_size, seed)
        return solve_theta(frame), frame

    if loading is None:
        best = minimize_scalar(
            lambda lam: _chi_square(expected_bivariate(*at(float(lam)))),
            bounds=LOADING_BOUNDS,
            method="bounded",
            options={"xatol": LOADING_TOLERANCE},
        )
        loading = float(best.x)
    theta, frame = at(loading)
    rows = expected_bivariate(theta, frame)
    # theta is in (covariates..., constant) order; the scenario names the constant intercept.
    by_name = dict(zip([*COVARIATES, "intercept"], theta.tolist(), strict=True))
    return SurveyCalibration(
        scenario=scenario.scenario.name,
        loading=loading,
        theta={k: by_name[k] for k in names},
        bivariate=rows,
        chi_square=_chi_square(rows),
        overruled_share=float(_expected_outcome(theta, frame).mean()),
        frame=len(frame.proposals),
        seed=seed,
    )
