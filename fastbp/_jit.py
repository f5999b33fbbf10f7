"""The one place that spells out Numba's options for every fastbp kernel.

- ``cache=True``: a second process loads machine code from the cache instead
  of compiling again: fastbp's chain of folders (``fastbp._cache``: read from
  ``NUMBA_CACHE_DIR``, the package's ``__pycache__`` even when read-only, the
  user's cache folder; written to the first writable one).
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

import functools
import hashlib
import os

import numba

FASTMATH = {"nsz", "arcp", "contract", "reassoc"}
OPTIONS = dict(cache=True, nogil=True, fastmath=FASTMATH, error_model="numpy")
# For ``@overload`` implementations: compiled into their callers' cached
# code, never cached on their own (a lambda's entry in a cache folder would
# be dead weight, and Numba's own cache raises where no folder is writable).
OVERLOAD_OPTIONS = {k: v for k, v in OPTIONS.items() if k != "cache"}
# For code whose rounding is part of its design (the Cody-Waite range
# reduction of exp: with reassoc, LLVM folds ``x - n*C1 - n*C2`` into
# ``x - n*(C1+C2)`` and float64 exp lost 100 ulp at |x| ~ 700).
PRECISE_OPTIONS = dict(OPTIONS, fastmath={"nsz", "contract"})

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


@functools.lru_cache(maxsize=None)
def sources_digest() -> str:
    """A hash of every source file compiled code is built from.

    Numba checks a cached function against its own file only (numba issue
    10776): a kernel whose callee in another file changed would load stale
    machine code. fastbp's cache entries carry this digest as their stamp
    (with the function's bytecode hash), so any edit to a kernel module
    recompiles every kernel that might inline it.
    """
    h = hashlib.sha256(numba.__version__.encode())
    # The kernels' own modules and the one they read codes from (kept to
    # codes alone, so that an edit elsewhere recompiles nothing).
    files = [os.path.join(_PACKAGE_DIR, f) for f in ("_jit.py", "_codes.py")]
    kdir = os.path.join(_PACKAGE_DIR, "kernels")
    files += sorted(os.path.join(kdir, f) for f in os.listdir(kdir) if f.endswith(".py"))
    for path in files:
        with open(path, "rb") as f:
            h.update(f.read())
    return h.hexdigest()


_cache_variant = ""


def set_cache_variant(name: str) -> None:
    """Keep compiled code in a subfolder ``name`` of the cache (the GEMM
    provider's key): code built against one BLAS calling convention is never
    loaded under another, and each provider's cache stays warm. Takes effect
    for functions decorated after the call (``fastbp.kernels`` chooses its
    provider before any kernel module is imported)."""
    global _cache_variant
    _cache_variant = name


@functools.lru_cache(maxsize=None)
def _file_hash(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def _compiled(options: dict, func):
    dispatcher = numba.njit(**{k: v for k, v in options.items() if k != "cache"})(func)
    if options.get("cache"):
        from ._numba_cache import ChainedCache

        stamp = (_file_hash(func.__code__.co_filename), sources_digest())  # Numba's stamp (its file), and ours
        dispatcher._cache = ChainedCache(func, _cache_variant, stamp)
    return dispatcher


def jit(func):
    """Compile ``func`` lazily with fastbp's options (one specialisation per dtype)."""
    return _compiled(OPTIONS, func)


def jit_inline(func):
    """``jit`` for small helpers, inlined into each caller's Numba IR (no
    module of their own to compile, link and optimise again)."""
    return _compiled(dict(OPTIONS, inline="always"), func)


def jit_precise(func):
    """``jit`` without reassociation or approximate reciprocals."""
    return _compiled(PRECISE_OPTIONS, func)


def cache_variant() -> str:
    """The subfolder compiled code is kept in (the GEMM provider's key)."""
    return _cache_variant


def is_ready(dispatcher, signature: tuple) -> bool:
    """Whether a call of ``dispatcher`` with argument types ``signature``
    (``fastbp.kernels._signatures``) runs without compiling: compiled in this
    process already, or held by the cache for the current sources and CPU."""
    if signature in dispatcher.overloads:
        return True
    holds = getattr(dispatcher._cache, "holds", None)
    try:
        return bool(holds and holds(signature))
    except Exception:  # a private Numba layout changed: assume it must compile
        return False
