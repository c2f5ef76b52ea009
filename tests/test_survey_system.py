"""The Norwegian side as a system: reasons, DK's sampling funnel, the uncertainty of DK's
estimates, the survey from engine events, the vignette design and placements' consequences.

Fixed seeds; every tolerance is a multiple of a sampling error, named where it is used.
"""

from __future__ import annotations

import numpy as np
import pytest

from streetlevel.model.attitudes import COVARIATES, published_survey
from streetlevel.model.coefficients import Coefficients
from streetlevel.model.processes import exits
from streetlevel.model.state import ClientState, Subset
from streetlevel.scenario.loading import load_scenario, with_values
from streetlevel.survey.events import engine_frame
from streetlevel.survey.fit import fit_survey, reason_shares
from streetlevel.survey.indirect import binding_function, draw_frame
from streetlevel.survey.sampling import FUNNEL_STAGES, simulate_funnel
from streetlevel.survey.simulate import run_survey, simulate_survey
from streetlevel.survey.uncertainty import (
    coefficient_draws,
    published_standard_errors,
    scenario_theta,
)
from streetlevel.survey.vignette import compare_designs

Z_STRICT = 4.0  # checks of properties exact in expectation, over large simulated samples
SURVEY = published_survey()
ATTITUDES = ("stricter_immigration", "disagrees_motivated")


@pytest.fixture(scope="module")
def norway():  # type: ignore[no-untyped-def]
    return load_scenario("norway-2010")


def test_reason_shares_recovered_at_large_n(norway) -> None:  # type: ignore[no-untyped-def]
    """DK's 25 / 39 / 60 % are fitted moments: a survey of 20,000 names each reason within 4
    binomial standard errors (of the number who overruled) of DK's share."""
    frame = simulate_survey(norway, n=20_000, seed=5)
    shares = reason_shares(frame)
    overruled = int(frame["overruled"].sum())
    for reason in SURVEY.reasons:
        p = reason.share
        tol = Z_STRICT * np.sqrt(p * (1 - p) / overruled)
        assert abs(shares[reason.attribute] - p) < tol, (reason.attribute, shares)


def test_funnel_counts_recovered_at_large_n(norway) -> None:  # type: ignore[no-untyped-def]
    """100 times DK's invitations: each stage's share of its base is DK's within 4 binomial
    standard errors; the eligible share (fitted by the proposal rate on the expected share)
    within 4 standard errors of the simulated respondents."""
    dk = SURVEY.sampling
    funnel = simulate_funnel(norway, seed=2, invitations=100 * dk.invitations)
    c = funnel.counts
    checks = [
        ("inactive", c["invitations"], dk.inactive / dk.invitations),
        ("screened_out", c["invitations"] - c["inactive"],
         dk.screened_out / (dk.invitations - dk.inactive)),
        ("interviews", c["net_sample"], dk.interviews / dk.net_sample),
        ("denials", c["net_sample"] - c["interviews"], dk.denials / (dk.denials + dk.non_response)),
        ("eligible", c["interviews"], dk.eligible / dk.interviews),
    ]  # fmt: skip
    for stage, base, p in checks:
        tol = Z_STRICT * np.sqrt(p * (1 - p) / base)
        assert abs(c[stage] / base - p) < tol, (stage, c[stage], base, p)
    assert set(c) == set(FUNNEL_STAGES)
    assert c["net_sample"] + c["inactive"] + c["screened_out"] == c["invitations"]
    assert len(funnel.frame) == c["eligible"]


def test_response_lever_moves_who_answers(norway) -> None:  # type: ignore[no-untyped-def]
    """With restrictive caseworkers answering more often, more respondents think immigration
    policy should be stricter (beyond 4 binomial standard errors), at the same response rate."""
    dk = SURVEY.sampling
    big = 50 * dk.invitations
    base = simulate_funnel(norway, seed=3, invitations=big)
    lever = with_values(norway, {"placements.survey.response_restrictiveness": 1.0}, "test")
    tilted = simulate_funnel(lever, seed=3, invitations=big)
    p0 = float((base.frame["immigration_policy"] == "stricter").mean())
    p1 = float((tilted.frame["immigration_policy"] == "stricter").mean())
    assert p1 - p0 > Z_STRICT * np.sqrt(2 * p0 * (1 - p0) / len(base.frame))
    rate = dk.interviews / dk.net_sample
    for f in (base, tilted):
        n = f.counts["net_sample"]
        assert abs(f.counts["interviews"] / n - rate) < Z_STRICT * np.sqrt(rate * (1 - rate) / n)


def test_standard_errors_from_significance() -> None:
    """SE = |B| / Phi^-1(1 - p/2); a printed ,000 is taken as p = 0.0005 (the bound)."""
    se = published_standard_errors()
    for c in SURVEY.coefficients:
        z = abs(c.b) / se[c.name]
        p = 2 * (1 - 0.5 * (1 + _erf(z / np.sqrt(2))))
        assert p == pytest.approx(max(c.sig, 0.0005), rel=1e-6)


def _erf(x: float) -> float:
    import math

    return math.erf(x)


def test_coefficient_draws_carry_dk_uncertainty(norway) -> None:  # type: ignore[no-untyped-def]
    """40 drawn coefficient sets, each mapped back through the binding function, give survey-
    level B whose standard deviation is DK's SE: within 4 relative standard errors of a sample
    SD from 40 normal draws (1 / sqrt(2 x 39))."""
    draws = coefficient_draws(norway, 40, seed=7)
    frame = draw_frame(norway, 20_000, 1)
    theta = scenario_theta(norway)
    b0 = binding_function(theta, frame, theta)
    spread = np.array([binding_function(scenario_theta(s), frame, b0) - b0 for s in draws])
    se = published_standard_errors()
    expected = np.array([se[n] for n in (*COVARIATES, "constant")])
    ratio = spread.std(axis=0, ddof=1) / expected
    assert np.all(np.abs(ratio - 1) < Z_STRICT / np.sqrt(2 * 39)), ratio


def test_single_survey_interval_includes_dk_uncertainty(norway) -> None:  # type: ignore[no-untyped-def]
    se = published_standard_errors()
    plain = run_survey(norway, seed=1).coefficients()
    wide = run_survey(norway, seed=1, parameter_se=se).coefficients()
    for a, b in zip(plain, wide, strict=True):
        assert b["high"] - b["low"] > a["high"] - a["low"]


@pytest.mark.slow
def test_engine_survey_agrees_with_fast_path(norway) -> None:  # type: ignore[no-untyped-def]
    """Surveys of 1,000 from 5 engine runs against one fast-path survey of 5,000: overruled
    share, reason shares and every B agree within 4 standard errors of their difference."""
    engine = [engine_frame(norway, n=1000, seed=11, replication=r) for r in range(5)]
    import pandas as pd

    pooled = pd.concat(engine, ignore_index=True)
    fast = simulate_survey(norway, n=5000, seed=12)
    fe, ff = fit_survey(pooled), fit_survey(fast)
    for name in (*COVARIATES, "constant"):
        tol = Z_STRICT * np.hypot(fe.se[name], ff.se[name])
        assert abs(fe.b[name] - ff.b[name]) < tol, name
    p1, p2 = fe.overruled_share, ff.overruled_share
    assert abs(p1 - p2) < Z_STRICT * np.sqrt(p1 * (1 - p1) / 5000 + p2 * (1 - p2) / 5000)
    re, rf = reason_shares(pooled), reason_shares(fast)
    for k in re:
        n = 5000 * p2
        assert abs(re[k] - rf[k]) < Z_STRICT * np.sqrt(2 * rf[k] * (1 - rf[k]) / n), k


@pytest.mark.parametrize("lever", [0.0, 1.0])
def test_vignette_recovers_true_effects(norway, lever: float) -> None:  # type: ignore[no-untyped-def]
    """The vignette design recovers the per-proposal attitude effects within 4 SE, with or
    without the correlation lever; DK's design is unbiased (within 4 SE) without it and biased
    upwards (by more than 4 SE) with it."""
    s = with_values(norway, {"placements.reasons.difficulty_attitude": lever}, "test")
    rows = {r["name"]: r for r in compare_designs(s, n=20_000, seed=1, frame_size=30_000)}
    for name in ATTITUDES:
        r = rows[name]
        assert abs(float(r["vignette"]) - float(r["true"])) < Z_STRICT * float(r["vignette_se"])
        bias, se = float(r["bias"]), float(r["observational_se"])
        if lever == 0.0:
            assert abs(bias) < Z_STRICT * se, (name, bias, se)
        else:
            assert bias > Z_STRICT * se, (name, bias, se)


def test_approved_placement_raises_exit_to_work_by_the_effect(norway) -> None:  # type: ignore[no-untyped-def]
    """A client whose placement was approved has the exit-to-work hazard times 1 + work_effect
    until placement_until, and the plain hazard after; other destinations are unchanged."""
    coef = Coefficients.from_scenario(norway)
    assert norway.placements is not None and norway.placements.work_effect is not None
    effect = norway.placements.work_effect.value
    state = ClientState.empty(1, 2)
    state.last_sanction[:] = -(10**6)
    state.placement_until[0, 0] = 30
    sub = Subset.of(np.ones((1, 2), dtype=bool))
    during = exits.hazards(state, coef, 20, sub)
    assert during[0, 0] == pytest.approx(during[1, 0] * (1 + effect))
    assert during[0, 1:] == pytest.approx(during[1, 1:])
    after = exits.hazards(state, coef, 30, sub)
    assert after[0, 0] == pytest.approx(after[1, 0])


def test_no_effect_without_placements() -> None:
    """Scenarios without [placements] have no placement effect (their exits are unchanged)."""
    coef = Coefficients.from_scenario(load_scenario("denmark-2011"))
    assert coef.placement_work_effect == 0.0
