"""The gap attributable to overruling: how much of the minority-majority gap in exits to work
comes from caseworkers overruling job-placement proposals (docs/model.md 7.13).

A run of a scenario with ``[placements]`` reports the minority's exit rate to work minus the
majority's (``exit_work_rate_gap``). The same seed with every proposal approved
(``placements.approve_all``: the same draws, no overrule) gives the gap without overruling;
their difference is the gap attributable to overruling (``exit_work_gap_from_overruling``).
Replication r of both runs draws from the same streams, so the difference is taken per
replication: the noise the two share cancels.

>>> from streetlevel.scenario.loading import load_scenario
>>> counterfactual(load_scenario("norway-2010")).placements.approve_all.value
True
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow.parquet as pq

from streetlevel.errors import StreetlevelError
from streetlevel.output.run import run_in_memory
from streetlevel.output.summary import complete_manifest, interval, replication_indicators
from streetlevel.scenario.loading import load_scenario, scenario_from_dict
from streetlevel.scenario.schema import Scenario

__all__ = [
    "APPROVE_ALL",
    "COMPARED",
    "GAP",
    "OverrulingGap",
    "counterfactual",
    "gap_by_levers",
    "overruling_gap",
    "overruling_in_memory",
    "overruling_of_runs",
]

APPROVE_ALL = "placements.approve_all"
"""The key path of the counterfactual lever."""
GAP = "exit_work_gap_from_overruling"
"""The catalogue's name of the gap attributable to overruling."""
COMPARED = (
    "placement_approval_rate_minority",
    "placement_approval_rate_majority",
    "exit_work_rate_minority",
    "exit_work_rate_majority",
    "exit_work_rate_gap",
)
"""The indicators shown for the run and its counterfactual side by side."""

F64 = npt.NDArray[np.float64]


@dataclass(frozen=True)
class OverrulingGap:
    """A run and its counterfactual (every proposal approved), per replication.

    ``factual`` and ``approved`` map each of :data:`COMPARED` to its values per replication;
    ``difference`` is the gap attributable to overruling per replication.
    """

    scenario: str
    seed: int
    factual: dict[str, F64]
    approved: dict[str, F64]

    @property
    def difference(self) -> F64:
        """``exit_work_rate_gap`` of the run minus that of the counterfactual, per replication."""
        return self.factual["exit_work_rate_gap"] - self.approved["exit_work_rate_gap"]

    @property
    def replications(self) -> int:
        return len(self.difference)

    def estimate(self) -> tuple[float, float, float, float]:
        """The mean difference, its standard error (of the mean over replications) and the
        spread of replications (2.5th and 97.5th percentiles: where one replication's
        difference falls)."""
        d = self.difference[~np.isnan(self.difference)]
        se = float(d.std(ddof=1) / np.sqrt(len(d))) if len(d) > 1 else float("nan")
        mean, low, high = interval(d)
        return mean, se, low, high

    def to_dict(self) -> dict[str, Any]:
        """Plain numbers (JSON): per indicator the mean of each run, and the gap."""
        mean, se, low, high = self.estimate()

        def plain(x: float) -> float | None:
            return None if np.isnan(x) else float(x)

        return {
            "scenario": self.scenario,
            "seed": self.seed,
            "replications": self.replications,
            "indicators": {
                name: {
                    "run": plain(_mean(self.factual[name])),
                    "approve_all": plain(_mean(self.approved[name])),
                }
                for name in COMPARED
            },
            GAP: {"mean": plain(mean), "se": plain(se), "low": plain(low), "high": plain(high)},
        }


def counterfactual(scenario: Scenario) -> Scenario:
    """``scenario`` with every placement proposal approved (``placements.approve_all``).

    Raises:
        StreetlevelError: the scenario has no ``[placements]``: nothing is overruled.
    """
    if scenario.placements is None:
        raise StreetlevelError(
            f"{scenario.scenario.name}: no [placements]: there are no proposals to approve "
            "(the gap attributable to overruling needs a scenario such as norway-2010)"
        )
    data = scenario.model_dump(mode="json", exclude_none=True)
    data["placements"]["approve_all"] = {
        "value": True,
        "unit": "flag",
        "source": "counterfactual: every proposal approved",
    }
    return scenario_from_dict(data, "counterfactual")


def overruling_gap(
    scenario: Scenario,
    seed: int,
    factual: dict[str, Any],
    approved: dict[str, Any],
) -> OverrulingGap:
    """The gap from each run's indicators per replication (``{name: values}``, as
    :func:`streetlevel.output.run.run_in_memory` returns them or an experiment stores them).

    Raises:
        StreetlevelError: a run lacks the minority and majority indicators (no placements),
            or the two have different numbers of replications.
    """
    for which, run in (("the run", factual), ("the counterfactual", approved)):
        missing = [name for name in COMPARED if name not in run]
        if missing:
            raise StreetlevelError(
                f"{which} has no {', '.join(missing)}: not a scenario with [placements]"
            )
    n = {len(factual[COMPARED[0]]), len(approved[COMPARED[0]])}
    if len(n) > 1:
        raise StreetlevelError(
            f"the run and the counterfactual have different replications ({sorted(n)})"
        )
    return OverrulingGap(
        scenario.scenario.name,
        seed,
        {name: np.asarray(factual[name], dtype=np.float64) for name in COMPARED},
        {name: np.asarray(approved[name], dtype=np.float64) for name in COMPARED},
    )


def overruling_in_memory(scenario: Scenario, seed: int, replications: int) -> OverrulingGap:
    """Run ``scenario`` and its counterfactual (every proposal approved) in memory, with the
    same seed and replications, and compare them."""
    factual = run_in_memory(scenario, seed, replications)
    approved = run_in_memory(counterfactual(scenario), seed, replications)
    return overruling_gap(scenario, seed, factual, approved)


def overruling_of_runs(run: Path | str, approved: Path | str) -> OverrulingGap:
    """Compare two complete run directories: ``run`` and ``approved``, the same scenario and
    seed with ``placements.approve_all`` true (``streetlevel run ... --approve-all``).

    Raises:
        StreetlevelError: a run that did not complete, or two runs that are not such a pair
            (another scenario, seed or number of replications; the counterfactual not the
            one with every proposal approved), named by their directories.
    """
    run, approved = Path(run), Path(approved)
    manifests = [complete_manifest(run), complete_manifest(approved)]
    scenarios = [load_scenario(run / "scenario.toml"), load_scenario(approved / "scenario.toml")]
    flags = [_approves_all(s) for s in scenarios]
    if flags != [False, True]:
        raise StreetlevelError(
            f"{run}, {approved}: expected a run and the same scenario with every proposal "
            f"approved (placements.approve_all false, then true), got {flags}"
        )
    for key in ("seed", "replications"):
        if manifests[0][key] != manifests[1][key]:
            raise StreetlevelError(
                f"{run}, {approved}: the runs differ in {key} ({manifests[0][key]} and "
                f"{manifests[1][key]}); run the counterfactual with the same --seed and "
                "--replications"
            )
    if _without_lever(scenarios[0]) != _without_lever(scenarios[1]):
        raise StreetlevelError(
            f"{run}, {approved}: the scenarios differ in more than placements.approve_all"
        )
    tables = [pq.read_table(d / "municipality_years.parquet").to_pandas() for d in (run, approved)]
    indicators = [
        {name: values for name, values, _ in replication_indicators(table, scenario)}
        for table, scenario in zip(tables, scenarios, strict=True)
    ]
    return overruling_gap(scenarios[0], int(manifests[0]["seed"]), *indicators)


def gap_by_levers(
    results: pd.DataFrame, levers: list[str], lever: str = "approve_all"
) -> pd.DataFrame:
    """The gap attributable to overruling at each combination of ``levers``, from an
    experiment's results (:func:`streetlevel.experiments.read_results`) in which ``lever``
    switches ``placements.approve_all`` and every point runs on the same random streams
    (the shipped ``overruling-gap.toml``).

    Replication r with and without overruling are paired. Returns one row per combination:
    the levers, ``exit_work_rate_gap`` with overruling (``gap_run``) and with every proposal
    approved (``gap_approve_all``), the mean paired difference :data:`GAP`, its standard error
    ``se`` and the pairs ``n``.

    Raises:
        StreetlevelError: a column is missing, or a combination lacks one side.
    """
    missing = [c for c in (*levers, lever, "replication", "exit_work_rate_gap") if c not in results]
    if missing:
        raise StreetlevelError(f"the results have no column {', '.join(missing)}")
    approved = results[lever].astype(bool)
    keys = [*levers, "replication"]
    pairs = results.loc[~approved, [*keys, "exit_work_rate_gap"]].merge(
        results.loc[approved, [*keys, "exit_work_rate_gap"]],
        on=keys,
        suffixes=("_run", "_approve_all"),
        validate="one_to_one",
    )
    if len(pairs) * 2 != len(results):
        raise StreetlevelError(
            f"not every point of the results has its pair with {lever} switched, replication "
            "by replication (run the experiment to the end)"
        )
    pairs[GAP] = pairs["exit_work_rate_gap_run"] - pairs["exit_work_rate_gap_approve_all"]
    grouped = pairs.groupby(levers, sort=True) if levers else pairs.groupby(lambda _: 0)
    out = grouped.agg(
        gap_run=("exit_work_rate_gap_run", "mean"),
        gap_approve_all=("exit_work_rate_gap_approve_all", "mean"),
        **{GAP: (GAP, "mean")},
        se=(GAP, lambda d: d.std(ddof=1) / np.sqrt(len(d)) if len(d) > 1 else np.nan),
        n=(GAP, "size"),
    )
    return out.reset_index(drop=not levers)


def _approves_all(scenario: Scenario) -> bool | None:
    p = scenario.placements
    if p is None:
        return None
    return p.approve_all is not None and p.approve_all.value


def _without_lever(scenario: Scenario) -> dict[str, Any]:
    data = scenario.model_dump(mode="json", exclude_none=True)
    data.get("placements", {}).pop("approve_all", None)
    return data


def _mean(values: F64) -> float:
    v = values[~np.isnan(values)]
    return float(v.mean()) if len(v) else float("nan")
