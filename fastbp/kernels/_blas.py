"""The GEMM provider layer: where every kernel's matrix product comes from.

Kernels call :func:`gemm` only. Which code runs behind it is chosen once per
process, at import, from ``FASTBP_BLAS`` (``auto`` by default):

``numpy``
    The CBLAS ``sgemm``/``dgemm`` of the BLAS NumPy itself loaded (its
    bundled OpenBLAS on Linux and Windows wheels, Accelerate on macOS 14+
    arm64 wheels, MKL or OpenBLAS in conda). Found by looking the symbols up
    through NumPy's own extension module, so a BLAS that threadpoolctl cannot
    see (Accelerate) is reached too; threadpoolctl's list is the fallback
    (Windows, where a module's lookup does not search its dependencies).
``openblas``
    The ``scipy-openblas32`` wheel (``pip install "fastbp[openblas]"``), an
    OpenBLAS built to be loaded from Python on every platform.
``scipy``
    ``scipy.linalg.cython_blas`` (Fortran calling convention): present
    wherever SciPy is, whatever BLAS SciPy was built with.
``numba``
    A GEMM in compiled loops (``_loopgemm``): no library at all, so the kernels
    always load; several times slower than a BLAS on layers of hundreds.

``auto`` takes the first that loads in that order: NumPy's BLAS ran the
fastest GEMMs where measured (docs/platforms.md), and using it adds no
second BLAS with its own thread pool to the process; the wheel comes before
SciPy's only because a user installed it on purpose.

Compiled code refers to the library function by a fixed symbol name
registered with LLVM here, not by its address, so cached machine code stays
valid in a new process (ASLR moves libraries); the cache folder is per
provider (``_jit.set_cache_variant``), so code compiled against one provider
is never loaded under another.
"""
from __future__ import annotations

import ctypes
import os
import sys
from dataclasses import dataclass

import numpy as np
from llvmlite import binding as llvm
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from .. import _jit

ENV = "FASTBP_BLAS"
CHOICES = ("auto", "numpy", "openblas", "scipy", "numba")
ROW_MAJOR, NO_TRANS, TRANS = 101, 111, 112

# (symbol prefix, suffix, integer width) of the CBLAS builds NumPy ships or links:
# NumPy >= 2 wheels (scipy-openblas64), NumPy 1.2x wheels (openblas64_), MKL's ILP64,
# Accelerate's new interface (ILP64, then LP64), any plain LP64 CBLAS.
_CBLAS_NAMES = (
    ("scipy_cblas_", "64_", 64), ("cblas_", "64_", 64), ("cblas_", "_64", 64), ("cblas_", "$NEWLAPACK$ILP64", 64),
    ("scipy_cblas_", "", 32), ("cblas_", "$NEWLAPACK", 32), ("cblas_", "", 32),
)


@dataclass(frozen=True)
class Provider:
    """The GEMM provider of this process."""

    name: str  # numpy | openblas | scipy | numba
    library: str  # the shared library's path ("" for numba)
    int_bits: int  # BLAS integer width (0 for numba)
    addresses: tuple[int, int] = (0, 0)  # sgemm, dgemm
    cblas: bool = True  # CBLAS (row-major) or Fortran calling convention

    @property
    def key(self) -> str:
        """What compiled code depends on: the calling convention and integer width."""
        return self.name if self.name == "numba" else f"{self.name}-{self.int_bits}"


class ProviderUnavailable(ImportError):
    """A provider asked for by name cannot be loaded in this process."""


def _address(lib, name: str) -> int | None:
    try:
        return ctypes.cast(lib[name], ctypes.c_void_p).value
    except AttributeError:
        return None


def _cblas_in(lib) -> tuple[tuple[int, int], int] | None:
    """``((sgemm, dgemm), int_bits)`` of the first CBLAS naming scheme ``lib`` exports."""
    for prefix, suffix, bits in _CBLAS_NAMES:
        s, d = _address(lib, f"{prefix}sgemm{suffix}"), _address(lib, f"{prefix}dgemm{suffix}")
        if s and d:
            return (s, d), bits
    return None


def _library_of(address: int, fallback: str) -> str:
    """The file of the shared library holding ``address`` (dladdr), or ``fallback``."""
    class DlInfo(ctypes.Structure):
        _fields_ = [("fname", ctypes.c_char_p), ("fbase", ctypes.c_void_p),
                    ("sname", ctypes.c_char_p), ("saddr", ctypes.c_void_p)]

    try:
        dladdr = ctypes.CDLL(None).dladdr
    except (AttributeError, OSError, TypeError):  # Windows, or a libc without it
        return fallback
    info = DlInfo()
    if dladdr(ctypes.c_void_p(address), ctypes.byref(info)) and info.fname:
        return os.path.realpath(os.fsdecode(info.fname))
    return fallback


def blas_libraries() -> list[dict]:
    """threadpoolctl's view of the BLAS libraries loaded in this process."""
    from threadpoolctl import threadpool_info

    return [info for info in threadpool_info() if info.get("user_api") == "blas"]


def _numpy_provider() -> Provider:
    from numpy import linalg  # noqa: F401  (NumPy's BLAS is loaded with it)

    try:
        from numpy._core import _multiarray_umath as umath
    except ImportError:  # NumPy 1.x
        from numpy.core import _multiarray_umath as umath
    tried = []
    if sys.platform != "win32":
        found = _cblas_in(ctypes.CDLL(umath.__file__))
        if found:
            (s, d), bits = found
            return Provider("numpy", _library_of(s, umath.__file__), bits, (s, d))
        tried.append(umath.__file__ + " and the libraries it links")
    numpy_dir = os.path.dirname(os.path.dirname(os.path.abspath(np.__file__)))
    # NumPy's own bundled BLAS first (numpy.libs beside the package), then any.
    paths = sorted((info["filepath"] for info in blas_libraries()),
                   key=lambda p: not os.path.abspath(p).startswith(os.path.join(numpy_dir, "numpy")))
    for path in paths:
        found = _cblas_in(ctypes.CDLL(path))
        if found:
            return Provider("numpy", path, found[1], found[0])
        tried.append(path)
    raise ProviderUnavailable(f"no CBLAS sgemm/dgemm found in NumPy's BLAS (searched {tried or 'nothing'})")


def _openblas_provider() -> Provider:
    try:
        import scipy_openblas32
    except ImportError:
        raise ProviderUnavailable("the scipy-openblas32 wheel is not installed (pip install 'fastbp[openblas]')") from None
    lib = scipy_openblas32.dll  # loaded by the import
    found = _cblas_in(lib)
    if not found:  # pragma: no cover - a wheel without its prefixed CBLAS
        raise ProviderUnavailable(f"{lib._name} exports no scipy_cblas_sgemm")
    return Provider("openblas", os.path.realpath(lib._name), found[1], found[0])


def _scipy_provider() -> Provider:
    try:
        from numba.extending import get_cython_function_address
        from scipy.linalg import cython_blas
    except ImportError as exc:
        raise ProviderUnavailable(f"scipy.linalg.cython_blas cannot be imported ({exc})") from None
    s = get_cython_function_address("scipy.linalg.cython_blas", "sgemm")
    d = get_cython_function_address("scipy.linalg.cython_blas", "dgemm")
    return Provider("scipy", _library_of(s, cython_blas.__file__), 32, (s, d), cblas=False)


def _numba_provider() -> Provider:
    return Provider("numba", "", 0)


_LOADERS = {"numpy": _numpy_provider, "openblas": _openblas_provider, "scipy": _scipy_provider,
            "numba": _numba_provider}


def requested() -> str:
    """``FASTBP_BLAS`` (``auto`` when unset or empty); an unknown value is a ValueError."""
    value = os.environ.get(ENV, "").strip().lower() or "auto"
    if value not in CHOICES:
        raise ValueError(f"{ENV}={os.environ[ENV]!r} is not a GEMM provider; choose one of {', '.join(CHOICES)}")
    return value


def choose(name: str) -> tuple[Provider, list[str]]:
    """The provider for ``name`` and, for ``auto``, why the ones before it were passed over."""
    if name != "auto":
        try:
            return _LOADERS[name](), []
        except ProviderUnavailable as exc:
            raise ProviderUnavailable(f"{ENV}={name}: {exc}") from None
    skipped = []
    for candidate in CHOICES[1:]:
        try:
            return _LOADERS[candidate](), skipped
        except (ProviderUnavailable, OSError) as exc:
            skipped.append(f"{candidate}: {exc}")
    raise AssertionError("the numba provider always loads")  # pragma: no cover


PROVIDER, SKIPPED = choose(requested())
_jit.set_cache_variant(PROVIDER.key)


# -- the compiled call, one form per calling convention -------------------------

if PROVIDER.name == "numba":
    from ._loopgemm import loop_gemm as gemm  # noqa: F401

elif PROVIDER.cblas:
    llvm.add_symbol("fastbp_cblas_sgemm", PROVIDER.addresses[0])
    llvm.add_symbol("fastbp_cblas_dgemm", PROVIDER.addresses[1])
    _int = types.int64 if PROVIDER.int_bits == 64 else types.int32

    def _cblas_signature(real):
        e, p = types.int32, types.voidptr
        return types.void(e, e, e, _int, _int, _int, real, p, _int, p, _int, real, p, _int)

    _sgemm = types.ExternalFunction("fastbp_cblas_sgemm", _cblas_signature(types.float32))
    _dgemm = types.ExternalFunction("fastbp_cblas_dgemm", _cblas_signature(types.float64))

    @_jit.jit
    def gemm(trans_a, trans_b, alpha, A, B, beta, C):
        """``C <- alpha * op(A) @ op(B) + beta * C`` on C-contiguous 2-D arrays.

        ``op(X)`` is ``X.T`` when the matching ``trans_*`` flag is true. Shapes
        are the caller's to get right (the Python boundary checks them): BLAS
        trusts them. With ``beta == 0``, C is not read.
        """
        M, N = C.shape
        K = A.shape[0] if trans_a else A.shape[1]
        ta = TRANS if trans_a else NO_TRANS
        tb = TRANS if trans_b else NO_TRANS
        if C.itemsize == 4:
            _sgemm(ROW_MAJOR, ta, tb, M, N, K, np.float32(alpha), A.ctypes, A.shape[1], B.ctypes, B.shape[1],
                   np.float32(beta), C.ctypes, N)
        else:
            _dgemm(ROW_MAJOR, ta, tb, M, N, K, np.float64(alpha), A.ctypes, A.shape[1], B.ctypes, B.shape[1],
                   np.float64(beta), C.ctypes, N)

else:  # Fortran convention: every argument by address, column-major
    llvm.add_symbol("fastbp_fortran_sgemm", PROVIDER.addresses[0])
    llvm.add_symbol("fastbp_fortran_dgemm", PROVIDER.addresses[1])

    def _fortran_signature(real):
        c, i, r, p = types.CPointer(types.int8), types.CPointer(types.int32), types.CPointer(real), types.voidptr
        return types.void(c, c, i, i, i, r, p, i, p, i, r, p, i)

    _sgemm = types.ExternalFunction("fastbp_fortran_sgemm", _fortran_signature(types.float32))
    _dgemm = types.ExternalFunction("fastbp_fortran_dgemm", _fortran_signature(types.float64))

    @intrinsic
    def _by_address(typingctx, value):
        """A pointer to a stack copy of ``value`` (Fortran takes every argument by address)."""
        def codegen(context, builder, signature, args):
            return cgutils.alloca_once_value(builder, args[0])

        return types.CPointer(value)(value), codegen

    @_jit.jit
    def gemm(trans_a, trans_b, alpha, A, B, beta, C):
        """As the CBLAS form. A row-major ``C = op(A) op(B)`` is the column-major
        ``C.T = op(B).T op(A).T``: the operands swap, the flags stay."""
        M, N = C.shape
        K = A.shape[0] if trans_a else A.shape[1]
        ta = _by_address(np.int8(84 if trans_b else 78))  # 'T' or 'N', for the first Fortran operand (B)
        tb = _by_address(np.int8(84 if trans_a else 78))
        m, n, k = _by_address(np.int32(N)), _by_address(np.int32(M)), _by_address(np.int32(K))
        lda, ldb, ldc = _by_address(np.int32(B.shape[1])), _by_address(np.int32(A.shape[1])), _by_address(np.int32(N))
        if C.itemsize == 4:
            _sgemm(ta, tb, m, n, k, _by_address(np.float32(alpha)), B.ctypes, lda, A.ctypes, ldb,
                   _by_address(np.float32(beta)), C.ctypes, ldc)
        else:
            _dgemm(ta, tb, m, n, k, _by_address(np.float64(alpha)), B.ctypes, lda, A.ctypes, ldb,
                   _by_address(np.float64(beta)), C.ctypes, ldc)


# -- what the provider is, for `fastbp info`, `fastbp bench` and the thread settings ---

def _threadpool_entry() -> dict | None:
    """threadpoolctl's entry for the BLAS behind the provider, if it can see it
    (for ``scipy``: the BLAS library bundled in SciPy's folder, if any)."""
    if not PROVIDER.library:
        return None
    real = os.path.realpath(PROVIDER.library)
    libs = blas_libraries()
    for info in libs:
        if os.path.realpath(info["filepath"]) == real:
            return info
    for info in libs:  # the same file reached by another path (a copy in a wheel's .libs folder)
        if os.path.basename(info["filepath"]) == os.path.basename(real):
            return info
    if PROVIDER.name == "scipy":
        import scipy

        site = os.path.dirname(os.path.dirname(os.path.realpath(scipy.__file__)))
        for info in libs:
            if os.path.realpath(info["filepath"]).startswith(os.path.join(site, "scipy")):
                return info
    return None


def threads() -> int | None:
    """Threads the provider's GEMMs use: 1 for the loops, None where unknown."""
    if PROVIDER.name == "numba":
        return 1
    entry = _threadpool_entry()
    return None if entry is None else int(entry["num_threads"])


def describe() -> dict:
    """Name, library, implementation, kernel, integer width and threads of the provider."""
    entry = _threadpool_entry()
    if PROVIDER.name == "numba":
        impl, kernel = "compiled loops (fastbp.kernels._loopgemm)", "LLVM, host CPU"
    elif entry is not None:
        impl, kernel = f"{entry.get('internal_api')} {entry.get('version')}", entry.get("architecture") or "unknown"
    else:
        impl, kernel = "a BLAS threadpoolctl does not see", "unknown"
    return {
        "provider": PROVIDER.name,
        "requested": requested(),
        "library": (entry["filepath"] if entry else PROVIDER.library) or "(none)",
        "implementation": impl,
        "kernel": kernel,
        "int_bits": PROVIDER.int_bits or None,
        "threads": threads(),
        "skipped": list(SKIPPED),
    }


def summary() -> str:
    """One line: ``GEMM provider: numpy (openblas 0.3.31, kernel Haswell, 64-bit ints, 2 threads) /path``."""
    d = describe()
    ints = f"{d['int_bits']}-bit ints" if d["int_bits"] else "no BLAS"
    thr = "threads unknown" if d["threads"] is None else f"{d['threads']} thread{'s' * (d['threads'] != 1)}"
    return f"GEMM provider: {d['provider']} ({d['implementation']}, kernel {d['kernel']}, {ints}, {thr}) {d['library']}"
