"""Designs: which points of an experiment are run, and each point's seed.

A design is a table with one row per point: ``point`` (0, 1, ...), ``seed``, one column per
factor holding what the point sets (a level's name, a value, or a number drawn from a range),
and ``x_<factor>``, the design's own coordinate (the level's index in a full factorial; the
number SALib drew otherwise), from which the factor's value is derived and which sensitivity
analysis needs.

- ``full_factorial``: every combination of every factor's levels, the first factor varying
  slowest; with ``uncertainty_samples = n``, every combination of the levers' levels crossed
  with the same n Latin hypercube draws of the uncertainties (EMA's policies x scenarios).
- ``latin_hypercube``, ``sobol``, ``morris``: SALib's samplers over the factors' ranges, seeded
  with the experiment's seed. A factor with levels is sampled on ``[0, number of levels)`` and
  takes the level at the whole part (so each level covers an equal share of the range).

>>> from streetlevel.experiments.spec import example_path, load_experiment
>>> table = build_design(load_experiment(example_path()))
>>> len(table), list(table.columns[:5])
(12, ['point', 'seed', 'route', 'norm', 'pressure'])
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from streetlevel.experiments.spec import Experiment, Factor

__all__ = ["build_design", "point_seed", "point_values", "salib_problem"]


def point_seed(seed: int, point: int, common: bool) -> int:
    """The seed of a point's run: its replication r then draws from
    ``SeedSequence(point_seed, spawn_key=(r,))`` (see :mod:`streetlevel.model.streams`).

    With common random numbers every point uses the experiment's seed; otherwise the point's
    seed is drawn from ``SeedSequence(seed, spawn_key=(point,))``, so it depends only on the
    experiment's seed and the point's index, never on which worker runs it.

    >>> point_seed(7, 3, common=True)
    7
    >>> point_seed(7, 3, common=False) == point_seed(7, 3, common=False) != point_seed(7, 4, False)
    True
    """
    if common:
        return seed
    state = np.random.SeedSequence(seed, spawn_key=(point,)).generate_state(1, np.uint64)
    return int(state[0]) >> 1  # a valid scenario Seed: below 2**63


def salib_problem(factors: list[Factor]) -> dict[str, Any]:
    """The SALib problem: one variable per factor, bounded by its range or [0, levels)."""
    return {
        "num_vars": len(factors),
        "names": [f.name for f in factors],
        "bounds": [
            list(f.range) if f.range is not None else [0.0, float(len(f.labels))] for f in factors
        ],
    }


def design_size(experiment: Experiment) -> int:
    """The points :func:`build_design` will make, without making them (for the size guard)."""
    design = experiment.spec.design
    k = len(experiment.factors)
    n = int(design.samples or 0)
    if design.kind == "full_factorial":
        levers = experiment.spec.levers if design.uncertainty_samples else experiment.factors
        combos = int(np.prod([len(f.labels) for f in levers], dtype=np.float64))
        return combos * int(design.uncertainty_samples or 1)
    if design.kind == "latin_hypercube":
        return n
    if design.kind == "sobol":
        return n * (2 * k + 2 if design.second_order else k + 2)
    return n * (k + 1)  # morris: trajectories of k + 1 points


def build_design(experiment: Experiment) -> pd.DataFrame:
    """The design table of ``experiment`` (see the module's docstring)."""
    design = experiment.spec.design
    factors = experiment.factors
    seed = experiment.spec.experiment.seed
    if design.kind == "full_factorial" and design.uncertainty_samples is not None:
        x = _crossed(experiment, design.uncertainty_samples)
    elif design.kind == "full_factorial":
        x = _levels(factors)
    else:
        x = _salib_sample(experiment)
    common = experiment.spec.experiment.common_random_numbers
    table: dict[str, Any] = {
        "point": np.arange(len(x), dtype=np.int64),
        "seed": np.array([point_seed(seed, i, common) for i in range(len(x))], dtype=np.int64),
    }
    for j, factor in enumerate(factors):
        whole = _whole(experiment, factor)
        table[factor.name] = _column([_value(factor, v, whole) for v in x[:, j]])
    for j, factor in enumerate(factors):
        table[f"x_{factor.name}"] = x[:, j]
    return pd.DataFrame(table)


def point_values(experiment: Experiment, table: pd.DataFrame) -> list[dict[str, Any]]:
    """Each design row's factor values as the experiment sets them, from its ``x_`` columns
    (so a design read back from disk gives the values it was written with)."""
    whole = {f.name: _whole(experiment, f) for f in experiment.factors}
    x = {f.name: table[f"x_{f.name}"].to_numpy(dtype=np.float64) for f in experiment.factors}
    return [
        {f.name: _value(f, float(x[f.name][i]), whole[f.name]) for f in experiment.factors}
        for i in range(len(table))
    ]


def _levels(factors: list[Factor]) -> npt.NDArray[np.float64]:
    """Every combination of the factors' level indices, the first factor varying slowest."""
    combos = list(itertools.product(*[range(len(f.labels)) for f in factors]))
    return np.array(combos, dtype=np.float64).reshape(len(combos), len(factors))


def _crossed(experiment: Experiment, samples: int) -> npt.NDArray[np.float64]:
    """Every lever combination crossed with one Latin hypercube of the uncertainties."""
    from SALib.sample import latin

    levers = _levels(experiment.spec.levers)
    problem = salib_problem(experiment.spec.uncertainties)
    draws = np.asarray(
        latin.sample(problem, samples, seed=experiment.spec.experiment.seed), dtype=np.float64
    )
    return np.hstack([np.repeat(levers, len(draws), axis=0), np.tile(draws, (len(levers), 1))])


def _salib_sample(experiment: Experiment) -> npt.NDArray[np.float64]:
    from SALib.sample import latin, morris, sobol

    design = experiment.spec.design
    problem = salib_problem(experiment.factors)
    seed = experiment.spec.experiment.seed
    n = int(design.samples or 0)
    if design.kind == "latin_hypercube":
        sample = latin.sample(problem, n, seed=seed)
    elif design.kind == "sobol":
        sample = sobol.sample(problem, n, calc_second_order=design.second_order, seed=seed)
    else:
        sample = morris.sample(problem, n, num_levels=design.grid_levels, seed=seed)
    return np.asarray(sample, dtype=np.float64)


def _whole(experiment: Experiment, factor: Factor) -> bool:
    return factor.range is not None and experiment.whole(factor)


def _value(factor: Factor, x: float, whole: bool) -> Any:
    if factor.range is None:
        labels = factor.labels
        return labels[min(int(np.floor(x)), len(labels) - 1)]
    return round(x) if whole else float(x)


def _column(values: list[Any]) -> list[Any]:
    """Values of one type stay as they are; a mix (e.g. 1 and "a") is stored as text."""
    kinds = {type(v) for v in values}
    if kinds <= {int, float} or len(kinds) == 1:
        return values
    return [str(v) for v in values]
