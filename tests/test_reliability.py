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
    from fastbp._jit import OPTIONS

    flags = OPTIONS["fastmath"]
    assert isinstance(flags, set) and not flags & {"nnan", "ninf", "fast"}
    # And NaN really propagates through a compiled forward pass.
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
