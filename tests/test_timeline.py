"""Denmark 2006-2014 as one timeline: dated values take effect in their calendar year, the
2014 re-categorisation, presets resolved at a year, and the reforms as an isolated
counterfactual (issue 18)."""

from __future__ import annotations

import pickle
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from streetlevel.errors import ScenarioError
from streetlevel.model.codes import AGE_GROUPS, DECIDERS
from streetlevel.output.run import run_scenario
from streetlevel.scenario import inherit
from streetlevel.scenario.loading import load_scenario
from streetlevel.scenario.params import parameters
from tests.conftest import small

ROOT = Path(__file__).resolve().parents[1]
REFORM_LIST = re.compile(r"<!-- reform-keys -->(.*?)<!-- /reform-keys -->", re.S)


@pytest.fixture(scope="module")
def timeline(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("timeline") / "run"
    run_scenario(small("denmark-2006-2014", scale=0.05), seed=2, replications=1, out=out)
    return out


def _key(path: tuple[str | int, ...], names: list[str]) -> str:
    """A key path as docs/model.md writes it, a category by its name."""
    parts: list[str] = []
    for i, part in enumerate(path):
        if isinstance(part, int):
            parts[-1] += f'["{names[part]}"]' if path[i - 1] == "categories" else f"[{part}]"
        else:
            parts.append(str(part))
    return ".".join(parts)


def test_denmark_2011_and_2014_differ_exactly_by_what_the_reforms_changed() -> None:
    text = (ROOT / "docs" / "model.md").read_text("utf-8")
    match = REFORM_LIST.search(text)
    assert match is not None, "docs/model.md lost its list of the reforms' changes"
    documented = set(re.findall(r"^- `([^`]+)`", match.group(1), re.M))
    before, after = load_scenario("denmark-2011"), load_scenario("denmark-2014")
    names = [c.name for c in before.categories]
    assert names == [c.name for c in after.categories]
    old = {_key(p, names): param.value for p, param in parameters(before)}
    new = {_key(p, names): param.value for p, param in parameters(after)}
    assert old.keys() == new.keys()
    differing = {key for key in old if old[key] != new[key]}
    assert differing == documented
    # Besides the parameters, only what names the scenario differs.
    assert before.scenario.era == "2011" and after.scenario.era == "2014"
    assert before.model_dump()["scenario"]["country"] == after.model_dump()["scenario"]["country"]


def test_the_presets_resolved_from_the_timeline_hold_no_dated_values() -> None:
    for name in ("denmark-2011", "denmark-2014", "municipality-a", "municipality-b"):
        assert all(p.values is None for _, p in parameters(load_scenario(name))), name
    dated = [p for _, p in parameters(load_scenario("denmark-2006-2014")) if p.values]
    assert len(dated) >= 6


def test_resolve_at_needs_a_base_and_a_year(tmp_path: Path) -> None:
    lone = tmp_path / "lone.toml"
    lone.write_text('resolve_at = "2011"\n', "utf-8")
    with pytest.raises(ScenarioError, match="only a file with a base"):
        load_scenario(lone)
    bad = tmp_path / "bad.toml"
    bad.write_text('base = "denmark-2006-2014"\nresolve_at = 2011\n', "utf-8")
    with pytest.raises(ScenarioError, match="expected a calendar year"):
        load_scenario(bad)
    assert inherit.RESOLVE_KEY == "resolve_at"


def test_a_category_by_attributes_takes_no_share(tmp_path: Path) -> None:
    path = tmp_path / "share.toml"
    path.write_text(
        'base = "denmark-2014"\n[[categories]]\nname = "education-ready"\n'
        'stock_share = { value = 0.1, unit = "share", source = "test" }\n',
        "utf-8",
    )
    with pytest.raises(ScenarioError, match="stock_share must be 0"):
        load_scenario(path)


def _yearly(out: Path) -> pd.DataFrame:
    my = pq.read_table(out / "municipality_years.parquet").to_pandas()
    return my.groupby("year").sum(numeric_only=True)


@pytest.mark.slow
def test_dated_values_take_effect_in_their_calendar_year(timeline: Path) -> None:
    events = pq.read_table(timeline / "events.parquet", columns=["year", "event", "decider"])
    frame = events.to_pandas()
    absences = frame[frame["event"].astype(str) == "absence"]
    office = absences["decider"].astype(str) == DECIDERS[1]
    by_year = office.groupby(absences["year"]).sum()
    # The 2007 law: no register reaches a cash-benefit office before it, some do after.
    assert by_year.loc[2006] == 0 and by_year.loc[2007:].min() > 0
    my = pq.read_table(timeline / "municipality_years.parquet").to_pandas()
    strictness = my.groupby("year")["management_strictness"].mean()
    # Rankings from 2008: management moves for the first time at the end of 2008, so 2009 is
    # the first year whose strictness differs from the start.
    assert np.allclose(strictness.loc[2006:2008], strictness.loc[2006])
    assert strictness.loc[2009] > strictness.loc[2008]
    yearly = _yearly(timeline)
    timely = yearly["meetings_timely"] / (yearly["meetings_timely"] + yearly["meetings_late"])
    assert timely.loc[2009] - timely.loc[2008] > 0.05  # reimbursement tied to timeliness


@pytest.mark.slow
def test_the_2014_reform_recategorises_and_activates_in_2014(timeline: Path) -> None:
    yearly = _yearly(timeline)
    # No education-ready client before 2014; then the young without education move in.
    assert yearly.loc[:2013, "recipients_category_4"].sum() == 0
    assert yearly.loc[2014, "recipients_category_4"] > 0
    # Match 3 gets its first offers in 2014, and with them absences that can be sanctioned.
    rate_3 = yearly["sanctioned_category_3"] / yearly["recipient_years_category_3"]
    assert rate_3.loc[2014] > 1.5 * rate_3.loc[2013]
    years = pq.read_table(
        timeline / "client_years.parquet", columns=["year", "category", "age_group", "education"]
    ).to_pandas()
    ready = years[(years["year"] == 2014) & (years["category"].astype(str) == "education-ready")]
    assert len(ready) > 0
    assert (ready["age_group"].astype(str) == AGE_GROUPS[0]).all()
    assert (ready["education"].astype(str) == "low").all()


def test_a_scenario_with_dated_values_crosses_to_a_fresh_process(tmp_path: Path) -> None:
    """Runs hand their scenario to worker processes by pickling it; a worker imports the
    package afresh, before anything there has validated a dated flag or choice."""
    timeline = load_scenario("denmark-2006-2014")
    path = tmp_path / "scenario.pickle"
    path.write_bytes(pickle.dumps(timeline))
    code = (
        "import pickle, sys; s = pickle.loads(open(sys.argv[1], 'rb').read()); "
        "print(s.legislation.separate_benefit_office.values['2007-01-01'].value)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "True"
