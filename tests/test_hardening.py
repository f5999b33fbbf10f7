"""Past the happy path: numbers at the dtype's boundary, targets that are not
distributions, debugging switches, seeds, pandas nullable data, and threads."""
import os
import subprocess
import sys
import threading

import numpy as np
import pytest

import fastbp
from fastbp._validation import DISTRIBUTION_TOLERANCE

# -- finite in float64, infinite in float32 ----------------------------------------------------

@pytest.mark.parametrize("value", [1e39, -3.5e38, np.finfo(np.float64).max])
@pytest.mark.parametrize("call", ["predict", "forward", "fit", "loss", "gradients", "step"])
def test_values_that_overflow_the_networks_dtype_are_refused_naming_x(Net, value, call):
    net = Net([3, 4, 2], dtype="float32", seed=0)
    X = np.zeros((5, 3))
    X[2, 1] = value
    Y = np.eye(2)[[0, 1, 0, 1, 0]]
    before = [w.copy() for w in net.weights]
    args = (X,) if call in ("predict", "forward") else (X, Y)
    with pytest.raises(ValueError, match=r"X holds .* at index \(2, 1\): finite in float64 but beyond the largest float32"):
        getattr(net, call)(*args)
    for a, b in zip(before, net.weights):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("call", ["fit", "loss", "step"])
def test_regression_targets_that_overflow_are_refused_naming_y(Net, call):
    net = Net([3, 4, 1], output="identity", dtype="float32", seed=0)
    y = np.array([0.0, 1e39, 2.0])
    with pytest.raises(ValueError, match=r"Y holds 1e\+39 at index \(1, 0\)"):
        getattr(net, call)(np.zeros((3, 3)), y.reshape(-1, 1) if call != "fit" else y)


def test_large_values_that_fit_the_dtype_are_accepted(Net):
    net = Net([2, 3, 2], dtype="float32", seed=0)
    assert np.isfinite(net.forward(np.array([[3e38, -3e38]]))).all()
    net64 = Net([2, 3, 2], dtype="float64", seed=0)
    assert net64.forward(np.array([[1e300, 0.0]])).shape == (1, 2)


# -- cross-entropy targets are distributions -------------------------------------------------------

@pytest.mark.parametrize("rows", [[[3.0, 0.0, 0.0]], [[0.0, 0.0, 0.0]], [[0.5, 0.4, 0.0]], [[0.6, 0.6, 0.0]]])
@pytest.mark.parametrize("call", ["fit", "loss", "gradients", "step"])
def test_cross_entropy_targets_must_sum_to_one(Net, rows, call):
    net = Net([2, 3], output="softmax", seed=0)
    Y = np.array([[1.0, 0.0, 0.0]] + rows)
    with pytest.raises(ValueError, match=r"distribution summing to 1 \(within 0.0001\).*row 1 sums to"):
        getattr(net, call)(np.zeros((2, 2)), Y)


def test_soft_targets_within_tolerance_are_accepted_and_gradient_matches_loss(Net):
    """Probabilities (label smoothing, float32 softmax outputs) are fine; the
    returned gradient is the gradient of the returned loss (central differences)."""
    rng = np.random.default_rng(0)
    net = Net([3, 4], output="softmax", seed=1)
    Y = rng.dirichlet(np.ones(4), size=6)
    X = rng.normal(size=(6, 3))
    nearly = Y.copy()
    nearly[0] *= 1 + DISTRIBUTION_TOLERANCE / 2  # rounding of float32 probabilities: accepted
    assert np.isfinite(net.loss(X, nearly))
    dWs, _ = net.gradients(X, Y)
    W = net.weights[0]
    eps = 1e-6
    W[1, 2] += eps
    up = net.loss(X, Y)
    W[1, 2] -= 2 * eps
    down = net.loss(X, Y)
    W[1, 2] += eps
    assert dWs[0][1, 2] == pytest.approx((up - down) / (2 * eps), rel=1e-5, abs=1e-9)


# -- NUMBA_DISABLE_JIT ------------------------------------------------------------------------------

def test_numba_disable_jit_is_an_error_naming_the_variable():
    code = "import numpy as np, fastbp; fastbp.Network([2, 2], seed=0).predict(np.zeros((1, 2)))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, NUMBA_DISABLE_JIT="1"))
    assert proc.returncode != 0
    assert "NUMBA_DISABLE_JIT=1" in proc.stderr.strip().splitlines()[-1]


def test_reference_network_works_with_numba_disable_jit():
    code = ("import numpy as np, fastbp; n = fastbp.reference.Network([2, 3, 2], seed=0);"
            "h = n.fit(np.eye(2), [0, 1], epochs=2, threads=1); print(len(h['loss']))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, NUMBA_DISABLE_JIT="1"))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "2"


# -- seeds ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", [-1, 1.5, "7", True, [1, 2]])
def test_bad_seeds_are_errors_naming_seed(Net, seed):
    with pytest.raises(ValueError, match=r"seed must be None or a non-negative integer"):
        Net([2, 2], seed=seed)


def test_numpy_integer_seed_is_accepted(Net):
    a, b = Net([2, 3], seed=np.int64(4)), Net([2, 3], seed=4)
    np.testing.assert_array_equal(a.weights[0], b.weights[0])


# -- pandas nullable dtypes and missing values ---------------------------------------------------------

def test_pandas_nullable_columns_without_missing_values_are_numbers(Net):
    pd = pytest.importorskip("pandas")
    X = pd.DataFrame({"a": pd.array([0.5, 1.5, -1.0], dtype="Float64"), "b": pd.array([1, 2, 3], dtype="Int64")})
    y = pd.Series(pd.array([0, 1, 0], dtype="Int64"))
    net = Net([2, 3, 2], seed=0)
    net.fit(X, y, epochs=1, batch_size=2)
    np.testing.assert_array_equal(net.forward(X), net.forward(X.to_numpy(dtype=float)))


@pytest.mark.parametrize("where", ["X", "y"])
def test_missing_values_are_named_as_such(Net, where):
    pd = pytest.importorskip("pandas")
    X = pd.DataFrame({"a": pd.array([0.5, None, -1.0], dtype="Float64"), "b": [1.0, 2.0, 3.0]})
    y = pd.Series(pd.array([0, 1, None], dtype="Int64"))
    if where == "X":
        y = y.fillna(0)
    else:
        X = X.fillna(0.0)
    with pytest.raises(ValueError, match=rf"{'X' if where == 'X' else 'Y'} has missing values"):
        Net([2, 3, 2], seed=0).fit(X, y, epochs=1)


def test_object_arrays_with_none_say_missing_values(Net):
    X = np.array([[1.0, None]], dtype=object)
    with pytest.raises(ValueError, match=r"X has missing values \(first at index \(0, 1\)\)"):
        Net([2, 2], seed=0).predict(X)


def test_object_arrays_of_strings_stay_a_type_error(Net):
    with pytest.raises(fastbp.InputTypeError, match="must hold real numbers"):
        Net([2, 2], seed=0).predict(np.array([["1.5", 2.0]], dtype=object))


# -- threads -------------------------------------------------------------------------------------------

def _problem(n=3000, n_in=32, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, n_in)), rng.integers(0, 4, size=n)


def _fit_in_threads(jobs):
    errors, results = [], [None] * len(jobs)

    def run(i, fn):
        try:
            results[i] = fn()
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i, fn)) for i, fn in enumerate(jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results, errors


def test_one_network_in_two_threads_is_serialised_and_deterministic():
    X, y = _problem()
    sizes = [32, 64, 4]
    alone = fastbp.Network(sizes, seed=3)
    for _ in range(2):
        alone.fit(X, y, epochs=2, batch_size=16, lr=0.05)
    for _ in range(3):
        shared = fastbp.Network(sizes, seed=3)
        _, errors = _fit_in_threads([lambda: shared.fit(X, y, epochs=2, batch_size=16, lr=0.05)] * 2)
        assert not errors
        for a, b in zip(alone.weights + alone.biases, shared.weights + shared.biases):
            np.testing.assert_array_equal(a, b)


def test_concurrent_fits_with_the_same_threads_match_each_alone_and_restore_the_setting():
    X, y = _problem()
    sizes = [32, 128, 64, 4]
    before = fastbp.get_num_threads()
    alone = []
    for seed in (1, 2):
        net = fastbp.Network(sizes, dtype="float64", seed=seed)
        net.fit(X, y, epochs=2, batch_size=32, lr=0.05, threads=1)
        alone.append(net)
    assert fastbp.get_num_threads() == before
    for _ in range(3):
        nets = [fastbp.Network(sizes, dtype="float64", seed=s) for s in (1, 2)]
        jobs = [lambda net=net: net.fit(X, y, epochs=2 + (net is nets[1]), batch_size=32, lr=0.05, threads=1)
                for net in nets]
        _, errors = _fit_in_threads(jobs)
        assert not errors
        for a in alone[1:]:
            a.fit(X, y, epochs=1, batch_size=32, lr=0.05, threads=1)  # the second ran one more epoch
        for a, b in zip(alone, nets):
            for p, q in zip(a.weights + a.biases, b.weights + b.biases):
                np.testing.assert_array_equal(p, q)
        assert fastbp.get_num_threads() == before, "the thread setting was not restored"
        alone = []
        for seed in (1, 2):
            net = fastbp.Network(sizes, dtype="float64", seed=seed)
            net.fit(X, y, epochs=2, batch_size=32, lr=0.05, threads=1)
            alone.append(net)


def test_concurrent_fits_asking_for_different_threads_are_refused():
    from fastbp import _threads

    X, y = _problem(n=200)
    started, release = threading.Event(), threading.Event()

    def slow(epoch, history):  # noqa: ARG001
        started.set()
        release.wait(30)

    with _threads.num_threads(1):  # a fit holding threads=1, as another thread's would
        net = fastbp.Network([32, 8, 4], seed=0)
        with pytest.raises(ValueError, match=r"threads=2 while another fit in this process runs with threads=1"):
            net.fit(X, y, epochs=1, threads=2)
        with pytest.raises(ValueError, match=r"threads=None\) while another fit"):
            net.fit(X, y, epochs=1)
        with pytest.raises(ValueError, match="would change their thread count mid-training"):
            fastbp.set_num_threads(1)
        net.fit(X, y, epochs=1, threads=1)  # the same count is fine
    net.fit(X, y, epochs=1, threads=2)
