"""The figures behind the size guard (``streetlevel.output.sizing``), measured.

    python benchmarks/memory.py [--preset denmark-2011] [--replications 8]

Runs one batch of ``--replications`` replications of the preset, writing its tables, in a
fresh process, and prints:

- the process's resident memory after imports and loading the scenario (``PROCESS_BASE_BYTES``);
- its peak resident memory per client slot above that (``BYTES_PER_SLOT``), state and a year of
  buffered rows included;
- the bytes written per client-year of a reporting year (``BYTES_PER_CLIENT_YEAR_ON_DISK``).

The constants in ``streetlevel/output/sizing.py`` must stay above what this prints, with room
for scenarios with more events per client; docs/performance.md records the runs.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile

CHILD = """
import json, sys, pathlib
from streetlevel.scenario.loading import load_scenario
from streetlevel.model.country import build_country
from streetlevel.output.run import Batch, simulate_batch

def rss(field):
    for line in open("/proc/self/status"):
        if line.startswith(field):
            return int(line.split()[1]) * 1024

scenario = load_scenario(sys.argv[1])
slots = build_country(scenario).n_slots
base = rss("VmRSS:")
out = pathlib.Path(sys.argv[3])
rows = simulate_batch(scenario, 1, Batch(0, int(sys.argv[2])), out)
written = sum(p.stat().st_size for p in out.rglob("*.parquet"))
print(json.dumps({"slots": slots, "base": base, "peak": rss("VmHWM:"), "written": written,
                  "years": scenario.time.reporting_years.value, "rows": rows}))
"""


def measure(preset: str, replications: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as out:
        raw = subprocess.run(
            [sys.executable, "-c", CHILD, preset, str(replications), out],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    m = json.loads(raw)
    batch_slots = m["slots"] * replications
    client_years = batch_slots * m["years"]
    return {
        "clients per replication": m["slots"],
        "replications in the batch": replications,
        "base MB": m["base"] / 2**20,
        "peak MB": m["peak"] / 2**20,
        "bytes per slot (peak above base)": (m["peak"] - m["base"]) / batch_slots,
        "bytes on disk per client-year": m["written"] / client_years,
        "event rows per client-year": m["rows"]["events"] / client_years,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="denmark-2011")
    parser.add_argument("--replications", type=int, default=8)
    args = parser.parse_args()
    for name, value in measure(args.preset, args.replications).items():
        print(f"{name:36s} {value:12,.1f}")


if __name__ == "__main__":
    main()
