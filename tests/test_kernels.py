"""Every compiled kernel equals its NumPy reference twin (fastbp.testing)."""
import numpy as np
import pytest

from fastbp._codes import SOFTMAX
from fastbp.activations import HIDDEN
from fastbp.losses import BinaryCrossEntropy, CrossEntropy
from fastbp.testing import KERNELS, SHAPES, KernelCase, assert_pair_close

# ``-m gemm``: the kernels that call the GEMM provider themselves, which CI
# runs again under every other provider (.ci/run).
CASES = [
    pytest.param(case, variant, id=f"{case.name}-{variant}", marks=[pytest.mark.gemm] if case.calls_gemm else [])
    for case in KERNELS
    for variant in case.variants
]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "B{}-in{}-out{}".format(*s))
@pytest.mark.parametrize("case,variant", CASES)
def test_kernel_matches_reference(case, variant, shape, dtype):
    assert_pair_close(case, shape, dtype, variant)


def test_the_table_has_shapes_past_the_register_tiles_for_every_product():
    """Each product kind (the forward ``W @ A``, the hidden delta ``W.T @ D``,
    the weight gradient ``D @ A.T``) is ``B * n_in * n_out`` multiply-adds in
    the table's shapes: one shape must reach the provider's GEMM, another
    stay in the tiles."""
    from fastbp.kernels._tiles import SMALL_WORK

    work = [B * n_in * n_out for B, n_in, n_out in SHAPES]
    assert max(work) >= SMALL_WORK > min(work)
    assert {case.name for case in KERNELS if case.calls_gemm} == {"gemm", "forward_layer", "hidden_delta",
                                                                  "weight_gradient"}


def test_the_kernels_calling_the_gemm_are_marked():
    """The ``calls_gemm`` marks against the kernels' own source: a kernel
    module's function that calls ``gemm(`` is marked, and only those."""
    import inspect

    from fastbp import kernels

    for case in KERNELS:
        source = inspect.getsource(getattr(kernels, case.name).py_func)
        calls = case.name == "gemm" or " gemm(" in source
        assert calls == case.calls_gemm, case.name


def test_kernel_table_covers_every_kernel():
    """Against the kernels package itself (every public compiled function of
    its modules), not a list derived from the same records as the table; each
    twin has its kernel's parameters."""
    import inspect

    import numba.core.registry

    import fastbp.reference

    compiled = {}
    for module in ("_blas", "_tiles", "backward", "epoch", "forward", "loss", "packed", "sparse", "step", "update"):
        mod = __import__(f"fastbp.kernels.{module}", fromlist=["_"])
        # By the name each module gives it (the numba provider's gemm is _loopgemm's loop_gemm).
        compiled.update({n: v for n, v in vars(mod).items() if not n.startswith("_")
                         and isinstance(v, numba.core.registry.CPUDispatcher)
                         and v.__module__.startswith("fastbp.kernels")})
    helpers = {"is_small", "fuses_activation", "fuses_derivative"}  # the tiles' size and fusion rules
    assert set(compiled) - helpers == {case.name for case in KERNELS}
    for case in KERNELS:
        twin = getattr(fastbp.reference, case.name)
        assert list(inspect.signature(twin).parameters) == list(inspect.signature(compiled[case.name].py_func).parameters), case.name


def test_saturated_outputs_give_finite_loss():
    """log is clipped: a probability that underflowed to 0 costs a large finite loss."""
    import fastbp.kernels as k
    import fastbp.reference as r

    for dtype in (np.float32, np.float64):
        A = np.array([[0.0, 1.0]], dtype)
        Y = np.array([[1.0, 0.0]], dtype)
        for loss in (CrossEntropy().pack(), BinaryCrossEntropy().pack()):
            got, want = k.loss_value(A, Y, loss), r.loss_value(A, Y, loss)
            assert np.isfinite(got) and got > 80, (loss, dtype, got)
            assert got == pytest.approx(want, rel=1e-12)


def test_softmax_of_large_logits_is_finite():
    import fastbp.kernels as k

    X = np.array([[1000.0, -1000.0]])  # one sample, as a row
    Z, out = np.empty((2, 1)), np.empty((2, 1))
    k.forward_layer(np.eye(2), np.zeros(2), X, True, SOFTMAX, Z, out)
    np.testing.assert_allclose(out, [[1.0], [0.0]])


@pytest.mark.parametrize("dtype,lo,hi,max_eps", [("float32", -87.3, 88.3, 1.0), ("float64", -708.3, 709.0, 1.5)])
def test_vectorised_exp_accuracy_and_edges(dtype, lo, hi, max_eps):
    """exp32/exp64 (behind sigmoid and softmax): relative error within ``max_eps``
    machine epsilons (the bound _fastexp.py states), with inf, 0 and NaN at the edges."""
    from fastbp.kernels._fastexp import exp32, exp64

    fn = exp32 if dtype == "float32" else exp64
    x = np.concatenate([np.linspace(lo, hi, 20001), np.random.default_rng(0).uniform(-5, 5, 2000)]).astype(dtype)
    got = np.array([fn(v) for v in x])
    want = np.exp(x.astype(np.longdouble))  # more precise than float64 where long double is wider
    err = np.abs(got - want) / (want * np.finfo(dtype).eps)
    assert err.max() <= max_eps, f"exp {dtype}: {float(err.max()):.2f} eps at x={x[err.argmax()]}"
    t = np.dtype(dtype).type
    assert fn(t(1e4)) == np.inf and fn(t(-1e4)) == 0.0 and np.isnan(fn(t(np.nan)))


def _whole_range(dtype, n=200_000, seed=0):
    """Arguments over a dtype's whole range, both signs: a dense grid where the
    functions bend, log-uniform magnitudes from the smallest subnormal to the
    largest finite value, and the edges (±0, the extremes, ±inf, NaN)."""
    info = np.finfo(dtype)
    rng = np.random.default_rng(seed)
    mags = np.exp(rng.uniform(np.log(float(info.smallest_subnormal)), np.log(float(info.max)), n))
    x = np.concatenate([np.linspace(-12, 12, n), mags, -mags]).astype(dtype)
    edges = np.array([0.0, -0.0, info.max, -info.max, info.smallest_subnormal, -info.smallest_subnormal,
                      info.tiny, -info.tiny, np.inf, -np.inf, np.nan], dtype=dtype)
    return np.concatenate([x, edges])


def _truth(name, x):
    """The function in long double (wider than float64 on x86), or glibc's float64 erf."""
    import math

    xl = x.astype(np.longdouble)
    with np.errstate(over="ignore"):
        if name == "tanh":
            return np.tanh(xl)
        if name == "sigmoid":
            return 1 / (1 + np.exp(-xl))
    return np.array([math.erf(float(v)) for v in x], dtype=np.longdouble)


@pytest.mark.parametrize("name,dtype", [("tanh", "float32"), ("tanh", "float64"), ("erf", "float32"),
                                        ("sigmoid", "float32"), ("sigmoid", "float64")])
def test_vectorised_functions_within_their_stated_ulp(name, dtype):
    """tanh, erf (float32; float64 GELU keeps math.erf) and the sigmoid behind the activations (kernels/_fastmath.py):
    within ``MAX_ULP`` of the correctly rounded value over the whole range,
    subnormal arguments included (sigmoid: where the value is normal; below,
    it flushes to 0 as exp does), with the edges of the library functions."""
    import numba

    from fastbp.kernels import _fastmath

    from fastbp.kernels._fastexp import fast_exp

    if name == "sigmoid":  # the activations' own expression
        one = np.dtype(dtype).type(1)
        fn = numba.njit(lambda v: one / (one + fast_exp(-v)))
    else:
        fn = getattr(_fastmath, f"{name}{dtype[-2:]}")

    @numba.njit
    def apply(x, out):
        for i in range(x.shape[0]):
            out[i] = fn(x[i])

    x = _whole_range(dtype)
    got = np.empty_like(x)
    apply(x, got)
    want = _truth(name, x)
    finite = np.isfinite(x)
    info = np.finfo(dtype)
    ulp = np.spacing(np.abs(want.astype(dtype))).astype(np.longdouble)
    err = np.abs(got.astype(np.longdouble) - want) / ulp
    if name == "sigmoid":
        subnormal = want < info.tiny
        assert np.all(np.abs(got[subnormal & finite].astype(np.longdouble) - want[subnormal & finite]) < info.tiny)
        finite &= ~subnormal
    bound = _fastmath.MAX_ULP[(name, dtype)]
    worst = int(np.argmax(np.where(finite, err, 0)))
    assert err[finite].max() <= bound, f"{name} {dtype}: {float(err[worst]):.2f} ulp at x={x[worst]!r}"
    assert np.isnan(got[np.isnan(x)]).all()
    inf = np.isinf(x)
    np.testing.assert_array_equal(got[inf], {"tanh": np.sign(x), "erf": np.sign(x), "sigmoid": x > 0}[name][inf])
    if name != "sigmoid":  # odd functions keep the sign of zero
        zeros = x == 0
        np.testing.assert_array_equal(np.signbit(got[zeros]), np.signbit(x[zeros]))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("act", [a for a in HIDDEN])
def test_activation_pass_matches_twin_over_the_whole_range(act, dtype):
    """``forward_layer`` (a 1x1 layer, so Z is the input itself) against its
    NumPy twin, which keeps the exact library functions, over the whole float
    range: NaN where the twin has NaN, equal infinities, and finite values
    within the dtype's tolerances; the same for the fused hidden delta."""
    import fastbp.kernels as k
    import fastbp.reference as r
    from fastbp.activations import ACTIVATIONS
    from fastbp.testing import TOLERANCES

    code = ACTIVATIONS[act].code
    x = _whole_range(dtype, n=20_000)[None, :]  # one unit, one column per value
    W, b = np.ones((1, 1), dtype), np.zeros(1, dtype)
    tol = TOLERANCES[np.dtype(dtype)]
    outputs = {}
    for side, mod in (("kernel", k), ("twin", r)):
        Z, out = np.empty_like(x), np.empty_like(x)
        with np.errstate(all="ignore"):
            mod.forward_layer(W, b, x, False, code, Z, out)
        outputs[side] = out
    got, want = outputs["kernel"], outputs["twin"]
    where = f"kernel forward_layer, activation {act}, dtype {dtype}, shape {x.shape}"
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg=where)
    finite = np.isfinite(want)
    np.testing.assert_array_equal(got[~finite & ~np.isnan(want)], want[~finite & ~np.isnan(want)], err_msg=where)
    np.testing.assert_allclose(got[finite], want[finite], rtol=tol["rtol"], atol=tol["atol"], err_msg=where)


# -- the oracle itself must fail a wrong kernel --------------------------------
class _FakeCase(KernelCase):
    """A kernel-table entry whose kernel and twin the test supplies."""

    def __init__(self, kernel, twin, make_args, outputs=(0,)):
        super().__init__("fake", make_args, outputs, (None,))
        object.__setattr__(self, "_pair", (kernel, twin))

    def kernel(self):
        return self._pair[0]

    def reference(self):
        return self._pair[1]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_kernel_that_writes_nothing_fails(dtype):
    case = next(c for c in KERNELS if c.name == "gemm")
    fake = _FakeCase(lambda *args: None, case.reference(), case.make_args, case.outputs)
    for variant in ("NN", "NN0"):
        with pytest.raises(AssertionError, match="kernel fake: output 0"):
            assert_pair_close(fake, (8, 5, 3), dtype, variant)


def test_an_inf_in_the_twin_does_not_make_every_difference_pass():
    def make_args(rng, shape, dtype, variant, scale=1.0):
        return (np.zeros(4, dtype),)

    def twin(out):
        out[:] = [np.inf, 1.0, 2.0, 3.0]

    def kernel(out):
        out[:] = [np.inf, 1.0, 2.0, 7.0]  # right at the inf, wrong elsewhere

    def kernel_without_the_inf(out):
        out[:] = [1e30, 1.0, 2.0, 3.0]

    for dtype in ("float32", "float64"):
        for wrong in (kernel, kernel_without_the_inf):
            with pytest.raises(AssertionError, match="kernel fake"):
                assert_pair_close(_FakeCase(wrong, twin, make_args), (1, 1, 1), dtype, None)
    assert_pair_close(_FakeCase(twin, twin, make_args), (1, 1, 1), "float32", None)  # and the same passes


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_kernel_wrong_in_one_place_fails(dtype):
    """One weight 5e-4 off after a float32 epoch whose twin errs elsewhere: the
    referee judges element by element, so the twin's other errors do not hide it."""
    case = next(c for c in KERNELS if c.name == "train_epoch_optim")
    real = case.kernel()

    def one_off(*args):
        result = real(*args)
        args[4][7] += 5e-4
        return result

    fake = _FakeCase(one_off, case.reference(), case.make_args, case.outputs)
    assert_pair_close(_FakeCase(real, case.reference(), case.make_args, case.outputs), (16, 8, 8), dtype,
                      ("tanh", "momentum"), scale=3.0)
    with pytest.raises(AssertionError, match="kernel fake: output 0"):
        assert_pair_close(fake, (16, 8, 8), dtype, ("tanh", "momentum"), scale=3.0)


def test_the_signature_table_names_every_top_level_kernel_with_its_parameters():
    """kernels/_signatures.py against the kernels themselves: the warm-up's
    kernels, each with one entry per parameter, the input where it takes X."""
    import inspect

    import fastbp.kernels as k
    from fastbp._warmup import KERNELS as WARMED
    from fastbp.kernels._signatures import ARGUMENTS, signature, takes_x

    assert set(ARGUMENTS) == set(WARMED)
    for name, kinds in ARGUMENTS.items():
        params = list(inspect.signature(getattr(k, name).py_func).parameters)
        assert len(kinds) == len(params), name
        assert (params[0] == "X") == (kinds[0] in ("X", "XD")), name  # XD: the input, dense only
        assert takes_x(name) == (kinds[0] == "X"), name
        assert (signature(name, "float64", True) != signature(name, "float64")) == takes_x(name)
    with pytest.raises(ValueError, match="unknown kernel"):
        signature("nope", "float32")
    with pytest.raises(ValueError, match="unknown dtype"):
        signature("forward", "float16")
