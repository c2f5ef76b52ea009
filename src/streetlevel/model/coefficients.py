"""The scenario's numbers as the arrays that the weekly processes index.

Derived from the scenario before the first week (and again at the start of a year in which a
dated value changes), so the hot path never walks the pydantic tree: a process takes a
:class:`Coefficients`, a flat record of numbers and NumPy arrays that a compiled kernel could
take as it is. Every number here comes from the scenario; the few derivations (inflow shares,
offer waiting times) are explained where they are made.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from streetlevel.model.culture import strictness_weight
from streetlevel.scenario.params import YearlyChange, YearlyRate
from streetlevel.scenario.schema import Exits, Scenario

__all__ = [
    "Coefficients",
    "SpellSurvival",
    "decay_factor",
    "duration_factor",
    "logistic",
    "spell_survival",
    "survival_of",
]

F64 = npt.NDArray[np.float64]


def logistic(x: npt.ArrayLike) -> F64:
    """The logistic function, as float64."""
    return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=np.float64)))


def duration_factor(e: Exits, years_on: npt.ArrayLike) -> F64:
    """Multiplier of the exit hazards after ``years_on`` whole years on benefit."""
    return decay_factor(e.duration_decay.value, e.duration_decay_years.value, years_on)


def decay_factor(decay: float, decay_years: int, years_on: npt.ArrayLike) -> F64:
    """:func:`duration_factor` from the numbers (``exits.duration_decay`` and
    ``exits.duration_decay_years``), as the processes compute it from their coefficients."""
    years = np.minimum(years_on, decay_years)
    if np.ndim(years) == 0 or years.min() < 0:
        return np.asarray((1.0 - decay) ** years, dtype=np.float64)
    # A lookup of the few distinct powers, the same numbers as a power per client (profiled:
    # the power was a third of the exit hazards' time).
    table = np.asarray((1.0 - decay) ** np.arange(decay_years + 1), dtype=np.float64)
    return table[years]


@dataclass(frozen=True)
class SpellSurvival:
    """Survival of a benefit spell whose weekly exit hazard falls with duration.

    ``head[d]`` is the chance of still being on benefit after d weeks, for the weeks in which
    the hazard still changes (the first ``duration_decay_years``); ``at_tail`` is the chance of
    reaching the end of them, after which the hazard stays ``tail_hazard`` and the remaining
    duration is geometric.
    """

    head: F64
    at_tail: float
    tail_hazard: float

    @property
    def tail_mass(self) -> float:
        """Expected weeks on benefit after the head."""
        return self.at_tail / self.tail_hazard

    @property
    def expected_weeks(self) -> float:
        """The mean spell length in weeks, which sets a category's share of the stock."""
        return float(self.head.sum()) + self.tail_mass


def spell_survival(base_hazard: float, e: Exits, weeks_per_year: int) -> SpellSurvival:
    """The survival curve of a spell for a category with total base hazard ``base_hazard`` > 0.

    With no duration dependence the mean spell is 1 / hazard:

    >>> from streetlevel.scenario.loading import load_scenario, with_values
    >>> s = with_values(load_scenario("municipality-a"), {"exits.duration_decay": 0.0})
    >>> round(spell_survival(0.01, s.exits, 52).expected_weeks, 6)
    100.0
    """
    return survival_of(
        base_hazard, e.duration_decay.value, e.duration_decay_years.value, weeks_per_year
    )


def survival_of(
    base_hazard: float, decay: float, decay_years: int, weeks_per_year: int
) -> SpellSurvival:
    """:func:`spell_survival` from the numbers, as the processes compute it from their
    coefficients."""
    head_weeks = decay_years * weeks_per_year
    d = np.arange(head_weeks + 1)
    h = base_hazard * decay_factor(decay, decay_years, d // weeks_per_year)
    survival = np.concatenate([[1.0], np.cumprod(1.0 - h[:-1])])
    return SpellSurvival(survival[:head_weeks], float(survival[head_weeks]), float(h[head_weeks]))


@dataclass(frozen=True)
class Coefficients:
    """The numbers the weekly processes use: a flat record of ints, floats, booleans and NumPy
    arrays (per-category arrays are indexed by category ``k``), no nested objects.

    A scalar taken as it is from the scenario is named after its key path, dots as
    underscores (``attendance_intercept`` is ``attendance.intercept``), and keeps the
    scenario's Python type, so that the arithmetic is the one on the scenario's values.

    >>> from streetlevel.scenario.loading import load_scenario
    >>> s = load_scenario("municipality-a")
    >>> c = Coefficients.from_scenario(s)
    >>> c.attendance_intercept == s.attendance.intercept.value, c.exit_rates.shape[1]
    (True, 3)
    """

    weeks_per_year: int
    burn_in_years: int
    """Years simulated before the first reporting year (pressure may wait for them)."""
    stock_share: F64
    inflow_share: F64
    outflow_per_stock: F64
    """Per category, 1 / mean spell length in weeks: a stock share times it is the share's
    weekly outflow, which inflow must replace."""
    by_attributes: int
    """The category that takes every client under 30 without an education (the 2014 reform's
    education-ready group), or -1 where none is in force."""
    receives_offers: npt.NDArray[np.bool_]
    attendance_register: npt.NDArray[np.bool_]
    """Per category, whether its offers' attendance registers may go to the benefit office."""
    separate_benefit_office: bool
    activation_degree: F64
    problems_share: F64
    absence: F64
    exit_rates: F64
    """(categories x 3) weekly hazards to work, other support and unknown."""
    exit_rates_by_years: F64
    """(3 x categories * (decay years + 1)): each destination's weekly hazard for a category
    after so many whole years on benefit, the rates times the duration factor, at index
    ``category * (decay years + 1) + min(years, decay years)`` (looked up per client)."""
    offer_start: F64
    """Weekly chance that a client without an offer gets one (0: never)."""
    offer_end: float
    exit_hazard_bound: float
    """An upper bound of any client's total weekly exit hazard, sanction effects included:
    where this week's uniform is below ``1 - bound``, no one leaves (exits.leave)."""
    clients_age_under_30: float
    clients_age_50_plus: float
    clients_male: float
    clients_low_education: float
    clients_minority: float
    attendance_intercept: float
    attendance_problems: float
    attendance_age_under_30: float
    attendance_age_50_plus: float
    attendance_male: float
    attendance_low_education: float
    attendance_motivation: float
    attendance_perceived_risk: float
    attendance_repeat_reduction: float
    meetings_interval: int
    legitimate_reason_intercept: float
    legitimate_reason_problems: float
    legitimate_reason_documented: float
    decision_caseworker_intercept: float
    decision_caseworker_management_strictness: float
    decision_caseworker_caseworker_strictness: float
    decision_caseworker_problems: float
    decision_caseworker_overloaded: float
    decision_caseworker_first_breach: float
    decision_benefit_office_intercept: float
    decision_benefit_office_management_strictness: float
    legislation_periodical: bool
    """Whether a sanction stops the benefit until re-compliance (``legislation.sanction_type =
    "periodical"``) rather than deducting ``deduction_weeks`` of benefit."""
    legislation_benefit: float
    legislation_deduction_weeks: int
    legislation_individual_assessment: bool
    sanctions_recompliance: float
    exits_duration_decay: float
    exits_duration_decay_years: int
    exits_post_effect: float
    exits_post_effect_weeks: int
    exits_unknown_while_sanctioned: float
    placement_work_effect: float
    """Relative rise of the exit-to-work hazard after an approved job placement (0 without
    ``placements.work_effect``)."""
    placement_work_effect_weeks: int
    pressure_ranking_published: bool
    pressure_during_burn_in: bool
    pressure_relaxation: float
    pressure_signal: float

    @classmethod
    def from_scenario(cls, s: Scenario) -> Coefficients:
        cats = s.categories
        members = [c.members.value if c.members is not None else "by_share" for c in cats]
        # Only categories drawn by share take clients by share (the schema checks that the
        # others have none).
        stock = np.array([c.stock_share.value for c in cats])
        rates = np.array(
            [[c.exit_work.value, c.exit_other.value, c.exit_unknown.value] for c in cats]
        )
        # In a steady state a category's stock is its inflow times its mean spell length, so the
        # inflow mix that keeps the scenario's stock shares is stock share / mean spell length.
        wpy = s.time.weeks_per_year.value
        mean_weeks = np.array(
            [spell_survival(h, s.exits, wpy).expected_weeks if h > 0 else np.inf
             for h in rates.sum(axis=1)]
        )  # fmt: skip
        outflow = stock / mean_weeks
        inflow = outflow / outflow.sum() if outflow.sum() > 0 else stock
        activation = np.array([c.activation_degree.value for c in cats])
        offers = np.array([c.receives_offers.value for c in cats])
        duration = float(s.offers.mean_duration.value)
        # Offers alternate with gaps. A gap is a geometric wait G >= 1 (mean 1/p), of which
        # G - 1 weeks are without an offer; the share of weeks with an offer is then
        # D / (D + 1/p - 1), which equals the activation degree a when p = a / (a + D (1 - a)).
        start = np.where(offers, activation / (activation + duration * (1 - activation)), 0.0)
        a, lr, law = s.attendance, s.legitimate_reason, s.legislation
        cw, office, e = s.decision.caseworker, s.decision.benefit_office, s.exits
        p = s.placements
        work_effect = 0.0 if p is None or p.work_effect is None else p.work_effect.value
        effect_weeks = 0 if p is None or p.work_effect_weeks is None else p.work_effect_weeks.value
        return cls(
            weeks_per_year=wpy,
            burn_in_years=s.time.burn_in_years.value,
            stock_share=stock,
            inflow_share=inflow,
            outflow_per_stock=1.0 / mean_weeks,
            by_attributes=(
                members.index("under_30_low_education")
                if "under_30_low_education" in members
                else -1
            ),
            receives_offers=offers,
            attendance_register=np.array(
                [c.attendance_register is None or c.attendance_register.value for c in cats]
            ),
            separate_benefit_office=(
                law.separate_benefit_office is None or law.separate_benefit_office.value
            ),
            activation_degree=np.where(offers, activation, 0.0),
            problems_share=np.array([c.problems.value for c in cats]),
            absence=np.array([c.absence.value for c in cats]),
            exit_rates=rates,
            exit_rates_by_years=_rates_by_years(e, rates),
            offer_start=start,
            offer_end=1.0 / duration,
            exit_hazard_bound=_exit_hazard_bound(e, rates, work_effect),
            clients_age_under_30=s.clients.age_under_30.value,
            clients_age_50_plus=s.clients.age_50_plus.value,
            clients_male=s.clients.male.value,
            clients_low_education=s.clients.low_education.value,
            clients_minority=s.clients.minority.value,
            attendance_intercept=a.intercept.value,
            attendance_problems=a.problems.value,
            attendance_age_under_30=a.age_under_30.value,
            attendance_age_50_plus=a.age_50_plus.value,
            attendance_male=a.male.value,
            attendance_low_education=a.low_education.value,
            attendance_motivation=a.motivation.value,
            attendance_perceived_risk=a.perceived_risk.value,
            attendance_repeat_reduction=a.repeat_reduction.value,
            meetings_interval=s.meetings.interval.value,
            legitimate_reason_intercept=lr.intercept.value,
            legitimate_reason_problems=lr.problems.value,
            legitimate_reason_documented=lr.documented.value,
            decision_caseworker_intercept=cw.intercept.value,
            decision_caseworker_management_strictness=cw.management_strictness.value,
            decision_caseworker_caseworker_strictness=strictness_weight(s),
            decision_caseworker_problems=cw.problems.value,
            decision_caseworker_overloaded=cw.overloaded.value,
            decision_caseworker_first_breach=cw.first_breach.value,
            decision_benefit_office_intercept=office.intercept.value,
            decision_benefit_office_management_strictness=office.management_strictness.value,
            legislation_periodical=law.sanction_type.value == "periodical",
            legislation_benefit=law.benefit.value,
            legislation_deduction_weeks=law.deduction_weeks.value,
            legislation_individual_assessment=law.individual_assessment.value,
            sanctions_recompliance=s.sanctions.recompliance.value,
            exits_duration_decay=e.duration_decay.value,
            exits_duration_decay_years=e.duration_decay_years.value,
            exits_post_effect=e.post_effect.value,
            exits_post_effect_weeks=e.post_effect_weeks.value,
            exits_unknown_while_sanctioned=e.unknown_while_sanctioned.value,
            placement_work_effect=work_effect,
            placement_work_effect_weeks=effect_weeks,
            pressure_ranking_published=s.pressure.ranking_published.value,
            pressure_during_burn_in=s.pressure.during_burn_in.value,
            pressure_relaxation=_or_zero(s.pressure.relaxation),
            pressure_signal=_or_zero(s.pressure.signal),
        )


def _or_zero(param: YearlyRate | YearlyChange | None) -> float:
    """An optional parameter's value, 0 where the scenario leaves it out."""
    return 0.0 if param is None else float(param.value)


def _rates_by_years(e: Exits, rates: F64) -> F64:
    """The exit rates after 0, 1, ..., ``duration_decay_years`` whole years on benefit, one
    contiguous row per destination: the same products as a client's rates times its factor."""
    factor = duration_factor(e, np.arange(e.duration_decay_years.value + 1))
    by_years = rates[:, None, :] * factor[None, :, None]  # category x years x destination
    return np.ascontiguousarray(by_years.reshape(-1, rates.shape[1]).T)


def _exit_hazard_bound(e: Exits, rates: F64, work_effect: float = 0.0) -> float:
    """The largest duration factor, the full post-sanction boost (times the boost of an
    approved placement) and the sanctioned client's unknown-exit multiplier, each clipped as
    exits.hazards clips; a relative margin covers rounding, so ``u < 1 - bound`` implies
    ``u < 1 - total`` for every client."""
    years = np.arange(e.duration_decay_years.value + 1)
    factor = float(duration_factor(e, years).max())
    boost = np.array(
        [
            max(1.0, 1.0 + e.post_effect.value) * (1.0 + work_effect),
            1.0,
            max(1.0, e.unknown_while_sanctioned.value),
        ]
    )
    h = np.clip(rates * factor * boost, 0.0, 1.0).sum(axis=1) if len(rates) else np.zeros(1)
    return min(1.0, float(h.max()) * (1.0 + 1e-9) + 1e-12)
