"""Indirect inference for the job-placement model: per-proposal coefficients from DK's survey.

DK's regression is fitted to caseworkers, not to proposals: its outcome is "overruled at least
once in six months", which depends on how many minority clients' proposals a caseworker had as
well as on how likely each one is overruled. Copying DK's B into the per-proposal model would
therefore overstate every effect that comes with more proposals (a caseworker with more than 250
users has more of them) and the overall share. docs/model.md 7.13 uses indirect inference instead:

1. Draw a large frame of eligible caseworkers (covariates, number of proposals) from the
   scenario, with common random numbers.
2. The *binding function* ``B(theta)``: the survey-level logistic regression fitted to the
   frame's expected outcomes ``1 - (1 - p_theta)^proposals`` (exact expectations, so the
   function is smooth in ``theta`` and needs no simulated answers).
3. Solve ``B(theta) = B_DK`` for the 15 per-proposal coefficients ``theta``
   (``scipy.optimize.root``).
   With ``placements.reasons``, the binding function averages each proposal's chance over
   its attributes, and three more equations join: the expected shares of overruling
   caseworkers who name each reason equal DK's 25 / 39 / 60 % (fitted by the attributes'
   *prevalences*; their *weights* are assumptions, held fixed). 15 + 3 equations, 15 + 3
   unknowns, solved together.
0. Before all: the weekly proposal rate ``placements.proposal`` so that the expected share of
   caseworkers with at least one minority client's proposal in the window is DK's 477 of
   1,044 interviewed (46 %), the eligibility of DK's sub-sample.
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
from scipy.optimize import brentq, minimize_scalar, root
from scipy.special import expit

from streetlevel.errors import StreetlevelError
from streetlevel.model.attitudes import COVARIATES, published_survey
from streetlevel.model.country import build_country
from streetlevel.model.processes.placements import REASONS, Judgement
from streetlevel.scenario.loading import load_scenario, scenario_from_dict, with_values
from streetlevel.scenario.schema import Scenario
from streetlevel.survey.simulate import Population, draw_population, pool_populations

__all__ = [
    "CalibrationError",
    "SurveyCalibration",
    "binding_function",
    "calibrate_survey",
    "reason_shares",
    "solve_proposal_rate",
    "solve_theta",
    "with_prevalence",
]

F64 = npt.NDArray[np.float64]
DEFAULT_FRAME = 100_000
"""Eligible caseworkers in the calibration frame: the binding function's simulation error
(about 1 / sqrt(frame) of a survey-level SE at n = 1) is then far below DK's standard errors."""
LOADING_BOUNDS = (0.0, 0.9)
LOADING_TOLERANCE = 0.005
NEWTON_TOLERANCE = 1e-10
NEWTON_STEPS = 100
ROOT_TOLERANCE = 1e-8
RATE_BRACKET = (1e-7, 0.5)
"""Weekly proposal rates between which the eligibility equation is solved."""


class CalibrationError(StreetlevelError):
    """Indirect inference did not converge."""


@dataclass(frozen=True)
class Frame:
    """Eligible caseworkers pooled from several countries, with their answers."""

    x: F64
    """Covariates with a trailing constant column."""
    proposals: F64
    answers: dict[str, npt.NDArray[np.int8]]
    judge: Judgement | None = None
    """The attributes' prevalences (per caseworker) and weights; ``None``: no attributes."""
    factor: F64 | None = None


def draw_frame(scenario: Scenario, size: int, seed: int) -> Frame:
    """At least ``size`` eligible caseworkers from independent countries (replication 0, pools
    0, 1, ...): common random numbers for every ``theta`` and ``loading``."""
    country = build_country(scenario)
    pools: list[Population] = []
    while sum(len(p.proposals) for p in pools) < size:
        pools.append(draw_population(scenario, seed, 0, len(pools), country))
    pop = pool_populations(pools)
    return Frame(
        x=np.column_stack([pop.covariates, np.ones(len(pop.covariates))]),
        proposals=pop.proposals.astype(np.float64),
        answers=pop.answers,
        judge=pop.judge,
        factor=pop.factor,
    )


def with_prevalence(frame: Frame, logit_prevalence: F64) -> Frame:
    """``frame`` with the attributes' base prevalences ``logistic(logit_prevalence)`` (no
    difficulty lever: calibration assumes DK's validity condition)."""
    assert frame.judge is not None
    prevalence = np.broadcast_to(expit(logit_prevalence), frame.judge.prevalence.shape)
    return Frame(frame.x, frame.proposals, frame.answers, Judgement(prevalence, frame.judge.weight),
                 frame.factor)  # fmt: skip


def _per_proposal(theta: F64, frame: Frame) -> tuple[F64, F64 | None]:
    """(chance a proposal is overruled, chance it is overruled with attribute k)."""
    logit = frame.x @ theta
    if frame.judge is None:
        return expit(logit), None
    return frame.judge.expected(logit)


def _at_least_once(p: F64, proposals: F64) -> F64:
    return np.asarray(-np.expm1(proposals * np.log1p(-p)), dtype=np.float64)


def _expected_outcome(theta: F64, frame: Frame) -> F64:
    """Chance of overruling at least once: ``1 - (1 - p)^proposals``."""
    return _at_least_once(_per_proposal(theta, frame)[0], frame.proposals)


def reason_shares(theta: F64, frame: Frame) -> F64:
    """Expected share of the caseworkers who overruled that name each reason."""
    p, q = _per_proposal(theta, frame)
    assert q is not None
    once = _at_least_once(p, frame.proposals)
    named = _at_least_once(q, frame.proposals[:, None])
    return np.asarray(named.sum(axis=0) / once.sum(), dtype=np.float64)


def solve_proposal_rate(scenario: Scenario, seed: int = 1, pools: int = 5) -> float:
    """The weekly proposal rate at which DK's share of the interviewed are eligible (477 of
    1,044 had a minority user in job placement in the past six months).

    The expected share is ``mean(1 - exp(-rate * window * minority * caseload))`` over all
    caseworkers of ``pools`` simulated countries.
    """
    survey = published_survey()
    country = build_country(scenario)
    caseload = np.concatenate(
        [draw_population(scenario, seed, 0, k, country, eligible_only=False).caseload
         for k in range(pools)]
    )  # fmt: skip
    exposure = survey.window_weeks * scenario.clients.minority.value * caseload
    target = survey.sampling.eligible_share

    def gap(rate: float) -> float:
        return float(np.mean(-np.expm1(-rate * exposure))) - target

    return float(brentq(gap, *RATE_BRACKET, xtol=1e-12))


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


def _reason_target() -> F64:
    return np.array([r.share for r in published_survey().reasons], dtype=np.float64)


def solve_theta(frame: Frame, start: F64 | None = None) -> F64:
    """Per-proposal ``theta`` whose binding function equals DK's B; with attributes, followed
    by the logits of their prevalences, fitted to DK's reason shares at the same time."""
    target = _target()
    k = len(target)
    if frame.judge is None:
        theta0 = target.copy() if start is None else start

        def gap(z: F64) -> F64:
            return binding_function(z, frame, target) - target

    else:
        judge = frame.judge
        shares = _reason_target()
        prevalence0 = np.mean(judge.prevalence, axis=0)
        start0 = np.concatenate([target, np.log(prevalence0 / (1 - prevalence0))])
        theta0 = start0 if start is None else start

        def gap(z: F64) -> F64:
            f = with_prevalence(frame, z[k:])
            return np.concatenate(
                [binding_function(z[:k], f, target) - target, reason_shares(z[:k], f) - shares]
            )

    solution = root(gap, theta0, method="hybr", tol=ROOT_TOLERANCE)
    if not solution.success:
        raise CalibrationError(f"indirect inference did not converge: {solution.message}")
    return np.asarray(solution.x, dtype=np.float64)


def expected_bivariate(theta: F64, frame: Frame) -> list[dict[str, Any]]:
    """The frame's expected share who overruled by answer, beside DK's."""
    k = frame.x.shape[1]
    if frame.judge is not None and len(theta) > k:
        frame = with_prevalence(frame, theta[k:])
    y = _expected_outcome(theta[:k], frame)
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
    proposal: float | None = None
    """Weekly proposal rate fitted to DK's eligibility (``None``: kept)."""
    prevalence: dict[str, float] = field(default_factory=dict)
    """Attribute prevalences fitted to DK's reason shares, by ``placements.reasons`` key."""
    reason_shares: dict[str, float] = field(default_factory=dict)
    """Expected share naming each reason, over the frame."""
    date: str = field(default_factory=lambda: datetime.now(UTC).strftime("%Y-%m-%d"))

    def values(self) -> dict[str, float]:
        """Calibrated values by key path (for :func:`streetlevel.scenario.loading.with_values`)."""
        out = {"attitudes.loading": self.loading}
        out.update({f"placements.overrule.{k}": v for k, v in self.theta.items()})
        if self.proposal is not None:
            out["placements.proposal"] = self.proposal
        out.update({f"placements.reasons.{k}.prevalence": v for k, v in self.prevalence.items()})
        return out

    def _record(self, targets: list[str], command: str) -> dict[str, Any]:
        return {
            "method": "indirect inference (docs/model.md 7.13)",
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
        if self.proposal is not None:
            data["placements"]["proposal"].update(
                source="calibrated: DK's eligibility, 477 of 1,044 interviewed",
                calibration=self._record(["DK eligibility 477/1044"], command),
            )
        for key in self.prevalence:
            data["placements"]["reasons"][key]["prevalence"].update(
                source="calibrated: DK's reasons for overruling (25 / 39 / 60 %)",
                calibration=self._record(["DK reasons for overruling"], command),
            )
        return scenario_from_dict(data, "calibration")

    def toml(self, command: str = "calibrate_survey") -> str:
        """The calibrated lines, to paste into a scenario file."""
        date = self.date

        def line(key: str, value: float, unit: str, source: str, target: str) -> str:
            return (
                f'{key} = {{ value = {value:.6g}, unit = "{unit}", source = "calibrated: '
                f'{source}", calibration = {{ method = "indirect inference (docs/model.md 7.13)", '
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
        if self.proposal is not None:
            eligibility = "DK's eligibility, 477 of 1,044 interviewed"
            lines += ["", "[placements]",
                      line("proposal", self.proposal, "per week", eligibility,
                           "DK eligibility 477/1044")]  # fmt: skip
        why = "DK's reasons for overruling (25 / 39 / 60 %)"
        for k, v in self.prevalence.items():
            lines += ["", f"[placements.reasons.{k}]",
                      line("prevalence", v, "share", why, "DK reasons for overruling")]  # fmt: skip
        return "\n".join(lines) + "\n"


def calibrate_survey(
    preset: str | Path | Scenario,
    *,
    frame_size: int = DEFAULT_FRAME,
    seed: int = 1,
    loading: float | None = None,
    fit_eligibility: bool = True,
) -> SurveyCalibration:
    """Choose the loading and the per-proposal coefficients by indirect inference.

    Args:
        preset: a preset name, scenario file or scenario with ``[attitudes]`` and
            ``[placements]``.
        frame_size: eligible caseworkers in the calibration frame.
        loading: keep this loading and solve only the coefficients.
        fit_eligibility: fit ``placements.proposal`` to DK's eligibility first.
    """
    scenario = preset if isinstance(preset, Scenario) else load_scenario(preset)
    assert scenario.placements is not None
    names = ["intercept", *COVARIATES]
    proposal = None
    if fit_eligibility:
        proposal = solve_proposal_rate(scenario, seed)
        scenario = with_values(scenario, {"placements.proposal": proposal}, "calibration")
    k = len(names)

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
    solution, frame = at(loading)
    rows = expected_bivariate(solution, frame)
    theta = solution[:k]
    prevalence: dict[str, float] = {}
    shares: dict[str, float] = {}
    if frame.judge is not None:
        frame = with_prevalence(frame, solution[k:])
        prevalence = dict(zip(REASONS, expit(solution[k:]).tolist(), strict=True))
        shares = dict(zip(REASONS, reason_shares(theta, frame).tolist(), strict=True))
    # theta is in (covariates..., constant) order; the scenario names the constant intercept.
    by_name = dict(zip([*COVARIATES, "intercept"], theta.tolist(), strict=True))
    return SurveyCalibration(
        scenario=scenario.scenario.name,
        loading=loading,
        theta={name: by_name[name] for name in names},
        bivariate=rows,
        chi_square=_chi_square(rows),
        overruled_share=float(_expected_outcome(theta, frame).mean()),
        frame=len(frame.proposals),
        seed=seed,
        proposal=proposal,
        prevalence=prevalence,
        reason_shares=shares,
    )
