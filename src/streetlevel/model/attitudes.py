"""Caseworker attitudes and roles: a one-factor model of how restrictive attitudes go together.

Each caseworker has a latent *restrictiveness* ``F ~ N(0, 1)``. The answer to each survey
question of [DK] (Djuve & Kavli 2011) comes from a latent response

    Y_j = direction_j * loading * F + sqrt(1 - loading^2) * e_j,   e_j ~ N(0, 1),

cut at thresholds that reproduce the published answer counts: ``Y_j`` is standard normal
whatever the loading, so the marginals hold exactly (in expectation) while ``loading`` sets how
strongly the answers go together (the correlation of two latent responses is
``direction_i * direction_j * loading^2``). This is a Gaussian copula with one-factor
correlation, i.e. a latent-factor model; the loading is calibrated from DK's two bivariate
tables (:mod:`streetlevel.survey.indirect`). "Don't know" and "no answer" are drawn first, with
their published shares, independently of ``F``.

The lever ``attitudes.restrictiveness_shift`` answers with ``F`` shifted by that many standard
deviations: a workforce more (or less) restrictive than DK's, whose answer shares then differ
from DK's counts (0, the default, reproduces them).

Not in the survey's marginals, and independent of ``F`` (assumptions in the scenario): follow-up
routines (``attitudes.follow_up_routines``) and the seniority quartile (a quartile by
definition). Working in the capital and having more than 250 users follow from the caseworker's
municipality and caseload (:mod:`streetlevel.model.caseworkers`).

``F`` is drawn from the main stream exactly where the latent strictness of the Danish sanction
decision used to be drawn, and the answers from a child stream, so the caseworker's own part of
strictness, ``F * strictness_sd * sqrt(1 - culture_share)`` (:mod:`streetlevel.model.culture`),
is draw for draw what it was before the answers were modelled.

>>> survey = published_survey()
>>> survey.questions[0].key, survey.questions[0].shares().round(3).tolist()
('immigration_policy', [0.088, 0.547, 0.35, 0.015])
>>> COVARIATES[:2]
('stricter_immigration', 'disagrees_motivated')
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import numpy as np
import numpy.typing as npt

from streetlevel.model.streams import Stream, Streams
from streetlevel.scenario.schema import Scenario

__all__ = [
    "COVARIATES",
    "MINORITY_ATTITUDES",
    "SENIORITY_QUARTILES",
    "AttitudeArrays",
    "Bivariate",
    "PublishedCoefficient",
    "PublishedReason",
    "PublishedSurvey",
    "Question",
    "Sampling",
    "answers_from_draws",
    "covariate_matrix",
    "draw_attitudes",
    "published_survey",
]

F64 = npt.NDArray[np.float64]
I8 = npt.NDArray[np.int8]

COVARIATES = (
    "stricter_immigration",
    "disagrees_motivated",
    "push_very_important",
    "income_not_important",
    "negative_view",
    "clerk",
    "equal_participation",
    "equal_outcomes",
    "follow_up_routines",
    "seniority_2",
    "seniority_3",
    "seniority_4",
    "oslo",
    "over_250_users",
)
"""The covariates of DK's logistic regression, in DK's order (the constant comes last)."""
MINORITY_ATTITUDES = ("stricter_immigration", "disagrees_motivated")
"""Attitudes about immigrants and minority clients: they weigh on minority clients' proposals
only (:mod:`streetlevel.model.processes.placements`)."""
SENIORITY_QUARTILES = 4
SURVEY_FILE = "survey_dk.toml"


@dataclass(frozen=True)
class Question:
    """One question of the published survey (see ``data/survey_dk.toml``)."""

    key: str
    text: str
    answers: tuple[str, ...]
    counts: tuple[int, ...]
    other_answers: tuple[str, ...]
    other_counts: tuple[int, ...]
    covariate: str
    coded_one: tuple[str, ...]
    direction: int

    @property
    def labels(self) -> tuple[str, ...]:
        """All answers: the substantive ones in order, then the others (codes 0, 1, ...)."""
        return self.answers + self.other_answers

    @property
    def respondents(self) -> int:
        return sum(self.counts) + sum(self.other_counts)

    def shares(self) -> F64:
        """Published share of each answer, in the order of :attr:`labels`."""
        return np.array(self.counts + self.other_counts, dtype=np.float64) / self.respondents

    def thresholds(self) -> F64:
        """Cut points of the latent response between consecutive substantive answers."""
        # Imported here: SciPy takes 0.15 s to import, which every process that simulates
        # (the run's workers) would pay, and only the survey's thresholds need it.
        from scipy.special import ndtri

        cum = np.cumsum(self.counts)[:-1] / sum(self.counts)
        return np.asarray(ndtri(cum), dtype=np.float64)

    def code(self, codes: I8) -> F64:
        """The regression covariate from answer codes (the index is its own value)."""
        if not self.coded_one:
            values = np.array([float(a) for a in self.answers] + [0.0] * len(self.other_answers))
            return values[codes]
        ones = np.array([label in self.coded_one for label in self.labels], dtype=np.float64)
        return ones[codes]


@dataclass(frozen=True)
class Bivariate:
    """DK's share who overruled, by answer to one question."""

    question: str
    answers: tuple[str, ...]
    overruled: tuple[float, ...]
    n: tuple[int, ...]


@dataclass(frozen=True)
class PublishedCoefficient:
    name: str
    label: str
    b: float
    sig: float
    exp_b: float


@dataclass(frozen=True)
class Sampling:
    """DK's sampling funnel, in counts (``[sampling]`` of ``data/survey_dk.toml``)."""

    invitations: int
    inactive: int
    screened_out: int
    net_sample: int
    interviews: int
    non_response: int
    denials: int
    eligible: int

    @property
    def eligible_share(self) -> float:
        """Share of the interviewed who had a minority user in job placement (477 / 1,044)."""
        return self.eligible / self.interviews


@dataclass(frozen=True)
class PublishedReason:
    """A reason for overruling and the share who named it, among those who overruled."""

    attribute: str
    text: str
    share: float


@dataclass(frozen=True)
class PublishedSurvey:
    """The published survey of [DK]: questions, bivariate tables and the regression."""

    name: str
    respondents: int
    overruled: int
    questions: tuple[Question, ...]
    bivariate: tuple[Bivariate, ...]
    coefficients: tuple[PublishedCoefficient, ...]
    minus_2ll: float
    cox_snell: float
    nagelkerke: float
    large_caseload: int
    """DK's caseload threshold: "more than 250 users"."""
    window_weeks: int
    """The survey's window: "the past six months"."""

    overruled_percent: float
    """DK's published share (35.9 %; see the note in the data file about 177 of 477)."""
    sampling: Sampling
    reasons: tuple[PublishedReason, ...]

    @property
    def overruled_share(self) -> float:
        return self.overruled_percent / 100.0

    def question(self, key: str) -> Question:
        return next(q for q in self.questions if q.key == key)

    def b(self) -> dict[str, float]:
        """Published B by covariate name (``constant`` included)."""
        return {c.name: c.b for c in self.coefficients}


@cache
def published_survey() -> PublishedSurvey:
    """The survey of [DK] as shipped in ``streetlevel/data/survey_dk.toml``."""
    text = (resources.files("streetlevel") / "data" / SURVEY_FILE).read_text(encoding="utf-8")
    data: dict[str, Any] = tomllib.loads(text)
    questions = tuple(
        Question(
            key=q["key"],
            text=q["text"],
            answers=tuple(q["answers"]),
            counts=tuple(q["counts"]),
            other_answers=tuple(q["other_answers"]),
            other_counts=tuple(q["other_counts"]),
            covariate=q["covariate"],
            coded_one=tuple(q["coded_one"]),
            direction=int(q["direction"]),
        )
        for q in data["questions"]
    )
    reg = data["regression"]
    return PublishedSurvey(
        name=data["survey"]["name"],
        respondents=data["survey"]["respondents"],
        overruled=data["survey"]["overruled"],
        questions=questions,
        bivariate=tuple(
            Bivariate(
                b["question"],
                tuple(b["answers"]),
                tuple(p / 100.0 for p in b["overruled_percent"]),
                tuple(b["n"]),
            )
            for b in data["bivariate"]
        ),
        coefficients=tuple(
            PublishedCoefficient(c["name"], c["label"], c["b"], c["sig"], c["exp_b"])
            for c in reg["coefficients"]
        ),
        minus_2ll=reg["minus_2ll"],
        cox_snell=reg["cox_snell"],
        nagelkerke=reg["nagelkerke"],
        large_caseload=data["survey"]["large_caseload"],
        window_weeks=data["survey"]["window_weeks"],
        overruled_percent=data["survey"]["overruled_percent"],
        sampling=Sampling(**data["sampling"]),
        reasons=tuple(
            PublishedReason(r["attribute"], r["text"], r["percent"] / 100.0)
            for r in data["reasons"]
        ),
    )


@dataclass(frozen=True)
class AttitudeArrays:
    """Caseworker attitudes and roles, each (replications x caseworkers)."""

    factor: F64
    """Latent restrictiveness F, standard normal."""
    answers: dict[str, I8]
    """Answer codes per question key (indices into :attr:`Question.labels`)."""
    follow_up_routines: npt.NDArray[np.bool_]
    seniority: I8
    """Seniority quartile, 1-4."""


def answers_from_draws(
    question: Question,
    factor: F64,
    noise: F64,
    other_u: F64,
    loading: float,
) -> I8:
    """Answer codes from standard draws: the one-factor model of the module docstring.

    ``other_u`` (uniform) decides "don't know" / "no answer" with their published shares; the
    rest answer on the latent scale.

    >>> q = published_survey().question("unemployment_length")
    >>> rng = np.random.default_rng(0)
    >>> f, e, u = rng.standard_normal(100_000), rng.standard_normal(100_000), rng.random(100_000)
    >>> codes = answers_from_draws(q, f, e, u, 0.5)
    >>> round(float(np.mean(codes == 1)), 2)  # "important": 147 of 477
    0.31
    """
    latent = question.direction * loading * factor + np.sqrt(1.0 - loading**2) * noise
    codes = np.searchsorted(question.thresholds(), latent).astype(np.int8)
    if question.other_answers:
        shares = np.array(question.other_counts, dtype=np.float64) / question.respondents
        edges = np.cumsum(shares)
        other = np.searchsorted(edges, other_u, side="right")
        codes = np.where(other < len(shares), len(question.answers) + other, codes)
    return np.asarray(codes, dtype=np.int8)


def question_loading(scenario: Scenario, question: Question) -> float:
    """``attitudes.loading`` for the attitudes about minorities, ``role_loading`` otherwise."""
    att = scenario.attitudes
    assert att is not None
    if question.covariate in MINORITY_ATTITUDES:
        return att.loading.value
    return att.role_loading.value


def draw_attitudes(scenario: Scenario, n_caseworkers: int, streams: Streams) -> AttitudeArrays:
    """Draw every caseworker's restrictiveness, answers, routines and seniority.

    ``F`` comes from the main ``streams`` (one normal per caseworker, as the latent strictness
    always has); everything else from the child stream
    :attr:`~streetlevel.model.streams.Stream.ATTITUDE`. A scenario without ``[attitudes]`` gets
    ``F`` only.
    """
    reps = len(streams.replications)
    counts = np.full(reps, n_caseworkers, dtype=np.intp)
    factor = streams.normal(counts).reshape(reps, n_caseworkers)
    att = scenario.attitudes
    if att is None:
        empty_i8 = np.zeros((reps, 0), dtype=np.int8)
        return AttitudeArrays(factor, {}, np.zeros((reps, 0), dtype=bool), empty_i8)
    child = streams.child(Stream.ATTITUDE)
    questions = published_survey().questions
    k = len(questions)
    noise = child.normal(counts * k).reshape(reps, n_caseworkers, k)
    u = child.uniform(counts * (k + 2)).reshape(reps, n_caseworkers, k + 2)
    # A more restrictive workforce than DK's answers with a shifted factor; F itself (the
    # sanction decision's strictness, the survey's levers) stays standard normal.
    shift = att.restrictiveness_shift.value if att.restrictiveness_shift is not None else 0.0
    answering = factor + shift if shift else factor
    answers = {
        q.key: answers_from_draws(
            q, answering, noise[..., j], u[..., j], question_loading(scenario, q)
        )
        for j, q in enumerate(questions)
    }
    routines = u[..., k] < att.follow_up_routines.value
    seniority = (1 + np.floor(u[..., k + 1] * SENIORITY_QUARTILES)).astype(np.int8)
    return AttitudeArrays(factor, answers, routines, seniority)


def covariate_matrix(
    attitudes: AttitudeArrays,
    oslo: npt.NDArray[np.bool_],
    caseload: F64,
) -> F64:
    """DK's covariates (:data:`COVARIATES`, last axis) for every caseworker.

    ``oslo`` and ``caseload`` have the shape of the attitude arrays; "more than 250 users" is
    the caseload above the survey's threshold.
    """
    survey = published_survey()
    columns: dict[str, F64] = {}
    for q in survey.questions:
        columns[q.covariate] = q.code(attitudes.answers[q.key])
    columns["follow_up_routines"] = attitudes.follow_up_routines.astype(np.float64)
    for quartile in range(2, SENIORITY_QUARTILES + 1):
        columns[f"seniority_{quartile}"] = (attitudes.seniority == quartile).astype(np.float64)
    columns["oslo"] = oslo.astype(np.float64)
    columns["over_250_users"] = (caseload > survey.large_caseload).astype(np.float64)
    return np.stack([columns[name] for name in COVARIATES], axis=-1)
