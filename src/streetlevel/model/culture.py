"""Office culture: the municipal component of caseworker strictness, and the rule that sets
how strongly strictness weighs in the sanction decision (docs/model.md 7.8).

A caseworker's latent strictness is the office's culture plus their own disposition,

    S_i = sqrt(rho) * C_m + sqrt(1 - rho) * F_i,
    C_m = lambda * z(ms_m) + sqrt(1 - lambda^2) * E_m,

with ``rho = caseworkers.culture_share`` the share of its variance that belongs to the office,
``lambda = caseworkers.culture_management`` how far management shapes that culture, ``E_m`` the
rest of the office's culture (standard normal, drawn once per country: it is organisation, the
same in every replication) and ``F_i`` the caseworker's own factor (standard normal, drawn per
replication: :mod:`streetlevel.model.attitudes`). ``z(ms)`` is management strictness as a
normal score: the standard-normal quantile of its place in the country's distribution of
management strictness (the ``[synthetic]`` Beta distribution; a Gaussian copula), so that
``C_m`` and ``S_i`` stay standard normal across the country whatever that distribution's
shape. CHM's caseworker in Municipality A: "I have to understand what the norm is here. For
instance, I wouldn't sanction everybody, if the general attitude was against sanctions." The
culture is shaped by the management the country starts with and then stays: a culture
changes more slowly than the yearly moves of pressure, which act through the management term
of the decision.

**The highest-priority rule.** Jørgensen et al. (2014, cited by CHM): "only 13 per cent of the
caseworkers across the Danish municipalities gave highest priority to 'using economic
sanctions when clients fail to appear at meetings in the jobcentre'". A caseworker is read as
giving sanctions highest priority when, deciding alone — on the caseworker route, under no
management norm, on a repeat breach of a client with no problems besides unemployment, not
overloaded — they would sanction more often than not: ``intercept + b * S_i > 0``. Latent
strictness is standard normal across the country's caseworkers, so the share is
``1 - Phi(-intercept / b)`` and the rule gives ``b = -intercept / Phi^-1(1 - share)``: the
weight of strictness in the decision is then no free spread but follows from the intercept and
the published share.

>>> from streetlevel.scenario.loading import load_scenario
>>> round(strictness_weight(load_scenario("denmark-2011")) / -load_scenario(
...     "denmark-2011").decision.caseworker.intercept.value, 4)   # 1 / Phi^-1(0.87)
0.8878
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

# scipy.special, not scipy.stats: the Beta distribution's CDF is the regularised incomplete
# beta function, and scipy.stats costs every process (the run's workers too) 0.4 s to import.
from scipy.special import betainc, ndtri

from streetlevel.errors import ScenarioError
from streetlevel.model.country import Country
from streetlevel.model.streams import Stream
from streetlevel.scenario.schema import Caseworkers, Scenario

__all__ = ["OfficeCulture", "individual_scale", "office_culture", "strictness_weight"]

F64 = npt.NDArray[np.float64]
QUANTILE_LIMIT = 0.005
"""Management strictness beyond the country's 0.5th or 99.5th percentile is placed there
(normal score at most 2.58 either way): a norm as far out as Municipality A's HAVE TO, which
lies beyond the support of the country's distribution, is the top of the country, not an
infinitely strict culture."""


@dataclass(frozen=True)
class OfficeCulture:
    """How each office's culture follows its management, in the decision's units
    (``strictness_sd`` times the latent scale).

    Attributes:
        noise: (M,) each office's own culture ``E_m``.
        scale: ``sd * sqrt(rho)``, what ``C_m`` is scaled by.
        management: ``lambda``.
        centre: mean of management strictness in the country's distribution.
        concentration: its Beta concentration; 0 where the scenario has no distribution, and
            management then has no measurable place (``z = 0``).
    """

    noise: F64
    scale: float
    management: float
    centre: float
    concentration: float

    def at(self, strictness: npt.ArrayLike) -> F64:
        """The culture at management strictness ``strictness`` (any shape ending in M)."""
        ms = np.asarray(strictness, dtype=np.float64)
        z = np.zeros_like(ms)
        if self.concentration > 0 and 0.0 < self.centre < 1.0:
            a = self.centre * self.concentration
            u = betainc(a, self.concentration - a, np.clip(ms, 0.0, 1.0))
            z = ndtri(np.clip(u, QUANTILE_LIMIT, 1.0 - QUANTILE_LIMIT))
        lam = self.management
        return np.asarray(self.scale * (lam * z + np.sqrt(1.0 - lam**2) * self.noise), np.float64)


def individual_scale(cw: Caseworkers) -> float:
    """``sd * sqrt(1 - rho)``: what a caseworker's own standard-normal factor is scaled by."""
    rho = cw.culture_share.value if cw.culture_share is not None else 0.0
    return float(cw.strictness_sd.value * np.sqrt(1.0 - rho))


def office_culture(scenario: Scenario, country: Country) -> OfficeCulture:
    """The country's office cultures."""
    cw = scenario.caseworkers
    rho = cw.culture_share.value if cw.culture_share is not None else 0.0
    lam = cw.culture_management.value if cw.culture_management is not None else 0.0
    listed = {m.name for m in scenario.municipalities}
    s = scenario.synthetic
    seed = s.seed.value if s is not None else 0
    # A listed municipality is a real one whose office culture nobody has measured: its own
    # part is taken at the country's median (0), so that only what is known of it, its
    # management, sets its culture; a drawn one gets a draw, as it gets a population.
    noise = np.array([0.0 if name in listed else _noise(name, seed) for name in country.names])
    return OfficeCulture(
        noise=noise.reshape(country.n_municipalities),
        scale=float(cw.strictness_sd.value * np.sqrt(rho)),
        management=float(lam),
        centre=s.management_strictness_mean.value if s is not None else 0.0,
        concentration=s.management_strictness_concentration.value if s is not None else 0.0,
    )


def strictness_weight(scenario: Scenario) -> float:
    """The weight of latent strictness in the caseworker's decision: the scenario's
    ``decision.caseworker.caseworker_strictness``, or the highest-priority rule's
    ``-intercept / (sd * Phi^-1(1 - share))`` where ``caseworkers.highest_priority_share`` is
    set."""
    given = scenario.decision.caseworker.caseworker_strictness
    if given is not None:
        return float(given.value)
    cw = scenario.caseworkers
    assert cw.highest_priority_share is not None  # the schema asks for one of the two
    threshold = cw.strictness_sd.value * float(ndtri(1.0 - cw.highest_priority_share.value))
    intercept = scenario.decision.caseworker.intercept.value
    if intercept >= 0 or threshold <= 0:
        raise ScenarioError(
            "decision.caseworker.intercept must be below 0, and caseworkers."
            "highest_priority_share below one half with strictness_sd above 0, for the "
            f"highest-priority rule (got intercept {intercept:g}, threshold {threshold:g}): the "
            "rule reads a caseworker who sanctions more often than not as giving sanctions "
            "highest priority, which needs most caseworkers not to"
        )
    return float(-intercept / threshold)


def _noise(name: str, seed: int) -> float:
    """A drawn office's own culture, keyed by its name and the synthetic seed: the same in
    every replication and whatever other municipalities the scenario lists."""
    key = zlib.crc32(name.encode("utf-8"))
    rng = np.random.default_rng(np.random.SeedSequence((seed, key), spawn_key=(Stream.CULTURE,)))
    return float(rng.standard_normal())
