"""Benchmarks of what users run, beside ``fastbp bench``'s side-by-side peers.

- :func:`activation_sweep` (``fastbp bench --sweep``): seconds per epoch of
  the default network (softmax, cross-entropy, plain SGD) for every hidden
  activation, as a multiple of ReLU's, on S, T and M, float32 and float64,
  in one process, the activations visited in a rotated order each round.
- :func:`ensemble_vs_sequential` (``fastbp bench --ensemble K``): a K-member
  ``fastbp.Ensemble`` (the default tanh, float32, default threads) against
  the same K networks fitted one after another, per model-epoch, on S, T and M,
  with the machine's GEMM limit and JAX's and PyTorch's ``vmap`` beside.
- :func:`busy_fit` (``fastbp bench --busy N``): the estimators' default fit
  (``MLPClassifier(max_iter=200)``, relu and Adam, on standardised breast
  cancer: 569 x 30, hidden 100, batch 200) beside N processes that keep a
  core busy (bounded in time), with the default threads, on one thread,
  and scikit-learn's own ``MLPClassifier``; the figure that matters is the
  default's time over one thread's.
- :func:`search_vs_scikit_learn` (``fastbp bench --search``): a 16-candidate
  x 5-fold grid search on digits (a ``Pipeline`` of scikit-learn steps and
  ``MLPClassifier(hidden_layer_sizes=(32,), max_iter=50)``, alpha x
  learning_rate_init, ``n_jobs=2``): ``fastbp.sklearn.GridSearchCV`` against
  scikit-learn's ``GridSearchCV`` over fastbp's and over scikit-learn's
  estimator; once with a ``StandardScaler`` before the network, once with a
  ``KNNImputer`` too (a tenth of the values missing): an earlier step that
  costs something to fit and apply.

Unset ``OPENBLAS_CORETYPE``/``OPENBLAS_L2_SIZE`` to measure as users run.
"""
from __future__ import annotations

import contextlib
import statistics
import subprocess
import sys
import time
import warnings

#: The configurations of the activation sweep (``configs.CONFIGS``).
SWEEP_CONFIGS = ("S", "T", "M")
#: Rows per epoch in the sweep: enough batches for a stable median, few enough for minutes, not hours.
SWEEP_SAMPLES = {"S": 5_000, "T": 5_000, "M": 2_000}


def alternating(runs: dict, rounds: int) -> dict:
    """Seconds of each ``runs[name]()`` per round, the names visited in an
    order rotated each round, so that a burst of load hits all alike."""
    names = list(runs)
    times = {name: [] for name in names}
    for r in range(rounds):
        for name in names[r % len(names):] + names[: r % len(names)]:
            start = time.perf_counter()
            runs[name]()
            times[name].append(time.perf_counter() - start)
    return times


def activation_sweep(configs=SWEEP_CONFIGS, dtypes=("float32", "float64"), rounds=5, out=sys.stdout) -> dict:
    """Seconds per epoch for every hidden activation, and their ratios to ReLU's.

    Returns ``{(config, dtype): {activation: seconds}}``; prints one line per
    configuration and dtype.
    """
    import fastbp

    from ..activations import HIDDEN

    from .configs import CONFIGS, make_data

    fastbp.set_tier("wait")
    results = {}
    for config in configs:
        sizes, batch, _ = CONFIGS[config]
        for dtype in dtypes:
            X, _, Y = make_data(sizes, SWEEP_SAMPLES.get(config, 5_000), dtype)
            nets = {a: fastbp.Network(sizes, activation=a, dtype=dtype, seed=0) for a in HIDDEN}
            for net in nets.values():  # compile and warm up
                net.fit(X[: 4 * batch], Y[: 4 * batch], epochs=1, batch_size=batch, lr=0.01)
            times = alternating({a: lambda net=net: net.fit(X, Y, epochs=1, batch_size=batch, lr=0.01)
                                 for a, net in nets.items()}, rounds)
            med = {a: statistics.median(t) for a, t in times.items()}
            results[(config, dtype)] = med
            cells = "  ".join(f"{a} {med[a] / med['relu']:.2f}" for a in HIDDEN)
            print(f"sweep {config} {'-'.join(map(str, sizes))} batch {batch} {dtype} "
                  f"(relu {med['relu'] * 1e3:.2f} ms/epoch, median of {rounds}): {cells}", file=out, flush=True)
    return results


_SPIN = "import time\nend = time.monotonic() + {seconds}\nwhile time.monotonic() < end:\n    pass\n"


@contextlib.contextmanager
def busy_processes(n: int, seconds: float = 600.0):
    """``n`` processes that each keep a core busy, for the block and at most ``seconds``."""
    procs = [subprocess.Popen([sys.executable, "-c", _SPIN.format(seconds=seconds)]) for _ in range(n)]
    try:
        time.sleep(0.2)  # let them start spinning
        yield
    finally:
        for p in procs:
            p.kill()
            p.wait()


def _breast_cancer():
    from sklearn.datasets import load_breast_cancer
    from sklearn.preprocessing import StandardScaler

    X, y = load_breast_cancer(return_X_y=True)
    return StandardScaler().fit_transform(X), y


def busy_fit(busy: int = 2, rounds: int = 5, out=sys.stdout) -> dict:
    """The estimators' default fit beside ``busy`` spinning processes.

    Returns the median seconds of ``fastbp`` (default threads), ``fastbp_1``
    (every BLAS on one thread) and ``sklearn`` (scikit-learn's own
    ``MLPClassifier``), alternating round by round; prints them and the ratios.
    """
    from sklearn.neural_network import MLPClassifier as SkMLP
    from threadpoolctl import threadpool_limits

    import fastbp
    from fastbp.sklearn import MLPClassifier

    X, y = _breast_cancer()
    fastbp.set_tier("wait")

    def fit(cls):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # ConvergenceWarning at max_iter
            cls(max_iter=200, random_state=0).fit(X, y)

    def one_thread():
        with threadpool_limits(limits=1, user_api="blas"):
            fit(MLPClassifier)

    runs = {"fastbp": lambda: fit(MLPClassifier), "fastbp_1": one_thread, "sklearn": lambda: fit(SkMLP)}
    for run in runs.values():  # compile, load, warm up: outside the timing
        run()
    names = list(runs)
    with busy_processes(busy):
        times = alternating(runs, rounds)
    med = {name: statistics.median(t) for name, t in times.items()}
    worst = {name: max(t) for name, t in times.items()}
    print(f"busy: MLPClassifier(max_iter=200).fit, standardised breast cancer, beside {busy} busy processes "
          f"(median of {rounds} alternating rounds, max in brackets):", file=out)
    for name in names:
        print(f"  {name:<9} {med[name]:8.3f} s  ({worst[name]:.3f})", file=out)
    print(f"  fastbp/fastbp_1 = {med['fastbp'] / med['fastbp_1']:.2f}   "
          f"fastbp/sklearn = {med['fastbp'] / med['sklearn']:.2f}", file=out, flush=True)
    return med


#: Rows per epoch in the ensemble benchmark (as the sweep's).
ENSEMBLE_SAMPLES = SWEEP_SAMPLES


def ensemble_vs_sequential(members: int = 16, configs=SWEEP_CONFIGS, rounds: int = 3, dtype: str = "float32",
                           epochs: int = 2, out=sys.stdout, jax: bool = True) -> dict:
    """Seconds per model-epoch of a ``members``-member ensemble and of the same
    networks fitted one after another (each with its default threads), the
    two alternating round by round; prints them, their ratio and the limit
    (and, with ``jax``, JAX's and PyTorch's ``vmap`` of the same members where installed).

    Returns ``{config: {"ensemble": s, "sequential": s, "limit": s}}``.
    """
    import fastbp

    from .configs import CONFIGS, ENSEMBLE_PEERS, epoch_flops, make_data
    from .machine import gemm_rate

    fastbp.set_tier("wait")
    rate = gemm_rate(dtype, fastbp.get_num_threads())
    results = {}
    for config in configs:
        sizes, batch, _ = CONFIGS[config]
        n = ENSEMBLE_SAMPLES.get(config, 5_000)
        X, y, _ = make_data(sizes, n, dtype)
        ensemble = fastbp.Ensemble(sizes, n_models=members, dtype=dtype, seed=0)
        nets = ensemble.networks

        def together():
            ensemble.fit(X, y, epochs=epochs, batch_size=batch, lr=0.01)

        def apart():
            for net in nets:
                net.fit(X, y, epochs=epochs, batch_size=batch, lr=0.01)

        together()  # compile and warm up
        apart()
        times = alternating({"ensemble": together, "sequential": apart}, rounds)
        per = members * epochs
        med = {name: statistics.median(t) / per for name, t in times.items()}
        med["limit"] = epoch_flops(sizes, n) / rate
        if jax:  # the vmap peers, where installed
            for peer in ENSEMBLE_PEERS:
                seconds = _vmap_peer(peer, config, members, rounds, dtype, n)
                if seconds is not None:
                    med[peer] = seconds
        results[config] = med
        print(f"ensemble {config} {'-'.join(map(str, sizes))} batch {batch} {dtype} tanh, {members} members "
              f"({n} rows, {epochs} epochs, median of {rounds}), seconds per model-epoch: "
              f"ensemble {med['ensemble']:.5f}  sequential {med['sequential']:.5f}  "
              f"sequential/ensemble {med['sequential'] / med['ensemble']:.2f}  "
              f"ensemble/limit {med['ensemble'] / med['limit']:.2f}"
              + "".join(f"  {p} {med[p]:.5f}  ensemble/{p} {med['ensemble'] / med[p]:.2f}"
                        for p in ENSEMBLE_PEERS if p in med),
              file=out, flush=True)
    return results


def _vmap_peer(peer: str, config: str, members: int, rounds: int, dtype: str, n: int) -> float | None:
    """Seconds per model-epoch of ``n`` rows of ``peer`` (``jax_vmap``,
    ``torch_vmap``: ``members`` networks under ``vmap``, in its own process),
    or None where it is not installed."""
    import io
    import os

    from .configs import CONFIGS
    from .side_by_side import compare

    os.environ["FASTBP_BENCH_MEMBERS"] = str(members)
    try:
        times = compare(config, [peer], rounds, dtype, settle=0.2, out=io.StringIO(), activation="tanh")
    finally:
        del os.environ["FASTBP_BENCH_MEMBERS"]
    if peer not in times:
        return None
    return statistics.median(times[peer]) * n / CONFIGS[config][2] / members


#: The search benchmark's grid (16 candidates) and folds.
SEARCH_GRID = {"mlpclassifier__alpha": [1e-5, 1e-4, 1e-3, 1e-2],
               "mlpclassifier__learning_rate_init": [1e-3, 3e-3, 1e-2, 3e-2]}
SEARCH_FOLDS = 5
#: The earlier steps of the search benchmark's pipelines, by name.
SEARCH_PIPELINES = ("scaler", "imputer+scaler")


def search_vs_scikit_learn(rounds: int = 3, out=sys.stdout, pipelines=SEARCH_PIPELINES,
                           sklearn_mlp: bool = True) -> dict:
    """Seconds of the search benchmark's three searches (two without
    ``sklearn_mlp``), alternating, for each of ``pipelines``; prints their
    medians and ratios, and whether fastbp's search found scikit-learn's
    ``cv_results_`` over the same estimator.

    Returns ``{pipeline: {search: seconds}}``.
    """
    import numpy as np
    from sklearn.datasets import load_digits
    from sklearn.impute import KNNImputer
    from sklearn.model_selection import GridSearchCV as SkGridSearchCV
    from sklearn.neural_network import MLPClassifier as SkMLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    import fastbp
    import fastbp.sklearn as fsk

    fastbp.set_tier("wait")
    X, y = load_digits(return_X_y=True)
    missing = X.copy()
    missing[np.random.default_rng(0).random(X.shape) < 0.1] = np.nan
    steps = {"scaler": (X, lambda: [StandardScaler()]),
             "imputer+scaler": (missing, lambda: [KNNImputer(), StandardScaler()])}
    results = {}
    for name in pipelines:
        data, earlier = steps[name]
        found = {}

        def search(search_class, mlp_class, key):
            pipe = make_pipeline(*earlier(), mlp_class(hidden_layer_sizes=(32,), max_iter=50, random_state=0))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # ConvergenceWarning at max_iter=50, alike in all
                found[key] = search_class(pipe, SEARCH_GRID, cv=SEARCH_FOLDS, n_jobs=2).fit(data, y)

        runs = {"fastbp search": lambda: search(fsk.GridSearchCV, fsk.MLPClassifier, "fastbp search"),
                "sklearn search, fastbp MLP": lambda: search(SkGridSearchCV, fsk.MLPClassifier, "sklearn search")}
        if sklearn_mlp:
            runs["sklearn search, sklearn MLP"] = lambda: search(SkGridSearchCV, SkMLPClassifier, "sklearn MLP")
        for run in runs.values():  # compile, start the workers
            run()
        times = alternating(runs, rounds)
        med = {key: statistics.median(t) for key, t in times.items()}
        results[name] = med
        same = all(np.array_equal(np.asarray(found["fastbp search"].cv_results_[k]),
                                  np.asarray(found["sklearn search"].cv_results_[k]))
                   for k in found["sklearn search"].cv_results_ if not k.endswith("_time"))
        print(f"search {name}: 16 candidates x {SEARCH_FOLDS} folds on digits, n_jobs=2, median of {rounds}, "
              f"seconds: " + "  ".join(f"{k} {v:.2f}" for k, v in med.items())
              + f"  | sklearn search over fastbp/fastbp search {med['sklearn search, fastbp MLP'] / med['fastbp search']:.2f}"
              + (f"  over sklearn/fastbp search {med['sklearn search, sklearn MLP'] / med['fastbp search']:.2f}"
                 if sklearn_mlp else "")
              + f"  | cv_results_ equal to sklearn's search over fastbp's MLP: {same}; best "
              f"{found['fastbp search'].best_params_} {found['fastbp search'].best_score_:.4f}"
              + (f", sklearn MLP's best {found['sklearn MLP'].best_score_:.4f}" if sklearn_mlp else ""),
              file=out, flush=True)
    return results
