"""The compiled kernels give the numbers NumPy gives, bit for bit (streetlevel.model.kernels)."""

from __future__ import annotations

from dataclasses import fields

import numpy as np
import pytest

from streetlevel.model import kernels
from streetlevel.model.engine import Simulation
from streetlevel.scenario.loading import load_scenario


@pytest.fixture(autouse=True)
def _numba() -> None:
    """Numba is in the test extra: a test run without it has not tested the kernels."""
    if not kernels.numba_enabled():
        pytest.fail("Numba is not installed (pip install -e '.[test]' installs it)")


@pytest.mark.parametrize("density", [0.0, 0.001, 0.015, 0.08, 0.5, 1.0])
def test_flat_true_is_flatnonzero(density: float) -> None:
    rng = np.random.default_rng(1)
    mask = rng.random((3, kernels.MIN_SIZE // 2 + 7)) < density
    got = kernels.flat_true(mask)
    assert kernels._kernels is not None  # the compiled kernels, not the NumPy fallback
    assert got.dtype == np.intp
    np.testing.assert_array_equal(got, np.flatnonzero(mask))


def test_national_weeks_identical_with_and_without_numba(monkeypatch: pytest.MonkeyPatch) -> None:
    scenario = load_scenario("denmark-2011")  # 2 x 125,800 slots: above MIN_SIZE
    states = []
    for compiled in (True, False):
        if not compiled:
            monkeypatch.setattr(kernels, "_kernels", None)
            monkeypatch.setattr(kernels, "_tried", True)
        sim = Simulation(scenario, seed=3, replications=[0, 1])
        for _ in range(60):  # past a year end
            sim.step()
        states.append(sim.state)
    for f in fields(states[0]):
        np.testing.assert_array_equal(getattr(states[0], f.name), getattr(states[1], f.name))
