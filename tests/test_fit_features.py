"""``fit``'s features around the loop: validation, early stopping, schedules,
callbacks, per-row weights, the report; in fastbp.Network and its reference twin alike."""
import math

import numpy as np
import pytest

import fastbp
from fastbp.testing import TOLERANCES

NETS = [fastbp.Network, fastbp.reference.Network]
IDS = ["fastbp", "reference"]


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 5))
    y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(int) + (X[:, 2] > 1).astype(int)
    return X, y


def net_of(cls, **kw):
    return cls([5, 8, 3], activation="tanh", seed=0, **kw)


@pytest.mark.parametrize("cls", NETS, ids=IDS)
def test_validation_split_holds_out_the_last_rows(cls, data):
    X, y = data
    net = net_of(cls)
    h = net.fit(X, y, epochs=3, batch_size=16, validation_split=0.25)
    assert len(h["val_loss"]) == len(h["val_accuracy"]) == 3
    kept = int(120 * 0.75)
    assert math.isclose(h["val_loss"][-1], net.loss(X[kept:], y[kept:]), rel_tol=1e-9)
    assert math.isclose(h["val_accuracy"][-1], float(np.mean(net.predict(X[kept:]) == y[kept:])))
    # It trained on the first rows only: the same as fitting them alone.
    alone = net_of(cls)
    alone.fit(X[:kept], y[:kept], epochs=3, batch_size=16)
    np.testing.assert_array_equal(alone.weights[0], net.weights[0])


@pytest.mark.parametrize("cls", NETS, ids=IDS)
def test_validation_data_is_scored_and_checked(cls, data):
    X, y = data
    net = net_of(cls)
    h = net.fit(X[:100], y[:100], epochs=2, validation_data=(X[100:], y[100:]), validation_split=0.5)
    assert len(h["val_loss"]) == 2
    # validation_data wins: all 100 rows trained, the given rows scored.
    assert math.isclose(h["val_loss"][-1], net.loss(X[100:], y[100:]), rel_tol=1e-9)
    alone = net_of(cls)
    alone.fit(X[:100], y[:100], epochs=2)
    np.testing.assert_array_equal(alone.weights[0], net.weights[0])
    with pytest.raises(ValueError, match="validation_data"):
        net_of(cls).fit(X, y, epochs=1, validation_data=(X[:, :3], y))
    with pytest.raises(ValueError, match="validation_split"):
        net_of(cls).fit(X, y, epochs=1, validation_split=1.0)


@pytest.mark.parametrize("cls", NETS, ids=IDS)
def test_patience_stops_and_restore_best_puts_the_best_epoch_back(cls, data):
    X, y = data
    seen = []
    net = net_of(cls)
    # No fall is ever as large as min_delta: the first epoch stays the best, and 2 more end it.
    h = net.fit(X, y, epochs=20, patience=2, min_delta=10.0, restore_best=True,
                callback=lambda epoch, history: seen.append((epoch, len(history["loss"]))))
    assert len(h["loss"]) == 3 and seen == [(0, 1), (1, 2), (2, 3)]
    first = net_of(cls)
    first.fit(X, y, epochs=1)
    np.testing.assert_array_equal(first.weights[0], net.weights[0])


@pytest.mark.parametrize("cls", NETS, ids=IDS)
def test_a_callback_returning_false_stops(cls, data):
    X, y = data
    h = net_of(cls).fit(X, y, epochs=10, callback=lambda epoch, history: epoch < 3)
    assert len(h["loss"]) == 4


@pytest.mark.parametrize("cls", NETS, ids=IDS)
@pytest.mark.parametrize("name, expected", [
    ("step", [0.1] * 10 + [0.05] * 2),
    ("cosine", [0.1 * 0.5 * (1 + math.cos(math.pi * e / 12)) for e in range(12)]),
    ("invscaling", [0.1 / math.sqrt(e + 1) for e in range(12)]),
])
def test_schedules_give_each_epoch_its_rate(cls, data, name, expected):
    X, y = data
    h = net_of(cls).fit(X, y, epochs=12, lr=0.1, lr_schedule=name)
    np.testing.assert_allclose(h["lr"], expected, rtol=1e-12)


@pytest.mark.parametrize("cls", NETS, ids=IDS)
def test_a_schedule_trains_as_fits_one_epoch_at_a_time(cls, data):
    X, y = data
    rates = [0.2, 0.05, 0.01]
    scheduled = net_of(cls)
    scheduled.fit(X, y, epochs=3, lr_schedule=lambda epoch: rates[epoch], optimizer=fastbp.optimizers.SGD())
    manual = net_of(cls)
    for rate in rates:
        manual.fit(X, y, epochs=1, lr=rate)
    np.testing.assert_allclose(scheduled.weights[0], manual.weights[0], rtol=1e-12, atol=1e-14)
    with pytest.raises(ValueError, match=r"lr_schedule\(1\)"):
        net_of(cls).fit(X, y, epochs=3, lr_schedule=lambda epoch: 0.1 if epoch == 0 else -1.0)
    with pytest.raises(ValueError, match="lr_schedule"):
        net_of(cls).fit(X, y, epochs=3, lr_schedule="exponential")


@pytest.mark.parametrize("cls", NETS, ids=IDS)
def test_sample_weights_are_a_weighted_mean(cls, data):
    """Full batches: integer weights step as the rows repeated that often, weight 0 as the row left out."""
    X, y = data
    w = np.random.default_rng(1).integers(0, 3, size=len(X))
    weighted = net_of(cls)
    h = weighted.fit(X, y, epochs=2, batch_size=len(X), shuffle=False, sample_weight=w)
    repeated = net_of(cls)
    Xr, yr = np.repeat(X, w, axis=0), np.repeat(y, w)
    hr = repeated.fit(Xr, yr, epochs=2, batch_size=len(Xr), shuffle=False)
    tol = TOLERANCES[np.dtype("float64")]
    np.testing.assert_allclose(weighted.weights[0], repeated.weights[0], rtol=tol["rtol"], atol=tol["atol"])
    np.testing.assert_allclose(h["loss"], hr["loss"], rtol=1e-9)


@pytest.mark.parametrize("cls", NETS, ids=IDS)
def test_balanced_class_weight_is_n_over_k_counts(cls, data):
    X, y = data
    counts = np.bincount(y)
    by_class = net_of(cls)
    by_class.fit(X, y, epochs=2, class_weight="balanced")
    by_row = net_of(cls)
    by_row.fit(X, y, epochs=2, sample_weight=(len(y) / (3 * counts))[y])
    np.testing.assert_allclose(by_class.weights[0], by_row.weights[0], rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("cls", NETS, ids=IDS)
@pytest.mark.parametrize("kwargs, match", [
    ({"sample_weight": np.ones(5)}, "sample_weight"),
    ({"sample_weight": -np.ones(120)}, "sample_weight"),
    ({"sample_weight": np.full(120, np.nan)}, "sample_weight"),
    ({"sample_weight": np.zeros(120)}, "weight 0"),
    ({"class_weight": {7: 1.0}}, "class_weight"),
    ({"class_weight": "even"}, "class_weight"),
    ({"patience": 0}, "patience"),
    ({"min_delta": -1.0}, "min_delta"),
    ({"callback": 3}, "callback"),
])
def test_bad_extras_are_refused_before_training(cls, data, kwargs, match):
    X, y = data
    net = net_of(cls)
    before = net.weights[0].copy()
    with pytest.raises(ValueError, match=match):
        net.fit(X, y, epochs=1, **kwargs)
    np.testing.assert_array_equal(net.weights[0], before)


def test_class_weight_needs_a_classifier(data):
    X, y = data
    with pytest.raises(ValueError, match="classifier"):
        fastbp.Network([5, 4, 1], output="identity").fit(X, y.astype(float), epochs=1, class_weight="balanced")


def test_verbose_reports_each_epoch(capsys, data):
    X, y = data
    net_of(fastbp.Network).fit(X, y, epochs=2, verbose=True, validation_split=0.2)
    out = capsys.readouterr().out
    assert "epoch 1/2" in out and "epoch 2/2" in out and "val_loss" in out and "val_accuracy" in out


def test_monitor_chooses_what_early_stopping_watches(Net, rng):
    X = rng.normal(size=(120, 4))
    y = (X[:, 0] > 0).astype(int)
    Xv, yv = X[:40], y[:40]
    net = Net([4, 6, 2], activation="tanh", seed=0)
    history = net.fit(X[40:], y[40:], epochs=12, lr=0.3, validation_data=(Xv, yv), patience=2,
                      monitor="val_accuracy", restore_best=True)
    acc = history["val_accuracy"]
    best = int(np.argmax(acc))  # the first of the highest: later equals are no improvement
    assert len(acc) == 12 or len(acc) == best + 3
    assert all(a <= acc[best] for a in acc)
    np.testing.assert_allclose(np.mean(net.predict(Xv) == yv), acc[best], rtol=0, atol=1e-12)


@pytest.mark.parametrize("kwargs,message", [
    (dict(monitor="accuracy"), "monitor must be one of loss, val_loss, val_accuracy, got 'accuracy'"),
    (dict(monitor="val_loss"), "monitor='val_loss' needs validation data"),
    (dict(monitor="val_accuracy", validation_split=1e-17), "validation_split=1e-17 holds out none of the 20 samples"),
])
def test_a_bad_monitor_is_refused_before_training(Net, rng, kwargs, message):
    net = Net([3, 2], seed=0)
    before = net.weights[0].copy()
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        net.fit(rng.normal(size=(20, 3)), np.arange(20) % 2, epochs=2, patience=1, **kwargs)
    np.testing.assert_array_equal(net.weights[0], before)


def test_val_accuracy_needs_a_classifier_output(Net, rng):
    net = Net([3, 1], output="identity", seed=0)
    with pytest.raises(ValueError, match="needs a softmax or sigmoid output; this network's output is identity"):
        net.fit(rng.normal(size=(20, 3)), rng.normal(size=(20, 1)), validation_split=0.5, monitor="val_accuracy")


def test_a_callback_stops_training_with_any_false_value(Net, data):
    """``h["val_loss"][-1] > x`` is a numpy.bool_: its False stops as Python's
    does; None (a callback that answers nothing) goes on."""
    X, y = data
    for answer, epochs in ((np.False_, 1), (False, 1), (0, 1), (None, 4), (np.True_, 4)):
        h = net_of(Net).fit(X, y, epochs=4, callback=lambda e, hist, a=answer: a)
        assert len(h["loss"]) == epochs, answer


@pytest.mark.parametrize("weight", [1e-50, 1e39, 1e308, 1e-320])
def test_uniform_weights_of_any_scale_train_as_no_weights(weight):
    """Weights are relative: uniform ones, however extreme (underflowing or
    overflowing float32, near float64's limits), train as none do."""
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(20, 3)), rng.integers(0, 2, 20)
    for dtype in ("float32", "float64"):
        weighted, plain = (fastbp.Network([3, 4, 2], dtype=dtype, seed=0) for _ in range(2))
        h = weighted.fit(X, y, epochs=2, sample_weight=np.full(20, weight))
        plain.fit(X, y, epochs=2, sample_weight=np.ones(20))
        np.testing.assert_allclose(weighted._params, plain._params, rtol=1e-6)
        assert np.isfinite(h["loss"]).all() and h["loss"][0] > 0


def test_weights_far_below_the_largest_weigh_nothing_in_float32():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(20, 3)), rng.integers(0, 2, 20)
    w = np.ones(20)
    w[:19] = 1e-50  # beside 1: zero in float32, so one row's gradient is each step's
    net = fastbp.Network([3, 4, 2], dtype="float32", seed=0)
    before = net.weights[0].copy()
    net.fit(X, y, epochs=1, sample_weight=w)  # one row keeps weight 1: trains on it
    assert not np.array_equal(net.weights[0], before)


@pytest.mark.parametrize("how", ["deepcopy", "pickle"])
@pytest.mark.parametrize("tier", ["compiled", "reference"])
def test_a_network_copies_and_pickles_inside_a_fit_callback(tier, how):
    """Keeping the best model from a callback: the copy holds that epoch's
    weights, and it is a network of its own (its weights are the parameters
    its own training moves; the original's do not move with it)."""
    import copy
    import pickle

    Net = fastbp.Network if tier == "compiled" else fastbp.reference.Network
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(64, 6)), rng.integers(0, 3, size=64)
    net = Net([6, 8, 3], seed=0)
    copies, seen = [], []

    def callback(epoch, history):
        copies.append(copy.deepcopy(net) if how == "deepcopy" else pickle.loads(pickle.dumps(net)))
        seen.append([w.copy() for w in net.weights + net.biases])

    previous = fastbp._tiers.get_tier()
    fastbp.set_tier("wait" if tier == "compiled" else previous)
    try:
        net.fit(X, y, epochs=3, batch_size=16, lr=0.1, callback=callback)
    finally:
        fastbp.set_tier(previous)
    assert len(copies) == 3
    for kept, weights in zip(copies, seen):
        for a, b in zip(kept.weights + kept.biases, weights):
            np.testing.assert_array_equal(a, b)
    first = copies[0]
    final = [w.copy() for w in net.weights + net.biases]
    first.fit(X, y, epochs=1, batch_size=16, lr=0.1)
    assert not np.array_equal(first.weights[0], seen[0][0])  # its own training moved its weights
    for a, b in zip(net.weights + net.biases, final):  # and not the original's
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(first.predict(X), first.forward(X).argmax(axis=1))


@pytest.mark.parametrize("Net", NETS, ids=IDS)
def test_a_callback_answer_that_is_not_a_truth_value_is_refused_naming_the_callback(Net, data):
    """None, bools (NumPy's too) and numbers are answers; an array or a string
    is a TypeError naming the callback and the type, before the next epoch."""
    X, y = data

    def keeps_the_weights(epoch, history):
        return np.array([1.0, 2.0])

    net = Net([5, 4, 3], seed=0)
    with pytest.raises(TypeError, match=r"callback .*keeps_the_weights returned a ndarray of shape \(2,\) after epoch 1"):
        net.fit(X, y, epochs=3, callback=keeps_the_weights)
    with pytest.raises(TypeError, match="returned a str"):
        Net([5, 4, 3], seed=0).fit(X, y, epochs=3, callback=lambda e, h: "go on")
    for answer, epochs in ((None, 3), (True, 3), (np.True_, 3), (1.5, 3), (np.float64(2.0), 3), (0, 1),
                           (np.False_, 1), (np.array(0.0), 1)):
        ran = Net([5, 4, 3], seed=0).fit(X, y, epochs=3, callback=lambda e, h, a=answer: a)
        assert len(ran["loss"]) == epochs, answer
