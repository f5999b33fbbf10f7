"""Sparse input: config X of the side-by-side comparison (``fastbp bench
--config X``), a text-like CSR table of 50,000 columns at 0.5% nonzeros and 20
classes, MLPClassifier(hidden_layer_sizes=(100,), solver='adam', batch 200),
``fastbp.sklearn`` against ``sklearn.neural_network`` on the same matrix;
and ``fastbp.Network`` on it. 5,000 rows here (the comparison has 20,000) to
keep the suite short; time and peak memory per epoch."""
import os
import warnings

import fastbp
from fastbp.bench import CONFIGS, SPARSE_CONFIGS, make_sparse_data

# These suites time the compiled kernels: their warm-ups compile, never run on the reference.
fastbp.set_tier("wait")

SIZES, BATCH, _ = CONFIGS["X"]
N = 5_000


def _data():
    X, y, _ = make_sparse_data(SIZES, N, SPARSE_CONFIGS["X"], "float64")
    return X, y


class SparseEstimator:
    """One ``partial_fit`` epoch of the estimators on the CSR table (float64, 2 threads)."""

    params = (["fastbp", "sklearn"],)
    param_names = ["impl"]
    number = 1
    repeat = (1, 5, 30.0)
    timeout = 600

    def setup(self, impl):
        if impl == "fastbp":
            from fastbp.sklearn import MLPClassifier

            fastbp.set_num_threads(min(2, os.cpu_count() or 1))
        else:
            from sklearn.neural_network import MLPClassifier
        self.X, self.y = _data()
        self.clf = MLPClassifier(hidden_layer_sizes=SIZES[1:-1], solver="adam", batch_size=BATCH, random_state=0)
        self._epoch()

    def _epoch(self):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.clf.partial_fit(self.X, self.y, classes=range(SIZES[-1]))

    def time_partial_fit_epoch(self, impl):
        self._epoch()

    def peakmem_partial_fit_epoch(self, impl):
        self._epoch()


class SparseNetwork:
    """One epoch of ``fastbp.Network.fit`` (Adam) on the CSR table, float32 and float64."""

    params = (["float32", "float64"],)
    param_names = ["dtype"]
    number = 1
    repeat = (1, 5, 30.0)
    timeout = 600

    def setup(self, dtype):
        self.X, self.y = _data()
        fastbp.set_num_threads(min(2, os.cpu_count() or 1))
        self.net = fastbp.Network(SIZES, activation="relu", dtype=dtype, seed=0)
        self.net.fit(self.X[:BATCH], self.y[:BATCH], epochs=1, batch_size=BATCH, optimizer="adam", lr=1e-3)

    def time_fit_one_epoch(self, dtype):
        self.net.fit(self.X, self.y, epochs=1, batch_size=BATCH, optimizer="adam", lr=1e-3)

    def peakmem_fit_one_epoch(self, dtype):
        self.net.fit(self.X, self.y, epochs=1, batch_size=BATCH, optimizer="adam", lr=1e-3)
