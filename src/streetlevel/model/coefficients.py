"""The scenario's numbers as the arrays that the weekly processes index.

Derived once per run, so the hot path never walks the pydantic tree. Every number here comes
from the scenario; the few derivations (inflow shares, offer waiting times) are explained where
they are made.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from streetlevel.scenario.schema import Exits, Scenario

__all__ = ["Coefficients", "SpellSurvival", "duration_factor", "logistic", "spell_survival"]

F64 = npt.NDArray[np.float64]


def logistic(x: npt.ArrayLike) -> F64:
    """The logistic function, as float64."""
    return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=np.float64)))


def duration_factor(e: Exits, years_on: npt.ArrayLike) -> F64:
    """Multiplier of the exit hazards after ``years_on`` whole years on benefit."""
    last = e.duration_decay_years.value
    years = np.minimum(years_on, last)
    if np.ndim(years) == 0 or years.min() < 0:
        return np.asarray((1.0 - e.duration_decay.value) ** years, dtype=np.float64)
    # A lookup of the few distinct powers, the same numbers as a power per client (profiled:
    # the power was a third of the exit hazards' time).
    table = np.asarray((1.0 - e.duration_decay.value) ** np.arange(last + 1), dtype=np.float64)
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
    head_weeks = e.duration_decay_years.value * weeks_per_year
    d = np.arange(head_weeks + 1)
    h = base_hazard * duration_factor(e, d // weeks_per_year)
    survival = np.concatenate([[1.0], np.cumprod(1.0 - h[:-1])])
    return SpellSurvival(survival[:head_weeks], float(survival[head_weeks]), float(h[head_weeks]))


@dataclass(frozen=True)
class Coefficients:
    """Per-category arrays (index ``k``) and scalar coefficients of the submodels."""

    weeks_per_year: int
    category_names: list[str]
    stock_share: F64
    inflow_share: F64
    receives_offers: npt.NDArray[np.bool_]
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

    @classmethod
    def from_scenario(cls, s: Scenario) -> Coefficients:
        cats = s.categories
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
        return cls(
            weeks_per_year=s.time.weeks_per_year.value,
            category_names=[c.name for c in cats],
            stock_share=stock,
            inflow_share=inflow,
            receives_offers=offers,
            activation_degree=np.where(offers, activation, 0.0),
            problems_share=np.array([c.problems.value for c in cats]),
            absence=np.array([c.absence.value for c in cats]),
            exit_rates=rates,
            exit_rates_by_years=_rates_by_years(s.exits, rates),
            offer_start=start,
            offer_end=1.0 / duration,
            exit_hazard_bound=_exit_hazard_bound(s.exits, rates),
        )


def _rates_by_years(e: Exits, rates: F64) -> F64:
    """The exit rates after 0, 1, ..., ``duration_decay_years`` whole years on benefit, one
    contiguous row per destination: the same products as a client's rates times its factor."""
    factor = duration_factor(e, np.arange(e.duration_decay_years.value + 1))
    by_years = rates[:, None, :] * factor[None, :, None]  # category x years x destination
    return np.ascontiguousarray(by_years.reshape(-1, rates.shape[1]).T)


def _exit_hazard_bound(e: Exits, rates: F64) -> float:
    """The largest duration factor, the full post-sanction boost and the sanctioned client's
    unknown-exit multiplier, each clipped as exits.hazards clips; a relative margin covers
    rounding, so ``u < 1 - bound`` implies ``u < 1 - total`` for every client."""
    years = np.arange(e.duration_decay_years.value + 1)
    factor = float(duration_factor(e, years).max())
    boost = np.array(
        [max(1.0, 1.0 + e.post_effect.value), 1.0, max(1.0, e.unknown_while_sanctioned.value)]
    )
    h = np.clip(rates * factor * boost, 0.0, 1.0).sum(axis=1) if len(rates) else np.zeros(1)
    return min(1.0, float(h.max()) * (1.0 + 1e-9) + 1e-12)
