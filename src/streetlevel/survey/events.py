"""The survey read from the engine: DK's question answered from a run's placement events.

:func:`engine_frame` runs the scenario's engine (:class:`streetlevel.model.engine.Simulation`)
at the real scale (``client_scale = 1``, so each caseworker has their real caseload) for the
survey window, "the past six months" (26 weeks, no burn-in: proposals need no history), keeps
its ``placement`` events in memory, and asks every caseworker with at least one minority
client's proposal in the window whether they overruled one at least once, and, if so, for
which of DK's reasons (the attributes of the proposals they overruled). The covariates are
those of the run's own caseworkers. ``n`` of them are sampled as the fast path samples
(:func:`streetlevel.survey.simulate.simulate_survey`), with the response lever as weights.

The fast path draws each caseworker's proposals as ``Poisson(rate x window x minority share x
caseload)``; the engine has them from its client slots (a caseworker's minority clients are a
binomial number around that mean, and exits and inflow change them week by week).
``tests/test_survey_system.py`` checks that the two give the same distribution of the overruled
share, the reason shares and DK's coefficients within sampling error, which is why the fast
path stays the default.

>>> from streetlevel.scenario.loading import load_scenario
>>> frame = engine_frame(load_scenario("norway-2010"), n=100, seed=1)
>>> len(frame), "reason_prospects" in frame
(100, True)
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from streetlevel.model.attitudes import published_survey
from streetlevel.model.codes import OUTCOMES
from streetlevel.model.engine import Simulation
from streetlevel.model.processes.placements import REASONS, caseworker_covariates
from streetlevel.model.streams import Stream, Streams
from streetlevel.scenario.loading import with_values
from streetlevel.scenario.schema import Scenario
from streetlevel.survey.fit import SurveyError
from streetlevel.survey.simulate import _frame, weights

__all__ = ["PlacementEvents", "engine_frame"]


class PlacementEvents:
    """A record sink that keeps the placement events of a run in memory and drops the rest."""

    def __init__(self) -> None:
        self.parts: dict[str, list[npt.NDArray[Any]]] = {
            k: [] for k in ("caseworker", "minority", "outcome", "reasons")
        }

    def events(self, kind: str, **columns: npt.ArrayLike | int) -> None:
        if kind != "placement":
            return
        for key, part in self.parts.items():
            part.append(np.asarray(columns[key]))

    def client_years(self, **columns: npt.ArrayLike | int) -> None:
        """Not needed by the survey."""

    def flush_year(self, municipality_year: dict[str, npt.NDArray[Any]]) -> None:
        """Not needed by the survey."""

    def column(self, key: str) -> npt.NDArray[Any]:
        part = self.parts[key]
        return np.concatenate(part) if part else np.zeros(0, dtype=np.int64)


def engine_frame(
    scenario: Scenario, *, n: int, seed: int, replication: int = 0, **_: Any
) -> pd.DataFrame:
    """A survey of ``n`` caseworkers answered from one engine run over the survey window."""
    window = published_survey().window_weeks
    real = with_values(
        scenario,
        {"scale.client_scale": 1.0, "time.burn_in_years": 0},
        "the survey's window at the real scale",
    )
    sink = PlacementEvents()
    sim = Simulation(real, seed, [replication], recorder=sink)
    for _week in range(window):
        sim.step()
    cw = sink.column("caseworker").astype(np.int64)
    minority = sink.column("minority").astype(bool)
    over = sink.column("outcome") == OUTCOMES.index("overruled")
    reasons = sink.column("reasons").astype(np.int64)
    n_cw = sim.workforce.n_caseworkers
    proposals = np.bincount(cw[minority], minlength=n_cw)
    overruled = np.bincount(cw[minority & over], minlength=n_cw) > 0
    named = np.column_stack(
        [np.bincount(cw[minority & over & ((reasons >> k) & 1 == 1)], minlength=n_cw) > 0
         for k in range(len(REASONS))]
    )  # fmt: skip
    eligible = np.flatnonzero(proposals > 0)
    if len(eligible) < n:
        raise SurveyError(
            f"{scenario.scenario.name}: the engine's run has {len(eligible)} eligible "
            f"caseworkers, fewer than the {n} asked for (use the fast path for larger surveys)"
        )
    x = caseworker_covariates(real, sim.country, sim.workforce)[0]
    factor = sim.workforce.attitudes.factor[0]
    gen = Streams(seed, [replication]).child(Stream.SURVEY, 1).generators[0]
    p = weights(scenario, factor[eligible])
    chosen = np.sort(gen.choice(eligible, size=n, replace=False, p=p))
    answers = {k: v[0][chosen] for k, v in sim.workforce.attitudes.answers.items()}
    has_reasons = scenario.placements is not None and scenario.placements.reasons is not None
    return _frame(x[chosen], answers, overruled[chosen], named[chosen] if has_reasons else None)
