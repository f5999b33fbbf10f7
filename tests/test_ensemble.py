"""fastbp.Ensemble: members equal separate fits, one batch order, predictions
from the members' mean, members that diverge set aside, and ensemble files."""
import numpy as np
import pytest
import scipy.sparse as sp

import fastbp
from fastbp import optimizers, reference
from fastbp.ensemble import member_seeds

ENSEMBLES = [fastbp.Ensemble, reference.Ensemble]


@pytest.fixture(params=ENSEMBLES, ids=["fastbp", "reference"])
def Ens(request):
    return request.param


def _data(rng, n=90, d=6, k=3, dtype=np.float64):
    X = rng.normal(size=(n, d)).astype(dtype)
    y = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0.5).astype(int)
    return X, y % k


def _alone(Ens, sizes, seed, X, y, activation="tanh", output="softmax", **fit):
    """A member's separate fit: the network and its history."""
    net = Ens._network(sizes, activation=activation, output=output, dtype=fit.pop("dtype"), seed=seed)
    return net, net.fit(X, y, **fit)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam"])
def test_members_equal_separate_fits(Ens, dtype, optimizer, rng):
    X, y = _data(rng)
    sizes = [[6, 7, 3], [6, 4, 3], [6, 9, 3]]  # hidden widths differ
    lr, l2 = [0.05, 0.2, 0.1], [0.0, 1e-3, 1e-2]
    w = rng.integers(0, 3, size=(3, X.shape[0])).astype(float)  # bootstrap counts, one row per member
    ens = Ens(sizes, dtype=dtype, seed=4)
    histories = ens.fit(X, y, epochs=3, batch_size=16, lr=lr, l2=l2, optimizer=optimizer, sample_weight=w,
                        shuffle=False)
    named = optimizers.resolve(optimizer)  # "momentum": SGD with its momentum
    settings = {name: getattr(named, name) for name, _, _ in named.params}
    for k, net in enumerate(ens.networks):
        alone, history = _alone(Ens, sizes[k], ens.seeds[k], X, y, dtype=dtype, epochs=3, batch_size=16,
                                lr=lr[k], optimizer=type(named)(l2=l2[k], **settings), sample_weight=w[k],
                                shuffle=False)
        for a, b in zip(alone.weights + alone.biases, net.weights + net.biases):
            np.testing.assert_array_equal(a, b, err_msg=f"member {k}, {dtype}, {optimizer}")
        assert histories[k]["loss"] == history["loss"] and len(history["loss"]) == 3


def test_members_equal_separate_fits_on_sparse_input_with_shared_weights(Ens, rng):
    X, y = _data(rng, d=8)
    X[np.abs(X) < 0.8] = 0
    Xs = sp.csr_matrix(X)
    w = rng.random(X.shape[0])
    ens = Ens([8, 5, 3], n_models=2, seed=[11, 12])
    ens.fit(Xs, y, epochs=2, batch_size=10, lr=[0.1, 0.3], sample_weight=w, shuffle=False)
    for k, net in enumerate(ens.networks):
        alone, _ = _alone(Ens, [8, 5, 3], 11 + k, Xs, y, dtype="float64", epochs=2, batch_size=10,
                          lr=[0.1, 0.3][k], sample_weight=w, shuffle=False)
        np.testing.assert_array_equal(alone.weights[0], net.weights[0])
    np.testing.assert_allclose(ens.predict_proba(Xs), ens.predict_proba(X), rtol=1e-12)


def test_shuffled_members_share_the_ensembles_batch_order(Ens, rng):
    X, y = _data(rng)
    ens = Ens([6, 5, 3], n_models=3, seed=[7, 7, 8])
    ens.fit(X, y, epochs=3, batch_size=8)
    nets = ens.networks
    np.testing.assert_array_equal(nets[0].weights[0], nets[1].weights[0])  # same seed, same order
    # As documented: the order of a fit comes from a child spawned from default_rng(the seed list).
    alone = Ens._network([6, 5, 3], seed=8)
    alone._rng = np.random.default_rng([7, 7, 8]).spawn(1)[0]
    alone.fit(X, y, epochs=3, batch_size=8)
    # (plain SGD runs the packed pass: its first layer's products sum in another order)
    np.testing.assert_allclose(alone.weights[0], nets[2].weights[0], rtol=1e-12, atol=1e-14)
    again = Ens([6, 5, 3], n_models=3, seed=[7, 7, 8])
    again.fit(X, y, epochs=3, batch_size=8)
    np.testing.assert_array_equal(again.networks[2].weights[1], nets[2].weights[1])


def test_an_integer_seed_gives_the_documented_member_seeds():
    seeds, _ = member_seeds(5, 3)
    children = np.random.SeedSequence(5).spawn(4)
    assert seeds == [int(c.generate_state(1)[0]) for c in children[:3]]
    ens = fastbp.Ensemble([4, 3, 2], n_models=3, seed=5)
    assert ens.seeds == seeds
    for k, net in enumerate(ens.networks):
        np.testing.assert_array_equal(net.weights[0], fastbp.Network([4, 3, 2], seed=seeds[k]).weights[0])
    assert fastbp.Ensemble([4, 3, 2], seed=[1, 2]).n_models == 2


def test_predictions_are_the_members_mean(Ens, rng):
    X, y = _data(rng)
    ens = Ens([6, 5, 3], n_models=3, seed=1)
    ens.fit(X, y, epochs=2)
    mean = np.mean([net.predict_proba(X) for net in ens.networks], axis=0)
    np.testing.assert_allclose(ens.predict_proba(X), mean, rtol=1e-12)
    np.testing.assert_array_equal(ens.predict(X), mean.argmax(axis=1))
    assert ens.score(X, y) == pytest.approx(np.mean(mean.argmax(axis=1) == y))
    reg = Ens([6, 4, 2], n_models=2, output="identity", seed=2)
    Y = X[:, :2] * 0.5
    reg.fit(X, Y, epochs=2, lr=0.05)
    np.testing.assert_allclose(reg.predict(X), np.mean([n.predict(X) for n in reg.networks], axis=0), rtol=1e-12)
    with pytest.raises(ValueError, match="predict_proba needs a softmax or sigmoid output"):
        reg.predict_proba(X)


def test_a_member_that_diverges_is_set_aside(Ens, rng):
    X, y = _data(rng)
    ens = Ens([6, 5, 3], n_models=3, seed=3)
    with pytest.warns(RuntimeWarning, match="1 of 3 members diverged and are set aside"):
        ens.fit(X, y, epochs=3, lr=[0.1, 1e308, 0.1], shuffle=False)
    assert list(ens.set_aside) == [1] and "diverged" in ens.set_aside[1]
    nets = ens.networks
    assert all(np.isfinite(w).all() for net in nets for w in net.weights)
    np.testing.assert_allclose(ens.predict_proba(X), (nets[0].predict_proba(X) + nets[2].predict_proba(X)) / 2,
                               rtol=1e-12)
    with pytest.raises(fastbp.TrainingDivergedError, match="every member"):
        Ens([6, 5, 3], n_models=2, seed=3).fit(X * 1e3, y, epochs=2, lr=1e308)


def test_each_member_stops_on_its_own(Ens, rng):
    X, y = _data(rng)
    calls = []

    def callback(member, epoch, history):
        calls.append((member, epoch))
        return member != 1  # member 1 stops after its first epoch

    ens = Ens([6, 5, 3], n_models=3, seed=0)
    histories = ens.fit(X, y, epochs=4, callback=callback)
    assert [len(h["loss"]) for h in histories] == [4, 1, 4]
    assert sorted(calls) == sorted([(0, e) for e in range(4)] + [(1, 0)] + [(2, e) for e in range(4)])


@pytest.mark.parametrize("kwargs, message", [
    (dict(sizes=[[4, 3, 2], [5, 3, 2]]), "input width, output width and depth"),
    (dict(sizes=[[4, 3, 2], [4, 3, 3, 2]]), "input width, output width and depth"),
    (dict(sizes=[4, 3, 2]), "n_models is needed"),
    (dict(sizes=[4, 3, 2], n_models=0), "n_models must be a positive integer"),
    (dict(sizes=[[4, 3, 2]], n_models=2), "n_models=2 but sizes lists 1"),
    (dict(sizes=[4, 3, 2], n_models=2, seed=[1]), "one non-negative integer per member"),
    (dict(sizes=[4, [3], 2], n_models=2), "not a mix"),
    (dict(sizes=[4, 0, 2], n_models=2), "sizes\\[1\\] must be a positive integer"),
])
def test_bad_ensembles_are_refused_by_name(kwargs, message):
    with pytest.raises(ValueError, match=message):
        fastbp.Ensemble(**kwargs)


@pytest.mark.parametrize("fit, message", [
    (dict(lr=[0.1, 0.2, 0.3]), "lr has 3 values; the ensemble has 2 members"),
    (dict(l2=[0.1]), "l2 has 1 values"),
    (dict(sample_weight=np.ones((3, 30))), "one row per member"),
    (dict(sample_weight=np.ones(29)), "one weight per sample"),
    (dict(threads=0), "threads must be a positive integer"),
    (dict(optimizer="nope"), "unknown optimizer"),
])
def test_bad_fit_arguments_are_refused_by_name(fit, message, rng):
    X, y = _data(rng, n=30)
    ens = fastbp.Ensemble([6, 4, 3], n_models=2, seed=0)
    before = [w.copy() for w in ens.networks[0].weights]
    with pytest.raises(ValueError, match=message):
        ens.fit(X, y, epochs=1, **fit)
    np.testing.assert_array_equal(before[0], ens.networks[0].weights[0])


def test_files_keep_the_whole_ensemble(Ens, rng, tmp_path):
    X, y = _data(rng)
    labels = np.array(["a", "b", "c"])
    ens = Ens([[6, 5, 3], [6, 2, 3]], dtype="float32", seed=9)
    ens.classes = labels
    ens.fit(X, labels[y], epochs=2)
    path = tmp_path / "e.npz"
    ens.save(path)
    back = Ens.load(path)
    assert back.seeds == ens.seeds and back.sizes == ens.sizes and list(back.classes) == list(labels)
    np.testing.assert_array_equal(back.predict_proba(X), ens.predict_proba(X))
    assert set(back.predict(X)) <= set(labels)
    with pytest.raises(ValueError, match="holds an ensemble of 2 networks: load it with fastbp.Ensemble.load"):
        Ens._network.load(path)
    ens.networks[0].save(tmp_path / "one.npz")
    with pytest.raises(ValueError, match="holds one network, not an ensemble"):
        Ens.load(tmp_path / "one.npz")


def test_a_tampered_ensemble_file_is_refused_naming_it(tmp_path, rng):
    import json
    import zipfile

    ens = fastbp.Ensemble([4, 3, 2], n_models=2, seed=0)
    path = str(tmp_path / "e.npz")
    ens.save(path)
    with zipfile.ZipFile(path) as zf:
        entries = {name: zf.read(name) for name in zf.namelist()}
    meta = json.loads(np.load(path)["meta"].tobytes())
    for change, message in [(dict(members=[[4, 3, 2], [4, 5, 2]]), "shape"),
                            (dict(members=[[4, 3, 2]]), "unexpected arrays"),
                            (dict(seeds=[1]), "seeds must be one"),
                            (dict(members="x"), "members must be a list")]:
        bad = dict(meta, **change)
        buf = str(tmp_path / "bad.npz")
        arrays = {n[:-4]: np.load(path)[n[:-4]] for n in entries if n != "meta.npy"}
        np.savez(buf, meta=np.frombuffer(json.dumps(bad).encode(), dtype=np.uint8), **arrays)
        with pytest.raises(ValueError, match="bad.npz") as info:
            fastbp.Ensemble.load(buf)
        assert message in str(info.value)


def test_a_fit_that_fails_leaves_every_member_as_it_was(Ens, rng):
    """One member's rows weights refused, or a callback raising after some
    members trained: the error comes back, and no member has moved."""
    X, y = _data(rng)
    ens = Ens([6, 5, 3], n_models=3, seed=0)
    ens.fit(X, y, epochs=1)
    before = [[w.copy() for w in net.weights] for net in ens.networks]
    bad = np.ones((3, X.shape[0]))
    bad[2, 5] = -1.0
    with pytest.raises(ValueError, match="sample_weight must be finite and >= 0"):
        ens.fit(X, y, epochs=2, sample_weight=bad)

    def callback(member, epoch, history):
        if member == 2 and epoch == 1:
            raise RuntimeError("the user's callback failed")

    with pytest.raises(RuntimeError, match="the user's callback failed"):
        ens.fit(X, y, epochs=3, callback=callback, threads=1)
    for old, net in zip(before, ens.networks):
        for a, b in zip(old, net.weights):
            np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match=r"lr\[1\] must be a positive finite number"):
        ens.fit(X, y, lr=[0.1, -1.0, 0.1])


def test_networks_are_independent_copies(rng):
    X, y = _data(rng)
    ens = fastbp.Ensemble([6, 4, 3], n_models=2, seed=0)
    nets = ens.networks
    nets[0].weights[0][...] = 0
    nets[0].fit(X, y, epochs=1)
    assert not np.all(ens.networks[0].weights[0] == 0)


def test_members_trained_at_once_run_their_blas_on_one_thread(rng):
    """The count is set once from the calling thread: set from the members'
    threads after ``set_num_threads`` in the main one, OpenBLAS kept 2 and two
    members oversubscribed the cores. Restored after the fit."""
    if fastbp._validation.cpu_count() < 2:
        pytest.skip("one CPU: the members train one after another")
    X, y = _data(rng)
    fastbp.set_num_threads(2)
    seen = []
    ens = fastbp.Ensemble([6, 5, 3], n_models=4, seed=0)
    ens.fit(X, y, epochs=2, callback=lambda k, epoch, history: seen.append(fastbp.get_num_threads()))
    assert seen == [1] * 8
    assert fastbp.get_num_threads() == 2


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("sizes, activation, output", [
    ([6, 5, 3], "tanh", "softmax"),
    ([6, 7, 4, 3], "relu", "softmax"),
    ([6, 5, 2], "gelu", "sigmoid"),  # a hidden activation that keeps Z
    ([6, 4, 2], "silu", "identity"),
])
def test_the_packed_pass_equals_separate_fits(Ens, dtype, sizes, activation, output, rng):
    """Members of one shape with plain SGD train in one packed pass per epoch
    (their first layers one product): equal to separate fits, float64 to
    1e-10, float32 to its rounding."""
    X, y = _data(rng, n=70)
    if output == "sigmoid":
        y = (y > 0).astype(float).reshape(-1, 1) * np.ones((1, 2))
    elif output == "identity":
        y = X[:, :2] * 0.3
    lr = [0.05, 0.2, 0.1, 0.02]
    ens = Ens(sizes, n_models=4, activation=activation, output=output, dtype=dtype, seed=2)
    histories = ens.fit(X, y, epochs=3, batch_size=16, lr=lr, shuffle=False)
    assert ens._last_pass == "packed"
    rtol = 1e-10 if dtype == "float64" else 2e-4
    for k, net in enumerate(ens.networks):
        alone, history = _alone(Ens, sizes, ens.seeds[k], X, y, dtype=dtype, epochs=3, batch_size=16, lr=lr[k],
                                shuffle=False, activation=activation, output=output)
        for a, b in zip(alone.weights + alone.biases, net.weights + net.biases):
            np.testing.assert_allclose(b, a, rtol=rtol, atol=rtol, err_msg=f"member {k}")
        np.testing.assert_allclose(histories[k]["loss"], history["loss"], rtol=rtol)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("weights", ["per member", "shared", "none"])
def test_the_packed_pass_takes_l2_and_row_weights(Ens, dtype, weights, rng):
    """Per-member rates, L2 (one member without) and row weights (bootstrap
    counts, zeros included; or one row for all) in the packed pass: each member
    equals its separate fit with SGD(l2=l2_k) and its weights, to rounding."""
    X, y = _data(rng, dtype=dtype)
    n = X.shape[0]
    lr, l2 = [0.05, 0.2, 0.1], [1e-2, 0.0, 1e-3]
    w = {"per member": rng.integers(0, 3, size=(3, n)).astype(float), "shared": rng.random(n),
         "none": None}[weights]
    ens = Ens([6, 5, 3], n_models=3, dtype=dtype, seed=3)
    histories = ens.fit(X, y, epochs=3, batch_size=16, lr=lr, l2=l2, sample_weight=w, shuffle=False)
    assert ens._last_pass == "packed"
    rtol = 1e-10 if dtype == "float64" else 2e-4
    for k, net in enumerate(ens.networks):
        row = None if w is None else (w[k] if w.ndim == 2 else w)
        alone, history = _alone(Ens, [6, 5, 3], ens.seeds[k], X, y, dtype=dtype, epochs=3, batch_size=16,
                                lr=lr[k], optimizer=optimizers.SGD(l2=l2[k]), sample_weight=row, shuffle=False)
        for a, b in zip(alone.weights + alone.biases, net.weights + net.biases):
            np.testing.assert_allclose(b, a, rtol=rtol, atol=rtol, err_msg=f"member {k}, {dtype}, {weights}")
        np.testing.assert_allclose(histories[k]["loss"], history["loss"], rtol=rtol, err_msg=f"member {k}")


@pytest.mark.parametrize("change", ["widths", "momentum", "class_weight", "sparse", "validation", "large"])
def test_what_the_packed_pass_does_not_take_trains_member_by_member(change, rng):
    X, y = _data(rng)
    sizes = {"widths": [[6, 5, 3], [6, 4, 3]], "large": [[6, 6000, 3]] * 2}.get(change, [[6, 5, 3]] * 2)
    fit = {"momentum": dict(optimizer="momentum"), "class_weight": dict(class_weight="balanced"),
           "validation": dict(validation_split=0.2)}.get(change, {})
    ens = fastbp.Ensemble(sizes, seed=0)
    ens.fit(sp.csr_matrix(X) if change == "sparse" else X, y, epochs=1, **fit)
    assert ens._last_pass == "members"
    plain = fastbp.Ensemble([[6, 5, 3]] * 2, seed=0)
    plain.fit(X, y, epochs=1)
    assert plain._last_pass == "packed"
