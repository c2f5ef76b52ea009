"""Experiments: policy sweeps and sensitivity analysis over a scenario, run on Dask.

An experiment file (:mod:`~streetlevel.experiments.spec`) names a base scenario, the levers
and uncertainties that vary over it and a design (:mod:`~streetlevel.experiments.design`);
:func:`~streetlevel.experiments.sweep.run_sweep` runs its points on a Dask cluster into a results
store (:mod:`~streetlevel.experiments.store`) that can be read while it runs and that a new
sweep resumes; :mod:`~streetlevel.experiments.compare` and
:mod:`~streetlevel.experiments.sensitivity` analyse the stored results. See
``docs/experiments.md``.

May import ``analysis``, ``output``, ``model`` and ``scenario``; never reaches inside the
engine.
"""

from __future__ import annotations

from streetlevel.experiments.spec import Experiment, example_path, load_experiment
from streetlevel.experiments.store import connect, read_results
from streetlevel.experiments.sweep import SweepResult, run_sweep

__all__ = [
    "Experiment",
    "SweepResult",
    "connect",
    "example_path",
    "load_experiment",
    "read_results",
    "run_sweep",
]
