"""Regenerate tests/golden/tiny_summary.json after an intended change to the model."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from streetlevel.output.run import run_scenario
from streetlevel.output.summary import summarize
from tests.conftest import small

if __name__ == "__main__":
    tiny = small("municipality-b", scale=1.0, time__burn_in_years=1, time__reporting_years=1)
    with tempfile.TemporaryDirectory() as tmp:
        result = run_scenario(tiny, seed=11, replications=2, out=Path(tmp) / "run")
        summary = summarize(result.out)
    data = {i.name: [i.mean, i.low, i.high] for i in summary.indicators}
    path = Path(__file__).with_name("tiny_summary.json")
    path.write_text(json.dumps(data, indent=1) + "\n")
    print(f"wrote {path}")
