"""Shared helpers: small scenarios built from the presets by changing a few values."""

from __future__ import annotations

from typing import Any

import pytest

from streetlevel.engine import Simulation
from streetlevel.loading import load_scenario, with_values
from streetlevel.scenario import Scenario


def small(preset: str = "denmark-2011", scale: float = 0.05, **values: Any) -> Scenario:
    """A preset at ``scale`` clients per recipient, with values set by key path.

    Key paths use ``__`` for dots in keyword form: ``decision__caseworker__intercept=-3``.
    """
    changes = {"scale.client_scale": scale}
    changes.update({k.replace("__", "."): v for k, v in values.items()})
    return with_values(load_scenario(preset), changes, "test")


def simulation(scenario: Scenario, seed: int = 1, replications: int = 2) -> Simulation:
    return Simulation(scenario, seed, list(range(replications)))


@pytest.fixture
def tiny() -> Scenario:
    """Municipality B alone, one burn-in and one reporting year: a run takes a fraction of a
    second."""
    return small("municipality-b", scale=1.0, time__burn_in_years=1, time__reporting_years=1)
