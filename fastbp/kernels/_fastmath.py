"""``tanh`` and ``erf`` for float32 and float64 that LLVM can vectorise.

``np.tanh`` and ``math.erf`` compile to one libm call per element, which no
loop around them can vectorise: tanh (the default hidden activation) and
GELU ran several times slower than ReLU on small networks. These are
branch-free (both sides of each range are computed and one is selected),
built on :func:`fastbp.kernels._fastexp.fast_exp`, so a loop over them
vectorises to AVX2/AVX-512 like sigmoid's.

- ``tanh``: Cephes' ``tanhf``/``tanh`` (S. L. Moshier): below |x| = 0.625 an
  odd polynomial (float32) or rational function (float64) of x, above it
  ``1 - 2 / (exp(2|x|) + 1)``; |x| is clamped where tanh rounds to 1, the sign
  is copied back from x (so ``tanh(-0) = -0``), NaN stays NaN.
- ``erf`` (GELU's), float32: a clamped odd/even rational function of x
  (Eigen's ``erf`` for float). float64 keeps the library's ``math.erf``:
  a vectorised float64 erf (Cephes' erf/erfc pair, branch-free) is too large
  for LLVM to inline into the loops, and inlined by Numba it made every
  first fit compile about 4% longer, for GELU alone (docs/performance.md).
- the sigmoid is the activations' own ``1 / (1 + fast_exp(-x))``; its bound
  is stated here with the others. Results below the smallest normal number
  flush to 0, as exp's do.

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
from ._fastexp import exp32_in_range, exp64_pade, overload_by_dtype

#: Error bounds in ulp of the correctly rounded result, per function and dtype:
#: float32's are the largest error over every float32, float64's the largest
#: over 15 million samples rounded up to the next half ulp (the tool's output).
MAX_ULP = {
    ("tanh", "float32"): 2.0, ("tanh", "float64"): 3.0,
    ("erf", "float32"): 7.0,
    ("sigmoid", "float32"): 3.5, ("sigmoid", "float64"): 3.0,
}

_F1 = np.float32(1.0)
_F2 = np.float32(2.0)
_T_SPLIT = np.float32(0.625)
_T_CLAMP = np.float32(10.0)  # tanh(10) rounds to 1 in float32
_T0 = np.float32(-5.70498872745e-3)
_T1 = np.float32(2.06390887954e-2)
_T2 = np.float32(-5.37397155531e-2)
_T3 = np.float32(1.33314422036e-1)
_T4 = np.float32(-3.33332819422e-1)


@jit_precise
def tanh32(x):
    """``tanh(x)`` for a float32 ``x``."""
    z = abs(x)
    z = z if z < _T_CLAMP else _T_CLAMP  # a select: the builtin min is one more overload to compile
    s = z * z
    small = (((((_T0 * s + _T1) * s + _T2) * s + _T3) * s + _T4) * s) * z + z
    large = _F1 - _F2 / (exp32_in_range(z + z) + _F1)  # 2z <= 20: no edge to check
    y = math.copysign(small if z < _T_SPLIT else large, x)
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


def fast_tanh(x):
    """``tanh`` for compiled code: :func:`tanh32` or :func:`tanh64` by type."""
    raise NotImplementedError("fast_tanh is only callable from compiled code")


def fast_erf(x):
    """``erf`` for compiled code: :func:`erf32` for float32, ``math.erf`` for float64."""
    raise NotImplementedError("fast_erf is only callable from compiled code")


overload_by_dtype(fast_tanh, tanh32, tanh64, np.tanh)
overload_by_dtype(fast_erf, erf32, math.erf, math.erf)  # float64: the library's (see the module's docstring)
