"""Network.score, predict_proba and classes; the warning when training stalls on unscaled features."""
import warnings

import numpy as np
import pytest
from sklearn import datasets
from sklearn.metrics import accuracy_score, r2_score
from sklearn.neural_network import MLPClassifier

import fastbp


def _standardised(X):
    return (X - X.mean(0)) / X.std(0)


# -- score and predict_proba ------------------------------------------------------
def test_score_is_scikit_learns_accuracy_and_r2(Net):
    X, y = datasets.load_wine(return_X_y=True)
    X = _standardised(X)
    net = Net([13, 8, 3], activation="tanh", seed=0)
    net.fit(X, y, epochs=3)
    assert net.score(X, y) == pytest.approx(accuracy_score(y, net.predict(X)), abs=1e-15)
    w = np.random.default_rng(0).random(len(y))
    assert net.score(X, y, sample_weight=w) == pytest.approx(accuracy_score(y, net.predict(X), sample_weight=w))
    Xd, yd = datasets.load_diabetes(return_X_y=True)
    Y2 = np.column_stack([yd, -yd ** 0.5]) / 100
    reg = Net([10, 8, 2], activation="tanh", output="identity", seed=0)
    reg.fit(Xd, Y2, epochs=3, lr=0.01)
    assert reg.score(Xd, Y2) == pytest.approx(r2_score(Y2, reg.predict(Xd)), rel=1e-12)
    wd = np.random.default_rng(1).random(len(yd))
    assert reg.score(Xd, Y2, sample_weight=wd) == pytest.approx(r2_score(Y2, reg.predict(Xd), sample_weight=wd),
                                                                rel=1e-12)


def test_score_of_sigmoid_outputs():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 4))
    Y = (X[:, :2] > 0).astype(float)
    multi = fastbp.Network([4, 6, 2], activation="tanh", output="sigmoid", seed=0)
    multi.fit(X, Y, epochs=5)
    assert multi.score(X, Y) == accuracy_score(Y, multi.predict(X))  # subset accuracy, as scikit-learn's
    one = fastbp.Network([4, 6, 1], activation="tanh", output="sigmoid", seed=0)
    one.fit(X, Y[:, 0], epochs=5)
    assert one.score(X, Y[:, 0]) == accuracy_score(Y[:, 0], one.predict(X))


def test_predict_proba_shapes_and_refusal():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(10, 3))
    soft = fastbp.Network([3, 4], seed=0)
    np.testing.assert_allclose(soft.predict_proba(X).sum(axis=1), 1.0)
    one = fastbp.Network([3, 1], output="sigmoid", seed=0)
    P = one.predict_proba(X)
    assert P.shape == (10, 2)
    np.testing.assert_allclose(P[:, 1], one.forward(X)[:, 0])
    np.testing.assert_allclose(P.sum(axis=1), 1.0)
    with pytest.raises(ValueError, match="predict_proba needs a softmax or sigmoid output"):
        fastbp.Network([3, 1], output="identity").predict_proba(X)


# -- classes ---------------------------------------------------------------------
def test_from_sklearn_keeps_the_labels():
    X, y = datasets.load_iris(return_X_y=True)
    for labels in (y + 1, np.array(["setosa", "versicolor", "virginica"])[y]):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # not converged in 200 iterations: no matter here
            clf = MLPClassifier(hidden_layer_sizes=(8,), max_iter=200, random_state=0).fit(X, labels)
        net = fastbp.Network.from_sklearn(clf)
        np.testing.assert_array_equal(net.classes, clf.classes_)
        np.testing.assert_array_equal(net.predict(X), clf.predict(X))
        np.testing.assert_allclose(net.predict_proba(X), clf.predict_proba(X), rtol=1e-12, atol=1e-14)
        assert net.score(X, labels) == pytest.approx(clf.score(X, labels))


def test_binary_from_sklearn_has_two_labels():
    X, y = datasets.load_breast_cancer(return_X_y=True)
    labels = np.array(["benign", "malignant"])[1 - y]
    clf = MLPClassifier(hidden_layer_sizes=(8,), max_iter=50, random_state=0).fit(_standardised(X), labels)
    net = fastbp.Network.from_sklearn(clf)
    np.testing.assert_array_equal(net.classes, clf.classes_)
    np.testing.assert_array_equal(net.predict(_standardised(X)), clf.predict(_standardised(X)))
    np.testing.assert_allclose(net.predict_proba(_standardised(X)), clf.predict_proba(_standardised(X)), rtol=1e-12)


def test_classes_survive_save_and_load_and_drive_fit(tmp_path, Net):
    X, y = datasets.load_iris(return_X_y=True)
    names = np.array(["setosa", "versicolor", "virginica"])
    net = Net([4, 5, 3], activation="tanh", seed=0)
    net.classes = names
    net.fit(_standardised(X), names[y], epochs=3, class_weight={"setosa": 2.0})
    same = Net([4, 5, 3], activation="tanh", seed=0)
    same.fit(_standardised(X), y, epochs=3, class_weight={0: 2.0})
    np.testing.assert_array_equal(net.weights[0], same.weights[0])  # labels are the indices' names, nothing more
    net.save(tmp_path / "m.npz")
    back = Net.load(tmp_path / "m.npz")
    np.testing.assert_array_equal(back.classes, names)
    np.testing.assert_array_equal(back.predict(_standardised(X)), net.predict(_standardised(X)))
    assert set(back.predict(_standardised(X))) <= set(names)
    with pytest.raises(ValueError, match="label 'daisy' is not one of this network's classes"):
        back.fit(X, np.array(["daisy"] * len(X)), epochs=1)


@pytest.mark.parametrize("classes,match", [
    (["a", "b"], "one per output unit"), (["a", "a", "b"], "distinct"), ("abc", "sequence"),
    ([1, "b", 2.0], "one kind"), ([1.0, float("nan"), 2.0], "numbers, strings"), ([None, 1, 2], "numbers, strings"),
])
def test_bad_classes_are_refused(classes, match):
    net = fastbp.Network([3, 4, 3])
    with pytest.raises(ValueError, match=match):
        net.classes = classes
    assert net.classes is None


def test_identity_outputs_have_no_classes():
    with pytest.raises(ValueError, match="identity"):
        fastbp.Network([3, 1], output="identity").classes = [0]


def test_a_hostile_file_cannot_set_bad_classes(tmp_path):
    from fastbp import _io

    net = fastbp.Network([2, 3])
    meta = {"format": _io.FORMAT, "format_version": _io.FORMAT_VERSION, "sizes": [2, 3], "activation": "sigmoid",
            "output": "softmax", "loss": "cross_entropy", "dtype": "float64"}
    for bad in (["a"], [[1], [2], [3]], {"a": 1}, ["a", "a", "b"], 7):
        _io.write_model(tmp_path / "bad.npz", dict(meta, classes=bad), net.weights, net.biases)
        with pytest.raises(ValueError, match="not a valid fastbp model file"):
            fastbp.Network.load(tmp_path / "bad.npz")


# -- the stall warning -------------------------------------------------------------------
def _fit_warnings(X, y, **kw):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fastbp.Network([X.shape[1], 16, 2], seed=0, **kw).fit(X, y, epochs=5)
    return [w for w in caught if issubclass(w.category, fastbp.StalledTrainingWarning)]


@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu"])
def test_stalled_training_on_unscaled_features_says_so(activation):
    X, y = datasets.load_breast_cancer(return_X_y=True)
    raw = _fit_warnings(X, y, activation=activation)
    assert len(raw) == 1 and "standardise" in str(raw[0].message) and "column" in str(raw[0].message)
    assert _fit_warnings(_standardised(X), y, activation=activation) == []


def test_the_stall_watch_looks_at_every_epoch_and_warns_once():
    """Not only at epoch 3: a loss that dips early, or falls for a while and
    then stops, warns (once) on far-from-unit features; unit-scale ones never."""
    from fastbp.training.loop import StallWatch

    far = np.random.default_rng(0).normal(size=(50, 3)) * 100
    unit = np.random.default_rng(0).normal(size=(50, 3))
    dips_then_flat = [0.695, 0.764, 0.670, 0.70, 0.69, 0.71, 0.70, 0.71]
    falls_then_flat = [1.0, 0.8, 0.6, 0.45, 0.35, 0.30, 0.30, 0.30, 0.30, 0.30]
    for losses, first in ((dips_then_flat, 6), (falls_then_flat, 9)):
        for X, expected in ((far, 1), (unit, 0)):
            watch = StallWatch(X)
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                at = []
                for n in range(1, len(losses) + 1):
                    before = len(caught)
                    watch.update(losses[:n])
                    if len(caught) > before:
                        at.append(n)
            assert len(caught) == expected and at == ([first] if expected else []), (losses, at)


def test_the_issues_raw_breast_cancer_fit_warns_once_and_the_standardised_one_does_not():
    X, y = datasets.load_breast_cancer(return_X_y=True)
    for data, expected in ((X, 1), (_standardised(X), 0)):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            fastbp.Network([30, 32, 2], seed=0).fit(data, y, epochs=30)
        stalled = [w for w in caught if issubclass(w.category, fastbp.StalledTrainingWarning)]
        assert len(stalled) == expected
        assert all(w.filename == __file__ for w in stalled)  # points at the caller of fit
