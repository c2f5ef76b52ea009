"""The Mesa peer of the benchmark does the same work as the engine.

``benchmarks/peers/mesa_model.py`` writes the Danish regime with one Python object per client.
Its speed is compared with the engine's in ``benchmarks/run.py``; that comparison means
something only if the two simulate the same process, which is checked here on the main
indicators: the national sanction rate, the repeat share and the exit rates by destination,
each a replication's mean over the reporting years.

The engine and the peer use different random streams, so their means differ by sampling error
only. The tolerance is that error: the standard error of the difference of two independent
means, from the spread between replications on each side, times ``Z`` (two-sided 1 in 4,000 per
indicator, about 1 in 800 that any of the five fails by chance with the seeds fixed).
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest

from streetlevel.model.engine import Simulation
from streetlevel.model.tally import COUNTS
from streetlevel.output.run import default_batch_size
from tests.conftest import small

PEER = Path(__file__).parents[1] / "benchmarks" / "peers" / "mesa_model.py"
SCALE = 0.01  # about 1,260 clients in 98 municipalities: 1.2 CPU-seconds per peer replication
ENGINE_REPLICATIONS = 40
PEER_REPLICATIONS = 12
Z = 3.5
INDICATORS = ("sanction_rate", "repeat_share", "exit_work_rate", "exit_other_rate")
INDICATORS += ("exit_unknown_rate",)


def load_peer() -> ModuleType:
    spec = importlib.util.spec_from_file_location("mesa_model", PEER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["mesa_model"] = module
    spec.loader.exec_module(module)
    return module


def engine_indicators(yearly: list[dict[str, Any]], reps: int) -> npt.NDArray[np.float64]:
    """(replications x indicators): national indicators, averaged over the given years."""
    per_year = []
    for cols in yearly:
        rows = []
        for r in range(reps):
            here = cols["replication"] == r
            c = {name: float(cols[name][here].sum()) for name in COUNTS}
            rows.append(
                [
                    c["sanctioned"] / (c["weeks_in_year"] / 52),
                    c["repeat_sanctioned"] / c["sanctioned"],
                    c["exits_work"] / c["recipients"],
                    c["exits_other"] / c["recipients"],
                    c["exits_unknown"] / c["recipients"],
                ]
            )
        per_year.append(rows)
    return np.asarray(per_year).mean(axis=0)


@pytest.mark.slow
def test_peer_agrees_with_engine_in_distribution() -> None:
    peer = load_peer()
    scenario = small(scale=SCALE)
    burn_in = scenario.time.burn_in_years.value
    sim = Simulation(scenario, seed=5, replications=list(range(ENGINE_REPLICATIONS)))
    sim.run()
    engine = engine_indicators(sim.yearly[burn_in:], ENGINE_REPLICATIONS)
    rows = []
    for seed in range(PEER_REPLICATIONS):
        model = peer.DanishModel(scenario, seed=100 + seed)
        model.run()
        table = model.datacollector.get_model_vars_dataframe()
        rows.append(table[table.year >= burn_in][list(INDICATORS)].mean().to_numpy())
    mesa = np.asarray(rows)
    se = np.sqrt(engine.var(axis=0, ddof=1) / len(engine) + mesa.var(axis=0, ddof=1) / len(mesa))
    diff = engine.mean(axis=0) - mesa.mean(axis=0)
    for name, d, s, e in zip(INDICATORS, diff, se, engine.mean(axis=0), strict=True):
        assert abs(d) <= Z * s, f"{name}: engine {e:.4f}, peer {e - d:.4f}, {d / s:+.1f} SE"
    # The comparison has power: the sanction rate is known to a few per cent of itself.
    assert se[0] < 0.05 * engine.mean(axis=0)[0]


def test_peer_is_reproducible_and_refuses_other_regimes() -> None:
    peer = load_peer()
    scenario = small(scale=0.002, time__reporting_years=1, time__burn_in_years=0)
    tables = []
    for _ in range(2):
        model = peer.DanishModel(scenario, seed=3)
        model.run()
        tables.append(model.datacollector.get_model_vars_dataframe())
    assert tables[0].equals(tables[1])
    with pytest.raises(ValueError, match="periodical"):
        peer.DanishModel(small(scale=0.002, legislation__sanction_type="deduction"), seed=3)


def test_the_benchmark_alternates_engine_and_peer_and_reports_medians() -> None:
    """``benchmarks/run.py --rounds 2`` times the engine and the peer twice, in turn, and
    prints each round's ratio and the medians (what is timed is not checked here: speed is
    measured by the benchmark, never in the tests)."""
    script = Path(__file__).parents[1] / "benchmarks" / "run.py"
    args = ["--preset", "municipality-b", "--replications", "1", "--peer-weeks", "1"]
    args += ["--rounds", "2", "--skip-scaling"]
    out = subprocess.run(
        [sys.executable, str(script), *args], capture_output=True, text=True, check=True
    ).stdout
    lines = out.splitlines()
    kinds = [line.split(":")[1].strip() for line in lines if line.startswith("round")]
    assert kinds == ["engine", "mesa", "ratio"] * 2
    ratios = [float(line.split("=")[1].rstrip("x")) for line in lines if "ratio  :" in line]
    assert len(ratios) == 2 and all(r > 0 for r in ratios)
    assert lines[-1].startswith("median over 2 rounds: engine")
    median = float(lines[-1].rsplit("ratio", 1)[1].strip().rstrip("x"))
    assert min(ratios) - 1 <= median <= max(ratios) + 1  # the printed ratios are rounded


@pytest.mark.slow
def test_the_scaling_curve_times_each_size_alone_and_batched_as_run_batches_it(
    tmp_path: Path,
) -> None:
    """``benchmarks/run.py`` times each size for one replication, then for as many as
    ``streetlevel run`` simulates together, and writes both curves (the times themselves are
    the benchmark's business, not the tests')."""
    script = Path(__file__).parents[1] / "benchmarks" / "run.py"
    args = ["--skip-peer", "--sizes", "3e3,3e4", "--weeks", "1", "--out", str(tmp_path)]
    out = subprocess.run(
        [sys.executable, str(script), *args], capture_output=True, text=True, check=True
    ).stdout
    table = pd.read_csv(tmp_path / "scaling.csv")
    assert (tmp_path / "scaling.png").stat().st_size > 0
    assert sorted(table["batched"]) == [False, False, True, True]
    alone, batched = table[~table["batched"]], table[table["batched"]]
    assert list(alone["replications"]) == [1, 1]
    assert list(batched["clients"]) == list(alone["clients"])
    # As many replications as a run's batch holds: about a million client slots.
    assert list(batched["replications"]) == [default_batch_size(n) for n in batched["clients"]]
    assert all(batched["replications"] > 1)
    # Rounded to 1e-4 s and to four significant digits.
    total = table["cpu_seconds_per_replication"] * table["replications"]
    assert np.allclose(total, table["cpu_seconds"], rtol=1e-3, atol=1e-4)
    assert any(line.startswith("one replication: log-log slopes") for line in out.splitlines())
    assert any(line.startswith("batched: log-log slopes") for line in out.splitlines())
