"""Side-by-side comparison: seconds per epoch of plain minibatch SGD.

The same work for every peer: one epoch over synthetic data, softmax output
with cross-entropy, sigmoid hidden layers (``--activation`` picks another:
``tanh`` is ``fastbp.Network``'s default), shuffled batches, no momentum, no
weight decay. Each peer runs in its own process (its own imports, threads and
allocator); rounds are interleaved (peer A, peer B, ..., then again) so that
load on this shared machine hits every peer alike; medians and ratios are
printed. A peer that is not installed is skipped with a note.

    fastbp bench --config M
    fastbp bench --config S M L --rounds 7 --json out.json --plot chart.png
    fastbp bench --config S M --activation tanh
    fastbp bench --sweep              (every activation against relu: fastbp.bench.users)
    fastbp bench --busy 2             (the estimators' default fit beside 2 busy processes)
    fastbp bench --search             (fastbp.sklearn.GridSearchCV against scikit-learn's)
    python -m fastbp.bench ...         (the same parser: fastbp.bench.options)

Peers: fastbp, reference (fastbp.reference), torch (PyTorch eager),
jax (the whole train step under jax.jit), sklearn (MLPClassifier, solver='sgd',
momentum=0, alpha=0), floor (the same GEMMs alone through the BLAS fastbp calls,
in a compiled loop: what the matrix products cost with nothing else).

The estimator configurations compare the scikit-learn estimators instead,
one ``partial_fit`` epoch each: estimator (``fastbp.sklearn.MLPClassifier``)
against sklearn_estimator (``sklearn.neural_network.MLPClassifier``). E, E32
and E64 are a wide network at scikit-learn's defaults for solver='sgd'
(Nesterov momentum 0.9, alpha=1e-4, relu, batch 'auto' = 200, or 32, 64);
T is the default ``MLPClassifier()`` itself (adam, one hidden layer of 100,
batch 200) on tabular data, 20 features and two classes: run it with
``--dtype float64``, the dtype scikit-learn trains in.

X is the sparse configuration: a text-like table, 20,000 rows of 50,000
columns with 0.5% nonzeros (TF-IDF-like values in [0, 1)), 20 classes, held
as a CSR matrix; ``MLPClassifier(hidden_layer_sizes=(100,), solver='adam',
batch_size=200)`` trains on it (run it with ``--dtype float64``). Its dense
form would take 8 GB: neither peer makes one. Every configuration reports
each peer's peak memory during an epoch (where Linux lets a process reset
its peak: ``/proc/self/clear_refs``) beside its time.

The distributed row (``--peers one_rank two_ranks``, best on config L) times
``fit(comm=...)``: two_ranks is 2 MPI ranks under mpiexec, 1 thread each, each
holding half the rows and taking half of every global batch; one_rank is one
process with 1 thread. The ratio one_rank/two_ranks is the speed-up.

The package: ``configs`` (the configurations and their data), ``peers``
(one epoch of each peer, and the worker process that times it),
``machine`` (memory, BLAS, the GEMM limit), ``side_by_side`` (the
interleaved run, report and chart), ``users`` (the sweep and the busy
machine), ``options`` (the one argument parser, shared with the command).
"""
from .configs import (
    ACTIVATION,
    CONFIGS,
    DISTRIBUTED_PEERS,
    ESTIMATOR_CONFIGS,
    ESTIMATOR_PEERS,
    PEERS,
    SPARSE_CONFIGS,
    data_for,
    epoch_flops,
    make_data,
    make_sparse_data,
)

__all__ = ["ACTIVATION", "CONFIGS", "DISTRIBUTED_PEERS", "ESTIMATOR_CONFIGS", "ESTIMATOR_PEERS", "PEERS",
           "SPARSE_CONFIGS", "data_for", "epoch_flops", "make_data", "make_sparse_data"]
