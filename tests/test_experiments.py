"""Experiments: files, designs, sweeps on Dask (1 or 2 workers, a separate-process cluster),
SIGKILL and resume, the results store, comparison and sensitivity.

The experiments are tiny (Municipality B at half scale, one burn-in and one reporting year),
so a point takes a fraction of a second and a sweep is dominated by starting its cluster.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from itertools import product
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from streetlevel.errors import ExperimentError
from streetlevel.experiments import load_experiment, read_results, run_sweep
from streetlevel.experiments import sweep as sweep_module
from streetlevel.experiments.compare import comparison, write_comparison
from streetlevel.experiments.design import build_design, design_size, point_seed, point_values
from streetlevel.experiments.sensitivity import sensitivity
from streetlevel.experiments.spec import example_path
from streetlevel.experiments.store import TMP, finished_points, partition_path
from streetlevel.experiments.sweep import outcome_names, run_point
from streetlevel.output import sizing
from streetlevel.output.locking import DirectoryBusyError, DirectoryLock
from streetlevel.output.run import run_scenario
from streetlevel.output.sizing import ResourceError
from streetlevel.output.summary import interval, summarize
from streetlevel.output.uncertainty import mean_ci
from tests.conftest import TINY, TINY_POINTS, TINY_REPLICATIONS, cli, free_port

# A model in which only one factor matters: the clerk's intercept moves every outcome;
# deduction_weeks is used only by deduction sanctions and municipality-b's are periodical.
# With common random numbers, points that differ only in deduction_weeks are identical.
KNOWN = """
[experiment]
name = "known"
scenario = "municipality-b"
seed = 3
replications = 1
common_random_numbers = true

[design]
{design}

[constants]
"scale.client_scale" = 0.5
"time.burn_in_years" = 1
"time.reporting_years" = 1

[[uncertainties]]
name = "office_intercept"
key = "decision.benefit_office.intercept"
range = [-4.0, 0.0]

[[uncertainties]]
name = "deduction_weeks"
key = "legislation.deduction_weeks"
range = [1.0, 10.0]
"""
SOBOL_N = 64
MORRIS_TRAJECTORIES = 4


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def ordered(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(["point", "replication"]).reset_index(drop=True)


@pytest.fixture(scope="module")
def reference(folder: Path, tiny_file: Path) -> pd.DataFrame:
    """The tiny experiment swept without interruption by one local worker."""
    result = run_sweep(load_experiment(tiny_file), folder / "one-worker", workers=1)
    assert (result.points, result.ran, result.resumed) == (TINY_POINTS, TINY_POINTS, 0)
    return read_results(folder / "one-worker")


# -- experiment files ---------------------------------------------------------------------------


def test_example_validates_and_is_the_issue_design() -> None:
    experiment = load_experiment(example_path())
    assert experiment.base.scenario.name == "denmark-2011"
    assert experiment.spec.experiment.replications == 10
    assert [f.name for f in experiment.spec.levers] == ["route", "norm", "pressure"]
    assert len(build_design(experiment)) == 2 * 3 * 2


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (("name = \"ranking\"", "name = \"ranking\"\nkye = 1"), "levers[1].kye: unknown key"),
        (("pressure.ranking_published", "pressure.nope"), "levers[1].values[0]: "),
        (("pressure.ranking_published", "pressure.nope"), "pressure.nope: no such key"),
        (("values = [0.2, 0.4, 0.8]", "values = [0.2, 1.5]"), "uncertainties[0].values[1]: "),
        (("values = [0.2, 0.4, 0.8]", "values = [0.2, 1.5]"),
         "sanctions.recompliance.value: Input should be less than or equal to 1"),
        (("\"benefit_office\"\n\n", "\"benefit-office\"\n\n"),
         "levers[0].levels.benefit_office: "),
        (("values = [0.2, 0.4, 0.8]", "range = [0.2, 0.8]"), "design.kind: a full_factorial"),
        (("kind = \"full_factorial\"", "kind = \"sobol\"\nsamples = 12"),
         "design: samples must be a power of 2 in a sobol design, got 12"),
        (("replications = 3", "replications = 0"), "experiment.replications: Input should be"),
        (("seed = 5\n", "seed = 5\n\"seed\" = 6\n"), "not valid TOML"),
        (("[[uncertainties]]", "outcomes = [\"sanction_rat\"]\n[[uncertainties]]"),
         "levers[1].outcomes: unknown key"),
        (("name = \"ranking\"", "name = \"Ranking\""), "levers[1].name: String should match"),
        (("\"time.burn_in_years\" = 1", "\"time.burn_in_years\" = 1.5"), "constants: "),
    ],
)  # fmt: skip
def test_bad_files_name_the_key_path(tmp_path: Path, edit: tuple[str, str], expected: str) -> None:
    old, new = edit
    assert old in TINY
    path = write(tmp_path, "bad.toml", TINY.replace(old, new, 1))
    with pytest.raises(ExperimentError) as err:
        load_experiment(path)
    assert str(err.value).startswith(f"{path}:")
    assert expected in str(err.value)


def test_unquoted_key_paths_mean_the_same(tmp_path: Path) -> None:
    # To TOML, an unquoted dotted key is a nested table; the experiment reads it as a path.
    text = TINY.replace('"scale.client_scale" = 0.5', "scale.client_scale = 0.5")
    assert text != TINY
    unquoted = load_experiment(write(tmp_path, "unquoted.toml", text))
    quoted = load_experiment(write(tmp_path, "quoted.toml", TINY))
    assert unquoted.base.scale.client_scale.value == 0.5
    assert unquoted.fingerprint == quoted.fingerprint


def test_unknown_outcome_lists_the_known(tmp_path: Path) -> None:
    path = write(tmp_path, "bad.toml", 'outcomes = ["sanction_rat"]\n' + TINY)
    with pytest.raises(ExperimentError, match=r"outcomes\[0\]: unknown outcome 'sanction_rat'"):
        load_experiment(path)
    known = outcome_names(load_experiment(write(tmp_path, "ok.toml", TINY)).base)
    assert {"national_sanction_rate", "exit_unknown_rate", "sanction_rate_municipality_b"} <= set(
        known
    )


def test_cli_error_exit_status(tmp_path: Path) -> None:
    path = write(tmp_path, "bad.toml", TINY.replace("sanctions.recompliance", "sanctions.x"))
    done = cli("sweep", str(path), "--out", str(tmp_path / "out"))
    assert done.returncode == 2
    assert "uncertainties[0].values[0]: " in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "out").exists()


# -- designs and seeds -------------------------------------------------------------------------


def test_full_factorial_is_every_combination_first_factor_slowest(tiny_file: Path) -> None:
    experiment = load_experiment(tiny_file)
    table = build_design(experiment)
    combos = list(product(["caseworker", "benefit_office"], [True, False], [0.2, 0.4, 0.8]))
    got = list(table[["route", "ranking", "recompliance"]].itertuples(index=False, name=None))
    assert got == combos
    assert point_values(experiment, table)[5] == dict(
        zip(["route", "ranking", "recompliance"], combos[5], strict=True)
    )
    assignments = experiment.assignments(point_values(experiment, table)[7])
    assert assignments == {
        "municipalities[0].absence_route": "benefit_office",
        "pressure.ranking_published": True,
        "sanctions.recompliance": 0.4,
    }


def test_seeds_depend_on_the_point_only(tiny_file: Path) -> None:
    table = build_design(load_experiment(tiny_file))
    assert table["seed"].tolist() == [point_seed(5, p, common=False) for p in range(TINY_POINTS)]
    assert table["seed"].nunique() == TINY_POINTS
    assert all(0 <= s < 2**63 for s in table["seed"])


@pytest.mark.parametrize(
    ("design", "points"),
    [
        ('kind = "latin_hypercube"\nsamples = 10', 10),
        (f'kind = "sobol"\nsamples = {SOBOL_N}', SOBOL_N * (2 + 2)),
        (f'kind = "sobol"\nsamples = {SOBOL_N}\nsecond_order = true', SOBOL_N * (2 * 2 + 2)),
        (f'kind = "morris"\nsamples = {MORRIS_TRAJECTORIES}', MORRIS_TRAJECTORIES * (2 + 1)),
    ],
)
def test_sampled_designs(tmp_path: Path, design: str, points: int) -> None:
    experiment = load_experiment(write(tmp_path, "k.toml", KNOWN.format(design=design)))
    table = build_design(experiment)
    assert len(table) == points
    assert table["office_intercept"].between(-4.0, 0.0).all()
    # deduction_weeks is a whole number of weeks: drawn values are rounded into its range.
    assert table["deduction_weeks"].between(1, 10).all()
    assert (table["deduction_weeks"] == table["x_deduction_weeks"].round()).all()
    assert table["seed"].eq(3).all()  # common random numbers
    assert build_design(experiment).equals(table)  # seeded: the same design every time
    assert design_size(experiment) == points  # what the size guard counts before building


def test_design_size_of_factorial_and_crossed_designs(tiny_file: Path, tmp_path: Path) -> None:
    assert design_size(load_experiment(tiny_file)) == TINY_POINTS
    text = TINY.replace(
        'kind = "full_factorial"', 'kind = "full_factorial"\nuncertainty_samples = 5'
    ).replace("values = [0.2, 0.4, 0.8]", "range = [0.2, 0.8]")
    crossed = load_experiment(write(tmp_path, "crossed.toml", text))
    assert design_size(crossed) == len(build_design(crossed)) == 2 * 2 * 5


def test_a_sweep_too_large_for_the_disk_is_refused_before_it_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ten million Latin-hypercube points: refused with the estimate, nothing built."""
    text = KNOWN.format(design='kind = "latin_hypercube"\nsamples = 10_000_000')
    experiment = load_experiment(write(tmp_path, "huge.toml", text))
    out = tmp_path / "sweep"
    # At least the fixed part of a point file each: 10^7 x 16 kB = 160 GB, more than the disk
    # of this machine; the free space is fixed so the test does not depend on the disk.
    free = 100 * 2**30
    usage = shutil._ntuple_diskusage(total=2 * free, used=free, free=free)  # type: ignore[attr-defined]
    monkeypatch.setattr(sizing.shutil, "disk_usage", lambda _path: usage)
    with pytest.raises(
        ResourceError, match=r"10,000,000 points left would write about [\d,.]+ GiB"
    ):
        run_sweep(experiment, out, workers=1)
    assert not out.exists()
    with pytest.raises(ResourceError, match=r"need about .* of memory"):
        sizing.check_sweep("x", 10**6, 8, 1, 8, 40, tmp_path, 2, memory=2**30)


def test_levers_crossed_with_the_same_uncertainty_draws(tmp_path: Path) -> None:
    text = TINY.replace(
        'kind = "full_factorial"', 'kind = "full_factorial"\nuncertainty_samples = 5'
    ).replace("values = [0.2, 0.4, 0.8]", "range = [0.2, 0.8]")
    table = build_design(load_experiment(write(tmp_path, "crossed.toml", text)))
    assert len(table) == 2 * 2 * 5
    combos = table[["route", "ranking"]].drop_duplicates()
    assert len(combos) == 4
    draws = [g["recompliance"].tolist() for _, g in table.groupby(["route", "ranking"])]
    assert all(d == draws[0] for d in draws)  # every policy meets the same futures
    assert len(set(draws[0])) == 5 and all(0.2 <= v <= 0.8 for v in draws[0])


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (
            ("values = [true, false]", "range = [0.0, 1.0]"),
            "design.kind: a full_factorial design needs values or levels, but ['ranking']",
        ),
        (
            ('kind = "full_factorial"', 'kind = "sobol"\nsamples = 8'),
            "uncertainty_samples is used by a full_factorial design only, not sobol",
        ),
    ],
)
def test_crossed_design_errors(tmp_path: Path, edit: tuple[str, str], expected: str) -> None:
    text = TINY.replace(
        'kind = "full_factorial"', 'kind = "full_factorial"\nuncertainty_samples = 5'
    ).replace(*edit)
    with pytest.raises(ExperimentError) as err:
        load_experiment(write(tmp_path, "bad.toml", text))
    assert expected in str(err.value)


def test_levels_in_a_sampled_design_cover_each_level_equally(tmp_path: Path) -> None:
    text = TINY.replace('kind = "full_factorial"', 'kind = "latin_hypercube"\nsamples = 12')
    table = build_design(load_experiment(write(tmp_path, "lhs.toml", text)))
    # A Latin hypercube puts one of 12 draws in each twelfth of [0, 3): 4 per level.
    assert table["recompliance"].value_counts().to_dict() == {0.2: 4, 0.4: 4, 0.8: 4}


# -- running points ----------------------------------------------------------------------------


def test_in_memory_point_equals_the_summary_of_a_written_run(
    tmp_path: Path, tiny_file: Path
) -> None:
    base = load_experiment(tiny_file).base
    rows = run_point(base, seed=9, replications=3)
    summary = summarize(run_scenario(base, seed=9, replications=3, out=tmp_path / "r").out)
    # Every indicator of the summary, the profile gaps included (counted by the engine).
    assert set(rows) == {i.name for i in summary.indicators}
    for name, values in rows.items():
        assert len(values) == 3
        indicator = summary.get(name)
        np.testing.assert_allclose(
            interval(values), (indicator.mean, indicator.low, indicator.high),
            rtol=1e-9, equal_nan=True, err_msg=name,
        )  # fmt: skip


@pytest.mark.slow
def test_one_and_two_workers_give_identical_tables(
    folder: Path, tiny_file: Path, reference: pd.DataFrame
) -> None:
    out = folder / "two-workers"
    done = cli("sweep", str(tiny_file), "--out", str(out), "--workers", "2")
    assert done.returncode == 0, done.stderr
    assert f"{TINY_POINTS} points: {TINY_POINTS} run now" in done.stdout
    two = read_results(out)
    assert len(two) == TINY_POINTS * TINY_REPLICATIONS
    pd.testing.assert_frame_equal(ordered(two), ordered(reference))
    # Replications differ, points differ: the table is not trivially equal.
    assert reference["national_sanction_rate"].nunique() > TINY_POINTS


@pytest.mark.slow
def test_sweep_again_runs_nothing(folder: Path, tiny_file: Path, reference: pd.DataFrame) -> None:
    result = run_sweep(load_experiment(tiny_file), folder / "one-worker", workers=1)
    assert (result.ran, result.resumed) == (0, TINY_POINTS)


def test_a_second_sweep_on_a_directory_being_written_is_refused(
    tmp_path: Path, tiny_file: Path
) -> None:
    out = tmp_path / "sweep"
    with DirectoryLock(out), pytest.raises(DirectoryBusyError, match="another streetlevel"):
        run_sweep(load_experiment(tiny_file), out, workers=1)
    assert [p.name for p in out.iterdir()] == [".lock"]  # nothing written by the refused one


def test_another_experiment_is_refused(
    folder: Path, tmp_path: Path, reference: pd.DataFrame
) -> None:
    other = write(tmp_path, "other.toml", TINY.replace("seed = 5", "seed = 6"))
    with pytest.raises(ExperimentError, match="holds the results of another experiment"):
        run_sweep(load_experiment(other), folder / "one-worker", workers=1)


def test_another_version_of_streetlevel_is_refused(
    folder: Path, tiny_file: Path, tmp_path: Path, reference: pd.DataFrame
) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(folder / "one-worker", copy)
    record = json.loads((copy / "experiment.json").read_text())
    record["package_version"] = "0.0.1"
    (copy / "experiment.json").write_text(json.dumps(record))
    with pytest.raises(ExperimentError, match=r"was started with streetlevel 0\.0\.1"):
        run_sweep(load_experiment(tiny_file), copy, workers=1)


def test_resume_ignores_what_a_kill_left_half_written(
    folder: Path, tiny_file: Path, tmp_path: Path, reference: pd.DataFrame
) -> None:
    out = tmp_path / "resume"
    # A directory as a kill can leave it: the record and design, three finished points
    # (copied from the reference run), a partition half-written in tmp/.
    experiment = load_experiment(tiny_file)
    with pytest.raises(ZeroDivisionError):
        run_sweep(experiment, out, workers=1, on_progress=lambda done, total: 1 / 0)
    assert finished_points(out) == set()
    for point in (0, 4, 11):
        partition_path(out, point).parent.mkdir(exist_ok=True)
        partition_path(out, point).write_bytes(
            partition_path(folder / "one-worker", point).read_bytes()
        )
    (out / TMP).mkdir(exist_ok=True)
    (out / TMP / "point-000005.parquet.partial").write_bytes(b"PAR1 half")
    result = run_sweep(experiment, out, workers=1)
    assert (result.ran, result.resumed) == (TINY_POINTS - 3, 3)
    pd.testing.assert_frame_equal(ordered(read_results(out)), ordered(reference))
    assert not (out / TMP / "point-000005.parquet.partial").exists()


@pytest.mark.slow
def test_sigkill_then_resume_equals_an_uninterrupted_sweep(
    folder: Path, tiny_file: Path, reference: pd.DataFrame
) -> None:
    out = folder / "killed"
    process = subprocess.Popen(
        [sys.executable, "-m", "streetlevel", "sweep", str(tiny_file), "--out", str(out),
         "--workers", "1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    try:
        while len(finished_points(out)) < 2 and time.monotonic() < deadline:
            assert process.poll() is None, "the sweep ended before it could be killed"
            time.sleep(0.02)
    finally:
        # The whole session: the sweep and its cluster's processes die at once, as in a
        # crash or an out-of-memory kill.
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    done_at_kill = finished_points(out)
    assert 2 <= len(done_at_kill) < TINY_POINTS
    # While stopped, the store holds whole points only, readable as they are.
    partial = read_results(out)
    assert set(partial["point"]) == done_at_kill
    assert len(partial) == len(done_at_kill) * TINY_REPLICATIONS
    resumed = cli("sweep", str(tiny_file), "--out", str(out), "--workers", "1")
    assert resumed.returncode == 0, resumed.stderr
    assert f"{TINY_POINTS - len(done_at_kill)} run now" in resumed.stdout
    pd.testing.assert_frame_equal(ordered(read_results(out)), ordered(reference))


@pytest.fixture
def dask_cluster() -> Iterator[str]:
    """A scheduler and two workers, each its own process started with the `dask` command,
    as on a cluster of machines (docs/experiments.md)."""
    address = f"tcp://127.0.0.1:{free_port()}"
    dask = [sys.executable, "-m", "dask"]
    port = address.rsplit(":", 1)[1]
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    processes = [
        subprocess.Popen(
            [*dask, "scheduler", "--host", "127.0.0.1", "--port", port, "--no-dashboard"], **quiet
        )
    ]
    for _ in range(2):
        processes.append(
            subprocess.Popen(
                [*dask, "worker", address, "--nthreads", "1", "--no-dashboard"], **quiet
            )
        )
    try:
        yield address
    finally:
        for process in reversed(processes):
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.mark.slow
def test_sweep_on_a_separate_process_cluster(
    folder: Path, tiny_file: Path, reference: pd.DataFrame, dask_cluster: str
) -> None:
    out = folder / "cluster"
    done = cli("sweep", str(tiny_file), "--out", str(out), "--scheduler", dask_cluster)
    assert done.returncode == 0, done.stderr
    pd.testing.assert_frame_equal(ordered(read_results(out)), ordered(reference))


def test_no_scheduler_is_a_clear_error(
    tmp_path: Path, tiny_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sweep_module, "SCHEDULER_TIMEOUT", "2s")
    with pytest.raises(ExperimentError, match="cannot connect to a Dask scheduler"):
        run_sweep(
            load_experiment(tiny_file),
            tmp_path / "out",
            scheduler=f"tcp://127.0.0.1:{free_port()}",
        )


# -- reading, comparing, sensitivity -----------------------------------------------------------


def test_query_reads_the_store(folder: Path, reference: pd.DataFrame) -> None:
    done = cli(
        "query", str(folder / "one-worker"), "--csv",
        "SELECT route, count(*) AS n, avg(national_sanction_rate) AS rate FROM results "
        "GROUP BY route ORDER BY route",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    got = pd.read_csv(io.StringIO(done.stdout))
    expected = reference.groupby("route")["national_sanction_rate"].agg(["count", "mean"])
    assert got["route"].tolist() == ["benefit_office", "caseworker"]
    assert got["n"].tolist() == expected["count"].tolist()
    np.testing.assert_allclose(got["rate"], expected["mean"], rtol=1e-12)
    bad = cli("query", str(folder / "one-worker"), "SELECT nope FROM results")
    assert bad.returncode == 2 and "query: " in bad.stderr


def test_compare_groups_levers_across_replications_and_uncertainties(
    folder: Path, reference: pd.DataFrame
) -> None:
    table = comparison(folder / "one-worker")
    assert len(table.drop_duplicates(["route", "ranking"])) == 4
    row = table[
        (table["route"] == "caseworker")
        & (table["ranking"])
        & (table["outcome"] == "exit_unknown_rate")
    ].iloc[0]
    values = reference[(reference["route"] == "caseworker") & reference["ranking"]][
        "exit_unknown_rate"
    ]
    assert row["n"] == 3 * TINY_REPLICATIONS  # 3 recompliance values x 3 replications
    mean, low, high = interval(values)
    assert (row["mean"], row["spread_low"], row["spread_high"]) == pytest.approx((mean, low, high))
    assert (row["mean_ci_low"], row["mean_ci_high"]) == pytest.approx(mean_ci(values))
    assert row["se"] == pytest.approx(values.std(ddof=1) / np.sqrt(len(values)))
    _, paths = write_comparison(folder / "one-worker", folder / "compare")
    assert [p.name for p in paths] == ["compare.csv", "compare.png", "compare.html"]
    assert all(p.stat().st_size > 0 for p in paths)
    assert paths[1].read_bytes()[:4] == b"\x89PNG"


@pytest.mark.slow
def test_sobol_finds_the_one_factor_that_matters(tmp_path: Path) -> None:
    design = f'kind = "sobol"\nsamples = {SOBOL_N}'
    path = write(tmp_path, "sobol.toml", KNOWN.format(design=design))
    run_sweep(load_experiment(path), tmp_path / "out", workers=2)
    table = sensitivity(tmp_path / "out", ["national_sanction_rate", "exit_unknown_rate"])
    for outcome, rows in table.groupby("outcome"):
        inert = rows[rows["factor"] == "deduction_weeks"].iloc[0]
        # Identical results whenever only deduction_weeks differs: exactly zero.
        assert inert["S1"] == 0.0 and inert["ST"] == 0.0, outcome
        active = rows[rows["factor"] == "office_intercept"].iloc[0]
        # All the variation is the intercept's: S1 = ST = 1 within the estimate's interval.
        assert abs(active["ST"] - 1.0) <= active["ST_conf"], outcome
        assert abs(active["S1"] - 1.0) <= active["S1_conf"], outcome
    done = cli("sensitivity", str(tmp_path / "out"), "--outcome", "timeliness")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "out" / "sensitivity.png").stat().st_size > 0


@pytest.mark.slow
def test_morris_mu_star_is_zero_for_a_factor_without_effect(tmp_path: Path) -> None:
    design = f'kind = "morris"\nsamples = {MORRIS_TRAJECTORIES}'
    path = write(tmp_path, "morris.toml", KNOWN.format(design=design))
    run_sweep(load_experiment(path), tmp_path / "out", workers=1)
    table = sensitivity(tmp_path / "out", ["national_sanction_rate"]).set_index("factor")
    assert table.loc["deduction_weeks", "mu_star"] == 0.0
    assert table.loc["office_intercept", "mu_star"] > 0.0


def test_sensitivity_needs_a_complete_sampled_design(folder: Path, tmp_path: Path) -> None:
    with pytest.raises(ExperimentError, match="needs a sobol or morris design"):
        sensitivity(folder / "one-worker")


@pytest.mark.slow
def test_shipped_experiments_are_listed_printed_and_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`streetlevel experiments` lists the shipped experiments, prints one to copy, and a
    shipped experiment's name stands for its file wherever no such file exists."""
    from streetlevel.experiments.spec import shipped_experiments

    shipped = shipped_experiments()
    files = sorted(p.stem for p in example_path().parent.glob("*.toml"))
    assert sorted(shipped) == files and len(files) >= 3
    listed = cli("experiments")
    assert listed.returncode == 0
    assert all(name in listed.stdout for name in shipped)
    printed = cli("experiments", "pressure-response")
    assert printed.stdout == shipped["pressure-response"].read_text(encoding="utf-8")
    copy = tmp_path / "my-experiment.toml"
    copy.write_text(printed.stdout, encoding="utf-8")
    assert load_experiment(copy).spec == load_experiment("pressure-response").spec
    # A file of that name in the working directory wins over the shipped one.
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pressure-response").write_text("not toml [", encoding="utf-8")
    with pytest.raises(ExperimentError, match="pressure-response"):
        load_experiment("pressure-response")
    refused = cli("experiments", "no-such-experiment")
    assert refused.returncode == 2 and "route-norm-pressure" in refused.stderr
