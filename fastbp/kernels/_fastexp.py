"""``exp`` for float32 and float64 that LLVM can vectorise.

``np.exp`` compiles to one libm call per element, which no loop around it
can vectorise; the sigmoid and softmax loops spent a visible share of an
epoch there (docs/design.md). This is Cephes' ``expf`` for float32 (range
reduction by ln 2, degree-6 polynomial, exponent written into the bits) and
Cephes' ``exp`` for float64 (a Pade form): branch-free, so the loop
vectorises to AVX2/AVX-512. Accuracy: a relative error below 1 eps (float32)
and 1.5 eps (float64) of the true value, the bounds tests/test_kernels.py checks.
"""
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic, overload

from .._jit import OVERLOAD_OPTIONS, jit_precise

_BITCASTS = {types.int32: (types.float32, ir.FloatType()), types.int64: (types.float64, ir.DoubleType())}


@intrinsic
def _bits_as_float(typingctx, x):
    """Reinterpret an int32's (int64's) bits as a float32 (float64): a bitcast, no conversion."""
    if x not in _BITCASTS:
        return None
    result, llvm_type = _BITCASTS[x]

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], llvm_type)

    return result(x), codegen


_LOG2E = np.float32(1.44269504088896341)
_LN2_HI = np.float32(0.693359375)
_LN2_LO = np.float32(-2.12194440e-4)
_MAX = np.float32(88.3762626647949)
_MIN = np.float32(-87.3365478515625)  # below: 2**n would leave the normal range
_P0 = np.float32(1.9875691500e-4)
_P1 = np.float32(1.3981999507e-3)
_P2 = np.float32(8.3334519073e-3)
_P3 = np.float32(4.1665795894e-2)
_P4 = np.float32(1.6666665459e-1)
_P5 = np.float32(5.0000001201e-1)


@jit_precise
def exp32(x):
    """``exp(x)`` for a float32 ``x``; inf above 88.38, 0 below -87.34, NaN stays NaN."""
    xc = x if x > _MIN else _MIN  # selects: the builtins min and max are overloads to compile
    xc = xc if xc < _MAX else _MAX
    n = np.floor(xc * _LOG2E + np.float32(0.5))
    r = xc - n * _LN2_HI - n * _LN2_LO
    r2 = r * r
    p = ((((((_P0 * r + _P1) * r + _P2) * r + _P3) * r + _P4) * r + _P5) * r2 + r) + np.float32(1.0)
    y = p * _bits_as_float(np.int32((np.int32(n) + 127) << 23))
    if x > _MAX:
        y = np.float32(np.inf)
    if x < _MIN:
        y = np.float32(0.0)
    if x != x:  # NaN in, NaN out: the divergence checks rely on it
        y = x
    return y


_D_LOG2E = 1.4426950408889634073599
_D_C1 = 6.93145751953125e-1
_D_C2 = 1.42860682030941723212e-6
_D_MAX = 709.0  # 2**1023 * e**~0.3 stays finite; above, inf
_D_MIN = -708.3964185322641  # below: 2**n would leave the normal range
_D_P0 = 1.26177193074810590878e-4
_D_P1 = 3.02994407707441961300e-2
_D_P2 = 9.99999999999999999910e-1
_D_Q0 = 3.00198505138664455042e-6
_D_Q1 = 2.52448340349684104192e-3
_D_Q2 = 2.27265548208155028766e-1
_D_Q3 = 2.00000000000000000009e0


@jit_precise
def exp64_pade(x):
    """Cephes' ``exp`` for a float64 ``x`` already in [-708.4, 709], in parts
    ``(px, qx, scale)``: ``exp(x) = scale * (qx + px) / (qx - px)``. ``exp64``
    takes it as ``1 + 2 px / (qx - px)``; tanh, which divides anyway, folds
    the ratio into its own division."""
    n = np.floor(x * _D_LOG2E + 0.5)
    r = x - n * _D_C1 - n * _D_C2
    rr = r * r
    px = r * ((_D_P0 * rr + _D_P1) * rr + _D_P2)
    qx = ((_D_Q0 * rr + _D_Q1) * rr + _D_Q2) * rr + _D_Q3
    return px, qx, _bits_as_float(np.int64((np.int64(n) + 1023) << 52))


@jit_precise
def exp64(x):
    """``exp(x)`` for a float64 ``x``; inf above 709, 0 below -708.4, NaN stays NaN."""
    xc = x if x > _D_MIN else _D_MIN  # selects: the builtins min and max are overloads to compile
    px, qx, scale = exp64_pade(xc if xc < _D_MAX else _D_MAX)
    y = (1.0 + 2.0 * (px / (qx - px))) * scale
    if x > _D_MAX:
        y = np.inf
    if x < _D_MIN:
        y = 0.0
    if x != x:
        y = x
    return y


def fast_exp(x):
    """``exp`` for compiled code: :func:`exp32` for float32, :func:`exp64` for float64.

    The choice is made by type when the caller compiles, so there is no branch
    in the loop and no extra specialisation.
    """
    raise NotImplementedError("fast_exp is only callable from compiled code")


def overload_by_dtype(stub, for_float32, for_float64, otherwise) -> None:
    """Make ``stub(x)`` in compiled code call ``for_float32`` or ``for_float64``
    by the type of ``x`` (chosen when the caller compiles: no branch in its
    loop, no extra specialisation), else ``otherwise``."""

    @overload(stub, jit_options=OVERLOAD_OPTIONS)
    def _by_dtype(x):
        if x == types.float32:
            return lambda x: for_float32(x)
        if x == types.float64:
            return lambda x: for_float64(x)
        return lambda x: otherwise(x)


overload_by_dtype(fast_exp, exp32, exp64, np.exp)
