"""The one place that spells out Numba's options for every fastbp kernel.

- ``cache=True``: a second process loads machine code from the cache instead
  of compiling again. The cache sits in ``__pycache__`` beside the kernels, or
  in a user-wide folder when the package folder is read-only, or under
  ``NUMBA_CACHE_DIR`` when that is set (Numba's own order).
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
    machine code. fastbp's cache entries carry this digest too, so any edit
    to a kernel module recompiles every kernel that might inline it.
    """
    h = hashlib.sha256(numba.__version__.encode())
    # The kernels' own modules and the two they read constants from.
    files = [os.path.join(_PACKAGE_DIR, f) for f in ("_jit.py", "_codes.py", "optimizers.py")]
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


class _DigestStamp:
    """Mixin for Numba's source-file cache locators: fastbp's functions get
    ``sources_digest()`` added to their staleness stamp and are cached in the
    provider's subfolder; others are left alone."""

    @classmethod
    def from_function(cls, py_func, py_file):
        if not os.path.abspath(py_file).startswith(_PACKAGE_DIR + os.sep):
            return None
        return super().from_function(py_func, py_file)

    def get_source_stamp(self):
        return (super().get_source_stamp(), sources_digest())

    def get_cache_path(self):
        base = super().get_cache_path()
        return os.path.join(base, _cache_variant) if _cache_variant else base


def _install_digest_stamp() -> None:
    try:
        from numba.core import caching

        classes = caching.CacheImpl._locator_classes
    except AttributeError:  # pragma: no cover - another Numba layout
        classes = []
    wrapped = []
    for base in classes:
        # Numba < 0.60 names them with a leading underscore.
        if base.__name__.lstrip("_") in ("UserProvidedCacheLocator", "InTreeCacheLocator", "UserWideCacheLocator"):
            if not any(getattr(c, "_fastbp_base", None) is base for c in classes):
                wrapped.append(type("Fastbp" + base.__name__, (_DigestStamp, base), {"_fastbp_base": base}))
        wrapped.append(base)
    if not any(hasattr(c, "_fastbp_base") for c in wrapped):  # pragma: no cover - another Numba layout
        # Without the stamp and the per-provider folder a cache could hand
        # one provider's machine code to another (a crash): compile instead.
        import warnings

        OPTIONS["cache"] = PRECISE_OPTIONS["cache"] = False
        warnings.warn("fastbp: this Numba's cache layout is unknown; kernels are compiled in every process",
                      RuntimeWarning, stacklevel=2)
        return
    classes[:] = wrapped


_install_digest_stamp()


def jit(func):
    """Compile ``func`` lazily with fastbp's options (one specialisation per dtype)."""
    return numba.njit(**OPTIONS)(func)


def jit_precise(func):
    """``jit`` without reassociation or approximate reciprocals."""
    return numba.njit(**PRECISE_OPTIONS)(func)


def has_cached_code(dispatcher, dtype: str) -> bool | None:
    """Whether ``dispatcher``'s cache holds machine code for arrays of ``dtype``
    valid for the current sources (so its first call loads, not compiles);
    None when this Numba does not say."""
    try:
        return any(dtype in str(key[0]) for key in dispatcher._cache._cache_file._load_index())
    except Exception:  # a private Numba interface: any change means "unknown"
        return None
