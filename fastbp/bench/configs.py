"""The configurations of ``fastbp bench`` and asv: layer sizes, batch, rows,
and their synthetic data. Standard library imports only at the top: the
command's help reads these tables."""
from __future__ import annotations

CONFIGS = {
    # name: (layer sizes, batch size, samples)
    "S": ([64, 32, 10], 16, 20_000),
    "M": ([784, 256, 128, 10], 64, 60_000),
    "L": ([784, 1024, 1024, 10], 128, 60_000),
    "E": ([784, 256, 128, 10], 200, 20_000),
    "E32": ([784, 256, 128, 10], 32, 20_000),  # E with batch_size=32
    "E64": ([784, 256, 128, 10], 64, 20_000),
    "T": ([20, 100, 2], 200, 20_000),
    "X": ([50_000, 100, 20], 200, 20_000),
    # small deep networks: four layers of widths 50-300 at small batches
    "D32": ([100, 200, 200, 100, 10], 32, 20_000),
    "D64": ([300, 150, 150, 50, 10], 64, 20_000),
    "D50": ([50, 100, 100, 100, 10], 32, 20_000),
}
#: The configurations that time the scikit-learn estimators, with their solver.
ESTIMATOR_CONFIGS = {"E": "sgd", "E32": "sgd", "E64": "sgd", "T": "adam", "X": "adam"}
#: The configurations whose X is a sparse CSR matrix, with its density.
SPARSE_CONFIGS = {"X": 0.005}
PEERS = ["fastbp", "reference", "torch", "jax", "sklearn", "floor"]
ESTIMATOR_PEERS = ["estimator", "sklearn_estimator"]
DISTRIBUTED_PEERS = ["one_rank", "two_ranks"]
#: Peers that train many networks at once (``fastbp bench --ensemble``): not in the side-by-side tables.
ENSEMBLE_PEERS = ["jax_vmap", "torch_vmap"]
#: The learning rate of every peer's plain SGD.
LR = 0.01
#: The hidden activation of the dense peers when none is named (``--activation``):
#: sigmoid, as the published tables; tanh is ``Network``'s default.
ACTIVATION = "sigmoid"


def make_data(sizes, n, dtype, seed=0):
    import numpy as np

    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, sizes[0]), dtype=np.float32).astype(dtype)
    y = rng.integers(0, sizes[-1], size=n)
    Y = np.zeros((n, sizes[-1]), dtype=dtype)
    Y[np.arange(n), y] = 1
    return X, y, Y


def make_sparse_data(sizes, n, density, dtype, seed=0):
    """``make_data`` for a sparse table: a CSR matrix with ``density`` of its
    entries nonzero (values in [0, 1), about the same count in each row, the
    columns uniform), drawn row by row: no dense array, and no draw over all
    ``n * sizes[0]`` positions (``scipy.sparse.random`` makes one of 8 bytes each)."""
    import numpy as np
    import scipy.sparse as sp

    rng = np.random.default_rng(seed)
    k = max(1, round(density * sizes[0]))
    indices = np.sort(rng.integers(0, sizes[0], size=(n, k)), axis=1).astype(np.int32)
    data = rng.random((n, k)).astype(dtype)
    X = sp.csr_matrix((data.ravel(), indices.ravel(), np.arange(0, n * k + 1, k)), shape=(n, sizes[0]))
    X.sum_duplicates()  # a column drawn twice in a row: one entry
    y = rng.integers(0, sizes[-1], size=n)
    Y = np.zeros((n, sizes[-1]), dtype=dtype)
    Y[np.arange(n), y] = 1
    return X, y, Y


def data_for(config, dtype):
    """The configuration's data, dense or sparse: ``(X, y, Y)``."""
    sizes, _, n = CONFIGS[config]
    if config in SPARSE_CONFIGS:
        return make_sparse_data(sizes, n, SPARSE_CONFIGS[config], dtype)
    return make_data(sizes, n, dtype)


def epoch_flops(sizes, n) -> float:
    """FLOPs of one epoch of n rows: forward, delta and weight-gradient GEMMs of every
    layer, less the input layer's delta (never formed): ``6 n sum(n_in n_out) - 2 n n_0 n_1``."""
    return 6.0 * n * sum(a * b for a, b in zip(sizes[:-1], sizes[1:])) - 2.0 * n * sizes[0] * sizes[1]
