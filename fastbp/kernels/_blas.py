"""GEMM with alpha and beta, called from compiled code.

Numba's ``np.dot`` has no alpha/beta and reaches SciPy's bundled OpenBLAS. The
fused SGD update needs ``W <- W - (lr/B) D^T A`` in one call (beta = 1), and
NumPy's own OpenBLAS measured faster here (M configuration, GEMMs alone:
0.44 s per epoch against 0.64 s through SciPy's). So the kernels call the
CBLAS ``sgemm``/``dgemm`` of the BLAS that NumPy itself loaded.

The function address is registered with LLVM under a fixed symbol name at
import, and compiled code refers to that name, not to the address: cached
machine code stays valid in a new process (ASLR moves the library).
"""
from __future__ import annotations

import ctypes

import numpy as np
from llvmlite import binding as llvm
from numba import types

from .._jit import jit

ROW_MAJOR, NO_TRANS, TRANS = 101, 111, 112

# (symbol prefix, suffix, integer width) of CBLAS builds NumPy ships or links:
# NumPy >= 2 wheels (scipy-openblas64), NumPy 1.2x wheels (openblas64_), plain LP64 CBLAS.
_CANDIDATES = (("scipy_cblas_", "64_", 64), ("cblas_", "64_", 64), ("scipy_cblas_", "", 32), ("cblas_", "", 32))


def _numpy_blas_libraries() -> list[str]:
    from threadpoolctl import threadpool_info

    return [info["filepath"] for info in threadpool_info() if info.get("user_api") == "blas"]


def _find_cblas() -> tuple[dict[str, int], int, str]:
    """Addresses of ``sgemm``/``dgemm`` in the BLAS NumPy loaded, their int width, and the library."""
    import numpy.linalg  # noqa: F401  (makes sure NumPy's BLAS is loaded)

    for path in _numpy_blas_libraries():
        lib = ctypes.CDLL(path)
        for prefix, suffix, bits in _CANDIDATES:
            try:
                addrs = {
                    t: ctypes.cast(getattr(lib, f"{prefix}{t}gemm{suffix}"), ctypes.c_void_p).value
                    for t in "sd"
                }
            except AttributeError:
                continue
            return addrs, bits, path
    raise ImportError(
        "fastbp could not find a CBLAS sgemm/dgemm in the BLAS library NumPy uses "
        f"(searched {_numpy_blas_libraries()}); install NumPy from PyPI wheels, which bundle OpenBLAS"
    )


_ADDRS, INT_BITS, LIBRARY = _find_cblas()
llvm.add_symbol("fastbp_cblas_sgemm", _ADDRS["s"])
llvm.add_symbol("fastbp_cblas_dgemm", _ADDRS["d"])

_int = types.int64 if INT_BITS == 64 else types.int32
_enum = types.int32
_p = types.voidptr


def _signature(real):
    return types.void(_enum, _enum, _enum, _int, _int, _int, real, _p, _int, _p, _int, real, _p, _int)


_sgemm = types.ExternalFunction("fastbp_cblas_sgemm", _signature(types.float32))
_dgemm = types.ExternalFunction("fastbp_cblas_dgemm", _signature(types.float64))


@jit
def gemm(trans_a, trans_b, alpha, A, B, beta, C):
    """``C <- alpha * op(A) @ op(B) + beta * C`` on C-contiguous 2-D arrays.

    ``op(X)`` is ``X.T`` when the matching ``trans_*`` flag is true. Shapes are
    the caller's to get right (the Python boundary checks them): BLAS trusts them.
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
