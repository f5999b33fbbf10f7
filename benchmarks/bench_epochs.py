"""Whole epochs of ``Network.fit`` on the configurations of the comparison
(``fastbp bench``: S, M, L), their peak memory, and the speed-up over
``fastbp.reference`` (first calls from an empty cache: ``bench_startup``)."""
import os
import time

import fastbp
from fastbp.activations import HIDDEN
from fastbp.bench import CONFIGS as PLAIN_CONFIGS
from fastbp.bench import make_data
from fastbp.bench.users import SWEEP_SAMPLES

from ._smoke import SMOKE, grid  # CI's smoke run cuts the grids

# These suites time the compiled kernels: their warm-ups compile, never run on the reference.
fastbp.set_tier("wait")

# The plain-SGD configurations of ``fastbp bench`` (name: layer sizes, batch
# size, samples; sigmoid hidden layers, softmax + cross-entropy), and its data.
CONFIGS = {name: PLAIN_CONFIGS[name] for name in ("S", "M", "L")}


def _data(sizes, n, dtype):
    X, _, Y = make_data(sizes, n, dtype)
    return X, Y


class Epoch:
    """Seconds for one epoch of ``fit`` (plain SGD, shuffled), 2 threads."""

    params = grid(CONFIGS, ["float32", "float64"])
    param_names = ["config", "dtype"]
    number = 1
    repeat = (1, 5, 20.0)
    timeout = 600

    def setup(self, config, dtype):
        sizes, self.batch, n = CONFIGS[config]
        self.X, self.Y = _data(sizes, n, dtype)
        fastbp.set_num_threads(min(2, os.cpu_count() or 1))
        self.net = fastbp.Network(sizes, activation="sigmoid", output="softmax", loss="cross_entropy",
                                  dtype=dtype, seed=0)
        self.net.fit(self.X[: 2 * self.batch], self.Y[: 2 * self.batch], epochs=1, batch_size=self.batch)

    def time_fit_one_epoch(self, config, dtype):
        self.net.fit(self.X, self.Y, epochs=1, batch_size=self.batch, lr=0.01)

    def peakmem_fit_one_epoch(self, config, dtype):
        self.net.fit(self.X, self.Y, epochs=1, batch_size=self.batch, lr=0.01)


class FitWithValidation:
    """Seconds for a whole ``fit`` on config S's network with what users add
    around the loop: 10% held out (``validation_split``), scored every epoch,
    early stopping (``patience``, ``restore_best``) and a cosine schedule;
    ``plain`` is the same epochs without them. Early stopping is off (patience
    above the epochs) so both run all 10 epochs and the difference is the cost."""

    params = (["plain", "validation+early_stopping"],)
    param_names = ["fit"]
    number = 1
    repeat = (1, 5, 20.0)

    def setup(self, fit):
        sizes, self.batch, n = CONFIGS["S"]
        self.X, self.Y = _data(sizes, n, "float32")
        fastbp.set_num_threads(min(2, os.cpu_count() or 1))
        self.sizes = sizes
        self.extras = {} if fit == "plain" else dict(
            validation_split=0.1, patience=100, restore_best=True, lr_schedule="cosine")
        self.time_fit(fit)

    def time_fit(self, fit):
        net = fastbp.Network(self.sizes, activation="sigmoid", dtype="float32", seed=0)
        net.fit(self.X, self.Y, epochs=10, batch_size=self.batch, lr=0.1, **self.extras)


class Speedup:
    """How many times faster than ``fastbp.reference`` one epoch is (M-shaped net, 10,000 samples)."""

    params = (["float32", "float64"],)
    param_names = ["dtype"]
    number = 1
    repeat = 1
    timeout = 300
    unit = "times"

    def setup(self, dtype):
        sizes, batch, _ = CONFIGS["M"]
        self.X, self.Y = _data(sizes, 10_000, dtype)
        self.args = (sizes, batch, dtype)

    def track_speedup_over_reference(self, dtype):
        sizes, batch, dtype = self.args
        best = {}
        for Net in (fastbp.Network, fastbp.reference.Network):
            net = Net(sizes, dtype=dtype, seed=0)
            net.fit(self.X[:batch], self.Y[:batch], epochs=1, batch_size=batch)
            times = []
            for _ in range(3):
                t = time.perf_counter()
                net.fit(self.X, self.Y, epochs=1, batch_size=batch, lr=0.01)
                times.append(time.perf_counter() - t)
            best[Net] = min(times)
        return best[fastbp.reference.Network] / best[fastbp.Network]


class ActivationEpoch:
    """Seconds per epoch of the default network shape (softmax, cross-entropy,
    plain SGD) for every hidden activation, on S, T and M (``fastbp bench
    --sweep`` prints the same as ratios to relu's): tanh is ``Network``'s default."""

    params = grid(SWEEP_SAMPLES, HIDDEN, ["float32", "float64"])
    param_names = ["config", "activation", "dtype"]
    number = 1
    repeat = (1, 7, 20.0)
    timeout = 300

    def setup(self, config, activation, dtype):
        sizes, self.batch, _ = PLAIN_CONFIGS[config]
        self.X, self.Y = _data(sizes, SWEEP_SAMPLES[config], dtype)
        fastbp.set_num_threads(min(2, os.cpu_count() or 1))
        self.net = fastbp.Network(sizes, activation=activation, dtype=dtype, seed=0)
        self.net.fit(self.X[: 2 * self.batch], self.Y[: 2 * self.batch], epochs=1, batch_size=self.batch)

    def time_fit_one_epoch(self, config, activation, dtype):
        self.net.fit(self.X, self.Y, epochs=1, batch_size=self.batch, lr=0.01)


class BusyMachine:
    """The estimators' default fit (``MLPClassifier(max_iter=200)`` on
    standardised breast cancer) beside two processes that keep the cores
    busy: its time with the default threads over its time on one thread
    (``fastbp bench --busy 2`` prints the same with scikit-learn's beside)."""

    number = 1
    repeat = 1
    timeout = 300
    unit = "ratio"

    def track_default_threads_over_one_thread(self):
        from fastbp.bench.users import busy_fit

        with open(os.devnull, "w") as quiet:
            med = busy_fit(busy=2, rounds=3, out=quiet)
        return med["fastbp"] / med["fastbp_1"]


class Ensemble:
    """A 16-member ``fastbp.Ensemble`` (tanh, float32) against the same 16
    networks fitted one after another: sequential seconds over the
    ensemble's, per configuration (``fastbp bench --ensemble 16`` prints
    both and the GEMM limit)."""

    # The smoke run: T alone (the packed pass; M runs member by member, as the other benchmarks' fits do).
    params = [["T"] if SMOKE else ["S", "T", "M"]]
    param_names = ["config"]
    number = 1
    repeat = 1
    timeout = 300
    unit = "ratio"

    def track_sequential_over_ensemble(self, config):
        from fastbp.bench.users import ensemble_vs_sequential

        with open(os.devnull, "w") as quiet:
            med = ensemble_vs_sequential(16, [config], rounds=3, epochs=1, out=quiet, jax=False)[config]
        return med["sequential"] / med["ensemble"]


class Search:
    """``fastbp.sklearn.GridSearchCV`` against scikit-learn's ``GridSearchCV``
    over fastbp's MLP (16 candidates x 5 folds on digits, ``n_jobs=2``):
    scikit-learn's seconds over fastbp's, per pipeline (``fastbp bench
    --search`` prints both, and scikit-learn's search over its own MLP)."""

    # The smoke run: the scaler's pipeline alone, one round (the imputer's searches take tens of seconds).
    params = [["scaler"] if SMOKE else ["scaler", "imputer+scaler"]]
    param_names = ["pipeline"]
    number = 1
    repeat = 1
    timeout = 600
    unit = "ratio"

    def track_sklearn_search_over_fastbp_search(self, pipeline):
        from fastbp.bench.users import search_vs_scikit_learn

        with open(os.devnull, "w") as quiet:
            med = search_vs_scikit_learn(1 if SMOKE else 3, out=quiet, pipelines=[pipeline],
                                         sklearn_mlp=False)[pipeline]
        return med["sklearn search, fastbp MLP"] / med["fastbp search"]
