"""Register-tiled GEMM for small layers, and the rule that picks it over the BLAS.

A BLAS call on a layer of tens of units is mostly fixed cost: argument
checks, packing op(A) and op(B) into panels, and edge handling, for a product
that is done in a microsecond. :func:`small_gemm` has none of that. It walks
C in strips of four rows (then single rows); each strip is cut into tiles of
two, one or half a vector register of columns (then single columns), and each
tile keeps its accumulators in registers for the whole sum over k: per k it
loads one row segment of B, broadcasts one scalar of op(A) per row, and
issues one fused multiply-add per accumulator register. No packing: B's rows
are read in place (so B must not be transposed), op(A) is read through two
strides (so A may be). Before a tile is stored, the layer's next step is done
on it in registers (``POST_*``): the bias and ReLU in the forward pass, the
activation's derivative in the hidden delta, so those need no pass of their
own over the block.

The forward and backward kernels take the tiles for products of fewer than
:data:`SMALL_WORK` multiply-adds (:func:`is_small`), the BLAS for the rest.
That is where OpenBLAS itself stops running a GEMM on one thread:
below it a second thread gains nothing and the tiles are faster than the
BLAS; above it the BLAS splits the product over its threads and its cache
blocking pays (docs/design.md has the measurements; asv's ``SmallGemm``
keeps them). So this rule is also the thread policy for small layers: their
products run on the calling thread, never split. It depends on shapes
alone, not on a timing or the thread count, so a seed gives the same weights
on every run and with any ``threads``.

The tile is one Numba intrinsic that writes the LLVM vector code directly
(``<8 x float>`` or ``<4 x double>`` accumulators, ``llvm.fmuladd``): Numba's
loops cannot keep a vector accumulator in a register across a loop, so the
same loops written in Python ran at half the speed of the BLAS.
"""
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from .._codes import IDENTITY, LEAKY_RELU, LEAKY_SLOPE, RELU, SIGMOID, TANH
from .._jit import jit

#: Bytes of one vector register the tiles are laid out for (AVX2; LLVM splits
#: or widens the vectors for other targets).
VECTOR_BYTES = 32
#: ``M * N * K`` below which a product runs in the tiles: OpenBLAS's own
#: threshold for splitting a GEMM over two threads (``interface/gemm.c``).
SMALL_WORK = 1 << 19


#: What a tile does to its result before storing it (``post``): nothing; add a
#: bias per row, then ReLU or leaky ReLU when ``act`` says so (the forward
#: pass); multiply by the derivative of ``act`` (ReLU, leaky ReLU, sigmoid,
#: tanh) read from the stored activations (the hidden delta).
POST_NONE, POST_BIAS, POST_DERIVATIVE = 0, 1, 2


@intrinsic
def _tile(typingctx, a, a_off, si, sk, b, b_off, ldb, c, c_off, ldc, K, rows, width, alpha, beta, post, act, x, x_off):
    """``C[r, :w] <- post(alpha * sum_k a[a_off + r*si + k*sk] * b[b_off + k*ldb + :w] + beta * C[r, :w])``
    for ``r < rows`` (a literal, 1 to 4), ``C[r, j] = c[c_off + r*ldc + j]``.

    ``width`` (a literal) sets w: 2 or 1 vector registers, 0 for half of one,
    -1 for a single column. With ``beta == 0`` C is not read. ``post``: see
    ``POST_*``; the bias of row r is ``x[x_off + r]``, the activations of
    ``C[r, j]`` are ``x[x_off + r*ldc + j]``.
    """
    if not (isinstance(rows, types.IntegerLiteral) and isinstance(width, types.IntegerLiteral)):
        return None
    R, code = rows.literal_value, width.literal_value
    dtype = c.dtype

    def codegen(context, builder, sig, args):
        a_, a_off_, si_, sk_, b_, b_off_, ldb_, c_, c_off_, ldc_, K_, _, _, alpha_, beta_, post_, act_, x_, x_off_ = args
        ety = context.get_value_type(dtype)
        size = 4 if ety == ir.FloatType() else 8
        lanes = {2: VECTOR_BYTES // size, 1: VECTOR_BYTES // size, 0: VECTOR_BYTES // size // 2, -1: 1}[code]
        nvec = 2 if code == 2 else 1
        vty = ir.VectorType(ety, lanes)
        ity = K_.type
        a_ptr = builder.gep(context.make_array(sig.args[0])(context, builder, a_).data, [a_off_])
        b_ptr = builder.gep(context.make_array(sig.args[4])(context, builder, b_).data, [b_off_])
        c_ptr = builder.gep(context.make_array(sig.args[7])(context, builder, c_).data, [c_off_])
        x_ptr = builder.gep(context.make_array(sig.args[17])(context, builder, x_).data, [x_off_])
        fma = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(vty, [vty] * 3), f"llvm.fmuladd.v{lanes}f{size * 8}")
        broadcast = ir.Constant(ir.VectorType(ir.IntType(32), lanes), [0] * lanes)

        def splat(x):
            v = builder.insert_element(ir.Constant(vty, ir.Undefined), x, ir.Constant(ir.IntType(32), 0))
            return builder.shuffle_vector(v, ir.Constant(vty, ir.Undefined), broadcast)

        def vector_at(ptr, q):
            return builder.bitcast(builder.gep(ptr, [ir.Constant(ity, q * lanes)]), vty.as_pointer())

        def const(v):
            return splat(ir.Constant(ety, v))

        # Accumulators live in stack slots that LLVM promotes to registers.
        zero = ir.Constant(vty, [ir.Constant(ety, 0.0)] * lanes)
        acc = [[cgutils.alloca_once_value(builder, zero) for _ in range(nvec)] for _ in range(R)]
        with cgutils.for_range(builder, K_) as loop:
            k = loop.index
            b_row = builder.gep(b_ptr, [builder.mul(k, ldb_)])
            bv = [builder.load(vector_at(b_row, q), align=size) for q in range(nvec)]
            ka = builder.mul(k, sk_)
            for r in range(R):
                x = splat(builder.load(builder.gep(a_ptr, [builder.add(builder.mul(ir.Constant(ity, r), si_), ka)])))
                for q in range(nvec):
                    builder.store(builder.call(fma, [x, bv[q], builder.load(acc[r][q])]), acc[r][q])

        al = splat(context.cast(builder, alpha_, sig.args[13], dtype))
        be = context.cast(builder, beta_, sig.args[14], dtype)
        bev = splat(be)
        # The results, scaled and combined with C, back into the slots.
        with builder.if_else(builder.fcmp_ordered("!=", be, ir.Constant(ety, 0.0))) as (accumulate, overwrite):
            for branch, read_c in ((accumulate, True), (overwrite, False)):
                with branch:
                    for r in range(R):
                        c_row = builder.gep(c_ptr, [builder.mul(ir.Constant(ity, r), ldc_)])
                        for q in range(nvec):
                            val = builder.fmul(al, builder.load(acc[r][q]))
                            if read_c:
                                val = builder.call(fma, [bev, builder.load(vector_at(c_row, q), align=size), val])
                            builder.store(val, acc[r][q])

        def is_act(code_value):
            return builder.icmp_signed("==", act_, ir.Constant(act_.type, code_value))

        def select(cond, yes, no):
            return builder.select(cond, yes, no)

        slope = const(LEAKY_SLOPE)
        with builder.if_then(builder.icmp_signed("==", post_, ir.Constant(post_.type, POST_BIAS))):
            for r in range(R):
                bias = splat(builder.load(builder.gep(x_ptr, [ir.Constant(ity, r)])))
                for q in range(nvec):
                    z = builder.fadd(builder.load(acc[r][q]), bias)
                    # "Unordered or greater": a NaN stays NaN, as np.maximum keeps it.
                    keep = builder.fcmp_unordered(">", z, zero)
                    relu = select(keep, z, zero)
                    leaky = select(keep, z, builder.fmul(slope, z))
                    z = select(is_act(RELU), relu, select(is_act(LEAKY_RELU), leaky, z))
                    builder.store(z, acc[r][q])
        with builder.if_then(builder.icmp_signed("==", post_, ir.Constant(post_.type, POST_DERIVATIVE))):
            one = const(1.0)
            for r in range(R):
                x_row = builder.gep(x_ptr, [builder.mul(ir.Constant(ity, r), ldc_)])
                for q in range(nvec):
                    d = builder.load(acc[r][q])
                    av = builder.load(vector_at(x_row, q), align=size)
                    positive = builder.fcmp_ordered(">", av, zero)
                    sig_d = builder.fmul(d, builder.fmul(av, builder.fsub(one, av)))
                    tanh_d = builder.fmul(d, builder.fsub(one, builder.fmul(av, av)))
                    d = select(is_act(RELU), select(positive, d, zero),
                               select(is_act(LEAKY_RELU), select(positive, d, builder.fmul(slope, d)),
                                      select(is_act(SIGMOID), sig_d, select(is_act(TANH), tanh_d, d))))
                    builder.store(d, acc[r][q])
        for r in range(R):
            c_row = builder.gep(c_ptr, [builder.mul(ir.Constant(ity, r), ldc_)])
            for q in range(nvec):
                builder.store(builder.load(acc[r][q]), vector_at(c_row, q), align=size)
        return context.get_dummy_value()

    signature = types.none(a, a_off, si, sk, b, b_off, ldb, c, c_off, ldc, K, rows, width, alpha, beta, post, act, x, x_off)
    return signature, codegen


@jit
def _tiled(a, si, sk, b, c, M, N, K, alpha, beta, post, act, x):
    """``small_gemm`` on flat views, op(A) read through strides ``si, sk``:
    strips of four rows, then single rows, each cut into tiles of two, one
    or half a vector register of columns, then single columns. (One function
    for both orientations of A and every row count, so it is compiled once
    per dtype; the tiles' row and width counts must be literals, so the
    two strip loops are written out: a shared helper would be compiled once
    per row count, or, inlined, would lose the literal.) The bias of a
    strip starts at its first row, ``x[i]``."""
    lanes = VECTOR_BYTES // c.itemsize
    bias = post == POST_BIAS
    i = 0
    while i + 4 <= M:
        a_off, c_off = i * si, i * N
        j = 0
        while j + 2 * lanes <= N:
            _tile(a, a_off, si, sk, b, j, N, c, c_off + j, N, K, 4, 2, alpha, beta, post, act, x, i if bias else c_off + j)
            j += 2 * lanes
        if j + lanes <= N:
            _tile(a, a_off, si, sk, b, j, N, c, c_off + j, N, K, 4, 1, alpha, beta, post, act, x, i if bias else c_off + j)
            j += lanes
        if j + lanes // 2 <= N:
            _tile(a, a_off, si, sk, b, j, N, c, c_off + j, N, K, 4, 0, alpha, beta, post, act, x, i if bias else c_off + j)
            j += lanes // 2
        while j < N:
            _tile(a, a_off, si, sk, b, j, N, c, c_off + j, N, K, 4, -1, alpha, beta, post, act, x, i if bias else c_off + j)
            j += 1
        i += 4
    while i < M:
        a_off, c_off = i * si, i * N
        j = 0
        while j + 2 * lanes <= N:
            _tile(a, a_off, si, sk, b, j, N, c, c_off + j, N, K, 1, 2, alpha, beta, post, act, x, i if bias else c_off + j)
            j += 2 * lanes
        if j + lanes <= N:
            _tile(a, a_off, si, sk, b, j, N, c, c_off + j, N, K, 1, 1, alpha, beta, post, act, x, i if bias else c_off + j)
            j += lanes
        if j + lanes // 2 <= N:
            _tile(a, a_off, si, sk, b, j, N, c, c_off + j, N, K, 1, 0, alpha, beta, post, act, x, i if bias else c_off + j)
            j += lanes // 2
        while j < N:
            _tile(a, a_off, si, sk, b, j, N, c, c_off + j, N, K, 1, -1, alpha, beta, post, act, x, i if bias else c_off + j)
            j += 1
        i += 1


@jit
def small_gemm(trans_a, alpha, A, B, beta, C):
    """``C <- alpha * op(A) @ B + beta * C``, register-tiled, for small products.

    ``op(A) = A.T`` when ``trans_a``; ``B (K, N)`` is never transposed (its
    rows are read in place). C-contiguous 2-D arrays whose shapes the caller
    has checked; with ``beta == 0`` C is not read (BLAS's rule).
    """
    _small_gemm_then(np.bool_(trans_a), alpha, A, B, beta, C, np.int64(POST_NONE), np.int64(0), C.reshape(C.size))


@jit
def _small_gemm_then(trans_a, alpha, A, B, beta, C, post, act, x):
    """``small_gemm``, each tile then finished by ``post`` (``POST_*``) with
    activation code ``act`` and ``x`` (the biases, or the stored activations
    laid out as C) while it is still in registers. Callers pass ``trans_a``,
    ``post`` and ``act`` as typed values (``np.bool_``, ``np.int64``), not
    literals: each literal would compile this function once more."""
    M, N = C.shape
    K = B.shape[0]
    si, sk = (1, M) if trans_a else (K, 1)
    t = C.dtype.type
    _tiled(A.reshape(A.size), si, sk, B.reshape(B.size), C.reshape(C.size), M, N, K, t(alpha), t(beta), post, act, x)


@jit
def fuses_activation(act):
    """Whether ``POST_BIAS`` applies activation ``act`` itself (else only the bias)."""
    return act == RELU or act == LEAKY_RELU or act == IDENTITY


@jit
def fuses_derivative(act):
    """Whether ``POST_DERIVATIVE`` knows the derivative of ``act`` (it is read from A)."""
    return act == RELU or act == LEAKY_RELU or act == SIGMOID or act == TANH


@jit
def is_small(M, N, K):
    """Whether an ``(M, K) @ (K, N)`` product runs in the tiles (the forward and
    backward kernels ask, for products whose B is not transposed)."""
    return M * N * K < SMALL_WORK
