"""Random streams: one generator per replication, all from one seed.

Replication ``r`` draws from ``SeedSequence(seed, spawn_key=(r,))`` and from nothing else, so its
results depend only on the seed and ``r``: running replications 0-9 in one batch, or one per
worker, gives bit-identical output (the trap of Mesa #2835, replications sharing a stream,
cannot happen). Draws for a subset of clients (``mask``) are taken replication by replication
in row-major order, so each replication's stream advances by its own subset only.
"""

from __future__ import annotations

import itertools
import math
from enum import IntEnum
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["Stream", "Streams"]

F32 = npt.NDArray[np.float32]
_INVERSION_BELOW = 0.333333333333333333333333
"""NumPy's geometric draws by inversion below this p, by search above (distributions.c)."""
_INT64_LIMIT = float(2**63)
"""The first float beyond int64, where NumPy's geometric returns INT64_MAX instead."""


class Stream(IntEnum):
    """The child-stream keys of the submodels that draw apart from the main stream
    (:meth:`Streams.child`), all in one place so that no two submodels share a key by
    accident, which would silently correlate their draws. The numbers are those the
    submodels have always used: changing one changes every result that draws from it."""

    PLACEMENT = 9
    """Job-placement proposals and the caseworkers' decisions (docs/model.md section 3, step 9)."""
    SURVEY = 26
    """The survey's own draws: proposals, sampling, answers."""
    POOL = 27
    """Further countries pooled when a survey outgrows one."""
    SAMPLING = 28
    """DK's sampling funnel: invitations, screening, response (docs/survey.md)."""
    VIGNETTE = 29
    """The vignette design's common proposals and decisions (docs/survey.md)."""
    ATTITUDE = 72
    """Caseworkers' answers to the attitude questions (docs/model.md 7.13)."""
    CATEGORY_MIX = 32
    """Each drawn municipality's mix of client categories, drawn once per country from the
    synthetic seed (:mod:`streetlevel.model.country`), not per replication."""
    CULTURE = 31
    """Each office's own culture of strictness, drawn once per country from the synthetic
    seed (:mod:`streetlevel.model.culture`), not per replication."""


class Streams:
    """Per-replication generators with helpers for whole-array and subset draws."""

    def __init__(self, seed: int, replications: list[int], key: tuple[int, ...] = ()) -> None:
        self.seed = seed
        self.replications = list(replications)
        self.key = key
        self.generators = [
            np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(r, *key))))
            for r in self.replications
        ]

    def child(self, *key: int) -> Streams:
        """Independent streams for one submodel, e.g. caseworker attitudes.

        Replication ``r`` of the child draws from ``SeedSequence(seed, spawn_key=(r, *self.key,
        *key))``: a submodel that draws from its own child never shifts the main streams, so
        adding it leaves every other draw, and every earlier result, as it was.
        """
        return Streams(self.seed, self.replications, (*self.key, *map(int, key)))

    def uniform_into(self, out: F32) -> None:
        """Fill ``out`` (replications x clients) with U(0, 1) float32 draws."""
        for row, gen in zip(out, self.generators, strict=True):
            gen.random(dtype=np.float32, out=row)

    def uniform(self, counts: npt.NDArray[np.intp]) -> npt.NDArray[np.float64]:
        """``counts[r]`` U(0, 1) draws from replication r, concatenated in replication order."""
        out = np.empty(int(counts.sum()))
        for g, part in zip(self.generators, self._blocks(out, counts), strict=True):
            g.random(out=part)
        return out

    def normal(self, counts: npt.NDArray[np.intp]) -> npt.NDArray[np.float64]:
        """``counts[r]`` standard normal draws from replication r, concatenated."""
        out = np.empty(int(counts.sum()))
        for g, part in zip(self.generators, self._blocks(out, counts), strict=True):
            g.standard_normal(out=part)
        return out

    def exponential(self, counts: npt.NDArray[np.intp]) -> npt.NDArray[np.float64]:
        """``counts[r]`` standard exponential draws from replication r, concatenated."""
        out = np.empty(int(counts.sum()))
        for g, part in zip(self.generators, self._blocks(out, counts), strict=True):
            g.standard_exponential(out=part)
        return out

    @staticmethod
    def _blocks(out: npt.NDArray[np.float64], counts: npt.NDArray[np.intp]) -> list[Any]:
        """Each replication's part of ``out``: drawn in place, with no copy to join them."""
        bounds = np.concatenate([[0], np.cumsum(counts)])
        return [out[a:b] for a, b in itertools.pairwise(bounds)]

    def geometric(
        self, p: npt.NDArray[np.float64], counts: npt.NDArray[np.intp]
    ) -> npt.NDArray[np.int64]:
        """Waiting times (>= 1 week) with per-draw success probability ``p``."""
        out = np.empty(len(p), dtype=np.int64)
        start = 0
        for g, c in zip(self.generators, counts, strict=True):
            stop = start + int(c)
            if stop > start:
                out[start:stop] = g.geometric(p[start:stop])
            start = stop
        return out

    def geometric_of(
        self,
        table: npt.NDArray[np.float64],
        index: npt.NDArray[np.integer],
        counts: npt.NDArray[np.intp],
    ) -> npt.NDArray[np.int64]:
        """Waiting times with success probability ``table[index]``: :meth:`geometric`'s numbers,
        drawn as :meth:`geometric_fixed` draws them when every probability used is below 1/3
        (NumPy draws larger ones differently, so they are left to it)."""
        used = np.bincount(index, minlength=len(table))[: len(table)] > 0
        p = table[used]
        if len(index) == 0 or not np.all((p > 0) & (p < _INVERSION_BELOW)):
            return self.geometric(table[index], counts)
        # Only the probabilities used are below 1/3; the others' entries are never read.
        log_q = np.array([math.log1p(-float(x)) if 0 < x < 1 else 1.0 for x in table])
        with np.errstate(over="ignore"):  # a vanishing p: saturated below, as NumPy does
            return _saturated(np.ceil(-self.exponential(counts) / log_q[index]))

    def geometric_fixed(self, p: float, counts: npt.NDArray[np.intp]) -> npt.NDArray[np.int64]:
        """Waiting times (>= 1 week) with one success probability ``p`` for every draw.

        The numbers of :meth:`geometric` with ``p`` repeated, at a third of its time. For
        ``p < 1/3`` NumPy draws ``ceil(-E / log1p(-p))`` with ``E`` its standard exponential
        (``random_geometric_inversion`` in NumPy's ``distributions.c``), computing the
        logarithm again for every draw; here it is computed once and the exponentials are
        drawn as one array, which is bit for bit the same (``tests/test_streams.py``). Larger
        ``p`` uses NumPy's search, which draws differently.
        """
        if p >= _INVERSION_BELOW:
            return np.concatenate(
                [g.geometric(p, int(c)) for g, c in zip(self.generators, counts, strict=True)]
            )
        with np.errstate(over="ignore"):  # a vanishing p: saturated below, as NumPy does
            return _saturated(np.ceil(-self.exponential(counts) / math.log1p(-p)))

    def lognormal(self, sigma: float, counts: npt.NDArray[np.intp]) -> npt.NDArray[np.float64]:
        """Log-normal draws with median 1 and log standard deviation ``sigma``."""
        return np.concatenate(
            [g.lognormal(0.0, sigma, int(c)) for g, c in zip(self.generators, counts, strict=True)]
        )


def _saturated(z: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
    """Whole-number floats as int64, INT64_MAX where they leave its range (as NumPy's geometric
    returns for a vanishing p)."""
    huge = z >= _INT64_LIMIT
    if huge.any():
        z[huge] = 0.0
    out = z.astype(np.int64)
    out[huge] = np.iinfo(np.int64).max
    return out
