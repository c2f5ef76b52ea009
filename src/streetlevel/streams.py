"""Random streams: one generator per replication, all from one seed.

Replication ``r`` draws from ``SeedSequence(seed, spawn_key=(r,))`` and from nothing else, so its
results depend only on the seed and ``r``: running replications 0-9 in one batch, or one per
worker, gives bit-identical output (the trap of Mesa #2835, replications sharing a stream,
cannot happen). Draws for a subset of clients (``mask``) are taken replication by replication
in row-major order, so each replication's stream advances by its own subset only.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["Streams"]

F32 = npt.NDArray[np.float32]


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
        return Streams(self.seed, self.replications, (*self.key, *key))

    def uniform_into(self, out: F32) -> None:
        """Fill ``out`` (replications x clients) with U(0, 1) float32 draws."""
        for row, gen in zip(out, self.generators, strict=True):
            gen.random(dtype=np.float32, out=row)

    def uniform(self, counts: npt.NDArray[np.intp]) -> npt.NDArray[np.float64]:
        """``counts[r]`` U(0, 1) draws from replication r, concatenated in replication order."""
        return np.concatenate(
            [g.random(int(c)) for g, c in zip(self.generators, counts, strict=True)]
        )

    def normal(self, counts: npt.NDArray[np.intp]) -> npt.NDArray[np.float64]:
        """``counts[r]`` standard normal draws from replication r, concatenated."""
        return np.concatenate(
            [g.standard_normal(int(c)) for g, c in zip(self.generators, counts, strict=True)]
        )

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

    def lognormal(self, sigma: float, counts: npt.NDArray[np.intp]) -> npt.NDArray[np.float64]:
        """Log-normal draws with median 1 and log standard deviation ``sigma``."""
        return np.concatenate(
            [g.lognormal(0.0, sigma, int(c)) for g, c in zip(self.generators, counts, strict=True)]
        )
