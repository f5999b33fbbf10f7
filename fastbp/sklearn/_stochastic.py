"""scikit-learn's ``_fit_stochastic``, copied, with its batch loop replaced
by one compiled call per epoch (``_flat.FlatNet.epoch``).

The copy follows scikit-learn's method step by step (optimizer set-up, the
early-stopping split, ``batch_size`` clipping, per-epoch bookkeeping,
stopping rules and messages), so a fit takes scikit-learn's steps. It was
made from the version in :data:`COPIED_FROM`; ``tests/test_sklearn.py``
fails when the installed scikit-learn's method has another source, so an
upgrade is a decision (read the diff, carry it here, record the new hash),
not a silent drift. At import, a scikit-learn whose method has another
*signature* makes ``fastbp.sklearn`` fall back to scikit-learn's own loop.
"""
from __future__ import annotations

import warnings

import numpy as np
from sklearn.base import is_classifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network._stochastic_optimizers import AdamOptimizer, SGDOptimizer

from .._sparse import is_sparse
from ..outputs import BY_SKLEARN_NAME
from ._flat import FlatNet, as_input

#: The scikit-learn version the loop was copied from, and the SHA-256 of
#: ``inspect.getsource(BaseMultilayerPerceptron._fit_stochastic)`` there.
COPIED_FROM = {"version": "1.9.1", "sha256": "ca73df575d758bf2fabf208914da25f12b93032ee3c7cc4e2c992ce6a572c761"}


def source_digest() -> str:
    """SHA-256 of the installed scikit-learn's ``_fit_stochastic`` source."""
    import hashlib
    import inspect

    from sklearn.neural_network._multilayer_perceptron import BaseMultilayerPerceptron

    return hashlib.sha256(inspect.getsource(BaseMultilayerPerceptron._fit_stochastic).encode()).hexdigest()


def fit_stochastic(est, X, y, sample_weight, layer_units, incremental) -> None:
    """``est._fit_stochastic(X, y, sample_weight, ..., layer_units, incremental)`` with compiled epochs
    (X dense or sparse)."""
    if not incremental or not hasattr(est, "_optimizer"):
        params = est.coefs_ + est.intercepts_
        if est.solver == "sgd":
            est._optimizer = SGDOptimizer(
                params, est.learning_rate_init, est.learning_rate, est.momentum,
                est.nesterovs_momentum, est.power_t,
            )
        else:
            est._optimizer = AdamOptimizer(params, est.learning_rate_init, est.beta_1, est.beta_2, est.epsilon)

    if est.early_stopping and incremental:
        raise ValueError("partial_fit does not support early_stopping=True")
    early_stopping = est.early_stopping
    if early_stopping:
        stratify = y if (is_classifier(est) and est.n_outputs_ == 1) else None
        if sample_weight is None:
            X_train, X_val, y_train, y_val = train_test_split(
                X, y, random_state=est._random_state, test_size=est.validation_fraction, stratify=stratify
            )
            sample_weight_train = sample_weight_val = None
        else:
            X_train, X_val, y_train, y_val, sample_weight_train, sample_weight_val = train_test_split(
                X, y, sample_weight, random_state=est._random_state, test_size=est.validation_fraction,
                stratify=stratify,
            )
        if X_val.shape[0] < 2:
            raise ValueError(
                "The validation set is too small. Increase 'validation_fraction' or the size of your dataset."
            )
        if is_classifier(est):
            y_val = est._label_binarizer.inverse_transform(y_val)
    else:
        X_train, y_train, sample_weight_train = X, y, sample_weight
        X_val = y_val = sample_weight_val = None

    n_samples = X_train.shape[0]
    sample_idx = np.arange(n_samples, dtype=int)
    if est.batch_size == "auto":
        batch_size = min(200, n_samples)
    else:
        if est.batch_size > n_samples:
            warnings.warn("Got `batch_size` less than 1 or larger than sample size. It is going to be clipped")
        batch_size = int(np.clip(est.batch_size, 1, n_samples))

    # Once per fit: contiguous data in the network's dtype, parameters
    # and optimizer state in flat buffers (coefs_ become views of them).
    dtype = X_train.dtype
    X_train = as_input(X_train, dtype)
    Y_train = np.ascontiguousarray(y_train, dtype=dtype)
    weights = None if sample_weight_train is None else np.ascontiguousarray(sample_weight_train, dtype=dtype)
    net = FlatNet(est, layer_units, dtype, batch_size, est._optimizer, sparse=is_sparse(X_train))

    try:
        est.n_iter_ = 0
        for it in range(est.max_iter):
            if est.shuffle:
                sample_idx = _shuffled(sample_idx, est._random_state)
            data_loss, penalty = net.epoch(X_train, Y_train, sample_idx, batch_size, est._optimizer, est.alpha,
                                           weights)
            if not BY_SKLEARN_NAME[est.out_activation_].classifier:
                data_loss /= est.n_outputs_  # scikit-learn's squared loss is a mean over outputs
            est.n_iter_ += 1
            est.loss_ = data_loss + penalty

            est.t_ += n_samples
            est.loss_curve_.append(est.loss_)
            if est.verbose:
                print("Iteration %d, loss = %.8f" % (est.n_iter_, est.loss_))

            est._update_no_improvement_count(early_stopping, X_val, y_val, sample_weight_val)
            est._optimizer.iteration_ends(est.t_)

            if est._no_improvement_count > est.n_iter_no_change:
                if early_stopping:
                    msg = (
                        "Validation score did not improve more than tol=%f for %d consecutive epochs."
                        % (est.tol, est.n_iter_no_change)
                    )
                else:
                    msg = (
                        "Training loss did not improve more than tol=%f for %d consecutive epochs."
                        % (est.tol, est.n_iter_no_change)
                    )
                if est._optimizer.trigger_stopping(msg, est.verbose):
                    break
                est._no_improvement_count = 0

            if incremental:
                break

            if est.n_iter_ == est.max_iter:
                warnings.warn(
                    "Stochastic Optimizer: Maximum iterations (%d) reached and the optimization "
                    "hasn't converged yet." % est.max_iter,
                    ConvergenceWarning,
                )
    except KeyboardInterrupt:
        warnings.warn("Training interrupted by user.")
    finally:
        net.store_optimizer_state(est._optimizer)

    if early_stopping:
        est.coefs_ = est._best_coefs
        est.intercepts_ = est._best_intercepts


def _shuffled(sample_idx, random_state):
    """``sklearn.utils.shuffle(sample_idx, random_state=random_state)``: the
    same draws from ``random_state`` and the same order, without its input
    checks (they took more than half of its time, a few percent of a small
    network's epoch)."""
    order = np.arange(sample_idx.shape[0])
    random_state.shuffle(order)
    return sample_idx[order]
