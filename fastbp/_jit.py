"""The one place that spells out Numba's options for every fastbp kernel.

- ``cache=True``: a second process loads machine code from the cache instead
  of compiling again (NUMBA_CACHE_DIR moves the cache when the package folder
  is read-only).
- ``nogil=True``: kernels release the GIL, so two networks can train in two
  Python threads.
- ``fastmath``: a flag set *without* ``nnan``/``ninf`` (numba issue 2919:
  those two let LLVM delete NaN checks) and without ``afn`` (approximate
  library functions would move ``exp``/``log`` off the reference's results).
  ``reassoc`` and ``contract`` let LLVM vectorise reductions and use FMA.
- ``error_model="numpy"``: division by zero gives inf/NaN like NumPy instead of
  raising, and saves a branch in every division.
"""
from __future__ import annotations

import numba

FASTMATH = {"nsz", "arcp", "contract", "reassoc"}
OPTIONS = dict(cache=True, nogil=True, fastmath=FASTMATH, error_model="numpy")


def jit(func):
    """Compile ``func`` lazily with fastbp's options (one specialisation per dtype)."""
    return numba.njit(**OPTIONS)(func)
