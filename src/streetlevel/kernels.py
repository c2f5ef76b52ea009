"""Compiled kernels for the hot path, used when Numba is installed (``pip install
'streetlevel[fast]'``); without it, NumPy does the same work and gives the same numbers.

:func:`flat_true` is ``np.flatnonzero`` for the weekly masks. NumPy's version branches on
every element, which costs most at the densities of the weekly masks (a few to ten per cent:
meetings due, absences): 0.84 ms for 500,000 clients at 8 per cent, against 0.14 ms for a
branch-free loop that stores every index and advances the output only on a true element
(profiled, docs/design.md). The kernel is compiled (and cached on disk) the first time a mask
of at least :data:`MIN_SIZE` elements is scanned, so small runs and the command line never
pay Numba's import and compilation. ``STREETLEVEL_NUMBA=0`` turns it off.

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

__all__ = ["MIN_SIZE", "flat_true", "numba_enabled"]

MIN_SIZE = 1 << 17
"""Masks smaller than this use NumPy: the kernel's import and compilation would cost more."""

Kernel = Callable[[npt.NDArray[np.bool_]], npt.NDArray[np.intp]]
_kernel: Kernel | None = None
_tried = False


def numba_enabled() -> bool:
    """Whether Numba is installed and not turned off with ``STREETLEVEL_NUMBA=0``."""
    if os.environ.get("STREETLEVEL_NUMBA", "1") == "0":
        return False
    return importlib.util.find_spec("numba") is not None


def _compile() -> Kernel | None:
    if not numba_enabled():
        return None
    numba: Any = importlib.import_module("numba")

    def kernel(mask: Any) -> Any:
        n = mask.size
        out = np.empty(n, np.intp)
        k = 0
        for i in range(n):
            out[k] = i
            k += mask[i]
        return out[:k].copy()

    try:
        return numba.njit(cache=True, nogil=True)(kernel)  # type: ignore[no-any-return]
    except RuntimeError:  # no writable cache directory (a read-only install): compile each run
        return numba.njit(nogil=True)(kernel)  # type: ignore[no-any-return]


def flat_true(mask: npt.NDArray[np.bool_]) -> npt.NDArray[np.intp]:
    """The flat indices of the true elements of ``mask``, sorted (as ``np.flatnonzero``)."""
    global _kernel, _tried
    if mask.size < MIN_SIZE:
        return np.flatnonzero(mask)
    if not _tried:
        _tried = True
        _kernel = _compile()
    if _kernel is None:
        return np.flatnonzero(mask)
    return _kernel(mask.reshape(-1))
