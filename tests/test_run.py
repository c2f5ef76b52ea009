"""Whole runs: invariants, determinism, batching, every preset, the golden summary."""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streetlevel.errors import OutputExistsError
from streetlevel.model.country import build_country
from streetlevel.output import sizing
from streetlevel.output.locking import DirectoryBusyError
from streetlevel.output.run import run_scenario
from streetlevel.output.sizing import MEMORY_SHARE, ResourceError, batch_memory, plan_workers
from streetlevel.output.summary import summarize
from streetlevel.scenario.loading import load_scenario, with_values
from streetlevel.scenario.schema import Scenario
from tests.conftest import cli, small

TABLES = ("events", "client_years", "municipality_years")
GOLDEN = Path(__file__).parent / "golden" / "tiny_summary.json"


def digest(path: Path) -> str:
    """The bytes of a file, or of every file of a table directory with its name."""
    h = hashlib.sha256()
    for file in sorted(path.iterdir()) if path.is_dir() else [path]:
        h.update(file.name.encode())
        h.update(file.read_bytes())
    return h.hexdigest()


def test_same_seed_gives_identical_parquet_files(tmp_path: Path, tiny: Scenario) -> None:
    one = run_scenario(tiny, seed=5, replications=3, out=tmp_path / "one")
    two = run_scenario(tiny, seed=5, replications=3, out=tmp_path / "two")
    for name in TABLES:
        assert digest(one.out / f"{name}.parquet") == digest(two.out / f"{name}.parquet")
    other = run_scenario(tiny, seed=6, replications=3, out=tmp_path / "other")
    assert digest(one.out / "events.parquet") != digest(other.out / "events.parquet")


def test_batching_does_not_change_results(tmp_path: Path, tiny: Scenario) -> None:
    """Replication r draws from (seed, r) only: one batch or one replication at a time."""
    together = run_scenario(tiny, seed=2, replications=3, out=tmp_path / "a", batch_size=3)
    apart = run_scenario(tiny, seed=2, replications=3, out=tmp_path / "b", batch_size=1)
    for name, keys in {
        "client_years": ["replication", "year", "client_id"],
        "municipality_years": ["replication", "year", "municipality"],
    }.items():
        a = pq.read_table(together.out / f"{name}.parquet").to_pandas()
        b = pq.read_table(apart.out / f"{name}.parquet").to_pandas()
        a = a.sort_values(keys).reset_index(drop=True)
        b = b.sort_values(keys).reset_index(drop=True)
        assert a.equals(b), name


def test_workers_do_not_change_a_single_byte(tmp_path: Path, tiny: Scenario) -> None:
    """Batches in two worker processes write the same files as batches in this one."""
    kwargs = {"seed": 4, "replications": 3, "batch_size": 1}
    serial = run_scenario(tiny, out=tmp_path / "serial", workers=1, **kwargs)
    parallel = run_scenario(tiny, out=tmp_path / "parallel", workers=2, **kwargs)
    assert parallel.manifest["workers"] == 2
    assert len(list((parallel.out / "events.parquet").iterdir())) == 3
    for name in TABLES:
        assert digest(serial.out / f"{name}.parquet") == digest(parallel.out / f"{name}.parquet")
    assert serial.manifest["tables"] == parallel.manifest["tables"]


def test_an_interrupted_run_resumes_to_the_same_bytes(tmp_path: Path, tiny: Scenario) -> None:
    """An interrupt keeps the finished batches; --resume runs only the rest."""
    kwargs = {"seed": 4, "replications": 3, "batch_size": 1}
    whole = run_scenario(tiny, out=tmp_path / "whole", **kwargs)
    totals: list[int] = []

    def interrupt_in_second_batch(done: int, total: int) -> None:
        totals.append(total)
        if done > total // 2:
            raise KeyboardInterrupt

    out = tmp_path / "resumed"
    with pytest.raises(KeyboardInterrupt):
        run_scenario(tiny, out=out, on_progress=interrupt_in_second_batch, **kwargs)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "interrupted"
    assert list(manifest["parts"]) == ["replications-00000-00000.parquet"]
    assert not list(out.rglob("*.partial"))
    with pytest.raises(OutputExistsError, match="--resume"):
        run_scenario(tiny, out=out, **kwargs)
    with pytest.raises(OutputExistsError, match="seed"):
        run_scenario(tiny, out=out, resume=True, **{**kwargs, "seed": 5})
    resumed_totals: list[int] = []
    resumed = run_scenario(
        tiny, out=out, resume=True, on_progress=lambda _d, t: resumed_totals.append(t), **kwargs
    )
    assert resumed.manifest["status"] == "complete"
    # Only the two unfinished replications were simulated again.
    assert resumed_totals[-1] * 3 == totals[-1] * 2
    for name in TABLES:
        assert digest(whole.out / f"{name}.parquet") == digest(out / f"{name}.parquet")


def test_a_run_too_large_for_the_machine_is_refused(tmp_path: Path, tiny: Scenario) -> None:
    """The size guard compares its estimate with the memory there is, before any work."""
    # Denmark at 1,000 clients per recipient: about 10^8 clients, hundreds of GiB a batch.
    out = tmp_path / "huge"
    result = cli(
        "run", "denmark-2011", "--set", "scale.client_scale.value=1000",
        "--replications", "100", "--out", str(out),
    )  # fmt: skip
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert re.search(r"needs about [\d,.]+ GiB of memory; [\d,.]+ GiB may be used", result.stderr)
    assert not out.exists()
    slots = build_country(tiny).n_slots
    one_batch = batch_memory(slots, 1)
    with pytest.raises(ResourceError, match="--workers 2 or fewer"):
        plan_workers(tiny, slots, 1, 5, tmp_path, 3, memory=int(2.5 * one_batch / MEMORY_SHARE))
    chosen = plan_workers(tiny, slots, 1, 5, tmp_path, None, memory=2 * one_batch)
    assert 1 <= chosen <= 2


def test_a_run_too_large_for_the_disk_is_refused(
    tmp_path: Path, tiny: Scenario, monkeypatch: pytest.MonkeyPatch
) -> None:
    full = shutil._ntuple_diskusage(total=10**9, used=10**9 - 1000, free=1000)  # type: ignore[attr-defined]
    monkeypatch.setattr(sizing.shutil, "disk_usage", lambda _path: full)
    with pytest.raises(ResourceError, match=r"would write about .* the disk has 0.0 GiB free"):
        run_scenario(tiny, seed=1, replications=3, out=tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_a_second_writer_of_a_run_directory_is_refused(tmp_path: Path, tiny: Scenario) -> None:
    """While a run writes a directory, another run (even --resume or --overwrite) on it is
    refused, naming the holder; the lock goes with its holder, even one killed outright."""
    out = tmp_path / "run"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(out)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        for kwargs in ({}, {"overwrite": True}, {"resume": True}):
            with pytest.raises(DirectoryBusyError, match=rf"pid {holder.pid} on "):
                run_scenario(tiny, seed=1, replications=1, out=out, **kwargs)  # type: ignore[arg-type]
    finally:
        holder.kill()  # SIGKILL: the kernel releases the lock
        holder.wait()
    assert run_scenario(tiny, seed=1, replications=1, out=out).manifest["status"] == "complete"


HOLD_LOCK = """
import sys, time, pathlib
from streetlevel.output.locking import DirectoryLock
with DirectoryLock(pathlib.Path(sys.argv[1])):
    print("held", flush=True)
    time.sleep(600)
"""


def test_a_run_written_before_batch_files_still_reads(tmp_path: Path, tiny: Scenario) -> None:
    """Runs of earlier versions hold one file per table: the summary reads them the same."""
    new = run_scenario(tiny, seed=2, replications=2, out=tmp_path / "new", batch_size=1).out
    old = tmp_path / "old"
    shutil.copytree(new, old)
    for name in TABLES:
        table = pq.read_table(old / f"{name}.parquet")
        shutil.rmtree(old / f"{name}.parquet")
        pq.write_table(table, old / f"{name}.parquet")
    a, b = summarize(new), summarize(old)
    assert a.indicators == b.indicators


def test_a_run_written_before_the_profile_counts_still_reads(
    tmp_path: Path, tiny: Scenario
) -> None:
    """Earlier runs' municipality-years carry no profile counts: the summary counts the
    profile gaps from the client-years instead, to the same numbers."""
    new = run_scenario(tiny, seed=2, replications=3, out=tmp_path / "new").out
    old = tmp_path / "old"
    shutil.copytree(new, old)
    table = pq.read_table(old / "municipality_years.parquet")
    profile = [c for c in table.column_names if c.startswith(("recipients_", "sanctioned_"))]
    assert {"recipients_young", "sanctioned_low_education"} <= set(profile)
    shutil.rmtree(old / "municipality_years.parquet")
    kept = table.drop_columns([c for c in profile if "category" not in c])
    pq.write_table(kept, old / "municipality_years.parquet")
    a, b = summarize(new), summarize(old)
    assert a.indicators == b.indicators
    assert any(i.name == "young_share_gap" for i in b.indicators)


# The columns a value can be missing from: an absence's decision, an exit's destination.
MAY_BE_NULL = {
    "events": {"obligation", "route", "decider", "outcome", "destination"}
    | {"legitimate", "documented"},
    "client_years": {"exit"},
    "municipality_years": set(),
}


def test_columns_are_required_unless_they_can_be_missing(tmp_path: Path, tiny: Scenario) -> None:
    """Parquet ``required`` columns (no definition levels) where a value is never missing,
    and nulls exactly where a field does not apply to the row."""
    out = run_scenario(tiny, seed=3, replications=2, out=tmp_path / "r").out
    for name in TABLES:
        files = sorted((out / f"{name}.parquet").iterdir())
        schema = pq.ParquetFile(files[0]).schema
        optional = {
            schema.column(i).name
            for i in range(len(schema))
            if schema.column(i).max_definition_level > 0
        }
        assert optional == MAY_BE_NULL[name], name
    events = pq.read_table(out / "events.parquet").to_pandas()
    absence = events["event"] == "absence"
    other = ~absence & (events["event"] != "placement")  # a placement has an outcome too
    assert absence.any() and other.any()
    for column in ("obligation", "route", "decider", "outcome", "legitimate", "documented"):
        assert events.loc[absence, column].notna().all(), column
        assert events.loc[other, column].isna().all(), column
    assert events["legitimate"][absence].isin([True, False]).all()
    assert (events["destination"].notna() == (events["event"] == "exit")).all()
    years = pq.read_table(out / "client_years.parquet").to_pandas()
    assert years["exit"].isna().any() and years["exit"].notna().any()
    for flag in ("minority", "problems", "entered"):
        assert years[flag].dtype == bool and years[flag].any() and not years[flag].all(), flag


def test_output_directory_is_not_overwritten(tmp_path: Path, tiny: Scenario) -> None:
    run_scenario(tiny, seed=1, replications=1, out=tmp_path / "run")
    with pytest.raises(OutputExistsError, match="already holds results"):
        run_scenario(tiny, seed=1, replications=1, out=tmp_path / "run")
    run_scenario(tiny, seed=1, replications=1, out=tmp_path / "run", overwrite=True)


def test_a_failed_run_leaves_no_table_that_looks_complete(
    tmp_path: Path, tiny: Scenario, monkeypatch: pytest.MonkeyPatch
) -> None:
    from streetlevel.model.engine import Simulation

    original = Simulation.step
    calls = {"n": 0}

    def failing(self: Simulation) -> None:
        calls["n"] += 1
        if calls["n"] == 80:  # in the reporting year, after one year was written
            raise KeyboardInterrupt
        original(self)

    monkeypatch.setattr(Simulation, "step", failing)
    with pytest.raises(KeyboardInterrupt):
        run_scenario(tiny, seed=1, replications=1, out=tmp_path / "run")
    # The batch's files were removed, finished or not; its table directories are empty.
    assert not [p for t in TABLES for p in (tmp_path / "run" / f"{t}.parquet").iterdir()]
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["status"] == "interrupted"


@pytest.mark.parametrize(
    "preset", ["denmark-2011", "denmark-2014", "municipality-a", "municipality-b"]
)
def test_every_preset_runs(tmp_path: Path, preset: str) -> None:
    scenario = with_values(
        load_scenario(preset),
        {"scale.client_scale": 0.05, "time.burn_in_years": 1, "time.reporting_years": 1},
    )
    result = run_scenario(scenario, seed=1, replications=1, out=tmp_path / preset)
    summary = summarize(result.out)
    rate = summary.get("national_sanction_rate").mean
    assert 0 < rate < 1


def check_invariants(out: Path, scenario: Scenario) -> None:
    cy = pq.read_table(out / "client_years.parquet").to_pandas()
    my = pq.read_table(out / "municipality_years.parquet").to_pandas()
    weeks = scenario.time.weeks_per_year.value
    # Every client appears once per replication and year.
    assert not cy.duplicated(["replication", "year", "client_id"]).any()
    assert (cy["weeks_in_year"].between(1, weeks)).all()
    assert (cy["weeks_sanctioned"] <= cy["weeks_in_year"]).all()
    assert (cy["sanctions"] <= cy["absences"]).all()
    assert (cy["weeks_on_benefit"] >= cy["weeks_in_year"]).all()
    if scenario.legislation.sanction_type.value == "periodical":
        # No benefit is paid while sanctioned: withheld = sanctioned weeks x benefit.
        benefit = scenario.legislation.benefit.value
        assert np.allclose(cy["amount_withheld"], cy["weeks_sanctioned"] * benefit)
        # A sanction this year stops the benefit that week (weeks can also carry over).
        assert (cy.loc[cy.sanctions > 0, "weeks_sanctioned"] > 0).all()
    # Conservation: those still on benefit at the end of a year are the next year's
    # carried-over clients; slots never go missing.
    years = sorted(cy["year"].unique())
    for rep, group in cy.groupby("replication"):
        for y0, y1 in itertools.pairwise(years):
            stay = set(group.loc[(group.year == y0) & group.exit.isna(), "client_id"])
            carried = set(group.loc[(group.year == y1) & ~group.entered, "client_id"])
            assert stay == carried, (rep, y0)
    # Indicators are rates in [0, 1] and add up to the client-years.
    for col in [c for c in my.columns if c.endswith(("_rate", "_share", "timeliness"))]:
        values = my[col].dropna()
        assert values.between(0, 1).all(), col
    per_year = cy.groupby(["replication", "year"]).size()
    recipients = my.groupby(["replication", "year"])["recipients"].sum()
    assert (per_year == recipients).all()
    # A year may see no sanction at all (a lenient office with few clients): count it as 0.
    sanctioned = (
        cy[cy.sanctions > 0].groupby(["replication", "year"]).size().reindex(per_year.index)
    )
    expected = my.groupby(["replication", "year"])["sanctioned"].sum()
    assert (sanctioned.fillna(0) == expected).all()
    # The engine's profile counts are the client-years' (what the summary's gaps read).
    cells = ["replication", "year", "municipality"]
    traits = {
        "young": cy.age_group == "under 30",
        "male": cy.sex == "male",
        "low_education": cy.education == "low",
    }
    for trait, has in traits.items():
        for who, rows in (("recipients", has), ("sanctioned", has & (cy.sanctions > 0))):
            counted = rows.groupby([cy[c] for c in cells], observed=True).sum()
            stored = my.set_index(cells)[f"{who}_{trait}"]
            assert (counted.reindex(stored.index, fill_value=0) == stored).all(), (who, trait)
    # The events add up to the client-years: absences, sanctions and exits per client-year.
    ev = pq.read_table(out / "events.parquet").to_pandas()
    keys = ["replication", "year", "client_id"]
    counts = ev.groupby([*keys, "event"], observed=True).size().unstack(fill_value=0)
    counts = counts.reindex(columns=["absence", "sanction"], fill_value=0).add_prefix("n_")
    merged = cy.set_index(keys)[["absences", "sanctions"]].join(counts, how="left").fillna(0)
    assert (merged["absences"] == merged["n_absence"]).all()
    assert (merged["sanctions"] == merged["n_sanction"]).all()
    exits = ev[ev.event == "exit"].set_index(keys)["destination"].astype(str)
    recorded = cy[cy.exit.notna()].set_index(keys)["exit"].astype(str)
    assert exits.sort_index().equals(recorded.sort_index())


@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    seed=st.integers(0, 2**32),
    recompliance=st.floats(0.05, 1.0),
    strictness=st.floats(0.0, 1.0),
    route=st.sampled_from(["caseworker", "benefit_office"]),
    sanction_type=st.sampled_from(["periodical", "deduction"]),
)
def test_invariants_hold_for_any_parameters(
    tmp_path_factory: pytest.TempPathFactory,
    seed: int,
    recompliance: float,
    strictness: float,
    route: str,
    sanction_type: str,
) -> None:
    scenario = small(
        "municipality-a",
        scale=1.0,
        time__burn_in_years=1,
        time__reporting_years=2,
        sanctions__recompliance=recompliance,
        legislation__sanction_type=sanction_type,
        **{
            "municipalities[0]__management_strictness": strictness,
            "municipalities[0]__absence_route": route,
        },
    )
    out = tmp_path_factory.mktemp("prop") / "run"
    run_scenario(scenario, seed=seed, replications=2, out=out)
    check_invariants(out, scenario)


def test_golden_summary(tmp_path: Path, tiny: Scenario) -> None:
    """The summary of a tiny run, stored; regenerate with `python tests/golden/regenerate.py`
    after an intended change to the model (and say why in the commit)."""
    result = run_scenario(tiny, seed=11, replications=2, out=tmp_path / "run")
    got = {i.name: [i.mean, i.low, i.high] for i in summarize(result.out).indicators}
    expected = json.loads(GOLDEN.read_text())
    assert got.keys() == expected.keys()
    for name, values in expected.items():
        assert np.allclose(got[name], values, rtol=1e-9, atol=1e-12, equal_nan=True), name


@settings(max_examples=25, deadline=None)
@given(
    data=st.fixed_dictionaries(
        {
            "sanctions.recompliance": st.floats(0.0, 1.0),
            "attendance.intercept": st.floats(-50.0, 50.0),
            "attendance.repeat_reduction": st.floats(0.0, 1.0),
            "legitimate_reason.documented": st.floats(0.0, 1.0),
            "categories[0].activation_degree": st.floats(0.0, 1.0),
            "categories[0].exit_work": st.floats(0.0, 1.0),
            "categories[1].exit_other": st.floats(0.0, 0.2),
            "exits.duration_decay": st.floats(0.0, 0.99),
            "exits.post_effect": st.floats(0.0, 1000.0),
            "exits.unknown_while_sanctioned": st.floats(0.0, 1000.0),
            "decision.benefit_office.intercept": st.floats(-50.0, 50.0),
            "meetings.interval": st.integers(1, 104),
            "offers.mean_duration": st.integers(1, 104),
            "caseworkers.clients_per_caseworker": st.integers(1, 10_000),
        }
    ),
    seed=st.integers(0, 2**63 - 1),
)
def test_any_valid_scenario_runs(data: dict[str, object], seed: int) -> None:
    """Extreme but valid parameters never crash the engine, and shares stay in [0, 1].

    The sanction rate is per full-year recipient, so it is bounded by the recipients per
    full-year recipient instead."""
    from streetlevel.model.engine import Simulation

    scenario = with_values(
        small("municipality-b", scale=0.3, time__burn_in_years=1, time__reporting_years=1),
        data,
        "hypothesis",
    )
    sim = Simulation(scenario, seed, [0, 1])
    sim.run()
    for table in sim.yearly:
        for name in ("repeat_share", "timeliness", "activation_degree"):
            values = table[name][~np.isnan(table[name])]
            assert np.all((values >= 0) & (values <= 1)), name
        assert np.all(table["sanctioned"] <= table["recipients"])
        assert np.all(table["recipient_years"] <= table["recipients"])
        measured = ~np.isnan(table["sanction_rate"])
        assert np.allclose(
            table["sanction_rate"][measured],
            table["sanctioned"][measured] / table["recipient_years"][measured],
        )
    assert np.all(np.isin(sim.state.status, [0, 1, 2]))


def test_counts_by_category_and_profile_are_those_of_the_client_years(
    tmp_path: Path, tiny: Scenario
) -> None:
    """The municipality-years' counts per category and per profile trait, tallied by the
    engine as client-years close, count the rows of the client-years table."""
    out = run_scenario(tiny, seed=8, replications=2, out=tmp_path / "r").out
    years = pq.read_table(out / "client_years.parquet").to_pandas()
    my = pq.read_table(out / "municipality_years.parquet").to_pandas()
    keys = ["replication", "year", "municipality"]
    years["municipality"] = years["municipality"].astype(str)
    my["municipality"] = my["municipality"].astype(str)
    years["sanctioned"] = years["sanctions"] > 0
    years["young"] = years["age_group"] == "under 30"
    years["male"] = years["sex"] == "male"
    years["low_education"] = years["education"] == "low"
    names = [c.name for c in tiny.categories]
    expected = {}
    for k, name in enumerate(names, start=1):
        of = years[years["category"] == name]
        expected[f"recipients_category_{k}"] = of.groupby(keys).size()
        expected[f"sanctioned_category_{k}"] = of.groupby(keys)["sanctioned"].sum()
        weeks = of.groupby(keys)["weeks_in_year"].sum()
        expected[f"recipient_years_category_{k}"] = weeks / tiny.time.weeks_per_year.value
    for trait in ("young", "male", "low_education"):
        expected[f"recipients_{trait}"] = years.groupby(keys)[trait].sum()
        expected[f"sanctioned_{trait}"] = (
            (years[trait] & years["sanctioned"]).groupby([years[k] for k in keys]).sum()
        )
    table = my.set_index(keys)
    assert (table["recipients_category_1"] > 0).any()
    for column, counts in expected.items():
        got = table[column]
        want = counts.reindex(got.index, fill_value=0)
        np.testing.assert_allclose(got.to_numpy(), want.to_numpy(), rtol=1e-12, err_msg=column)
