"""Effect recovery: re-estimate the effect of a sanction on the exit-to-work hazard.

The check that the engine does what its parameters say. From a run's ``events`` and
``client_years`` it builds the person-weeks at risk of leaving benefit for work, and fits a
discrete-time proportional hazard model (Svarer 2011 estimates the same effect from Danish
register data with a duration model):

    P(exit to work in week w) = h0(category, years on benefit) x exp(beta x post(w)),

where ``post(w)`` marks the weeks after a sanction. It is a Poisson GLM with a log link on
person-weeks grouped into cells (exact for these covariates, and fast), with one baseline per
category x whole years on benefit: the engine's hazard is exactly such a baseline times the
sanction effect, so the model is well specified and the estimate should cover the input.

Two details of the engine shape the design:

- A week is classified by the sanctions *before* it. A sanction answers an absence in its own
  week, and in the engine an absent client does not also leave in that week (attendance and
  exits share one uniform draw); classifying a week by a sanction in it would select weeks on
  the draw that decides the exit. Classified by its past, every week's chance of an exit to
  work is exactly the baseline times the multiplier of the weeks since the last earlier
  sanction, whatever happens in it.
- The first ``post_effect_weeks`` of the first reporting year are left out for everyone: a
  sanction in the burn-in is not recorded, so those weeks cannot be classified.

The input the scenario put in is the exit multiplier ``1 + post_effect x (1 - k / K)`` in
week ``k`` after the sanction (``K = post_effect_weeks``); its average over the window,
weighted by the expected exits the fitted baseline gives each week, is what the pooled
estimate should recover.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import statsmodels.api as sm

from streetlevel.constants import Z95
from streetlevel.errors import StreetlevelError
from streetlevel.scenario.loading import load_scenario

__all__ = ["EffectEstimate", "PostSanctionEffect", "estimate_post_sanction_effect", "hazard_cells"]


@dataclass(frozen=True)
class EffectEstimate:
    """A relative change in the exit-to-work hazard (0.5 = up 50 %), with its 95 % CI,
    next to the change the scenario put in."""

    label: str
    estimate: float
    low: float
    high: float
    input: float

    @property
    def recovered(self) -> bool:
        return self.low <= self.input <= self.high


@dataclass(frozen=True)
class PostSanctionEffect:
    """The pooled effect over the window and its profile by weeks since the sanction."""

    pooled: EffectEstimate
    profile: list[EffectEstimate]
    person_weeks: int
    exits_to_work: int
    post_person_weeks: int
    post_exits_to_work: int
    window_weeks: int


def _read(run_dir: Path, name: str, columns: list[str]) -> pd.DataFrame:
    path = run_dir / f"{name}.parquet"
    if not path.exists():
        raise StreetlevelError(f"{run_dir}: no {name}.parquet (is it a complete run directory?)")
    table = pq.read_table(path, columns=columns)
    if "event" in columns:
        wanted = pa.array(["sanction", "exit"], type=pa.string())
        table = table.filter(pc.is_in(table["event"].cast(pa.string()), wanted))
    frame = table.to_pandas()
    for col in frame.columns:
        if isinstance(frame[col].dtype, pd.CategoricalDtype):
            frame[col] = frame[col].astype(str)
    return frame


def hazard_cells(run_dir: Path) -> tuple[pd.DataFrame, int, float]:
    """Person-weeks at risk and exits to work, grouped by category, whole years on benefit
    (capped where the hazard stops changing) and weeks since the last earlier sanction
    (``since``: 1 .. K-1 inside the window, -1 outside it).

    Returns the cells, the window K (``exits.post_effect_weeks``) and ``exits.post_effect``.
    """
    run_dir = Path(run_dir)
    scenario = load_scenario(run_dir / "scenario.toml")
    wpy = scenario.time.weeks_per_year.value
    window = scenario.exits.post_effect_weeks.value
    cap = scenario.exits.duration_decay_years.value
    cy = _read(
        run_dir,
        "client_years",
        [
            "replication",
            "year",
            "client_id",
            "category",
            "entered",
            "weeks_on_benefit",
            "weeks_in_year",
            "exit",
        ],
    )
    ev = _read(
        run_dir, "events", ["replication", "year", "week", "client_id", "event", "destination"]
    )
    if cy.empty:
        raise StreetlevelError(f"{run_dir}: the run has no client-years to estimate from")
    first_year = int(cy["year"].min())
    # Absolute weeks from the start of the first reporting year, 0-based.
    ev["w"] = (ev["year"].astype(np.int64) - first_year) * wpy + ev["week"].astype(np.int64) - 1
    exits = ev[ev["event"] == "exit"]
    exit_week = exits.set_index(["replication", "year", "client_id"])["w"]
    key = pd.MultiIndex.from_frame(cy[["replication", "year", "client_id"]])
    year0 = (cy["year"].astype(np.int64) - first_year) * wpy
    close = np.where(
        cy["exit"].isin(["work", "other", "unknown"]),
        exit_week.reindex(key).to_numpy(dtype=np.float64),
        year0 + wpy - 1,
    )
    if np.isnan(close).any():
        raise StreetlevelError(f"{run_dir}: an exit in client_years has no exit event")
    cy["close"] = close.astype(np.int64)
    cy["first"] = cy["close"] - cy["weeks_in_year"].astype(np.int64) + 1
    # Whole years on benefit as the engine counted them at the last year end (0 for those who
    # entered during the year): weeks before this year, less the week of the count itself.
    before = cy["weeks_on_benefit"].astype(np.int64) - cy["weeks_in_year"].astype(np.int64)
    years_on = np.where(cy["entered"], 0, np.maximum(before - 1, 0) // wpy)
    cy["years_on"] = np.minimum(years_on, cap)
    # Leave out the weeks whose sanction history is unseen (burn-in).
    cy["first"] = np.maximum(cy["first"], window)
    cy = cy[cy["first"] <= cy["close"]].assign(
        work=lambda f: f["exit"] == "work", person_weeks=lambda f: f["close"] - f["first"] + 1
    )
    totals = cy.groupby(["category", "years_on"]).agg(
        person_weeks=("person_weeks", "sum"), exits=("work", "sum")
    )

    # Weeks after each sanction (k = 1 .. K-1); the most recent earlier sanction counts.
    sanc = ev[ev["event"] == "sanction"][["replication", "client_id", "w"]]
    k = np.arange(1, window)
    post = pd.DataFrame(
        {
            "replication": np.repeat(sanc["replication"].to_numpy(), len(k)),
            "client_id": np.repeat(sanc["client_id"].to_numpy(), len(k)),
            "w": np.repeat(sanc["w"].to_numpy(), len(k)) + np.tile(k, len(sanc)),
            "since": np.tile(k, len(sanc)),
        }
    )
    post = post.groupby(["replication", "client_id", "w"], as_index=False)["since"].min()
    post["year"] = post["w"] // wpy + first_year
    spans = cy[
        ["replication", "year", "client_id", "first", "close", "category", "years_on", "work"]
    ]
    post = post.merge(spans, on=["replication", "year", "client_id"], how="inner")
    post = post[(post["w"] >= post["first"]) & (post["w"] <= post["close"])]
    post["exit"] = post["work"] & (post["w"] == post["close"])
    by = ["category", "years_on", "since"]
    in_window = post.groupby(by).agg(person_weeks=("w", "size"), exits=("exit", "sum"))
    inside = in_window.groupby(level=["category", "years_on"]).sum()
    outside = totals.sub(inside, fill_value=0).reset_index()
    outside["since"] = -1
    cells = pd.concat([outside, in_window.reset_index()], ignore_index=True)
    cells = cells[cells["person_weeks"] > 0]
    cells["person_weeks"] = cells["person_weeks"].astype(np.int64)
    cells["exits"] = cells["exits"].astype(np.int64)
    return cells, window, scenario.exits.post_effect.value


def _fit(
    cells: pd.DataFrame, treatment: pd.DataFrame
) -> sm.regression.linear_model.RegressionResults:
    baseline = pd.get_dummies(
        cells["category"].astype(str) + "|" + cells["years_on"].astype(str), dtype=np.float64
    )
    design = pd.concat([baseline, treatment], axis=1)
    model = sm.GLM(
        cells["exits"].to_numpy(dtype=np.float64),
        design.to_numpy(dtype=np.float64),
        family=sm.families.Poisson(),
        offset=np.log(cells["person_weeks"].to_numpy(dtype=np.float64)),
    )
    result = model.fit()
    result.design_names = list(design.columns)
    return result


def _effect(label: str, beta: float, se: float, input_ratio: float) -> EffectEstimate:
    return EffectEstimate(
        label=label,
        estimate=float(np.expm1(beta)),
        low=float(np.expm1(beta - Z95 * se)),
        high=float(np.expm1(beta + Z95 * se)),
        input=float(input_ratio - 1.0),
    )


def estimate_post_sanction_effect(run_dir: Path, profile_bins: int = 3) -> PostSanctionEffect:
    """Fit the hazard model to a run directory; the pooled effect over weeks 1 .. K-1 after a
    sanction, and the profile over ``profile_bins`` equal groups of those weeks."""
    run_dir = Path(run_dir)
    cells, window, post_effect = hazard_cells(run_dir)
    since = cells["since"].to_numpy()
    inside = since >= 1
    if cells.loc[inside, "exits"].sum() == 0:
        raise StreetlevelError(
            f"{run_dir}: no exits to work after a sanction to estimate the effect from "
            "(too few sanctions or replications)"
        )
    multiplier = np.where(inside, 1.0 + post_effect * (1.0 - since / window), 1.0)

    pooled_fit = _fit(cells, pd.DataFrame({"post": inside.astype(np.float64)}))
    beta = np.asarray(pooled_fit.params)
    se = np.asarray(pooled_fit.bse)
    # Expected exits without the effect, per cell: the fitted baseline x person-weeks.
    baseline_rate = np.exp(_linear_baseline(pooled_fit, cells))
    expected = baseline_rate * cells["person_weeks"].to_numpy(dtype=np.float64)

    def weighted_input(mask: npt.NDArray[np.bool_]) -> float:
        return float((expected[mask] * multiplier[mask]).sum() / expected[mask].sum())

    pooled = _effect(
        f"weeks 1-{window - 1} after a sanction", beta[-1], se[-1], weighted_input(inside)
    )

    edges = np.linspace(1, window, profile_bins + 1).round().astype(int)
    groups = np.full(len(cells), -1)
    for b in range(profile_bins):
        groups[(since >= edges[b]) & (since < edges[b + 1])] = b
    treatment = pd.DataFrame(
        {f"bin{b}": (groups == b).astype(np.float64) for b in range(profile_bins)}
    )
    profile_fit = _fit(cells, treatment)
    pb = np.asarray(profile_fit.params)[-profile_bins:]
    ps = np.asarray(profile_fit.bse)[-profile_bins:]
    profile = [
        _effect(f"weeks {edges[b]}-{edges[b + 1] - 1}", pb[b], ps[b], weighted_input(groups == b))
        for b in range(profile_bins)
    ]
    return PostSanctionEffect(
        pooled=pooled,
        profile=profile,
        person_weeks=int(cells["person_weeks"].sum()),
        exits_to_work=int(cells["exits"].sum()),
        post_person_weeks=int(cells.loc[inside, "person_weeks"].sum()),
        post_exits_to_work=int(cells.loc[inside, "exits"].sum()),
        window_weeks=window,
    )


def _linear_baseline(
    result: sm.regression.linear_model.RegressionResults, cells: pd.DataFrame
) -> npt.NDArray[np.float64]:
    """The fitted log baseline hazard of each cell (the treatment terms left out)."""
    names = result.design_names
    params = dict(zip(names, np.asarray(result.params), strict=True))
    key = cells["category"].astype(str) + "|" + cells["years_on"].astype(str)
    return np.asarray(key.map(params).to_numpy(dtype=np.float64), dtype=np.float64)
