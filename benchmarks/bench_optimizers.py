"""Epochs with momentum, Nesterov and Adam (``Network.fit(optimizer=...)``),
and the scikit-learn estimators against scikit-learn's own: config E of the
side-by-side comparison (784-256-128-10, batch 200, float32), 5,000 samples
here to keep the suite short."""
import os
import warnings

import numpy as np

import fastbp

from ._smoke import grid  # CI's smoke run cuts the grids

# These suites time the compiled kernels: their warm-ups compile, never run on the reference.
fastbp.set_tier("wait")

SIZES, BATCH, N = [784, 256, 128, 10], 200, 5_000


def _data():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((N, SIZES[0]), dtype=np.float32)
    return X, rng.integers(0, SIZES[-1], size=N)


class OptimizerEpoch:
    """Seconds for one epoch of ``Network.fit`` per optimizer (float32, 2 threads)."""

    params = (list(fastbp.optimizers.NAMES),)
    param_names = ["optimizer"]
    number = 1
    repeat = (1, 7, 20.0)

    def setup(self, optimizer):
        self.X, self.y = _data()
        fastbp.set_num_threads(min(2, os.cpu_count() or 1))
        self.net = fastbp.Network(SIZES, activation="relu", dtype="float32", seed=0)
        self.opt = fastbp.optimizers.resolve(optimizer)
        self.lr = 0.01 if isinstance(self.opt, fastbp.optimizers.SGD) else 1e-3
        self.net.fit(self.X[:BATCH], self.y[:BATCH], epochs=1, batch_size=BATCH, lr=self.lr, optimizer=self.opt)

    def time_fit_one_epoch(self, optimizer):
        self.net.fit(self.X, self.y, epochs=1, batch_size=BATCH, lr=self.lr, optimizer=self.opt)


class Estimator:
    """Seconds for one ``partial_fit`` epoch of MLPClassifier at scikit-learn's
    defaults for solver='sgd' (Nesterov momentum 0.9, alpha 1e-4, relu),
    ``fastbp.sklearn`` against ``sklearn.neural_network``."""

    params = grid(["fastbp", "sklearn"], ["sgd", "adam"], whole=1)
    param_names = ["impl", "solver"]
    number = 1
    repeat = (1, 7, 20.0)

    def setup(self, impl, solver):
        if impl == "fastbp":
            from fastbp.sklearn import MLPClassifier

            fastbp.set_num_threads(min(2, os.cpu_count() or 1))
        else:
            from sklearn.neural_network import MLPClassifier
        self.X, self.y = _data()
        self.clf = MLPClassifier(hidden_layer_sizes=SIZES[1:-1], solver=solver, batch_size=BATCH, random_state=0)
        self.classes = np.arange(SIZES[-1])
        self.time_partial_fit_epoch(impl, solver)

    def time_partial_fit_epoch(self, impl, solver):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.clf.partial_fit(self.X, self.y, classes=self.classes)


class Lbfgs:
    """Seconds for a whole ``fit(solver='lbfgs')`` (100 iterations at most) on
    a small tabular problem, scikit-learn's recommendation for small data:
    ``fastbp.sklearn`` (compiled loss and gradient) against scikit-learn's own."""

    params = (["fastbp", "sklearn"],)
    param_names = ["impl"]
    number = 1
    repeat = (1, 5, 20.0)

    def setup(self, impl):
        if impl == "fastbp":
            from fastbp.sklearn import MLPClassifier

            fastbp.set_num_threads(min(2, os.cpu_count() or 1))
        else:
            from sklearn.neural_network import MLPClassifier
        self.Est = MLPClassifier
        rng = np.random.default_rng(0)
        self.X = rng.standard_normal((2_000, 20))
        self.y = (self.X[:, :3].sum(axis=1) > 0).astype(int) + (self.X[:, 3] > 1)
        self.time_fit(impl)

    def time_fit(self, impl):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.Est(hidden_layer_sizes=(100,), solver="lbfgs", max_iter=100, random_state=0).fit(self.X, self.y)


class LbfgsWideOutput:
    """Seconds for ``fit(solver='lbfgs')`` with 2,000 classes (15 iterations):
    a softmax over wide outputs, where column-wise passes once made fastbp
    several times slower than scikit-learn (issue 27)."""

    params = (["fastbp", "sklearn"],)
    param_names = ["impl"]
    number = 1
    repeat = (1, 3, 30.0)
    timeout = 300

    def setup(self, impl):
        if impl == "fastbp":
            from fastbp.sklearn import MLPClassifier

            fastbp.set_num_threads(min(2, os.cpu_count() or 1))
            fastbp.set_tier("wait")
        else:
            from sklearn.neural_network import MLPClassifier
        self.Est = MLPClassifier
        rng = np.random.default_rng(0)
        self.X = rng.standard_normal((8_000, 20))
        self.y = rng.integers(0, 2_000, 8_000)
        with warnings.catch_warnings():  # compile, or load, outside the timing
            warnings.simplefilter("ignore")
            self.Est(hidden_layer_sizes=(50,), solver="lbfgs", max_iter=1, random_state=0).fit(self.X[:100],
                                                                                              self.y[:100] % 3)

    def time_fit(self, impl):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.Est(hidden_layer_sizes=(50,), solver="lbfgs", max_iter=15, random_state=0).fit(self.X, self.y)
