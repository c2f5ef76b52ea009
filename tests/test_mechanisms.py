"""Before calibration, the mechanisms of docs/model.md must already point the right way.

Each test compares two small runs that differ in one lever, with the same seed, and asks for
a difference larger than four standard errors of the measured shares.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from streetlevel.output.run import run_scenario
from streetlevel.scenario.schema import Scenario
from tests.conftest import small

Z = 4.0


def rate_and_n(out: Path) -> tuple[float, float]:
    my = pq.read_table(out / "municipality_years.parquet").to_pandas()
    return my["sanctioned"].sum() / my["recipients"].sum(), my["recipients"].sum()


def rate_of(rows: pd.DataFrame) -> tuple[float, float]:
    n = float(rows["recipients"].sum())
    return float(rows["sanctioned"].sum()) / n, n


def clearly_greater(a: tuple[float, float], b: tuple[float, float]) -> bool:
    (p1, n1), (p2, n2) = a, b
    se = np.sqrt(p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2)
    return p1 - p2 > Z * se


def run(tmp_path: Path, name: str, scenario: Scenario, replications: int = 3) -> Path:
    return run_scenario(scenario, seed=3, replications=replications, out=tmp_path / name).out


def test_figure_2_with_a_strict_norm_sanctions_more_than_figure_1(tmp_path: Path) -> None:
    def municipality(route: str, strictness: float) -> Scenario:
        return small(
            "municipality-a",
            scale=1.0,
            time__reporting_years=2,
            **{
                "municipalities[0]__absence_route": route,
                "municipalities[0]__management_strictness": strictness,
            },
        )

    figure_2 = rate_and_n(run(tmp_path, "fig2", municipality("benefit_office", 1.0)))
    figure_1 = rate_and_n(run(tmp_path, "fig1", municipality("caseworker", 0.15)))
    assert clearly_greater(figure_2, figure_1)
    # The route alone matters too: same norm, register straight to the office.
    office = rate_and_n(run(tmp_path, "office", municipality("benefit_office", 0.15)))
    assert clearly_greater(office, figure_1)


def test_more_pressure_raises_sanction_rates_over_the_years(tmp_path: Path) -> None:
    def country(response: float) -> Scenario:
        return small(
            "denmark-2011",
            scale=0.1,
            time__burn_in_years=1,
            time__reporting_years=4,
            synthetic__pressure_response=response,
            **{
                "municipalities[0]__pressure_response": response,
                "municipalities[1]__pressure_response": response,
            },
        )

    none = run(tmp_path, "none", country(0.0), replications=2)
    strong = run(tmp_path, "strong", country(3.0), replications=2)
    my_none = pq.read_table(none / "municipality_years.parquet").to_pandas()
    my_strong = pq.read_table(strong / "municipality_years.parquet").to_pandas()
    # Without pressure strictness stays put; with it, it climbs year after year.
    s_none = my_none.groupby("year")["management_strictness"].mean()
    s_strong = my_strong.groupby("year")["management_strictness"].mean()
    assert np.allclose(s_none.to_numpy(), s_none.iloc[0])
    assert (np.diff(s_strong.to_numpy()) > 0).all()
    last = my_none["year"].max()
    final_none = my_none[my_none.year == last]
    final_strong = my_strong[my_strong.year == last]
    assert clearly_greater(rate_of(final_strong), rate_of(final_none))


def test_a_sanction_raises_the_exit_hazard(tmp_path: Path) -> None:
    def scenario(post_effect: float) -> Scenario:
        return small(
            "municipality-a", scale=1.0, time__reporting_years=3, exits__post_effect=post_effect
        )

    def work_exits_after_sanction(out: Path) -> tuple[float, float]:
        """Share of sanctions followed by an exit to work within post_effect_weeks."""
        ev = pq.read_table(out / "events.parquet").to_pandas()
        ev["t"] = ev["year"].astype(int) * 52 + ev["week"].astype(int)
        sanctions = ev[ev.event == "sanction"][["replication", "client_id", "t"]]
        work = ev[(ev.event == "exit") & (ev.destination == "work")][
            ["replication", "client_id", "t"]
        ]
        merged = sanctions.merge(work, on=["replication", "client_id"], suffixes=("", "_exit"))
        soon = merged[(merged.t_exit >= merged.t) & (merged.t_exit < merged.t + 13)]
        followed = soon.drop_duplicates(["replication", "client_id", "t"])
        return len(followed) / len(sanctions), float(len(sanctions))

    with_effect = work_exits_after_sanction(run(tmp_path, "effect", scenario(1.0), 4))
    without = work_exits_after_sanction(run(tmp_path, "none", scenario(0.0), 4))
    assert clearly_greater(with_effect, without)
