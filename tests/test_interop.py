"""Networks in and out: from fitted scikit-learn MLPs, to ONNX (run under onnxruntime)."""
import numpy as np
import pytest

import fastbp
from fastbp.activations import HIDDEN as HIDDEN_ACTIVATIONS

sk_nn = pytest.importorskip("sklearn.neural_network")


@pytest.fixture(scope="module")
def iris():
    from sklearn.datasets import load_iris

    return load_iris(return_X_y=True)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("cls", [fastbp.Network, fastbp.reference.Network], ids=["fastbp", "reference"])
@pytest.mark.parametrize("kind", ["multiclass", "binary", "regressor", "float32", "fastbp.sklearn"])
def test_from_sklearn_computes_what_the_estimator_does(iris, cls, kind):
    X, y = iris
    if kind == "regressor":
        est = sk_nn.MLPRegressor(hidden_layer_sizes=(7, 5), activation="relu", max_iter=50, random_state=0).fit(X, X[:, :2] @ [1, -1])
        expected = est.predict(X)[:, None]
    else:
        target = (y == 2) if kind == "binary" else y
        if kind == "fastbp.sklearn":
            from fastbp.sklearn import MLPClassifier
        else:
            MLPClassifier = sk_nn.MLPClassifier
        est = MLPClassifier(hidden_layer_sizes=(6,), activation="logistic", max_iter=50, random_state=0)
        est.fit(X.astype(np.float32) if kind == "float32" else X, target)
        expected = est.predict_proba(X.astype(np.float32) if kind == "float32" else X)
        expected = expected[:, 1:] if kind == "binary" else expected
    net = cls.from_sklearn(est)
    assert net.sizes[0] == 4 and net.dtype == (np.float32 if kind == "float32" else np.float64)
    got = net.forward(X.astype(net.dtype))
    np.testing.assert_allclose(got, expected, rtol=1e-5 if kind == "float32" else 1e-12, atol=1e-6 if kind == "float32" else 1e-12)
    if kind == "multiclass":
        np.testing.assert_array_equal(est.classes_[net.predict(X)], est.predict(X))
        net.fit(X, y, epochs=1)  # a network like any other: it trains on


def test_from_sklearn_refuses_what_it_cannot_read():
    with pytest.raises(ValueError, match="not fitted"):
        fastbp.Network.from_sklearn(sk_nn.MLPClassifier())
    with pytest.raises(ValueError, match="MLPClassifier or MLPRegressor"):
        fastbp.Network.from_sklearn(object())


ACTIVATIONS = HIDDEN_ACTIVATIONS
OUTPUTS = ["softmax", "sigmoid", "identity"]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("output", OUTPUTS)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_onnx_matches_forward_under_onnxruntime(tmp_path, activation, output, dtype):
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    if activation == "gelu" and dtype == "float64":
        pytest.skip("onnxruntime has no float64 Erf kernel (the model itself is valid ONNX)")
    net = fastbp.Network([5, 7, 6, 3], activation=activation, output=output, dtype=dtype, seed=3)
    X = np.random.default_rng(0).normal(size=(33, 5)).astype(dtype)
    path = tmp_path / "net.onnx"
    net.to_onnx(path)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(["Y"], {"X": X})[0]
    assert got.dtype == np.dtype(dtype) and got.shape == (33, 3)
    np.testing.assert_allclose(got, net.forward(X), rtol=1e-5, atol=1e-5 if dtype == "float32" else 1e-12)


def test_the_estimators_export_through_their_network(iris):
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    from fastbp.sklearn import MLPClassifier

    X, y = iris
    clf = MLPClassifier(hidden_layer_sizes=(8,), max_iter=30, random_state=0).fit(X, y)
    session = ort.InferenceSession(clf.to_onnx().SerializeToString(), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(session.run(["Y"], {"X": X})[0], clf.predict_proba(X), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("break_it,match", [
    (lambda e: e.coefs_[0].__setitem__((0, 0), np.nan), "NaN or infinity"),
    (lambda e: setattr(e, "coefs_", e.coefs_[:1]), "one of each per layer"),
    (lambda e: setattr(e, "intercepts_", [e.intercepts_[0][:2], e.intercepts_[1]]), "do not chain"),
    (lambda e: setattr(e, "coefs_", [e.coefs_[0].astype(np.int64), e.coefs_[1]]), "float32 or float64"),
])
def test_from_sklearn_refuses_a_malformed_estimator(break_it, match):
    from sklearn.neural_network import MLPClassifier

    X, y = np.random.default_rng(0).normal(size=(30, 4)), np.arange(30) % 3
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = MLPClassifier(hidden_layer_sizes=(5,), max_iter=5, random_state=0).fit(X, y)
    break_it(est)
    with pytest.raises(ValueError, match=match):
        fastbp.Network.from_sklearn(est)


def test_from_sklearn_refuses_a_malformed_estimator_naming_the_attribute():
    from sklearn.neural_network import MLPClassifier

    rng = np.random.default_rng(0)
    clf = MLPClassifier(hidden_layer_sizes=(4,), max_iter=300, random_state=0).fit(rng.normal(size=(40, 3)),
                                                                                   np.arange(40) % 2)
    clf.activation = ["relu"]
    with pytest.raises(ValueError, match=r"from_sklearn: the estimator's activation must be a name .*\['relu'\]"):
        fastbp.Network.from_sklearn(clf)
