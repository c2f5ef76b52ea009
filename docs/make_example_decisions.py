"""Regenerate ``src/streetlevel/data/example-decisions.csv``: decision data in the documented
schema (docs/benchmarking.md), as a user would export it from a real register.

It is drawn from a small simulated run: ``denmark-2011`` at one simulated client per ten
recipients, one reporting year, seed 2011, keeping the municipalities of one region
(Syddanmark, which holds CHM's Municipality A) and the columns a register would have (no
replication, no client id). Run from the repository root:

    python docs/make_example_decisions.py
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pandas as pd
from streetlevel.records import write_text_atomic

from streetlevel.output.run import run_scenario
from streetlevel.scenario.loading import load_scenario, with_values

SEED = 2011
CLIENT_SCALE = 0.1
REGION = "Syddanmark"
COLUMNS = [
    "municipality", "region", "year", "category", "age_group", "sex", "education",
    "minority", "weeks_on_benefit", "weeks_in_year", "sanctions", "weeks_sanctioned", "exit",
]  # fmt: skip
TARGET = Path(__file__).resolve().parents[1] / "src/streetlevel/data/example-decisions.csv"


def main() -> None:
    scenario = with_values(
        load_scenario("denmark-2011"),
        {"scale.client_scale": CLIENT_SCALE, "time.reporting_years": 1},
        "example",
    )
    with tempfile.TemporaryDirectory() as tmp:
        run_scenario(scenario, seed=SEED, replications=1, out=Path(tmp) / "run")
        rows = pd.read_parquet(Path(tmp) / "run" / "client_years.parquet")
    rows = rows[rows["region"] == REGION][COLUMNS]
    rows = rows.sort_values(["municipality", "category", "age_group"], kind="stable")
    rows["minority"] = rows["minority"].map({True: "true", False: "false"})
    write_text_atomic(rows.to_csv(index=False), TARGET)
    print(f"{TARGET}: {len(rows)} rows, {rows['municipality'].nunique()} municipalities")


if __name__ == "__main__":
    main()
