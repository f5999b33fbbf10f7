"""Sparse input (CSR, CSC) in the compiled path: the same numbers as the dense
path, nothing densified, and every malformed matrix refused before a kernel runs."""
import numpy as np
import pytest
import scipy.sparse as sp

import fastbp
from fastbp import _layout
from fastbp.errors import InputTypeError
from fastbp.testing import TOLERANCES


def _data(n=120, n_in=30, density=0.15, dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    X = sp.random(n, n_in, density=density, format="lil", random_state=seed, dtype=np.float64)
    X[5] = 0.0  # an empty row
    X = X.tocsr().astype(dtype)
    X.eliminate_zeros()
    return X, rng.integers(0, 3, n)


def _close(a, b, dtype, what):
    tol = TOLERANCES[np.dtype(dtype)]
    np.testing.assert_allclose(a, b, rtol=tol["trained_rtol"], atol=tol["trained_atol"], err_msg=what)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("optimizer", ["sgd", "adam", "momentum+l2"])
def test_a_sparse_fit_trains_to_the_dense_fits_weights(dtype, optimizer):
    """Each fit its own optimizer (an optimizer object keeps its state across fits)."""
    def fresh():
        return fastbp.optimizers.SGD(momentum=0.9, l2=1e-3) if optimizer == "momentum+l2" else optimizer

    X, y = _data(dtype=dtype)
    assert X.getnnz(axis=1)[5] == 0
    nets = []
    for Xin in (X, X.toarray(), X.tocsc()):
        net = fastbp.Network([30, 8, 3], dtype=dtype, seed=0)
        with fastbp.tier("wait"):
            net.fit(Xin, y, epochs=3, batch_size=16, optimizer=fresh())
        nets.append(net)
    for net in nets[1:]:
        for a, b in zip(nets[0].weights + nets[0].biases, net.weights + net.biases):
            _close(a, b, dtype, f"{optimizer} {dtype}")
    ref = fastbp.reference.Network([30, 8, 3], dtype=dtype, seed=0)
    ref.fit(X, y, epochs=3, batch_size=16, optimizer=fresh())
    for a, b in zip(nets[0].weights, ref.weights):
        _close(a, b, dtype, f"reference {optimizer} {dtype}")


def test_forward_predict_loss_gradients_and_score_take_sparse_rows():
    X, y = _data()
    net = fastbp.Network([30, 8, 3], seed=1)
    dense = X.toarray()
    with fastbp.tier("wait"):
        np.testing.assert_allclose(net.forward(X), net.forward(dense), rtol=1e-12, atol=1e-14)
        assert net.loss(X, y) == pytest.approx(net.loss(dense, y), rel=1e-12)
        for a, b in zip(*(sum(net.gradients(Xin, y), []) for Xin in (X.tocsc(), dense))):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
        np.testing.assert_array_equal(net.predict(X), net.predict(dense))
        assert net.score(X, y) == net.score(dense, y)
        before = net._params.copy()
        net.step(X, y, lr=0.1)
        after_sparse = net._params.copy()
        net._params[...] = before
        net.step(dense, y, lr=0.1)
        np.testing.assert_allclose(after_sparse, net._params, rtol=1e-12, atol=1e-14)


def test_validation_data_and_split_take_sparse_rows():
    X, y = _data(n=200)
    net = fastbp.Network([30, 8, 3], seed=0)
    h = net.fit(X, y, epochs=3, batch_size=32, validation_split=0.2)
    assert len(h["val_loss"]) == 3
    h = net.fit(X[:150], y[:150], epochs=2, validation_data=(X[150:], y[150:]))
    assert np.isfinite(h["val_accuracy"]).all()


def test_unsorted_and_duplicate_indices_are_summed_like_scipy():
    X, y = _data()
    canonical = X.copy()
    messy = X.copy()
    # Reverse each row's indices and split one stored value in two.
    for r in range(messy.shape[0]):
        lo, hi = messy.indptr[r], messy.indptr[r + 1]
        messy.indices[lo:hi] = messy.indices[lo:hi][::-1].copy()
        messy.data[lo:hi] = messy.data[lo:hi][::-1].copy()
    row = int(np.argmax(np.diff(X.indptr) > 0))
    p = X.indptr[row]
    data = np.insert(messy.data, p, messy.data[p] / 2)
    data[p + 1] /= 2
    indices = np.insert(messy.indices, p, messy.indices[p])
    indptr = messy.indptr.copy()
    indptr[row + 1:] += 1
    messy = sp.csr_matrix((data, indices, indptr), shape=X.shape)
    assert not messy.has_canonical_format
    net = fastbp.Network([30, 8, 3], seed=0)
    with fastbp.tier("wait"):
        np.testing.assert_allclose(net.forward(messy), net.forward(canonical), rtol=1e-12, atol=1e-14)
        a, b = fastbp.Network([30, 8, 3], seed=0), fastbp.Network([30, 8, 3], seed=0)
        a.fit(messy, y, epochs=2)
        b.fit(canonical, y, epochs=2)
    np.testing.assert_allclose(a._params, b._params, rtol=1e-10, atol=1e-12)
    assert not messy.has_canonical_format  # the caller's matrix is left as it was


def _broken(attr, value):
    X, _ = _data()
    X = X.copy()
    arr = getattr(X, attr).copy()
    value(arr)
    setattr(X, attr, arr)
    return X


def _replaced(attr, value):
    X, _ = _data()
    X = X.copy()
    setattr(X, attr, value(getattr(X, attr)))
    return X


BAD = [
    (lambda: _broken("data", lambda d: d.__setitem__(3, np.nan)), ValueError,
     r"contains NaN \(first at row \d+, column"),
    (lambda: _broken("data", lambda d: d.__setitem__(0, -np.inf)), ValueError, "contains infinity"),
    (lambda: _broken("indices", lambda i: i.__setitem__(2, 30)), ValueError,
     r"column index 30 in row \d+, outside 0..29"),
    (lambda: _broken("indices", lambda i: i.__setitem__(2, -1)), ValueError, "column index -1"),
    (lambda: _broken("indptr", lambda p: p.__setitem__(7, p[9] + 1)), ValueError, "indptr decreases at row"),
    (lambda: _broken("indptr", lambda p: p.__setitem__(-1, p[-1] + 5)), ValueError, "indptr ends at"),
    (lambda: _broken("indptr", lambda p: p.__setitem__(0, 1)), ValueError, "indptr starts at 1"),
    (lambda: _replaced("indptr", lambda p: p[:-1]), ValueError, "indptr has"),
    (lambda: _data()[0].tocoo(), InputTypeError, r"coo_matrix \(format 'coo'\); fastbp takes CSR or CSC"),
    (lambda: _data()[0].todok(), InputTypeError, "format 'dok'"),
    (lambda: sp.csr_matrix((4, 29)), ValueError, "has 29 features but the network's input layer has 30"),
    (lambda: sp.csr_matrix((0, 30)), ValueError, "no samples"),
    (lambda: _data()[0].astype(np.complex128), InputTypeError, "real numbers"),
    (lambda: _data()[0] * 1e300, ValueError, "beyond the largest float32"),
]


@pytest.mark.parametrize("make,error,match", BAD, ids=[m for _, _, m in BAD])
def test_bad_sparse_input_is_refused_before_any_kernel_runs(make, error, match):
    X = make()
    if X.shape[0] != 120:  # the wrong-shape cases: labels of their own length
        y = np.zeros(X.shape[0], dtype=int)
    else:
        y = _data()[1]
    net = fastbp.Network([30, 8, 3], dtype="float32" if "float32" in match else "float64", seed=0)
    before = net._params.copy()
    with pytest.raises(error, match=match):
        net.fit(X, y, epochs=1)
    np.testing.assert_array_equal(net._params, before)
    for call in (lambda: net.forward(X), lambda: net.gradients(X, y)):
        with pytest.raises(error, match=match):
            call()
    from fastbp.sklearn import MLPClassifier

    if error is ValueError and "column index" in match:  # past scikit-learn's checks, stopped by fastbp's
        clf = MLPClassifier(hidden_layer_sizes=(4,), max_iter=1)
        with pytest.raises(ValueError, match=match):
            clf.fit(X, y)


def test_int64_indices_are_taken_and_narrowed_where_they_fit():
    X, y = _data()
    wide = sp.csr_matrix((X.data, X.indices.astype(np.int64), X.indptr.astype(np.int64)), shape=X.shape)
    wide.indices = wide.indices.astype(np.int64)
    wide.indptr = wide.indptr.astype(np.int64)
    from fastbp._sparse import as_csr

    checked = as_csr(wide, 30, np.dtype(np.float64))
    assert checked.indices.dtype == np.int32 and checked.indptr.dtype == np.int32
    net = fastbp.Network([30, 8, 3], seed=0)
    np.testing.assert_allclose(net.forward(wide), net.forward(X.toarray()), rtol=1e-12, atol=1e-14)


def test_the_kernels_take_int64_indices_too():
    """Matrices past int32 (2**31 nonzeros) keep int64 indices: the same kernel code, compiled for them."""
    from fastbp import kernels

    X, _ = _data(n=20)
    sizes = np.array([30, 8, 3], dtype=np.int64)
    net = fastbp.Network([30, 8, 3], seed=0)
    params = net._params.copy()
    _layout.set_input_major([params], sizes)
    out = {}
    for dt in (np.int32, np.int64):
        out[dt] = np.empty((20, 3))
        kernels.forward((X.data, X.indices.astype(dt), X.indptr.astype(dt)), params, sizes, net._act_codes,
                        np.empty(_layout.forward_size(sizes, 20, net._act_codes)), out[dt])
    np.testing.assert_array_equal(out[np.int32], out[np.int64])
    np.testing.assert_allclose(out[np.int64], net.forward(X.toarray()), rtol=1e-12, atol=1e-14)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_a_matrix_whose_dense_form_would_not_fit_in_memory_trains():
    """Two million columns by 40,000 rows: 320 GB dense in float32. Any dense
    copy fails at once (NumPy cannot allocate it); the fit and the
    estimator's run on the nonzeros, within a small fraction of that."""
    import tracemalloc

    from fastbp.sklearn import MLPClassifier

    n, n_in, per_row = 40_000, 2_000_000, 3
    rng = np.random.default_rng(0)
    X = sp.csr_matrix((rng.random(n * per_row, dtype=np.float32), rng.integers(0, n_in, n * per_row),
                       np.arange(0, n * per_row + 1, per_row)), shape=(n, n_in))
    y = (X.indices[::per_row] % 2).astype(int)  # learnable from the first nonzero's column
    tracemalloc.start()
    try:
        net = fastbp.Network([n_in, 2, 2], dtype="float32", seed=0)
        net.fit(X, y, epochs=1, batch_size=256)
        assert net.predict(X[:10]).shape == (10,)
        clf = MLPClassifier(hidden_layer_sizes=(2,), max_iter=1, batch_size=256).fit(X, y)
        assert clf.predict_proba(X[:10]).shape == (10, 2)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # The network's own buffers (parameters, optimizer state, gradient: 2M x 2
    # each, 16 MB in float32 or 32 MB in scikit-learn's float64) and X, many
    # times over: still far below one dense copy.
    assert peak < 1.5e9, peak


def test_sparse_calls_find_their_own_compiled_code():
    """A sparse call's kernels are other specialisations: the tier looks for
    those (``float64-sparse``), not the dense ones, and compiles them when missing."""
    from fastbp import _tiers, kernels

    assert _tiers.variant(np.dtype("float32"), sparse=True) == "float32-sparse"
    assert _tiers.signature("loss_value", "float32-sparse") == _tiers.signature("loss_value", "float32")  # no X
    X, y = _data()
    net = fastbp.Network([30, 8, 3], seed=0)
    with fastbp.tier("wait"):
        net.forward(X)
    assert net.last_tier == "compiled"
    assert _tiers.signature("forward", "float64-sparse") in kernels.forward.overloads
    assert not _tiers._missing_in_memory(kernels, ["forward"], "float64-sparse")
