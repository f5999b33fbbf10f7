"""Threads, determinism and memory."""
import sys
import threading

import numpy as np
import pytest

import fastbp


def _problem(seed=0, n=300, n_in=12, n_out=4):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, n_in)), rng.integers(0, n_out, size=n)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_same_seed_and_threads_give_bit_identical_weights(dtype):
    X, y = _problem()
    nets = [fastbp.Network([12, 32, 16, 4], activation="tanh", dtype=dtype, seed=11) for _ in range(2)]
    threads = min(2, fastbp._validation.cpu_count())  # 2 where there are 2 (a one-CPU runner has 1)
    for net in nets:
        net.fit(X, y, epochs=4, batch_size=16, lr=0.05, threads=threads)
    for a, b in zip(nets[0].weights + nets[0].biases, nets[1].weights + nets[1].biases):
        np.testing.assert_array_equal(a, b)


def test_two_networks_in_two_threads_match_sequential_training():
    X, y = _problem(n=2000, n_in=64)
    sizes = [64, 128, 64, 4]

    def train(net, out, i):
        out[i] = net.fit(X, y, epochs=3, batch_size=32, lr=0.05)["loss"]

    sequential = [fastbp.Network(sizes, dtype="float64", seed=s) for s in (1, 2)]
    seq_hist = [None, None]
    for i, net in enumerate(sequential):
        train(net, seq_hist, i)

    concurrent = [fastbp.Network(sizes, dtype="float64", seed=s) for s in (1, 2)]
    con_hist = [None, None]
    threads = [threading.Thread(target=train, args=(net, con_hist, i)) for i, net in enumerate(concurrent)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert con_hist == seq_hist
    for a, b in zip(sequential, concurrent):
        for p, q in zip(a.weights + a.biases, b.weights + b.biases):
            np.testing.assert_array_equal(p, q)


def test_kernels_release_the_gil():
    """This thread keeps running Python while a compiled epoch runs in another.

    Counted, not timed: this thread counts loop turns while the other is
    inside the kernel call. A kernel holding the GIL never gives it up
    (compiled code does not check Python's switch interval, set short here),
    so the count stays at what one switch interval allows, tens, however
    loaded the machine; a kernel without the GIL leaves this thread the
    whole epoch, hundreds of thousands of turns."""
    from fastbp import kernels

    X, y = _problem(n=20000, n_in=256)
    net = fastbp.Network([256, 512, 256, 4], dtype="float64", seed=0)
    net.fit(X[:64], y[:64], epochs=1, threads=1)  # compile or load first
    Y = np.eye(4)[y]
    perm = np.arange(len(X), dtype=np.int64)
    work = np.empty(fastbp._layout.workspace_size(net.sizes, 64, net._act_codes))
    state = {"inside": False}

    def epoch():
        state["inside"] = True
        kernels.train_epoch(X, Y, perm, 64, net._params, net._size_codes, net._act_codes, net._loss_code, 0.01,
                            work, net._params[:0])
        state["inside"] = False

    worker = threading.Thread(target=epoch)
    turns = 0
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    try:
        with fastbp._threads.num_threads(1):
            worker.start()
            while worker.is_alive():
                if state["inside"]:
                    turns += 1
            worker.join()
    finally:
        sys.setswitchinterval(interval)
    assert turns > 10_000, f"this thread ran {turns} loop turns during the other's compiled epoch"


def test_fastmath_keeps_nan_and_inf_semantics():
    # NaN and inf really propagate through a compiled forward pass (fastmath's
    # nnan/ninf would let LLVM delete the checks that keep them).
    net = fastbp.Network([2, 3, 2], seed=0)
    net.weights[0][0, 0] = np.nan
    assert np.isnan(net.forward(np.ones((1, 2)))).all()


def test_set_num_threads_validates_and_applies():
    before = fastbp.get_num_threads()
    try:
        fastbp.set_num_threads(1)
        assert fastbp.get_num_threads() == 1
        with pytest.raises(ValueError, match="threads"):
            fastbp.set_num_threads(0)
        with pytest.raises(ValueError, match="threads"):
            fastbp.set_num_threads(10_000)
        assert fastbp.get_num_threads() == 1  # a refused count changes nothing
    finally:
        fastbp.set_num_threads(before)
    assert fastbp.get_num_threads() == before


def _threads_seen_in_fit(fit) -> list:
    """The provider's thread count read by a callback during each epoch of ``fit(callback)``."""
    seen = []

    def callback(epoch, history):
        seen.append(fastbp.get_num_threads())

    fit(callback)
    return seen


def test_a_small_fit_runs_its_blas_on_one_thread_and_restores_the_setting():
    """Below ``_threads.SERIAL_FIT_WORK`` a fit takes one thread whatever the
    setting (the setting stays the upper bound), and the setting is back after
    it; a fit above it uses the setting. On one CPU both are 1: skipped."""
    from fastbp import _threads

    if fastbp._validation.cpu_count() < 2 or fastbp.get_num_threads() is None:
        pytest.skip("needs 2 CPUs and a BLAS whose threads can be read")
    before = fastbp.get_num_threads()
    X, y = _problem(n=64, n_in=12)
    small = [12, 16, 4]
    assert _threads.largest_product(small, 16) < _threads.SERIAL_FIT_WORK
    try:
        fastbp.set_num_threads(2)
        seen = _threads_seen_in_fit(lambda cb: fastbp.Network(small, seed=0).fit(
            X, y, epochs=2, batch_size=16, callback=cb))
        assert seen == [1, 1]
        assert fastbp.get_num_threads() == 2
        seen = _threads_seen_in_fit(lambda cb: fastbp.Network(small, seed=0).fit(
            X, y, epochs=1, batch_size=16, callback=cb, threads=2))
        assert seen == [1] and fastbp.get_num_threads() == 2
        wide = [4096, 300, 4]  # 64 rows of 4096 inputs: 78M multiply-adds in the first layer
        Xw = np.random.default_rng(0).normal(size=(64, 4096))
        assert _threads.largest_product(wide, 64) >= _threads.SERIAL_FIT_WORK
        seen = _threads_seen_in_fit(lambda cb: fastbp.Network(wide, seed=0).fit(
            Xw, y, epochs=1, batch_size=64, callback=cb))
        assert seen == [2]
    finally:
        fastbp.set_num_threads(before)


def test_small_estimator_fits_run_their_blas_on_one_thread():
    pytest.importorskip("sklearn")
    from fastbp.sklearn import MLPClassifier

    if fastbp._validation.cpu_count() < 2 or fastbp.get_num_threads() is None:
        pytest.skip("needs 2 CPUs and a BLAS whose threads can be read")
    X, y = _problem(n=200, n_in=12)
    before = fastbp.get_num_threads()
    seen = []

    class Spy(MLPClassifier):
        def _update_no_improvement_count(self, early_stopping, X_val, y_val, sample_weight_val):
            seen.append(fastbp.get_num_threads())
            return super()._update_no_improvement_count(early_stopping, X_val, y_val, sample_weight_val)

    tier = fastbp._tiers.get_tier()
    try:
        fastbp.set_num_threads(2)
        fastbp.set_tier("wait")
        Spy(hidden_layer_sizes=(16,), max_iter=3, random_state=0).fit(X, y)
    finally:
        fastbp.set_tier(tier)
        fastbp.set_num_threads(before)
    assert seen and set(seen) == {1}
    assert fastbp.get_num_threads() == before


def test_long_training_does_not_grow_memory():
    """200 epochs allocate nothing that stays: traced allocations (NumPy's
    included), not the process's resident size, which the allocator and the
    machine's load move by megabytes."""
    import tracemalloc

    X, y = _problem(n=500, n_in=20)
    net = fastbp.Network([20, 32, 4], dtype="float32", seed=0)
    net.fit(X, y, epochs=20, batch_size=16)  # compile or load, warm every cache
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot()
        for _ in range(4):
            net.fit(X, y, epochs=50, batch_size=16)  # 200 epochs
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    grown = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    # One epoch's arrays (a permutation, a snapshot of the parameters) are ~7 KB:
    # kept per epoch they would add ~1.4 MB here.
    assert grown < 64 * 1024, f"traced memory grew by {grown / 1024:.0f} KiB over 200 epochs"
