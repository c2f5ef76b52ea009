"""The caseworker survey of [DK], asked of simulated caseworkers (docs/model.md 7.13).

DK surveyed NAV caseworkers who had at least one minority client in job placement in the past
six months, and asked whether they had overruled such a client's own job-placement proposal at
least once. :func:`simulate_survey` does the same with a scenario's caseworkers: it draws the
country's workforce (caseloads, municipality, attitudes and roles, as the engine does), each
caseworker's minority clients' proposals over the survey window (a Poisson number: the
engine's weekly proposal rate times the window times the caseworker's real minority caseload),
samples ``n`` caseworkers with at least one, and decides each one's answer with the engine's
per-proposal model (:mod:`streetlevel.model.processes.placements`): overruled at least once with
probability ``1 - (1 - p)^proposals``. A survey larger than one country's eligible caseworkers
pools further, independent countries (a superpopulation). It needs no week-by-week run, so
surveys of 50,000 and hundreds of replications take seconds.

:mod:`streetlevel.survey.fit` fits DK's logistic regression and the figures SPSS prints, and
gives DK's bivariate tables. :func:`run_survey` repeats surveys and
summarises each figure's spread; :func:`survey_of_data` does the same for a user's survey file
(:mod:`streetlevel.survey.data`).

>>> from streetlevel.scenario.loading import load_scenario
>>> frame = simulate_survey(load_scenario("norway-2010"), n=477, seed=1)
>>> len(frame), sorted(set(frame["overruled"]))
(477, [0, 1])
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from streetlevel.constants import SURVEY_RESPONDENTS, Z95
from streetlevel.model.attitudes import COVARIATES, SENIORITY_QUARTILES, published_survey
from streetlevel.model.caseworkers import Workforce
from streetlevel.model.country import Country, build_country
from streetlevel.model.processes.placements import (
    REASONS,
    Judgement,
    caseworker_covariates,
    judgement,
    overrule_logits,
)
from streetlevel.model.streams import Stream, Streams
from streetlevel.scenario.schema import Scenario
from streetlevel.survey.fit import SurveyError, SurveyFit, bivariate, fit_survey, reason_shares

__all__ = [
    "DEFAULT_N",
    "Population",
    "SurveyResult",
    "decide",
    "draw_population",
    "pool_populations",
    "run_survey",
    "simulate_survey",
    "survey_of_data",
    "weights",
]

F64 = npt.NDArray[np.float64]
DEFAULT_N = SURVEY_RESPONDENTS
INTERVAL = (2.5, 97.5)
"""Percentiles of a figure's spread across replications (a 95 % range)."""


@dataclass(frozen=True)
class Population:
    """One country's caseworkers with at least one minority client's proposal in the window."""

    covariates: F64
    """(caseworkers x :data:`~streetlevel.model.attitudes.COVARIATES`)."""
    answers: dict[str, npt.NDArray[np.int8]]
    proposals: npt.NDArray[np.int64]
    logit: F64
    """Per-proposal log-odds of overruling a minority client's proposal, before the
    proposal's own attributes (:mod:`streetlevel.model.processes.placements`)."""
    factor: F64
    """Latent restrictiveness ``F`` of each caseworker."""
    caseload: F64
    """Real clients per caseworker."""
    judge: Judgement | None
    """The attributes' prevalences for each caseworker's proposals, and their weights."""


def _require_placements(scenario: Scenario) -> None:
    if scenario.placements is None or scenario.attitudes is None:
        raise SurveyError(
            f"{scenario.scenario.name}: the survey needs [attitudes] and [placements] "
            "sections (see the norway-2010 preset)"
        )


def draw_population(
    scenario: Scenario,
    seed: int,
    replication: int,
    pool: int = 0,
    country: Country | None = None,
    *,
    eligible_only: bool = True,
) -> Population:
    """The caseworkers of one country who are eligible for the survey (or all of them).

    Pool 0 of replication ``r`` has exactly the caseworkers of the engine's replication ``r``
    for the same seed; further pools are independent countries. ``country`` saves building
    the scenario's country again.
    """
    _require_placements(scenario)
    assert scenario.placements is not None
    key = () if pool == 0 else (Stream.POOL, pool)
    streams = Streams(seed, [replication], key)
    country = country or build_country(scenario)
    workforce, _ = Workforce.draw(scenario, country, streams)
    x = caseworker_covariates(scenario, country, workforce)[0]
    logit, _ = overrule_logits(scenario.placements, x)
    expected = (
        scenario.placements.proposal.value
        * published_survey().window_weeks
        * scenario.clients.minority.value
        * workforce.caseload[0]
    )
    proposals = streams.child(Stream.SURVEY).generators[0].poisson(expected)
    keep = proposals > 0 if eligible_only else np.ones(len(proposals), dtype=bool)
    factor = workforce.attitudes.factor[0]
    judge = judgement(scenario.placements, factor[keep])
    return Population(
        covariates=x[keep],
        answers={k: v[0][keep] for k, v in workforce.attitudes.answers.items()},
        proposals=proposals[keep].astype(np.int64),
        logit=logit[keep],
        factor=factor[keep],
        caseload=workforce.caseload[0][keep],
        judge=judge,
    )


def simulate_survey(
    scenario: Scenario,
    *,
    n: int = DEFAULT_N,
    seed: int,
    replication: int = 0,
    country: Country | None = None,
) -> pd.DataFrame:
    """One simulated survey of ``n`` eligible caseworkers, as a survey table (see
    :mod:`streetlevel.survey.data` for its columns)."""
    if n < 1:
        raise SurveyError(f"--n: a survey needs at least one respondent, got {n}")
    country = country or build_country(scenario)
    pools: list[Population] = []
    eligible = 0
    while eligible < n:
        pools.append(draw_population(scenario, seed, replication, len(pools), country))
        eligible += len(pools[-1].proposals)
        if len(pools) == 1 and eligible == 0:
            raise SurveyError(
                f"{scenario.scenario.name}: no caseworker had a minority client's proposal in "
                "the survey window (placements.proposal or clients.minority is 0)"
            )
    population = pool_populations(pools)
    gen = Streams(seed, [replication]).child(Stream.SURVEY, 1).generators[0]
    chosen = np.sort(gen.choice(len(population.proposals), size=n, replace=False, p=weights(
        scenario, population.factor)))  # fmt: skip
    overruled, reasons = decide(population, chosen, gen)
    return _frame(
        population.covariates[chosen],
        {k: v[chosen] for k, v in population.answers.items()},
        overruled,
        None if population.judge is None else reasons,
    )


def pool_populations(pools: list[Population]) -> Population:
    """Several countries' caseworkers as one population."""
    judges = [p.judge for p in pools]
    judge = (
        None
        if judges[0] is None
        else Judgement(
            np.concatenate([j.prevalence for j in judges if j is not None]), judges[0].weight
        )
    )
    return Population(
        covariates=np.concatenate([p.covariates for p in pools]),
        answers={k: np.concatenate([p.answers[k] for p in pools]) for k in pools[0].answers},
        proposals=np.concatenate([p.proposals for p in pools]),
        logit=np.concatenate([p.logit for p in pools]),
        factor=np.concatenate([p.factor for p in pools]),
        caseload=np.concatenate([p.caseload for p in pools]),
        judge=judge,
    )


def weights(scenario: Scenario, factor: F64) -> F64 | None:
    """Sampling weights of caseworkers with restrictiveness ``factor``: their relative chance
    of answering (``placements.survey.response_restrictiveness``); ``None`` when response does
    not depend on attitudes, so sampling is uniform."""
    assert scenario.placements is not None
    lever = scenario.placements.survey
    if lever is None or lever.response_restrictiveness.value == 0:
        return None
    w = np.exp(lever.response_restrictiveness.value * factor)
    return np.asarray(w / w.sum(), dtype=np.float64)


def decide(
    population: Population, chosen: npt.NDArray[np.intp], gen: np.random.Generator
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    """Each chosen caseworker's proposals, decided one by one as the engine decides them:
    (overruled at least once, named each reason of :data:`REASONS`)."""
    counts = population.proposals[chosen]
    owner = np.repeat(np.arange(len(chosen)), counts)
    logit = population.logit[chosen][owner]
    attributes = np.zeros((len(owner), len(REASONS)), dtype=bool)
    if population.judge is not None:
        prevalence = population.judge.prevalence[chosen][owner]
        attributes = gen.random((len(owner), len(REASONS))) < prevalence
        logit = logit + attributes @ population.judge.weight
    over = gen.random(len(owner)) < 1.0 / (1.0 + np.exp(-logit))
    overruled = np.bincount(owner[over], minlength=len(chosen)) > 0
    named = np.zeros((len(chosen), len(REASONS)), dtype=bool)
    for k in range(len(REASONS)):
        hit = over & attributes[:, k]
        named[:, k] = np.bincount(owner[hit], minlength=len(chosen)) > 0
    return overruled, named


def _frame(
    x: F64,
    answers: dict[str, npt.NDArray[np.int8]],
    overruled: npt.NDArray[np.bool_],
    reasons: npt.NDArray[np.bool_] | None = None,
) -> pd.DataFrame:
    """A survey table in the file format of :mod:`streetlevel.survey.data`, with DK's reason
    question (``reason_<attribute>``: named it, among those who overruled) when asked."""
    survey = published_survey()
    columns: dict[str, Any] = {}
    for q in survey.questions:
        columns[q.key] = np.array(q.labels, dtype=object)[answers[q.key]]
    col = {name: x[:, i] for i, name in enumerate(COVARIATES)}
    columns["follow_up_routines"] = col["follow_up_routines"].astype(np.int64)
    seniority = np.ones(len(x), dtype=np.int64)
    for quartile in range(2, SENIORITY_QUARTILES + 1):
        seniority[col[f"seniority_{quartile}"] == 1] = quartile
    columns["seniority_quartile"] = seniority
    columns["oslo"] = col["oslo"].astype(np.int64)
    columns["over_250_users"] = col["over_250_users"].astype(np.int64)
    columns["overruled"] = overruled.astype(np.int64)
    if reasons is not None:
        for k, name in enumerate(REASONS):
            columns[f"reason_{name}"] = reasons[:, k].astype(np.int64)
    return pd.DataFrame(columns)


@dataclass(frozen=True)
class SurveyResult:
    """Repeated surveys (or one survey of data): every figure with its spread."""

    scenario: str
    n: int
    replications: int
    seed: int | None
    fits: list[SurveyFit]
    tables: list[pd.DataFrame]
    """Bivariate tables, one per survey."""
    reasons: list[dict[str, float]] = field(default_factory=list)
    """Share of those who overruled naming each reason, one dict per survey (if asked)."""
    parameter_se: dict[str, float] | None = None
    """DK's standard errors, added to a single survey's interval when the per-proposal
    coefficients carry their uncertainty (with replications, each draws its own)."""
    design: str = "survey"
    parameter_uncertainty: bool = False
    """Whether the intervals include the uncertainty of DK's estimates (drawn coefficient
    sets with replications, DK's SEs added to a single survey's)."""

    def overruled_share(self) -> dict[str, float]:
        shares = np.array([f.overruled_share for f in self.fits])
        if self.replications == 1:
            p, n = shares[0], self.fits[0].n
            half = Z95 * np.sqrt(p * (1 - p) / n)
            return _spread(p, p - half, p + half)
        return _spread_of(shares)

    def coefficients(self) -> list[dict[str, Any]]:
        published = published_survey().b()
        out = []
        for name in [*COVARIATES, "constant"]:
            values = np.array([f.b[name] for f in self.fits])
            if self.replications == 1:
                extra = 0.0 if self.parameter_se is None else self.parameter_se[name]
                b, half = values[0], Z95 * float(np.hypot(self.fits[0].se[name], extra))
                spread = _spread(b, b - half, b + half)
            else:
                spread = _spread_of(values)
            sig = float(np.median([f.sig[name] for f in self.fits]))
            out.append({"name": name, "published": published[name], **spread, "sig": sig})
        return out

    def fit_figures(self) -> dict[str, dict[str, float]]:
        survey = published_survey()
        published = {
            "minus_2ll": survey.minus_2ll,
            "cox_snell": survey.cox_snell,
            "nagelkerke": survey.nagelkerke,
        }
        return {
            n: {"published": value, **_spread_of(np.array([getattr(f, n) for f in self.fits]))}
            for n, value in published.items()
        }

    def bivariate_rows(self) -> list[dict[str, Any]]:
        stacked = pd.concat(self.tables, keys=range(len(self.tables)), names=["survey", "row"])
        published = {
            (t.question, a): (p, n)
            for t in published_survey().bivariate
            for a, p, n in zip(t.answers, t.overruled, t.n, strict=True)
        }
        out = []
        for (question, answer), group in stacked.groupby(["question", "answer"], sort=False):
            shares = group["overruled"].to_numpy(dtype=np.float64)
            n_mean = float(group["n"].mean())
            if self.replications == 1:
                p, n = shares[0], int(group["n"].iloc[0])
                half = Z95 * np.sqrt(p * (1 - p) / n) if n else float("nan")
                spread = _spread(p, p - half, p + half)
            else:
                spread = _spread_of(shares[~np.isnan(shares)])
            pub_share, pub_n = published[(question, answer)]
            out.append(
                {
                    "question": question,
                    "answer": answer,
                    "n": n_mean,
                    "overruled_mean": spread["mean"],
                    "low": spread["low"],
                    "high": spread["high"],
                    "published": pub_share,
                    "published_n": pub_n,
                }
            )
        return out

    def reason_rows(self) -> list[dict[str, Any]]:
        """Share naming each reason, among those who overruled, beside DK's (empty if the
        scenario has no proposal attributes)."""
        if not self.reasons:
            return []
        out = []
        for r in published_survey().reasons:
            shares = np.array([s[r.attribute] for s in self.reasons], dtype=np.float64)
            if self.replications == 1:
                p = shares[0]
                n = self.fits[0].overruled_share * self.fits[0].n
                half = Z95 * np.sqrt(p * (1 - p) / n) if n else float("nan")
                spread = _spread(p, p - half, p + half)
            else:
                spread = _spread_of(shares[~np.isnan(shares)])
            out.append({"reason": r.attribute, "text": r.text, "published": r.share, **spread})
        return out

    def to_dict(self) -> dict[str, Any]:
        """The summary in the ``--json`` layout."""
        return {
            "design": self.design,
            "parameter_uncertainty": self.parameter_uncertainty,
            "reasons": self.reason_rows(),
            "n": self.n,
            "replications": self.replications,
            "overruled_share": self.overruled_share(),
            "coefficients": [
                {k: c[k] for k in ("name", "published", "mean", "low", "high")}
                for c in self.coefficients()
            ],
            "fit": self.fit_figures(),
            "bivariate": [
                {k: r[k] for k in ("question", "answer", "n", "overruled_mean", "low", "high")}
                for r in self.bivariate_rows()
            ],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, allow_nan=False, default=_no_nan)


def _no_nan(value: object) -> object:
    raise TypeError(f"not JSON serialisable: {value!r}")


def _spread(mean: float, low: float, high: float) -> dict[str, float]:
    return {"mean": float(mean), "low": float(low), "high": float(high)}


def _spread_of(values: F64) -> dict[str, float]:
    if len(values) == 0:
        return _spread(float("nan"), float("nan"), float("nan"))
    low, high = np.percentile(values, INTERVAL)
    return _spread(float(values.mean()), float(low), float(high))


def run_survey(
    scenario: Scenario,
    *,
    n: int = DEFAULT_N,
    replications: int = 1,
    seed: int = 1,
    coefficient_sets: list[Scenario] | None = None,
    parameter_se: dict[str, float] | None = None,
    sampler: Callable[..., pd.DataFrame] | None = None,
    design: str = "survey",
) -> SurveyResult:
    """``replications`` independent surveys of ``n`` caseworkers, fitted and tabulated.

    Replication ``r`` uses the caseworkers of the engine's replication ``r`` for ``seed``, so
    the result depends on the seed and the replication numbers only. ``coefficient_sets``
    (one scenario per replication, e.g. :func:`streetlevel.survey.uncertainty.coefficient_draws`)
    gives each replication its own per-proposal coefficients; ``parameter_se`` widens a single
    survey's intervals by DK's standard errors. ``sampler`` draws one survey table
    (default :func:`simulate_survey`, the fast path; :func:`streetlevel.survey.events.engine_frame`
    reads an engine run's events).
    """
    _require_placements(scenario)
    if replications < 1:
        raise SurveyError(f"--replications: at least 1, got {replications}")
    if coefficient_sets is not None and len(coefficient_sets) < replications:
        raise SurveyError("coefficient_sets: one scenario per replication is needed")
    fits, tables, reasons = [], [], []
    country = build_country(scenario)
    for r in range(replications):
        s = scenario if coefficient_sets is None else coefficient_sets[r]
        frame = (sampler or simulate_survey)(s, n=n, seed=seed, replication=r, country=country)
        fits.append(fit_survey(frame, f"simulated survey {r}"))
        tables.append(bivariate(frame))
        shares = reason_shares(frame)
        if shares:
            reasons.append(shares)
    return SurveyResult(
        scenario.scenario.name, n, replications, seed, fits, tables, reasons, parameter_se,
        design, coefficient_sets is not None or parameter_se is not None,
    )  # fmt: skip


def survey_of_data(frame: pd.DataFrame, origin: str) -> SurveyResult:
    """DK's regression and bivariate tables for a user's survey (one survey, 95 % CIs)."""
    fit = fit_survey(frame, origin)
    return SurveyResult(origin, len(frame), 1, None, [fit], [bivariate(frame)])
