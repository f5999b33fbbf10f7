"""The register-tiled small GEMM (kernels/_tiles.py): every strip and tile
width against the reference, the dispatch rule, and training through it."""
import numpy as np
import pytest

import fastbp
from fastbp import reference
from fastbp.kernels import _tiles, small_gemm
from fastbp.testing import KERNELS, TOLERANCES, assert_pair_close

# M covers strips of four and the single rows after them; N covers tiles of two,
# one and half a vector register and the single columns after them, for float32
# (8 lanes) and float64 (4 lanes); K = 0 is an empty sum.
MS = [1, 2, 3, 4, 5, 7, 9]
NS = [1, 2, 3, 4, 5, 7, 8, 11, 12, 15, 16, 19, 23, 24, 29, 33]
KS = [0, 1, 6]


def _operands(rng, M, N, K, trans_a, beta, dtype):
    A = rng.normal(size=(K, M) if trans_a else (M, K)).astype(dtype)
    B = rng.normal(size=(K, N)).astype(dtype)
    # C sits in a larger buffer: anything written past it shows in the guard.
    buf = np.full(M * N + 17, 7.0, dtype)
    C = buf[: M * N].reshape(M, N)
    C[...] = np.nan if beta == 0 else rng.normal(size=(M, N))
    return A, B, C, buf


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("trans_a", [False, True])
@pytest.mark.parametrize("beta", [0.0, 1.0, -0.5])
def test_small_gemm_every_strip_and_tile(dtype, trans_a, beta):
    rng = np.random.default_rng(3)
    tol = TOLERANCES[np.dtype(dtype)]
    for M in MS:
        for N in NS:
            for K in KS:
                A, B, C, buf = _operands(rng, M, N, K, trans_a, beta, dtype)
                want = C.copy()
                reference.small_gemm(trans_a, 1.5, A, B, beta, want)
                small_gemm(trans_a, 1.5, A, B, beta, C)
                where = f"small_gemm {dtype} M={M} N={N} K={K} trans_a={trans_a} beta={beta}"
                np.testing.assert_allclose(C, want, rtol=tol["rtol"], atol=tol["atol"] * max(1, K), err_msg=where)
                assert (buf[M * N :] == 7.0).all(), f"{where}: wrote past C"


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_small_gemm_propagates_nan_and_inf_from_operands(dtype):
    """Not reading C with beta 0 must not hide a NaN that comes from A or B."""
    A = np.ones((4, 3), dtype)
    B = np.ones((3, 16), dtype)
    A[1, 2], B[0, 5] = np.nan, np.inf
    C = np.zeros((4, 16), dtype)
    small_gemm(False, 1.0, A, B, 0.0, C)
    assert np.isnan(C[1]).all()
    assert np.isinf(C[[0, 2, 3], 5]).all() and np.isfinite(C[[0, 2, 3]][:, [0, 1, 2, 3, 4, 6]]).all()


def test_rule_is_openblas_single_thread_range():
    """Tiles strictly below 2**19 multiply-adds, the BLAS from there on."""
    assert _tiles.SMALL_WORK == 1 << 19
    assert _tiles.is_small(64, 64, 127) and _tiles.is_small(1, 1, 1)
    assert not _tiles.is_small(64, 64, 128) and not _tiles.is_small(128, 64, 64)


_LAYER_KERNELS = [case for case in KERNELS if case.name in ("forward_layer", "hidden_delta", "weight_gradient")]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape", [(64, 127, 64), (64, 128, 64)], ids=["below-rule", "at-rule"])
@pytest.mark.parametrize(
    "case,variant", [pytest.param(c, v, id=f"{c.name}-{v}") for c in _LAYER_KERNELS for v in c.variants]
)
def test_layer_kernels_either_side_of_the_rule(case, variant, shape, dtype):
    """The per-layer kernels equal their twins whether their products run in
    the tiles (with bias, activation or derivative fused into them) or in the
    BLAS: (B, n_in, n_out) = (64, 127, 64) is just below 2**19 multiply-adds,
    (64, 128, 64) at it. The kernel table's own shapes are all below it."""
    assert _tiles.is_small(64, 64, 127) and not _tiles.is_small(64, 64, 128)
    assert_pair_close(case, shape, dtype, variant)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("sizes,batch", [([13, 7, 5, 3], 9), ([20, 100, 1], 50), ([30, 64, 64, 4], 32)], ids=str)
def test_small_networks_train_as_the_reference(sizes, batch, dtype):
    """Networks whose every product goes through the tiles (odd widths, a
    single output unit, a last partial batch) train to the reference's weights."""
    rng = np.random.default_rng(1)
    X = rng.normal(size=(203, sizes[0])).astype(dtype)
    if sizes[-1] == 1:
        Y, kw = (rng.random((203, 1)) > 0.5).astype(dtype), dict(output="sigmoid", loss="binary_cross_entropy")
    else:
        Y, kw = np.eye(sizes[-1], dtype=dtype)[rng.integers(0, sizes[-1], 203)], {}
    tol = TOLERANCES[np.dtype(dtype)]
    for optimizer in ("sgd", "adam"):
        nets = [M(sizes, activation="relu", dtype=dtype, seed=2, **kw) for M in (fastbp.Network, reference.Network)]
        for net in nets:
            net.fit(X, Y, epochs=3, batch_size=batch, lr=0.05, optimizer=optimizer)
        for W, V in zip(nets[0].weights, nets[1].weights):
            np.testing.assert_allclose(W, V, rtol=tol["trained_rtol"], atol=tol["trained_atol"],
                                       err_msg=f"{sizes} batch {batch} {dtype} {optimizer}")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape", [(16, 9, 33), (64, 127, 64), (64, 128, 64)], ids=str)
@pytest.mark.parametrize("act", ["identity", "relu", "leaky_relu", "sigmoid", "tanh", "softmax"])
def test_forward_layer_in_place_as_training_calls_it(act, shape, dtype):
    """Training passes ``Z is out`` (the activation in place), where the tiles
    fuse bias and ReLU/leaky ReLU into their stores; NaN pre-activations
    stay NaN through ReLU, as in ``np.maximum``."""
    from fastbp.activations import ACTIVATIONS
    from fastbp.kernels import forward_layer

    B, n_in, n_out = shape
    rng = np.random.default_rng(4)
    W = rng.normal(size=(n_out, n_in)).astype(dtype)
    b = rng.normal(size=n_out).astype(dtype)
    A_prev = rng.normal(size=(n_in, B)).astype(dtype)
    A_prev[0, 3] = np.nan
    Z = np.full((n_out, B), np.nan, dtype)
    forward_layer(W, b, A_prev, False, ACTIVATIONS[act].code, Z, Z)
    want_z, want = np.empty_like(Z), np.empty_like(Z)
    reference.forward_layer(W, b, A_prev, False, ACTIVATIONS[act].code, want_z, want)
    tol = TOLERANCES[np.dtype(dtype)]
    assert np.isnan(Z[:, 3]).all(), f"forward_layer {act} {dtype} {shape}: NaN column lost"
    np.testing.assert_allclose(Z, want, rtol=tol["rtol"], atol=tol["atol"] * n_in,
                               err_msg=f"forward_layer in place, {act}, {dtype}, shape {shape}")
