"""The scenario's numbers as the arrays that the weekly processes index.

Derived once per run, so the hot path never walks the pydantic tree. Every number here comes
from the scenario; the few derivations (inflow shares, offer waiting times) are explained where
they are made.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from streetlevel.scenario import Scenario

__all__ = ["Coefficients", "logistic"]

F64 = npt.NDArray[np.float64]


def logistic(x: npt.ArrayLike) -> F64:
    """The logistic function, as float64."""
    return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=np.float64)))


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
    offer_start: F64
    """Weekly chance that a client without an offer gets one (0: never)."""
    offer_end: float

    @classmethod
    def from_scenario(cls, s: Scenario) -> Coefficients:
        cats = s.categories
        stock = np.array([c.stock_share.value for c in cats])
        rates = np.array(
            [[c.exit_work.value, c.exit_other.value, c.exit_unknown.value] for c in cats]
        )
        # In a steady state each category's inflow equals its outflow, stock x exit hazard; so
        # the inflow mix that keeps the scenario's stock shares is proportional to that product.
        outflow = stock * rates.sum(axis=1)
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
            offer_start=start,
            offer_end=1.0 / duration,
        )
