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
    for net in nets:
        net.fit(X, y, epochs=4, batch_size=16, lr=0.05, threads=2)
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
    """A Python thread keeps running while a compiled epoch runs in another:
    with the GIL held through the kernel, it would stall for the whole call."""
    import time

    X, y = _problem(n=20000, n_in=256)
    net = fastbp.Network([256, 512, 256, 4], dtype="float64", seed=0)
    net.fit(X[:64], y[:64], epochs=1, threads=1)  # compile or load first
    ticks, running = [], True

    def tick():
        while running:
            ticks.append(time.perf_counter())
            time.sleep(0.001)

    ticker = threading.Thread(target=tick)
    ticker.start()
    start = time.perf_counter()
    net.fit(X, y, epochs=1, batch_size=64, threads=1)  # one compiled call of the whole epoch
    end = time.perf_counter()
    running = False
    ticker.join()
    during = [t for t in ticks if start <= t <= end]
    gaps = np.diff([start, *during, end])
    assert end - start > 0.1, "the epoch was too short to tell"
    assert gaps.max() < 0.5 * (end - start), f"the other thread stalled {gaps.max():.3f} s of a {end - start:.3f} s epoch"


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


def _rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * __import__("os").sysconf("SC_PAGE_SIZE")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/statm")
def test_long_training_does_not_grow_memory():
    X, y = _problem(n=500, n_in=20)
    net = fastbp.Network([20, 32, 4], dtype="float32", seed=0)
    net.fit(X, y, epochs=20, batch_size=16)  # compile, warm allocator
    before = _rss_bytes()
    for _ in range(4):
        net.fit(X, y, epochs=50, batch_size=16)  # 200 epochs
    grown = _rss_bytes() - before
    assert grown < 4 * 2**20, f"resident memory grew by {grown / 2**20:.1f} MiB over 200 epochs"
