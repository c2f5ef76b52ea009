"""Client-weeks simulated per second, for the national scenario.

    python benchmarks/throughput.py [--preset denmark-2011] [--replications 10] [--record]

Prints the engine's throughput alone (no tables written) and, with ``--record``, a whole run
that writes its Parquet tables too. Speed is measured here, never in the tests.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from streetlevel.model.engine import Simulation
from streetlevel.output.run import default_batch_size, plan_batches, run_scenario
from streetlevel.scenario.loading import load_scenario


def engine_only(preset: str, replications: int, seed: int) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds and client-weeks of the engine alone."""
    scenario = load_scenario(preset)
    started, cpu = time.perf_counter(), time.process_time()
    client_weeks = 0
    sim = Simulation(scenario, seed, [0])
    for batch in plan_batches(replications, default_batch_size(sim.country.n_slots)):
        reps = batch.replications
        sim = Simulation(scenario, seed, reps)
        sim.run()
        client_weeks += sim.total_weeks * sim.country.n_slots * len(reps)
    return time.perf_counter() - started, time.process_time() - cpu, client_weeks


def whole_run(preset: str, replications: int, seed: int) -> tuple[float, int]:
    scenario = load_scenario(preset)
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        result = run_scenario(scenario, seed=seed, replications=replications, out=Path(tmp) / "r")
        return time.perf_counter() - started, int(result.manifest["client_weeks"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="denmark-2011")
    parser.add_argument("--replications", type=int, default=10)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--record", action="store_true", help="also time a whole run")
    args = parser.parse_args()
    print(f"preset {args.preset}, {args.replications} replications, {os.cpu_count()} cores")
    seconds, cpu, cw = engine_only(args.preset, args.replications, args.seed)
    # On a shared virtual machine wall time varies with the neighbours; CPU time less so.
    print(
        f"engine only : {seconds:6.2f} s  {cw / seconds / 1e6:6.1f} million client-weeks/s "
        f"(CPU {cpu:.2f} s: {cw / cpu / 1e6:.1f} million per CPU-second)"
    )
    sim = Simulation(load_scenario(args.preset), args.seed, [0])
    per_client = (sim.state.nbytes() + sim.scratch_nbytes()) / sim.country.n_slots
    print(f"state       : {per_client:6.0f} bytes per client slot and replication")
    if args.record:
        seconds, cw = whole_run(args.preset, args.replications, args.seed)
        print(f"whole run   : {seconds:6.2f} s  {cw / seconds / 1e6:6.1f} million client-weeks/s")


if __name__ == "__main__":
    main()
