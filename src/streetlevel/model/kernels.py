"""Compiled kernels for the hot path, used when Numba is installed (``pip install
'streetlevel[fast]'``); without it, NumPy does the same work and gives the same numbers.

:func:`flat_true` is ``np.flatnonzero`` for the weekly masks. NumPy's version branches on
every element, which costs most at the densities of the weekly masks (a few to ten per cent:
meetings due, absences): 0.84 ms for 500,000 clients at 8 per cent, against 0.14 ms for a
branch-free loop that stores every index and advances the output only on a true element
(profiled, docs/design.md). Below :data:`SPARSE_BELOW` (exits, inflow, offers ending: one to
two per cent) a loop that skips eight false elements at a time is faster again: 0.07-0.14 ms
for a million clients against the branch-free loop's 0.27. The kernels are compiled (and
cached on disk) the first time a mask of at least :data:`MIN_SIZE` elements is scanned, so
small runs and the command line never pay Numba's import and compilation.
``STREETLEVEL_NUMBA=0`` turns them off.

>>> mask = np.array([[False, True, True], [False, False, True]])
>>> flat_true(mask).tolist()
[1, 2, 5]
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["MIN_SIZE", "SPARSE_BELOW", "flat_true", "numba_enabled"]

MIN_SIZE = 1 << 17
"""Masks smaller than this use NumPy: the kernel's import and compilation would cost more."""

SPARSE_BELOW = 0.02
"""Below this share of true elements the kernel skips eight false elements at a time."""

Kernel = Callable[..., npt.NDArray[np.intp]]
_kernels: tuple[Kernel, Kernel] | None = None
_tried = False


def numba_enabled() -> bool:
    """Whether Numba is installed and not turned off with ``STREETLEVEL_NUMBA=0``."""
    if os.environ.get("STREETLEVEL_NUMBA", "1") == "0":
        return False
    return importlib.util.find_spec("numba") is not None


def _dense(mask: Any, count: Any) -> Any:
    # Every index is stored and the output advances only on a true element: no branch.
    out = np.empty(count + 1, np.intp)
    k = 0
    for i in range(mask.size):
        out[k] = i
        k += mask[i]
    return out[:count]


def _sparse(mask: Any, words: Any, count: Any) -> Any:
    # Eight mask bytes read as one word: a zero word (most, when few are true) is skipped
    # with one well-predicted branch; the others are scanned as in _dense.
    out = np.empty(count + 1, np.intp)
    k = 0
    for w in range(words.size):
        if words[w] != 0:
            first = w * 8
            for i in range(first, first + 8):
                out[k] = i
                k += mask[i]
    for i in range(words.size * 8, mask.size):
        out[k] = i
        k += mask[i]
    return out[:count]


def _compile() -> tuple[Kernel, Kernel] | None:
    if not numba_enabled():
        return None
    numba: Any = importlib.import_module("numba")
    try:
        jit = numba.njit(cache=True, nogil=True)
        return jit(_dense), jit(_sparse)
    except RuntimeError:  # no writable cache directory (a read-only install): compile each run
        jit = numba.njit(nogil=True)
        return jit(_dense), jit(_sparse)


def flat_true(mask: npt.NDArray[np.bool_]) -> npt.NDArray[np.intp]:
    """The flat indices of the true elements of ``mask``, sorted (as ``np.flatnonzero``)."""
    global _kernels, _tried
    if mask.size < MIN_SIZE:
        return np.flatnonzero(mask)
    if not _tried:
        _tried = True
        _kernels = _compile()
    if _kernels is None:
        return np.flatnonzero(mask)
    dense, sparse = _kernels
    flat = mask.reshape(-1)
    # Counting first (a vectorised pass, a tenth of the scan) sizes the output exactly and
    # picks the loop.
    count = int(np.count_nonzero(flat))
    if count < SPARSE_BELOW * flat.size:
        return sparse(flat, flat[: flat.size - flat.size % 8].view(np.uint64), count)
    return dense(flat, count)
