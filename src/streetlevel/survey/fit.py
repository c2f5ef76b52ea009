"""DK's logistic regression and bivariate tables, fitted to a survey: a simulated one
(:mod:`streetlevel.survey.simulate`) or a user's file (:mod:`streetlevel.survey.data`).

:func:`fit_survey` fits DK's regression with statsmodels and computes the figures SPSS prints
(Wald Sig., -2 log likelihood, Cox & Snell and Nagelkerke R²); :func:`bivariate` gives DK's
bivariate tables and :func:`reason_shares` the shares of DK's multiple-choice reason question.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import statsmodels.api as sm
from statsmodels.tools.sm_exceptions import ConvergenceWarning, PerfectSeparationWarning

from streetlevel.errors import StreetlevelError
from streetlevel.model.attitudes import COVARIATES, SENIORITY_QUARTILES, published_survey
from streetlevel.model.processes.placements import REASONS

__all__ = [
    "SurveyError",
    "SurveyFit",
    "bivariate",
    "design_matrix",
    "fit_survey",
    "reason_shares",
]


class SurveyError(StreetlevelError):
    """A survey that cannot be asked or fitted (no eligible caseworkers, a constant column)."""


def design_matrix(frame: pd.DataFrame) -> pd.DataFrame:
    """DK's covariates (and the constant, last) coded from a survey table."""
    survey = published_survey()
    out: dict[str, Any] = {}
    for q in survey.questions:
        codes = frame[q.key].map({label: i for i, label in enumerate(q.labels)})
        out[q.covariate] = q.code(codes.to_numpy(dtype=np.int8))
    out["follow_up_routines"] = frame["follow_up_routines"].to_numpy(dtype=np.float64)
    for quartile in range(2, SENIORITY_QUARTILES + 1):
        out[f"seniority_{quartile}"] = (frame["seniority_quartile"] == quartile).astype(float)
    out["oslo"] = frame["oslo"].to_numpy(dtype=np.float64)
    out["over_250_users"] = frame["over_250_users"].to_numpy(dtype=np.float64)
    x = pd.DataFrame({name: np.asarray(out[name], dtype=np.float64) for name in COVARIATES})
    x["constant"] = 1.0
    return x


@dataclass(frozen=True)
class SurveyFit:
    """DK's logistic regression fitted to one survey, with the figures SPSS prints."""

    n: int
    b: dict[str, float]
    sig: dict[str, float]
    se: dict[str, float]
    minus_2ll: float
    cox_snell: float
    nagelkerke: float
    overruled_share: float


def fit_survey(frame: pd.DataFrame, origin: str = "survey") -> SurveyFit:
    """Fit DK's regression: B, Wald Sig., -2 log likelihood, Cox & Snell and Nagelkerke R².

    Raises:
        SurveyError: a covariate that does not vary, or an outcome that does not (the
            regression is not identified), named by its column.
    """
    x = design_matrix(frame)
    y = frame["overruled"].to_numpy(dtype=np.float64)
    n = len(y)
    if n == 0 or y.min() == y.max():
        raise SurveyError(
            f"{origin}: column overruled: every respondent answered the same; "
            "the regression needs both answers"
        )
    for name in COVARIATES:
        if x[name].nunique() < 2:
            raise SurveyError(
                f"{origin}: covariate {name}: takes one value in every row; the regression "
                "cannot estimate its effect"
            )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", (ConvergenceWarning, PerfectSeparationWarning))
        warnings.simplefilter("ignore", RuntimeWarning)
        try:
            result = sm.Logit(y, x).fit(disp=0, maxiter=100)
        except np.linalg.LinAlgError as err:
            raise SurveyError(f"{origin}: the covariates are collinear ({err})") from None
    llf, llnull = float(result.llf), float(result.llnull)
    cox_snell = 1.0 - np.exp(2.0 * (llnull - llf) / n)
    max_cs = 1.0 - np.exp(2.0 * llnull / n)
    return SurveyFit(
        n=n,
        b={k: float(v) for k, v in result.params.items()},
        sig={k: float(v) for k, v in result.pvalues.items()},
        se={k: float(v) for k, v in result.bse.items()},
        minus_2ll=-2.0 * llf,
        cox_snell=float(cox_snell),
        nagelkerke=float(cox_snell / max_cs),
        overruled_share=float(y.mean()),
    )


def bivariate(frame: pd.DataFrame) -> pd.DataFrame:
    """DK's bivariate tables: share who overruled and respondents, by answer."""
    rows = []
    for table in published_survey().bivariate:
        for answer in table.answers:
            group = frame.loc[frame[table.question] == answer, "overruled"]
            share = float(group.mean()) if len(group) else float("nan")
            rows.append(
                {"question": table.question, "answer": answer, "n": len(group), "overruled": share}
            )
    return pd.DataFrame(rows)


def reason_shares(frame: pd.DataFrame) -> dict[str, float]:
    """Share of the respondents who overruled that named each reason (DK's multiple choice)."""
    over = frame["overruled"] == 1
    return {
        name: float(frame.loc[over, f"reason_{name}"].mean()) if over.any() else float("nan")
        for name in REASONS
        if f"reason_{name}" in frame
    }
