"""The uncertainty of DK's estimates, carried into the per-proposal coefficients.

DK print each B with its two-sided significance (``Sig.``), not its standard error. SPSS's Sig.
is the Wald test's p-value, ``p = 2 (1 - Phi(|B| / SE))``, so

    z = Phi^-1(1 - p / 2),    SE = |B| / z.

Where DK print ``,000`` the p-value is below 0.0005; taking p = 0.0005
(:data:`~streetlevel.constants.SIG_PRINTED_ZERO`) gives the largest SE consistent with the
print, a bound (the Oslo dummy, the clerk indicator and the constant). DK publish no
covariances, so the estimates are treated as independent: ``Var(B) = diag(SE^2)``.

The per-proposal coefficients ``theta`` are a smooth function of DK's B (the inverse of the
binding function of :mod:`streetlevel.survey.indirect`). A draw ``B* ~ N(B, diag(SE^2))`` maps to
``theta* = theta + J^-1 (B* - B)``, ``J = dB / dtheta`` the binding function's Jacobian at the
scenario's ``theta`` (the delta method: exact to first order, and DK's SEs are small beside the
curvature of the binding function). The attributes' prevalences stay at their fitted values.

>>> se = published_standard_errors()
>>> round(se["stricter_immigration"], 3), round(se["oslo"], 3)
(0.226, 0.363)
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy.special import ndtri

from streetlevel.constants import SIG_PRINTED_ZERO
from streetlevel.model.attitudes import COVARIATES, published_survey
from streetlevel.scenario.loading import with_values
from streetlevel.scenario.schema import Scenario
from streetlevel.survey.indirect import binding_function, draw_frame

__all__ = ["coefficient_draws", "jacobian", "published_standard_errors", "scenario_theta"]

F64 = npt.NDArray[np.float64]
JACOBIAN_FRAME = 30_000
"""Eligible caseworkers in the frame on which the Jacobian is taken (its simulation error is
far below DK's standard errors)."""
STEP = 1e-4
"""Central-difference step in log-odds."""
NAMES = (*COVARIATES, "constant")


def published_standard_errors() -> dict[str, float]:
    """Each B's standard error from its printed Sig. through the Wald test."""
    out = {}
    for c in published_survey().coefficients:
        p = max(c.sig, SIG_PRINTED_ZERO)
        out[c.name] = abs(c.b) / float(ndtri(1.0 - p / 2.0))
    return out


def scenario_theta(scenario: Scenario) -> F64:
    """The scenario's per-proposal coefficients in DK's order (the constant last)."""
    assert scenario.placements is not None
    o = scenario.placements.overrule
    values = [getattr(o, n).value for n in COVARIATES] + [o.intercept.value]
    return np.array(values, dtype=np.float64)


def jacobian(scenario: Scenario, seed: int = 1, frame_size: int = JACOBIAN_FRAME) -> F64:
    """``dB / dtheta`` of the binding function at the scenario's ``theta`` (central
    differences, common random numbers)."""
    frame = draw_frame(scenario, frame_size, seed)
    theta = scenario_theta(scenario)
    start = binding_function(theta, frame, theta)
    columns = []
    for k in range(len(theta)):
        step = np.zeros_like(theta)
        step[k] = STEP
        up = binding_function(theta + step, frame, start)
        down = binding_function(theta - step, frame, start)
        columns.append((up - down) / (2 * STEP))
    return np.column_stack(columns)


def coefficient_draws(scenario: Scenario, draws: int, seed: int = 1) -> list[Scenario]:
    """``draws`` copies of ``scenario``, each with per-proposal coefficients drawn from the
    uncertainty of DK's estimates (draw ``r`` from ``SeedSequence(seed)``, key ``r``)."""
    se = published_standard_errors()
    sd = np.array([se[n] for n in NAMES])
    inverse = np.linalg.inv(jacobian(scenario, seed))
    theta = scenario_theta(scenario)
    keys = [*COVARIATES, "intercept"]
    out = []
    for r in range(draws):
        gen = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(r,)))
        delta_b = sd * gen.standard_normal(len(sd))
        drawn = theta + inverse @ delta_b
        values = {f"placements.overrule.{k}": float(v) for k, v in zip(keys, drawn, strict=True)}
        out.append(with_values(scenario, values, f"DK uncertainty draw {r}"))
    return out
