"""A GEMM in compiled loops: the ``numba`` provider, the one that always loads.

It is the last resort of :mod:`fastbp.kernels._blas`, for a process where no
BLAS library can be reached (or ``FASTBP_BLAS=numba``), so it is kept simple
and correct rather than tuned: op(A) and op(B) are packed into row-major
panels when transposed (so every inner loop reads memory in order), then
four rows of C at a time accumulate ``a[i, k] * Bp[k, :]`` in a small buffer
that stays in L1, the inner loop over columns vectorised by LLVM. Four rows
share each load of a row of Bp: one load feeds four multiply-adds.
"""
import numpy as np

from .._jit import jit

_ROWS = 4  # rows of C per pass over op(B)
_COLS = 512  # columns of C per panel: 4 x 512 accumulators fit in L1 in float64


@jit
def _as_rows(X, transposed):
    """``X.T`` as a C-ordered copy when ``transposed``, else ``X`` itself."""
    if not transposed:
        return X
    R, S = X.shape
    out = np.empty((S, R), X.dtype)
    for r in range(R):
        for s in range(S):
            out[s, r] = X[r, s]
    return out


@jit
def _store(C, i, acc, r, j0, width, alpha, beta):
    """``C[i, j0:j0+width] = alpha * acc[r] + beta * C[...]``; C is not read when beta is 0 (BLAS's rule)."""
    row = C[i]
    a = acc[r]
    if beta == 0:
        for j in range(width):
            row[j0 + j] = alpha * a[j]
    else:
        for j in range(width):
            row[j0 + j] = alpha * a[j] + beta * row[j0 + j]


@jit
def loop_gemm(trans_a, trans_b, alpha, A, B, beta, C):
    """``C <- alpha * op(A) @ op(B) + beta * C``, as ``_blas.gemm`` (same arguments)."""
    M, N = C.shape
    Ap = _as_rows(A, trans_a)  # (M, K)
    Bp = _as_rows(B, trans_b)  # (K, N)
    K = Ap.shape[1]
    t = C.dtype.type
    alpha, beta = t(alpha), t(beta)
    acc = np.empty((_ROWS, min(N, _COLS)), C.dtype)
    for j0 in range(0, N, _COLS):
        width = min(_COLS, N - j0)
        i = 0
        while i + _ROWS <= M:
            a0, a1, a2, a3 = acc[0], acc[1], acc[2], acc[3]
            for j in range(width):
                a0[j] = 0
                a1[j] = 0
                a2[j] = 0
                a3[j] = 0
            k = 0
            while k + 2 <= K:  # two rows of Bp per pass: 8 multiply-adds per 6 loads
                x0, x1, x2, x3 = Ap[i, k], Ap[i + 1, k], Ap[i + 2, k], Ap[i + 3, k]
                y0, y1, y2, y3 = Ap[i, k + 1], Ap[i + 1, k + 1], Ap[i + 2, k + 1], Ap[i + 3, k + 1]
                b, c = Bp[k], Bp[k + 1]
                for j in range(width):
                    bj, cj = b[j0 + j], c[j0 + j]
                    a0[j] += x0 * bj + y0 * cj
                    a1[j] += x1 * bj + y1 * cj
                    a2[j] += x2 * bj + y2 * cj
                    a3[j] += x3 * bj + y3 * cj
                k += 2
            if k < K:
                x0, x1, x2, x3 = Ap[i, k], Ap[i + 1, k], Ap[i + 2, k], Ap[i + 3, k]
                b = Bp[k]
                for j in range(width):
                    bj = b[j0 + j]
                    a0[j] += x0 * bj
                    a1[j] += x1 * bj
                    a2[j] += x2 * bj
                    a3[j] += x3 * bj
            for r in range(_ROWS):
                _store(C, i + r, acc, r, j0, width, alpha, beta)
            i += _ROWS
        while i < M:  # the last M % 4 rows, one at a time
            a0 = acc[0]
            for j in range(width):
                a0[j] = 0
            for k in range(K):
                x0 = Ap[i, k]
                b = Bp[k]
                for j in range(width):
                    a0[j] += x0 * b[j0 + j]
            _store(C, i, acc, 0, j0, width, alpha, beta)
            i += 1
