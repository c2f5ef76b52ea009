"""Throughput of the engine against its Mesa peer, and how the engine scales with clients.

    python benchmarks/run.py [--preset denmark-2011] [--replications 8] [--peer-weeks 4]
                             [--rounds 3] [--sizes 1e3,1e4,1e5,1e6,1e7] [--weeks 52]
                             [--out benchmarks/results]

1. **Engine against peer**, on the same scenario in one run: the engine simulates the whole
   run (burn-in and reporting years, no tables written) for ``--replications`` replications;
   the Mesa peer (``benchmarks/peers/mesa_model.py``, installed with ``pip install -e
   '.[bench]'``) simulates ``--peer-weeks`` weeks of one replication after building its
   agents. Both are timed in CPU seconds of the stepping alone (the machine is shared, and
   CPU time varies less with the neighbours than wall time) and reported in client-weeks per
   second; the ratio is printed. With ``--rounds N`` the two alternate N times (the peer
   stepping on from where it was) and the medians are printed: on a shared machine the
   speed changes between minutes, so a ratio within one round is the steadier figure.
2. **Scaling**: the engine for ``--weeks`` weeks at each size (clients, by
   ``scale.client_scale``), first for one replication, then for as many replications as
   ``streetlevel run`` simulates together at that size (about a million client slots: 100
   replications of 10,000 clients in one set of arrays), which is how the tool runs small
   populations. Each point runs in a fresh process so that its peak resident memory
   (``VmHWM``) is its own; memory per client is the peak above the process's baseline
   after imports and loading the scenario. Time is compared per replication, and the
   log-log slope of time against clients between neighbouring sizes is printed (1 is
   linear). Written as ``scaling.csv``, ``scaling.md`` and ``scaling.png`` in ``--out``.

Speed is measured here, never in the tests.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from streetlevel.analysis.reports import new_figure, save_png
from streetlevel.model import kernels
from streetlevel.model.country import build_country
from streetlevel.model.engine import Simulation
from streetlevel.output.files import write_text_atomic
from streetlevel.output.run import default_batch_size, plan_batches
from streetlevel.scenario.loading import load_scenario, with_values

PEER = Path(__file__).parent / "peers" / "mesa_model.py"


def engine_throughput(preset: str, replications: int, seed: int) -> tuple[float, int]:
    """CPU seconds and client-weeks of the engine's stepping (whole runs, batched as
    ``streetlevel run`` batches them)."""
    scenario = load_scenario(preset)
    cpu, client_weeks = 0.0, 0
    slots = Simulation(scenario, seed, [0]).country.n_slots
    for batch in plan_batches(replications, default_batch_size(slots)):
        reps = batch.replications
        sim = Simulation(scenario, seed, reps)
        started = time.process_time()
        sim.run()
        cpu += time.process_time() - started
        client_weeks += sim.total_weeks * sim.country.n_slots * len(reps)
    return cpu, client_weeks


def peer_model(preset: str, seed: int) -> Any:
    """The Mesa peer's model of one replication, built (its setup is not timed)."""
    spec = importlib.util.spec_from_file_location("mesa_model", PEER)
    assert spec is not None and spec.loader is not None
    peer = importlib.util.module_from_spec(spec)
    sys.modules["mesa_model"] = peer
    spec.loader.exec_module(peer)
    return peer.DanishModel(load_scenario(preset), seed)


def peer_throughput(model: Any, weeks: int) -> tuple[float, int]:
    """CPU seconds and client-weeks of ``weeks`` more weeks of the Mesa peer's stepping."""
    started = time.process_time()
    client_weeks = 0
    for _ in range(weeks):
        client_weeks += len(model.agents)
        model.step()
    return time.process_time() - started, client_weeks


def engine_against_peer(args: argparse.Namespace) -> None:
    """Print the engine's and the peer's throughput and their ratio, in ``args.rounds``
    alternating rounds: on a shared machine the speed changes from minute to minute, and a
    ratio measured within one round, then the median over rounds, is the steadier figure."""
    print(f"preset {args.preset}; CPU time (the machine is shared: wall time is noisier)")
    model = None if args.skip_peer else peer_model(args.preset, args.seed)
    engines, peers, ratios = [], [], []
    for round_ in range(1, args.rounds + 1):
        label = f"round {round_}: " if args.rounds > 1 else ""
        cpu, cw = engine_throughput(args.preset, args.replications, args.seed)
        engines.append(cw / cpu)
        print(
            f"{label}engine : {cw / cpu / 1e6:8.2f} M client-weeks per CPU-second "
            f"({cw:,} in {cpu:.1f} s)"
        )
        if model is not None:
            cpu, cw = peer_throughput(model, args.peer_weeks)
            peers.append(cw / cpu)
            ratios.append(engines[-1] / peers[-1])
            print(
                f"{label}mesa   : {cw / cpu / 1e6:8.3f} M client-weeks per CPU-second "
                f"({cw:,} in {cpu:.1f} s)"
            )
            print(f"{label}ratio  : engine / mesa = {ratios[-1]:.0f}x")
    if args.rounds > 1:
        print(f"median over {args.rounds} rounds: engine {np.median(engines) / 1e6:.2f} M", end="")
        if ratios:
            print(f", mesa {np.median(peers) / 1e6:.3f} M, ratio {np.median(ratios):.0f}x", end="")
        print()


def _peak_bytes() -> int:
    """This process's peak resident memory (VmHWM).

    Not ``getrusage``'s ``ru_maxrss``: on Linux a child inherits its parent's, so a point run
    after the Mesa peer would report the peer's peak.
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # not Linux: kilobytes


def scaling_point(
    preset: str, clients: int, weeks: int, seed: int, batched: bool
) -> dict[str, Any]:
    """One point of the curve: time and peak memory of ``weeks`` weeks at ``clients`` clients,
    for one replication or, ``batched``, for as many as ``streetlevel run`` simulates together
    at that size (``run.default_batch_size``: about a million client slots).

    Run in a fresh process (``--point``): the peak never falls, so an earlier, larger point
    would hide this one's peak.
    """
    base = load_scenario(preset)
    national = build_country(base).n_slots
    scenario = with_values(base, {"scale.client_scale": clients / national}, "benchmark")
    before_kernels = _peak_bytes()
    # The compiled kernels are loaded before the baseline: Numba and LLVM take about 110 MB
    # once per process, whatever the clients, which is not memory per client (at 10^6
    # clients it would add 110 bytes to each). It is reported as kernels_mb.
    kernels.flat_true(np.zeros(kernels.MIN_SIZE, dtype=bool))
    baseline = _peak_bytes()
    n = build_country(scenario).n_slots
    replications = default_batch_size(n) if batched else 1
    sim = Simulation(scenario, seed, list(range(replications)))
    # The stepping is timed (as for the engine against the peer); memory includes the setup.
    started, cpu = time.perf_counter(), time.process_time()
    for _ in range(weeks):
        sim.step()
    cpu = time.process_time() - cpu
    wall = time.perf_counter() - started
    peak = _peak_bytes()
    return {
        "clients": n,
        "batched": batched,
        "replications": replications,
        "weeks": weeks,
        "cpu_seconds": round(cpu, 4),
        "cpu_seconds_per_replication": float(f"{cpu / replications:.4g}"),
        "wall_seconds": round(wall, 3),
        "client_weeks_per_cpu_second": round(n * replications * weeks / cpu),
        "peak_rss_mb": round(peak / 1e6, 1),
        "kernels_mb": round((baseline - before_kernels) / 1e6, 1),
        "bytes_per_client": round((peak - baseline) / (n * replications), 1),
    }


def scaling(args: argparse.Namespace) -> pd.DataFrame:
    """Each size alone (one replication), then batched as ``streetlevel run`` batches it."""
    rows: list[dict[str, Any]] = []
    for batched in (False, True):
        print("batched as `streetlevel run` batches them:" if batched else "one replication:")
        for i, size in enumerate(args.sizes):
            if batched and default_batch_size(rows[i]["clients"]) == 1:
                rows.append({**rows[i], "batched": True})  # the same run: not timed twice
            else:
                command = [sys.executable, __file__, "--preset", args.preset]
                command += ["--seed", str(args.seed), "--weeks", str(args.weeks)]
                command += ["--point", str(int(size))] + (["--batched"] if batched else [])
                done = subprocess.run(command, capture_output=True, text=True, check=True)
                rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
            row = rows[-1]
            print(
                f"  {row['clients']:>10,} clients x {row['replications']:>5,}: "
                f"{row['cpu_seconds']:7.2f} CPU s, "
                f"{row['client_weeks_per_cpu_second'] / 1e6:6.1f} M client-weeks/s, "
                f"{row['bytes_per_client']:6.0f} bytes per client",
                flush=True,
            )
    return pd.DataFrame(rows)


def linearity(table: pd.DataFrame) -> list[str]:
    """Lines that say how time grows with clients: the slope of log time against log clients
    between neighbouring sizes (1 is linear) and the spread of the time per client-week."""
    lines = []
    for batched, curve in table.groupby("batched", sort=True):
        label = "batched" if batched else "one replication"
        ordered = curve.sort_values("clients")
        x = np.log10(ordered["clients"].to_numpy(float))
        y = np.log10(ordered["cpu_seconds_per_replication"].to_numpy(float))
        slopes = ", ".join(f"{s:.2f}" for s in np.diff(y) / np.diff(x))
        rate = ordered["client_weeks_per_cpu_second"]
        lines.append(
            f"{label}: log-log slopes between sizes {slopes or '-'}; throughput "
            f"{rate.min() / 1e6:.1f}-{rate.max() / 1e6:.1f} M client-weeks/s "
            f"({rate.max() / rate.min():.2f}x)"
        )
    return lines


def markdown(table: pd.DataFrame) -> str:
    """A Markdown table (pandas' to_markdown needs tabulate, which the package does not)."""
    lines = ["| " + " | ".join(table.columns) + " |", "|" + "---|" * len(table.columns)]
    lines += ["| " + " | ".join(map(_cell, row)) + " |" for row in table.itertuples(False)]
    return "\n".join(lines) + "\n"


def _cell(value: Any) -> str:
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    return f"{value:,}"


def write_curve(table: pd.DataFrame, out: Path, title: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(table.to_csv(index=False), out / "scaling.csv")
    write_text_atomic(markdown(table), out / "scaling.md")
    fig = new_figure(10.0, 4.5)
    time_ax, mem_ax = fig.subplots(1, 2)
    curves = [(table[~table["batched"]], "one replication")]
    curves.append((table[table["batched"]], "batched as `run` batches them"))
    curves = [(curve.sort_values("clients"), label) for curve, label in curves if len(curve)]
    for curve, label in curves:
        time_ax.loglog(curve["clients"], curve["cpu_seconds_per_replication"], "o-", label=label)
    last = table.sort_values("clients").iloc[-1]
    sizes = np.sort(table["clients"].unique())
    ideal = last["cpu_seconds_per_replication"] * sizes / last["clients"]
    time_ax.loglog(sizes, ideal, ":", color="grey", label="linear")
    time_ax.set(xlabel="clients", ylabel="CPU seconds per replication", title=title)
    time_ax.legend()
    for curve, label in curves:
        mem_ax.semilogx(curve["clients"], curve["bytes_per_client"], "o-", label=label)
    mem_ax.set(xlabel="clients", ylabel="peak memory above baseline, bytes per client")
    mem_ax.set_ylim(bottom=0)
    mem_ax.legend()
    save_png(fig, out / "scaling.png")


def parse_sizes(text: str) -> list[float]:
    return [float(x) for x in text.split(",")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="denmark-2011")
    # One batch of `streetlevel run` for denmark-2011 (8 replications of 125,800 clients).
    parser.add_argument("--replications", type=int, default=8)
    parser.add_argument("--peer-weeks", type=int, default=4)
    parser.add_argument("--sizes", type=parse_sizes, default=parse_sizes("1e3,1e4,1e5,1e6,1e7"))
    parser.add_argument("--weeks", type=int, default=52, help="weeks per scaling point")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    parser.add_argument(
        "--rounds", type=int, default=3, help="alternating engine and peer rounds (median)"
    )
    parser.add_argument("--skip-peer", action="store_true")
    parser.add_argument("--skip-scaling", action="store_true")
    parser.add_argument("--point", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--batched", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.point is not None:
        point = scaling_point(args.preset, args.point, args.weeks, args.seed, args.batched)
        print(json.dumps(point))
        return
    engine_against_peer(args)
    if not args.skip_scaling:
        print(f"scaling, {args.weeks} weeks")
        table = scaling(args)
        write_curve(table, args.out, f"{args.preset}, {args.weeks} weeks")
        print(markdown(table))
        print("\n".join(linearity(table)))
        print(f"written to {args.out}/scaling.{{csv,md,png}}")


if __name__ == "__main__":
    main()
