"""Random streams: the fast draws give NumPy's numbers bit for bit (streetlevel.model.streams)."""

from __future__ import annotations

import numpy as np
import pytest

from streetlevel.model.streams import Streams


@pytest.mark.parametrize(
    "p", [1.1125369292536007e-308, 1e-300, 1e-9, 0.004, 1 / 13, 0.2, 0.3333, 1 / 3, 0.5, 0.9, 1.0]
)
def test_geometric_fixed_is_numpys_geometric(p: float) -> None:
    counts = np.array([0, 40_000, 3, 25_000])
    fast, numpy = Streams(11, [0, 1, 2, 3]), Streams(11, [0, 1, 2, 3])
    got = fast.geometric_fixed(p, counts)
    want = numpy.geometric(np.full(counts.sum(), p), counts)
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, want)
    # The streams stand where NumPy's leave them: the next draws agree too.
    np.testing.assert_array_equal(fast.uniform(counts), numpy.uniform(counts))


@pytest.mark.parametrize("p", [1.1125369292536007e-308, 1e-300])
def test_geometric_of_a_vanishing_p_saturates_as_numpy_does(p: float) -> None:
    counts = np.array([100])
    fixed = Streams(2, [0]).geometric_fixed(p, counts)
    table = Streams(2, [0]).geometric_of(np.array([0.0, p]), np.ones(100, dtype=np.intp), counts)
    assert np.all(fixed == np.iinfo(np.int64).max) and np.all(table == fixed)


@pytest.mark.parametrize(
    "table", [[0.0, 0.01, 0.2], [0.5, 0.01, 0.2], [0.3, 0.01, 1.0], [1.0, 0.01, 0.2]]
)
def test_geometric_of_a_table_is_numpys_geometric(table: list[float]) -> None:
    p = np.array(table)
    counts = np.array([3_000, 0, 5_000])
    index = np.random.default_rng(4).integers(1, 3, counts.sum())
    fast, numpy = Streams(5, [0, 1, 2]), Streams(5, [0, 1, 2])
    np.testing.assert_array_equal(
        fast.geometric_of(p, index, counts), numpy.geometric(p[index], counts)
    )
    np.testing.assert_array_equal(fast.uniform(counts), numpy.uniform(counts))
