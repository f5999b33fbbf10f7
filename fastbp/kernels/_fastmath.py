"""``tanh``, ``erf`` and SiLU for float32 and float64 that LLVM can vectorise.

``np.tanh`` and ``math.erf`` compile to one libm call per element, which no
loop around them can vectorise: tanh (the default hidden activation) and
GELU ran several times slower than ReLU on small networks. These are
branch-free (where a function has two forms, both are computed and one selected),
built on :func:`fastbp.kernels._fastexp.fast_exp`, so a loop over them
vectorises to AVX2/AVX-512 like sigmoid's.

- ``tanh``, float32: ``e / (e + 2)`` with ``e = expm1(2|x|)`` from one
  polynomial after range reduction (:func:`tanh32`), one formula for every
  |x|; float64: Cephes' ``tanh`` (S. L. Moshier): below |x| = 0.625 a
  rational function of x, above it ``1 - 2 / (exp(2|x|) + 1)``. |x| is
  clamped where tanh rounds to 1, the sign is copied back from x (so
  ``tanh(-0) = -0``), NaN stays NaN. (float32 had Cephes' ``tanhf``, two
  polynomials and a select, 1.33 ulp at most; the one formula takes about
  30% less time per element, for 2.42 ulp at most.)
- ``erf`` (GELU's), float32: a clamped odd/even rational function of x
  (Eigen's ``erf`` for float). float64 keeps the library's ``math.erf``:
  a vectorised float64 erf (Cephes' erf/erfc pair, branch-free) is too large
  for LLVM to inline into the loops, and inlined by Numba it made every
  first fit compile about 4% longer, for GELU alone (docs/performance.md).
- the sigmoid is the activations' own ``1 / (1 + fast_exp(-x))``; its bound
  is stated here with the others. Results below the smallest normal number
  flush to 0, as exp's do. (Folding float64 exp's Pade ratio into it saves
  a division, but rounds ``a`` near 1 differently from ``1 / (1 + e)``, and
  a sigmoid output's cross-entropy, ``log(1 - a)``, magnifies that: the
  reported loss of saturated outputs moved by 1e-5. SiLU's has no log after
  it and takes the fold: :func:`silu64`.)
- ``silu``: ``x / (1 + exp(-x))``; float64 with one division instead of two,
  exp's Pade ratio ``exp(-x) = scale * (q + p) / (q - p)`` folded in:
  ``x ((q - p) / ((q - p) + scale * (q + p)))``.

Maximum error over the whole range of each dtype (normal and subnormal
arguments, the saturated tails), in units in the last place of the correctly
rounded result, measured by ``tools/activation_accuracy.py`` and bounded in
tests/test_kernels.py: :data:`MAX_ULP`. Edges: ``tanh(±inf) = ±1``,
``erf(±inf) = ±1``, ``f(±0) = ±0`` for both, ``sigmoid(±inf) = 1, 0``; NaN
gives NaN.
"""
import math

import numpy as np

from .._jit import jit_precise
from ._fastexp import _LN2_HI, _LN2_LO, _LOG2E, _bits_as_float, exp32, exp64_pade, overload_by_dtype

#: Error bounds in ulp of the correctly rounded result, per function and dtype:
#: float32's are the largest error over every float32, float64's the largest
#: over 15 million samples rounded up to the next half ulp (the tool's output).
MAX_ULP = {
    ("tanh", "float32"): 2.5, ("tanh", "float64"): 3.0,
    ("erf", "float32"): 7.5,
    ("sigmoid", "float32"): 2.5, ("sigmoid", "float64"): 3.0,
}

_F1 = np.float32(1.0)
_F2 = np.float32(2.0)
_T_CLAMP = np.float32(10.0)  # tanh(10) rounds to 1 in float32
# expm1(r) = r + r**2/2 + r**3 (M0 + M1 r + ... + M4 r**4) on [0, ln 2): a
# least-squares fit at Chebyshev nodes, relative error 2e-9 in float64 arithmetic.
_M0 = np.float32(0.16666698455810547)
_M1 = np.float32(0.04166208207607269)
_M2 = np.float32(0.008357522077858448)
_M3 = np.float32(0.0013303059386089444)
_M4 = np.float32(0.0002636020944919437)
_HALF = np.float32(0.5)


@jit_precise
def tanh32(x):
    """``tanh(x)`` for a float32 ``x``: ``e / (e + 2)`` with ``e = expm1(2|x|)``,
    one formula for every ``|x|`` (no second polynomial for small ones).
    ``2|x| = n ln 2 + r`` with ``n`` rounded down, so ``r`` is in
    ``[0, ln 2)`` and ``e = 2**n expm1(r) + (2**n - 1)`` adds two positive
    terms: no cancellation, where ``n`` rounded to nearest would subtract
    them."""
    z = abs(x)
    z = z if z < _T_CLAMP else _T_CLAMP  # a select: the builtin min is one more overload to compile
    t = z + z
    n = np.floor(t * _LOG2E)
    r = t - n * _LN2_HI - n * _LN2_LO
    p = r + r * r * (_HALF + r * (_M0 + r * (_M1 + r * (_M2 + r * (_M3 + r * _M4)))))
    scale = _bits_as_float(np.int32((np.int32(n) + 127) << 23))  # 2**n, n <= 28
    e = scale * p + (scale - _F1)
    y = math.copysign(e / (e + _F2), x)
    if x != x:
        y = x
    return y


_D_T_CLAMP = 20.0  # tanh(20) rounds to 1 in float64
_D_TP0 = -9.64399179425052238628e-1
_D_TP1 = -9.92877231001918586564e1
_D_TP2 = -1.61468768441708447952e3
_D_TQ0 = 1.12811678491632931402e2
_D_TQ1 = 2.23548839060100448583e3
_D_TQ2 = 4.84406305325125486048e3


@jit_precise
def tanh64(x):
    """``tanh(x)`` for a float64 ``x``, with one division for both sides of
    0.625: ``z + z s P/Q = (z Q + z s P) / Q`` below; above, with
    ``exp(2z) = a / b``, ``(e - 1) / (e + 1) = (a - b) / (a + b)``."""
    z = abs(x)
    z = z if z < _D_T_CLAMP else _D_T_CLAMP
    s = z * z
    p = ((_D_TP0 * s + _D_TP1) * s + _D_TP2) * s
    q = ((s + _D_TQ0) * s + _D_TQ1) * s + _D_TQ2
    small = z < 0.625
    px, qx, scale = exp64_pade(z + z)  # 2z <= 40: no edge to check
    a, b = (qx + px) * scale, qx - px  # exp(2z) = a / b
    num = z * q + z * p if small else a - b
    den = q if small else a + b
    y = math.copysign(num / den, x)
    if x != x:
        y = x
    return y


_E_CLAMP = np.float32(4.0)  # erf(4) rounds to 1 in float32
_EA1 = np.float32(-1.60960333262415e-02)
_EA3 = np.float32(-2.95459980854025e-03)
_EA5 = np.float32(-7.34990630326855e-04)
_EA7 = np.float32(-5.69250639462346e-05)
_EA9 = np.float32(-2.10102402082508e-06)
_EA11 = np.float32(2.77068142495902e-08)
_EA13 = np.float32(-2.72614225801306e-10)
_EB0 = np.float32(-1.42647390514189e-02)
_EB2 = np.float32(-7.37332916720468e-03)
_EB4 = np.float32(-1.68282697438203e-03)
_EB6 = np.float32(-2.13374055278905e-04)
_EB8 = np.float32(-1.45660718464996e-05)


@jit_precise
def erf32(x):
    """``erf(x)`` for a float32 ``x``."""
    z = abs(x)
    z = z if z < _E_CLAMP else _E_CLAMP
    s = z * z
    p = ((((((_EA13 * s + _EA11) * s + _EA9) * s + _EA7) * s + _EA5) * s + _EA3) * s + _EA1)
    q = (((_EB8 * s + _EB6) * s + _EB4) * s + _EB2) * s + _EB0
    y = math.copysign(p / q * z, x)  # z last: p * z would go subnormal first for tiny z
    if x != x:
        y = x
    return y


@jit_precise
def silu32(x):
    """``x / (1 + exp(-x))`` for a float32 ``x``."""
    return x / (_F1 + exp32(-x))


_D_S_CLAMP = 708.39  # exp(708.39) * 2.5 stays finite (the scale is 2**1022 at most)


@jit_precise
def silu64(x):
    """``x / (1 + exp(-x))`` for a float64 ``x``, one division: with
    ``exp(-x) = scale * (qx + px) / (qx - px)`` (``exp64_pade``), SiLU is
    ``x ((qx - px) / ((qx - px) + scale * (qx + px)))``. Below -708.39 the
    value is ``x exp(x)`` rounded to 0 from below the normal range (exp's flush)."""
    t = -x
    tc = t if t > -_D_S_CLAMP else -_D_S_CLAMP
    px, qx, scale = exp64_pade(tc if tc < _D_S_CLAMP else _D_S_CLAMP)
    d = qx - px
    y = x * (d / (d + scale * (qx + px)))  # x * d could overflow for x near the largest float
    if t > _D_S_CLAMP:
        y = x * 0.0
    if x != x:
        y = x
    return y


def fast_silu(x):
    """``x / (1 + exp(-x))`` for compiled code: :func:`silu32` or :func:`silu64` by type."""
    raise NotImplementedError("fast_silu is only callable from compiled code")


def fast_tanh(x):
    """``tanh`` for compiled code: :func:`tanh32` or :func:`tanh64` by type."""
    raise NotImplementedError("fast_tanh is only callable from compiled code")


def fast_erf(x):
    """``erf`` for compiled code: :func:`erf32` for float32, ``math.erf`` for float64."""
    raise NotImplementedError("fast_erf is only callable from compiled code")


overload_by_dtype(fast_silu, silu32, silu64, lambda x: x / (1.0 + np.exp(-x)))
overload_by_dtype(fast_tanh, tanh32, tanh64, np.tanh)
overload_by_dtype(fast_erf, erf32, math.erf, math.erf)  # float64: the library's (see the module's docstring)
