"""fastbp.sklearn: scikit-learn's estimator checks, and the same fits as scikit-learn's MLPs."""
import pickle
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn import datasets
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier as SkClassifier
from sklearn.neural_network import MLPRegressor as SkRegressor
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

import fastbp
from fastbp.sklearn import MLPClassifier, MLPRegressor
from fastbp.testing import TOLERANCES

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _expected_failures(estimator):
    # scikit-learn's own MLPClassifier(solver="lbfgs") fails it too: L-BFGS
    # drives some sigmoid outputs to exactly 1.0 on that check's data.
    if getattr(estimator, "solver", None) == "lbfgs" and isinstance(estimator, MLPClassifier):
        return {"check_classifiers_multilabel_output_format_predict_proba":
                "scikit-learn's own lbfgs MLPClassifier saturates to 1.0 on this check too"}
    return {}


@parametrize_with_checks([MLPClassifier(), MLPRegressor(), MLPClassifier(solver="lbfgs"), MLPRegressor(solver="lbfgs")],
                         expected_failed_checks=_expected_failures)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def _assert_same_fit(a, b, rtol=1e-7, atol=1e-9, what=""):
    """Two fitted MLPs took the same steps: same parameters and per-epoch records."""
    for name in ("n_iter_", "t_", "n_layers_", "n_outputs_", "out_activation_", "n_features_in_"):
        assert getattr(a, name) == getattr(b, name), f"{what}: {name}"
    for l, (x, y) in enumerate(zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_)):
        assert x.shape == y.shape and x.dtype == y.dtype, f"{what}: parameter {l}"
        np.testing.assert_allclose(x, y, rtol=rtol, atol=atol, err_msg=f"{what}: parameter {l}")
    np.testing.assert_allclose(a.loss_curve_, b.loss_curve_, rtol=rtol, err_msg=f"{what}: loss_curve_")
    if a.validation_scores_ is not None:
        np.testing.assert_allclose(a.validation_scores_, b.validation_scores_, rtol=rtol, err_msg=what)
        assert a.best_validation_score_ == pytest.approx(b.best_validation_score_, rel=rtol)
    else:
        assert a.best_loss_ == pytest.approx(b.best_loss_, rel=rtol)


def _digits():
    X, y = datasets.load_digits(return_X_y=True)
    return X / 16, y


CLASSIFIER_SETTINGS = [
    dict(solver="adam"),
    dict(solver="sgd"),
    dict(solver="sgd", nesterovs_momentum=False, momentum=0.5, alpha=1e-2),
    dict(solver="sgd", momentum=0.0, learning_rate="invscaling", learning_rate_init=0.5, power_t=0.3),
    dict(solver="sgd", learning_rate="adaptive", activation="logistic", n_iter_no_change=2, tol=1e-2),
    dict(solver="adam", activation="tanh", early_stopping=True, validation_fraction=0.2, alpha=1e-3),
    dict(solver="adam", activation="identity", batch_size=50, beta_1=0.8, beta_2=0.99, epsilon=1e-6),
    dict(solver="sgd", shuffle=False, batch_size=64),
]


@pytest.mark.parametrize("settings", CLASSIFIER_SETTINGS, ids=lambda s: ",".join(f"{k}={v}" for k, v in s.items()))
def test_classifier_takes_scikit_learns_steps(settings):
    X, y = _digits()
    kw = dict(hidden_layer_sizes=(24, 12), max_iter=15, random_state=0, **settings)
    ours, theirs = MLPClassifier(**kw).fit(X, y), SkClassifier(**kw).fit(X, y)
    _assert_same_fit(ours, theirs, what=str(settings))
    np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))
    np.testing.assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("kind", ["binary", "multilabel", "strings"])
def test_binary_multilabel_and_string_labels(kind):
    X, y = _digits()
    if kind == "binary":
        y = (y >= 5).astype(int)
    elif kind == "multilabel":
        y = np.stack([y % 2, y >= 5, y % 3 == 0], axis=1).astype(int)
    else:
        y = np.array(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"])[y]
    kw = dict(hidden_layer_sizes=(16,), max_iter=10, random_state=1)
    ours, theirs = MLPClassifier(**kw).fit(X, y), SkClassifier(**kw).fit(X, y)
    _assert_same_fit(ours, theirs, what=kind)
    assert ours.out_activation_ == ("softmax" if kind == "strings" else "logistic")
    np.testing.assert_array_equal(ours.classes_, theirs.classes_)
    np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))
    assert ours.predict(X).dtype == theirs.predict(X).dtype
    np.testing.assert_allclose(ours.predict_log_proba(X), theirs.predict_log_proba(X), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("settings", [dict(solver="adam"), dict(solver="sgd", learning_rate_init=1e-3, alpha=1e-2)])
@pytest.mark.parametrize("outputs", [1, 3])
def test_regressor_takes_scikit_learns_steps(settings, outputs):
    X, y = datasets.make_regression(n_samples=300, n_features=8, n_targets=outputs, noise=5.0, random_state=0)
    y = y / y.std()
    kw = dict(hidden_layer_sizes=(20, 10), max_iter=20, random_state=0, **settings)
    ours, theirs = MLPRegressor(**kw).fit(X, y), SkRegressor(**kw).fit(X, y)
    _assert_same_fit(ours, theirs, what=f"{settings}, {outputs} outputs")
    np.testing.assert_allclose(ours.predict(X), theirs.predict(X), rtol=1e-6, atol=1e-8)
    assert ours.predict(X).shape == theirs.predict(X).shape


def test_partial_fit_and_warm_start_continue_as_scikit_learn_does():
    X, y = _digits()
    kw = dict(hidden_layer_sizes=(16,), random_state=0, solver="sgd")
    ours, theirs = MLPClassifier(**kw), SkClassifier(**kw)
    for start in range(0, 1000, 250):  # partial_fit keeps the optimizer's velocities between calls
        ours.partial_fit(X[start : start + 250], y[start : start + 250], classes=np.arange(10))
        theirs.partial_fit(X[start : start + 250], y[start : start + 250], classes=np.arange(10))
    _assert_same_fit(ours, theirs, what="partial_fit")
    kw = dict(hidden_layer_sizes=(16,), random_state=0, max_iter=5, warm_start=True)
    ours, theirs = MLPClassifier(**kw), SkClassifier(**kw)
    for _ in range(2):
        ours.fit(X, y)
        theirs.fit(X, y)
    _assert_same_fit(ours, theirs, what="warm_start")


def test_float32_fits_in_float32_and_match_within_float32_rounding():
    X, y = _digits()
    X = X.astype(np.float32)
    kw = dict(hidden_layer_sizes=(32,), max_iter=5, random_state=0, solver="sgd")
    ours, theirs = MLPClassifier(**kw).fit(X, y), SkClassifier(**kw).fit(X, y)
    assert all(c.dtype == np.float32 for c in ours.coefs_ + ours.intercepts_)
    tol = TOLERANCES[np.dtype(np.float32)]
    _assert_same_fit(ours, theirs, rtol=tol["trained_rtol"], atol=tol["trained_atol"], what="float32")


def test_sparse_input_and_sample_weight_run_the_compiled_epochs(monkeypatch):
    """Counted, not assumed: every epoch of these fits is a compiled one, and
    the fits take scikit-learn's steps (its weighted means and L2 divisor)."""
    from fastbp.sklearn import _flat

    calls = []
    original = _flat.FlatNet.epoch

    def counted(self, *args, **kwargs):
        calls.append(kwargs.get("weights", args[6] if len(args) > 6 else None) is not None)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(_flat.FlatNet, "epoch", counted)
    X, y = _digits()
    w = np.random.default_rng(0).random(len(y))
    w[::7] = 0.0  # some rows weigh nothing
    tol = TOLERANCES[np.dtype(np.float64)]
    for solver in ("adam", "sgd"):
        kw = dict(hidden_layer_sizes=(16,), max_iter=5, random_state=0, solver=solver)
        for Xin, weights in ((sp.csr_matrix(X), None), (X, w), (sp.csc_matrix(X), w)):
            calls.clear()
            ours = MLPClassifier(**kw).fit(Xin, y, sample_weight=weights)
            assert ours.fit_tier_ == "compiled" and calls == [weights is not None] * 5, (solver, calls)
            _assert_same_fit(ours, SkClassifier(**kw).fit(Xin, y, sample_weight=weights),
                             rtol=tol["trained_rtol"], atol=tol["trained_atol"], what=f"{solver} {type(Xin)}")


def test_sample_weight_follows_scikit_learn_in_every_solver_and_early_stopping():
    X, y = _digits()
    rng = np.random.default_rng(1)
    w = rng.integers(0, 4, len(y)).astype(float)  # integers, zeros among them
    tol = TOLERANCES[np.dtype(np.float64)]
    for solver in ("adam", "sgd", "lbfgs"):
        for early in (False, True) if solver != "lbfgs" else (False,):
            kw = dict(hidden_layer_sizes=(12,), max_iter=6, random_state=0, solver=solver, early_stopping=early)
            ours = MLPClassifier(**kw).fit(X, y, sample_weight=w)
            theirs = SkClassifier(**kw).fit(X, y, sample_weight=w)
            assert ours.fit_tier_ == "compiled"
            if solver == "lbfgs":
                for a, b in zip(ours.coefs_, theirs.coefs_):
                    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-9)
                assert ours.loss_ == pytest.approx(theirs.loss_, rel=1e-9)
            else:
                _assert_same_fit(ours, theirs, rtol=tol["trained_rtol"], atol=tol["trained_atol"],
                                 what=f"{solver} early_stopping={early}")
    Xr, yr = datasets.make_regression(300, 10, n_targets=2, random_state=0)
    yr = yr / yr.std()
    wr = rng.random(300)
    for solver in ("adam", "sgd", "lbfgs"):
        kw = dict(hidden_layer_sizes=(8,), max_iter=6, random_state=0, solver=solver, learning_rate_init=1e-3)
        ours, theirs = MLPRegressor(**kw).fit(Xr, yr, sample_weight=wr), SkRegressor(**kw).fit(Xr, yr, sample_weight=wr)
        for a, b in zip(ours.coefs_, theirs.coefs_):
            np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-9, err_msg=solver)
        assert ours.loss_ == pytest.approx(theirs.loss_, rel=1e-8)


def test_integer_sample_weights_are_repeated_rows_for_lbfgs():
    """L-BFGS sees every row at once: weight k is the row repeated k times."""
    X, y = datasets.load_iris(return_X_y=True)
    w = np.random.default_rng(0).integers(0, 3, len(y))
    kw = dict(hidden_layer_sizes=(6,), solver="lbfgs", max_iter=30, random_state=0)
    weighted = MLPClassifier(**kw).fit(X, y, sample_weight=w.astype(float))
    repeated = MLPClassifier(**kw).fit(np.repeat(X, w, axis=0), np.repeat(y, w))
    for a, b in zip(weighted.coefs_ + weighted.intercepts_, repeated.coefs_ + repeated.intercepts_):
        np.testing.assert_allclose(a, b, rtol=1e-7, atol=1e-10)


def test_a_batch_of_weight_zero_is_scikit_learns_error():
    X, y = _digits()
    w = np.zeros(len(y))
    w[-1] = 1.0
    kw = dict(hidden_layer_sizes=(4,), max_iter=2, random_state=0, shuffle=False, batch_size=100)
    with pytest.raises(ZeroDivisionError, match="Weights sum to zero"):
        SkClassifier(**kw).fit(X, y, sample_weight=w)
    with pytest.raises(ZeroDivisionError, match="Weights sum to zero"):
        MLPClassifier(**kw).fit(X, y, sample_weight=w)


def test_the_copied_loop_is_from_the_installed_scikit_learn():
    """``fastbp/sklearn/_stochastic.py`` copies scikit-learn's ``_fit_stochastic``:
    a scikit-learn whose method reads otherwise fails here, so that an upgrade
    is a decision (carry the diff into the copy, record the new hash), not a drift."""
    import sklearn

    from fastbp.sklearn import _stochastic

    assert _stochastic.source_digest() == _stochastic.COPIED_FROM["sha256"], (
        f"scikit-learn {sklearn.__version__}'s BaseMultilayerPerceptron._fit_stochastic differs from the "
        f"{_stochastic.COPIED_FROM['version']} one fastbp/sklearn/_stochastic.py was copied from: read the diff, "
        "carry it into the copy, and record the new version and hash in COPIED_FROM"
    )


class _Spy:
    """A compiled kernel that counts its calls (and still reads as compiled to ``fastbp._tiers``)."""

    def __init__(self, kernel):
        self.kernel, self.calls = kernel, 0
        self.signatures, self._cache = kernel.signatures, kernel._cache

    def __call__(self, *args):
        self.calls += 1
        return self.kernel(*args)


@pytest.mark.parametrize("Est,SkEst,data", [
    (MLPClassifier, SkClassifier, lambda: _digits()),
    (MLPRegressor, SkRegressor, lambda: datasets.load_diabetes(return_X_y=True)),
])
def test_prediction_runs_the_compiled_forward(monkeypatch, Est, SkEst, data):
    """Dense rows go through ``fastbp.kernels.forward`` (scikit-learn's NumPy pass
    would fail here) and give scikit-learn's outputs within rounding."""
    X, y = data()
    est = Est(hidden_layer_sizes=(16,), max_iter=3, random_state=0).fit(X, y)
    want = SkEst._forward_pass_fast(est, X)

    def not_numpy(*args, **kwargs):
        raise AssertionError("scikit-learn's forward pass ran")

    monkeypatch.setattr(SkEst, "_forward_pass_fast", not_numpy)
    from fastbp import kernels

    spy = _Spy(kernels.forward)
    monkeypatch.setattr(kernels, "forward", spy)
    got = est._forward_pass_fast(X)
    assert spy.calls
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)
    est.predict(X[:5])
    if Est is MLPClassifier:
        est.predict_proba(X[:5])


def test_lbfgs_computes_each_evaluation_s_outputs_once(monkeypatch):
    """The objective reads the outputs ``batch_gradient`` left in its workspace:
    no forward pass runs during an L-BFGS fit, and the coefficients are scikit-learn's."""
    from fastbp import kernels

    X, y = datasets.load_iris(return_X_y=True)
    kw = dict(hidden_layer_sizes=(8,), solver="lbfgs", max_iter=20, random_state=0)
    spy = _Spy(kernels.forward)
    monkeypatch.setattr(kernels, "forward", spy)
    ours = MLPClassifier(**kw).fit(X, y)
    monkeypatch.undo()
    assert ours.fit_tier_ == "compiled" and spy.calls == 0
    theirs = SkClassifier(**kw).fit(X, y)
    for x, t in zip(ours.coefs_, theirs.coefs_):
        np.testing.assert_allclose(x, t, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("impl", ["kernels", "reference"])
def test_batch_gradient_leaves_the_outputs_in_its_workspace(impl):
    import fastbp
    from fastbp import _layout

    backend = getattr(fastbp, impl) if impl == "reference" else __import__("fastbp.kernels", fromlist=["_"])
    net = fastbp.Network([5, 7, 4, 3], activation="gelu", seed=0)
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(20, 5)), np.eye(3)[rng.integers(0, 3, 20)]
    rows = np.arange(3, 14, dtype=np.int64)
    work = np.full(_layout.workspace_size(net.sizes, len(rows), net._act_codes), np.nan)
    backend.batch_gradient(X, Y, rows, net._params, net._size_codes, net._act_codes, net._loss_code,
                           np.empty_like(net._params), work, net._params[:0])
    np.testing.assert_allclose(_layout.output_block(work, net.sizes, len(rows)).T, net.forward(X[rows]),
                               rtol=1e-13, atol=1e-15)


LBFGS_CASES = {
    # Each converges (or stops) well inside the iterations where float rounding
    # differences between two implementations stay below 1e-6.
    "multiclass": lambda: (*datasets.load_iris(return_X_y=True), MLPClassifier, SkClassifier, {}),
    "binary": lambda: (*datasets.load_breast_cancer(return_X_y=True), MLPClassifier, SkClassifier, {}),
    "strings": lambda: (datasets.load_iris().data, datasets.load_iris().target_names[datasets.load_iris().target],
                        MLPClassifier, SkClassifier, {}),
    "regressor": lambda: (*datasets.load_diabetes(return_X_y=True), MLPRegressor, SkRegressor, {"max_iter": 30}),
    "two outputs": lambda: (datasets.load_linnerud().data, datasets.load_linnerud().target, MLPRegressor, SkRegressor,
                            {"max_iter": 40, "activation": "logistic"}),
}


@pytest.mark.parametrize("case", list(LBFGS_CASES))
def test_lbfgs_finds_scikit_learns_coefficients(case):
    from sklearn.preprocessing import StandardScaler

    X, y, Ours, Theirs, kw = LBFGS_CASES[case]()
    X = StandardScaler().fit_transform(X)
    if Ours is MLPRegressor:
        y = (y - y.mean(axis=0)) / y.std(axis=0)
    kw = dict(hidden_layer_sizes=(16,), solver="lbfgs", random_state=0, **kw)
    ours, theirs = Ours(**kw).fit(X, y), Theirs(**kw).fit(X, y)
    assert ours.n_iter_ == theirs.n_iter_
    assert ours.loss_ == pytest.approx(theirs.loss_, rel=1e-6)
    for a, b in zip(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6 * np.abs(b).max())
    if Ours is MLPClassifier:
        np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))


def test_lbfgs_runs_fastbps_own_activations_with_sample_weight_and_sparse_input():
    X, y = datasets.load_iris(return_X_y=True)
    clf = MLPClassifier(hidden_layer_sizes=(8,), solver="lbfgs", activation="gelu", random_state=0).fit(X, y)
    assert clf.score(X, y) > 0.9
    w = np.random.default_rng(0).random(len(y))
    kw = dict(hidden_layer_sizes=(8,), solver="lbfgs", max_iter=20, random_state=0)
    np.testing.assert_allclose(MLPClassifier(**kw).fit(X, y, sample_weight=w).coefs_[0],
                               SkClassifier(**kw).fit(X, y, sample_weight=w).coefs_[0], rtol=1e-6, atol=1e-10)
    Xs = sp.csr_matrix(np.where(X > 3, X, 0))
    np.testing.assert_allclose(MLPClassifier(**kw).fit(Xs, y, sample_weight=w).coefs_[0],
                               SkClassifier(**kw).fit(Xs, y, sample_weight=w).coefs_[0], rtol=1e-6, atol=1e-10)
    gelu = MLPClassifier(**{**kw, "activation": "gelu"}).fit(Xs, y, sample_weight=w)
    assert gelu.fit_tier_ == "compiled" and gelu.score(Xs, y, sample_weight=w) > 0.6


def test_leaky_relu_is_offered_beyond_scikit_learn():
    X, y = _digits()
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, random_state=0, stratify=y)
    clf = MLPClassifier(hidden_layer_sizes=(64,), activation="leaky_relu", max_iter=60, random_state=0).fit(X_tr, y_tr)
    assert clf.score(X_te, y_te) > 0.95
    relu = MLPClassifier(hidden_layer_sizes=(64,), activation="relu", max_iter=60, random_state=0).fit(X_tr, y_tr)
    assert not np.allclose(clf.coefs_[0], relu.coefs_[0])
    # predict_proba's NumPy forward pass == fastbp.Network's with the same weights.
    net = fastbp.Network([64, 64, 10], activation="leaky_relu", output="softmax")
    for W, b, coef, intercept in zip(net.weights, net.biases, clf.coefs_, clf.intercepts_):
        W[...], b[...] = coef.T, intercept
    np.testing.assert_allclose(clf.predict_proba(X_te), net.forward(X_te), rtol=1e-10, atol=1e-12)
    sparse = clone(clf).fit(sp.csr_matrix(X_tr), y_tr)  # fastbp's own activation on sparse input: compiled
    np.testing.assert_allclose(sparse.coefs_[0], clf.coefs_[0], rtol=1e-6, atol=1e-9)
    with pytest.raises(ValueError, match="activation='leaky_relu' is fastbp's own.*'exp' output"):
        MLPRegressor(activation="leaky_relu", loss="poisson", max_iter=2).fit(X_tr, y_tr)
    with pytest.raises(ValueError, match="'activation' parameter"):
        MLPClassifier(activation="softplus").fit(X_tr, y_tr)


def test_fit_leaves_the_callers_arrays_alone_and_pickles():
    X, y = _digits()
    X32 = np.asfortranarray(X.astype(np.float32))
    X0, y0 = X32.copy(), y.copy()
    clf = MLPClassifier(hidden_layer_sizes=(8,), max_iter=3, random_state=0).fit(X32, y)
    np.testing.assert_array_equal(X32, X0)
    np.testing.assert_array_equal(y, y0)
    again = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(again.predict_proba(X32), clf.predict_proba(X32))
    again.set_params(warm_start=True, max_iter=2).fit(X32, y)  # unpickled coefs_ are plain arrays: refit works
    assert again.n_iter_ == 2


def _split(X, y, stratify=True):
    return train_test_split(X, y, test_size=0.3, random_state=0, stratify=y if stratify else None)


@pytest.mark.parametrize("name", ["iris", "wine", "breast_cancer", "digits"])
@pytest.mark.parametrize("solver", ["adam", "sgd"])
def test_accuracy_within_one_point_of_scikit_learn(name, solver):
    X, y = getattr(datasets, f"load_{name}")(return_X_y=True)
    X_tr, X_te, y_tr, y_te = _split(StandardScaler().fit_transform(X), y)
    kw = dict(hidden_layer_sizes=(50,), solver=solver, max_iter=200, random_state=0)
    ours = MLPClassifier(**kw).fit(X_tr, y_tr).score(X_te, y_te)
    theirs = SkClassifier(**kw).fit(X_tr, y_tr).score(X_te, y_te)
    assert abs(ours - theirs) <= 0.01, (name, solver, ours, theirs)
    assert ours > 0.8  # learned: chance is at most 0.63 (breast_cancer)


@pytest.mark.parametrize("name", ["diabetes", "linnerud"])
def test_r2_within_002_of_scikit_learn(name):
    X, y = getattr(datasets, f"load_{name}")(return_X_y=True)
    X_tr, X_te, y_tr, y_te = _split(StandardScaler().fit_transform(X), y / np.std(y, axis=0), stratify=False)
    kw = dict(hidden_layer_sizes=(32,), solver="adam", learning_rate_init=1e-2, max_iter=300, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = MLPRegressor(**kw).fit(X_tr, y_tr).score(X_te, y_te)
        theirs = SkRegressor(**kw).fit(X_tr, y_tr).score(X_te, y_te)
    assert abs(ours - theirs) <= 0.02, (name, ours, theirs)


def test_unknown_scikit_learn_loop_falls_back_to_scikit_learns_own(monkeypatch):
    """A scikit-learn whose private _fit_stochastic changed form: warn at import, train with its loop."""
    import importlib

    import fastbp.sklearn as module

    original = SkClassifier._fit_stochastic

    def changed(self, X, y, sample_weight, activations, deltas, coef_grads, intercept_grads, layer_units,
                incremental, new_argument=None):
        return original(self, X, y, sample_weight, activations, deltas, coef_grads, intercept_grads,
                        layer_units, incremental)

    monkeypatch.setattr(SkClassifier, "_fit_stochastic", changed)
    try:
        with pytest.warns(RuntimeWarning, match="does not know this scikit-learn version"):
            fallback = importlib.reload(module)
        assert "_fit_stochastic" not in vars(fallback._CompiledEpochs)
        X, y = _digits()
        kw = dict(hidden_layer_sizes=(8,), max_iter=3, random_state=0)
        _assert_same_fit(fallback.MLPClassifier(**kw).fit(X, y), SkClassifier(**kw).fit(X, y))
    finally:
        monkeypatch.undo()
        importlib.reload(module)
    assert "_fit_stochastic" in vars(module._CompiledEpochs)


def test_lbfgs_runs_small_problems_with_every_blas_on_one_thread(monkeypatch):
    """Inside the fit every BLAS reports one thread (small problem); afterwards the counts are as before."""
    from threadpoolctl import threadpool_info

    from fastbp import _threads

    def counts():
        return {i["filepath"]: i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"}

    before, inside = counts(), []
    original = _threads.blas_on_one_thread

    def watched(provider_too):
        manager = original(provider_too)

        class Spy:
            def __enter__(self):
                manager.__enter__()
                inside.append((provider_too, counts()))

            def __exit__(self, *exc):
                return manager.__exit__(*exc)

        return Spy()

    monkeypatch.setattr(_threads, "blas_on_one_thread", watched)
    X, y = datasets.load_iris(return_X_y=True)
    MLPClassifier(hidden_layer_sizes=(8,), solver="lbfgs", max_iter=20, random_state=0).fit(X, y)
    (provider_too, during), = inside
    assert provider_too and set(during.values()) == {1}
    assert counts() == before
