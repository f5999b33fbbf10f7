"""Drop-in scikit-learn estimators: change one import, keep the rest.

    from fastbp.sklearn import MLPClassifier   # instead of sklearn.neural_network

:class:`MLPClassifier` and :class:`MLPRegressor` subclass scikit-learn's own,
so parameters, fitted attributes, input checks, early stopping, learning-rate
schedules, ``warm_start``, ``partial_fit``, prediction and scoring are
scikit-learn's code and behave as documented there. What changes is the
training loop of the stochastic solvers ('sgd', 'adam'): scikit-learn runs
each batch through NumPy in Python; here each epoch runs as one compiled
call (``fastbp.kernels.train_epoch_optim``) with fused momentum/Adam + L2
updates. The batches are drawn from the same random stream, so with the same
``random_state`` a fit takes the same steps as scikit-learn's, within
floating-point rounding.

Differences, each deliberate:

- ``solver='lbfgs'`` runs SciPy's L-BFGS-B as scikit-learn does, on a loss
  and gradient over the whole data computed by the compiled
  ``fastbp.kernels.batch_gradient`` (in chunks of rows) instead of NumPy.
- fastbp's other hidden activations (``'leaky_relu'``, slope 0.01, and the
  rest of ``fastbp.activations.HIDDEN``) are accepted in addition to
  scikit-learn's four.
- Sparse ``X``, ``sample_weight`` and ``MLPRegressor(loss='poisson')`` run
  scikit-learn's own Python loop (correct, not faster).
- The log-loss reported in ``loss_curve_`` clips probabilities at the
  dtype's smallest normal number, scikit-learn at its machine epsilon: the two
  differ only for samples predicted with probability below ~1e-7 (float32).
- With a scikit-learn whose private ``_fit_stochastic`` has another form than
  1.7-1.9's, importing this module warns and the estimators run
  scikit-learn's own loop.
- ``coefs_[i]`` are Fortran-ordered views (the compiled epoch keeps weights
  as ``(n_out, n_in)`` rows); their shapes and values are scikit-learn's.
"""
from __future__ import annotations

import contextlib
import inspect
import warnings

import numpy as np
import scipy.sparse as sp
from sklearn.base import is_classifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier as _SkMLPClassifier
from sklearn.neural_network import MLPRegressor as _SkMLPRegressor
from sklearn.neural_network._stochastic_optimizers import AdamOptimizer, SGDOptimizer
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.extmath import safe_sparse_dot
from sklearn.utils.validation import validate_data

from . import _interop, _layout
from .activations import ACTIVATIONS
from .losses import BinaryCrossEntropy, CrossEntropy, MSE
from .optimizers import SGD, Adam, pack

__all__ = ["MLPClassifier", "MLPRegressor"]

# Multiply-adds of one forward pass over all rows below which solver='lbfgs'
# runs every BLAS on one thread (``_threads.blas_on_one_thread``): measured here
# (2 cores), fits of 1.7M-13M such multiply-adds ran 3-7x faster serial.
LBFGS_SERIAL_WORK = 1 << 24

# scikit-learn's activation names -> fastbp's: its four, then fastbp's own
# (``fastbp.reference`` computes them in prediction, outside the compiled epochs).
_SKLEARN_HIDDEN, _HIDDEN = _interop.SKLEARN_OWN_HIDDEN, _interop.SKLEARN_HIDDEN
# scikit-learn's optimizer -> (fastbp's specification, its state lists in state-copy order).
_OPTIMIZERS = {SGDOptimizer: (SGD, ("velocities",)), AdamOptimizer: (Adam, ("ms", "vs"))}
# scikit-learn's output activation -> (fastbp activation, the kernels' loss array).
_OUTPUT = {"softmax": ("softmax", CrossEntropy().pack()), "logistic": ("sigmoid", BinaryCrossEntropy().pack()),
           "identity": ("identity", MSE().pack())}
# The private method whose batch loop is replaced, in the form it has had since 1.7.
_EXPECTED_SIGNATURE = [
    "self", "X", "y", "sample_weight", "activations", "deltas", "coef_grads", "intercept_grads", "layer_units",
    "incremental",
]
_COMPATIBLE = list(inspect.signature(_SkMLPClassifier._fit_stochastic).parameters) == _EXPECTED_SIGNATURE


class _CompiledEpochs:
    """Mixin over scikit-learn's MLP estimators: compiled epochs for the stochastic solvers."""

    def to_onnx(self, path=None):
        """The fitted network's forward pass as an ONNX model (``fastbp.Network.to_onnx``):
        output ``Y`` is ``predict_proba`` for a multiclass classifier, the positive
        class's probability for a binary one, ``predict`` for a regressor."""
        from .network import Network

        return Network.from_sklearn(self).to_onnx(path)

    def _fit_lbfgs(self, X, y, sample_weight, activations, deltas, coef_grads, intercept_grads, layer_units):
        args = (X, y, sample_weight, activations, deltas, coef_grads, intercept_grads, layer_units)
        if self._compiled_path_refusal(X, sample_weight) is not None:
            return super()._fit_lbfgs(*args)
        from ._threads import blas_on_one_thread

        work = X.shape[0] * sum(a * b for a, b in zip(layer_units[:-1], layer_units[1:]))
        compiled = self._tier(X, layer_units, ("batch_gradient", "forward"), self.max_iter, X.shape[0]) == "compiled"
        if compiled:
            self._full_batch = _FullBatch(self, X, y, layer_units)
        try:  # scikit-learn's own loop too: the same serial code between short BLAS calls
            with blas_on_one_thread(provider_too=work < LBFGS_SERIAL_WORK):
                return super()._fit_lbfgs(*args)
        finally:
            self.__dict__.pop("_full_batch", None)

    def _loss_grad_lbfgs(self, packed_coef_inter, X, y, sample_weight, activations, deltas, coef_grads,
                         intercept_grads):
        full = getattr(self, "_full_batch", None)
        if full is None:  # scikit-learn's own path (sparse X, sample_weight)
            return super()._loss_grad_lbfgs(packed_coef_inter, X, y, sample_weight, activations, deltas,
                                            coef_grads, intercept_grads)
        return full.loss_grad(packed_coef_inter, self.alpha)

    def _tier(self, X, layer_units, kernels, epochs: int, batch: int) -> str:
        """This fit's tier (``fastbp._tiers``), kept in ``fit_tier_``: ``'compiled'``,
        or ``'reference'``, which here is scikit-learn's own loop (the same steps),
        run while the kernels are not compiled and it is expected to finish
        sooner. fastbp's own activations have no such loop: they compile."""
        from . import _tiers

        dtype = np.dtype(X.dtype if X.dtype in (np.float32, np.float64) else np.float64)
        estimate = _tiers.reference_seconds(layer_units, X.shape[0], epochs=epochs, batch_size=batch,
                                            dtype=dtype.name, stateful=True)
        own = self.activation not in _SKLEARN_HIDDEN
        with _tiers.tier("wait") if own else contextlib.nullcontext():
            choice = _tiers.choose(dtype, kernels, estimate)
        self.fit_tier_ = choice.tier
        return choice.tier

    def _compiled_path_refusal(self, X, sample_weight) -> str | None:
        """Why this fit cannot run in compiled code, or None when it can; a
        ValueError when it must but cannot (one of fastbp's own activations)."""
        why = None
        if sp.issparse(X):
            why = "sparse X"
        elif sample_weight is not None:
            why = "sample_weight"
        elif self.out_activation_ not in _OUTPUT:
            why = f"the {self.out_activation_!r} output of loss={self.loss!r}"
        if why is not None and self.activation not in _SKLEARN_HIDDEN:
            raise ValueError(
                f"activation={self.activation!r} is fastbp's own and runs only in fastbp's compiled code, which "
                f"does not take {why}; use one of scikit-learn's activations for this fit"
            )
        return why

    def _fit_stochastic(
        self, X, y, sample_weight, activations, deltas, coef_grads, intercept_grads, layer_units, incremental
    ):
        batch = min(200, X.shape[0]) if self.batch_size == "auto" else int(np.clip(self.batch_size, 1, X.shape[0]))
        if (self._compiled_path_refusal(X, sample_weight) is not None
                or self._tier(X, layer_units, ("train_epoch_optim",), 1 if incremental else self.max_iter,
                              batch) != "compiled"):
            return super()._fit_stochastic(
                X, y, sample_weight, activations, deltas, coef_grads, intercept_grads, layer_units, incremental
            )

        # From here on, scikit-learn's _fit_stochastic (1.9) step by step, with
        # its batch loop replaced by one compiled call per epoch.
        if not incremental or not hasattr(self, "_optimizer"):
            params = self.coefs_ + self.intercepts_
            if self.solver == "sgd":
                self._optimizer = SGDOptimizer(
                    params, self.learning_rate_init, self.learning_rate, self.momentum,
                    self.nesterovs_momentum, self.power_t,
                )
            else:
                self._optimizer = AdamOptimizer(params, self.learning_rate_init, self.beta_1, self.beta_2, self.epsilon)

        if self.early_stopping and incremental:
            raise ValueError("partial_fit does not support early_stopping=True")
        early_stopping = self.early_stopping
        if early_stopping:
            stratify = y if (is_classifier(self) and self.n_outputs_ == 1) else None
            X_train, X_val, y_train, y_val = train_test_split(
                X, y, random_state=self._random_state, test_size=self.validation_fraction, stratify=stratify
            )
            if X_val.shape[0] < 2:
                raise ValueError(
                    "The validation set is too small. Increase 'validation_fraction' or the size of your dataset."
                )
            if is_classifier(self):
                y_val = self._label_binarizer.inverse_transform(y_val)
        else:
            X_train, y_train, X_val, y_val = X, y, None, None

        n_samples = X_train.shape[0]
        sample_idx = np.arange(n_samples, dtype=int)
        if self.batch_size == "auto":
            batch_size = min(200, n_samples)
        else:
            if self.batch_size > n_samples:
                warnings.warn("Got `batch_size` less than 1 or larger than sample size. It is going to be clipped")
            batch_size = int(np.clip(self.batch_size, 1, n_samples))

        # Once per fit: contiguous data in the network's dtype, parameters
        # and optimizer state in flat buffers (coefs_ become views of them).
        dtype = X_train.dtype
        X_train = np.ascontiguousarray(X_train)
        Y_train = np.ascontiguousarray(y_train, dtype=dtype)
        net = _FlatNet(self, layer_units, dtype, batch_size, self._optimizer)
        n_batches = -(-n_samples // batch_size)

        try:
            self.n_iter_ = 0
            for it in range(self.max_iter):
                if self.shuffle:
                    sample_idx = _shuffled(sample_idx, self._random_state)
                data_loss, penalty = net.epoch(X_train, Y_train, sample_idx, batch_size, self._optimizer, self.alpha)
                if self.out_activation_ == "identity":
                    data_loss /= self.n_outputs_  # scikit-learn's squared loss is a mean over outputs
                self.n_iter_ += 1
                self.loss_ = data_loss + penalty
                if isinstance(self._optimizer, AdamOptimizer):
                    self._optimizer.t += n_batches  # its step count (Adam's own rate is formed from it per step)

                self.t_ += n_samples
                self.loss_curve_.append(self.loss_)
                if self.verbose:
                    print("Iteration %d, loss = %.8f" % (self.n_iter_, self.loss_))

                self._update_no_improvement_count(early_stopping, X_val, y_val, None)
                self._optimizer.iteration_ends(self.t_)

                if self._no_improvement_count > self.n_iter_no_change:
                    if early_stopping:
                        msg = (
                            "Validation score did not improve more than tol=%f for %d consecutive epochs."
                            % (self.tol, self.n_iter_no_change)
                        )
                    else:
                        msg = (
                            "Training loss did not improve more than tol=%f for %d consecutive epochs."
                            % (self.tol, self.n_iter_no_change)
                        )
                    if self._optimizer.trigger_stopping(msg, self.verbose):
                        break
                    self._no_improvement_count = 0

                if incremental:
                    break

                if self.n_iter_ == self.max_iter:
                    warnings.warn(
                        "Stochastic Optimizer: Maximum iterations (%d) reached and the optimization "
                        "hasn't converged yet." % self.max_iter,
                        ConvergenceWarning,
                    )
        except KeyboardInterrupt:
            warnings.warn("Training interrupted by user.")
        finally:
            net.store_optimizer_state(self._optimizer)

        if early_stopping:
            self.coefs_ = self._best_coefs
            self.intercepts_ = self._best_intercepts

    def _forward_pass_fast(self, X, check_input=True):
        if self.activation in _SKLEARN_HIDDEN:
            return super()._forward_pass_fast(X, check_input=check_input)
        from . import reference

        if check_input:
            X = validate_data(self, X, accept_sparse=["csr", "csc"], reset=False)
        A = X
        for i, (W, b) in enumerate(zip(self.coefs_, self.intercepts_)):
            A = safe_sparse_dot(A, W)
            A += b
            if i < self.n_layers_ - 2:
                A = reference.activate(A, ACTIVATIONS[self.activation].code)  # elementwise: rows as columns
        from sklearn.neural_network._base import ACTIVATIONS as _SK_ACTIVATIONS

        _SK_ACTIVATIONS[self.out_activation_](A)
        return A


def _codes_of(est, n_layers: int):
    """The kernels' activation codes (one per layer) and loss array of a fitted estimator."""
    out_act, loss = _OUTPUT[est.out_activation_]
    hidden = ACTIVATIONS[_HIDDEN[est.activation]].code
    return np.array([hidden] * (n_layers - 1) + [ACTIVATIONS[out_act].code], dtype=np.int64), loss


def _shuffled(sample_idx, random_state):
    """``sklearn.utils.shuffle(sample_idx, random_state=random_state)``: the
    same draws from ``random_state`` and the same order, without its input
    checks (they took more than half of its time, a few percent of a small
    network's epoch)."""
    order = np.arange(sample_idx.shape[0])
    random_state.shuffle(order)
    return sample_idx[order]


class _FullBatch:
    """The L-BFGS objective scikit-learn's ``_loss_grad_lbfgs`` computes (its
    loss, L2 term and gradient, over every row, in its packed layout), from
    the compiled ``batch_gradient`` summed over chunks of rows."""

    CHUNK = 2048  # rows per batch_gradient call: bounds the workspace, whatever the data's size

    def __init__(self, est, X, y, layer_units):
        self.units = [int(n) for n in layer_units]
        self.sizes = np.array(self.units, dtype=np.int64)
        self.dtype = np.dtype(X.dtype if X.dtype in (np.float32, np.float64) else np.float64)
        self.X = np.ascontiguousarray(X, dtype=self.dtype)
        self.Y = np.ascontiguousarray(np.asarray(y).reshape(len(X), -1), dtype=self.dtype)
        self.acts, self.loss = _codes_of(est, len(self.units) - 1)
        # The loss as scikit-learn computes it (its clipping of probabilities at
        # machine epsilon, squared_error averaged over the outputs too): L-BFGS's
        # line search must see its values to take its steps.
        from sklearn.neural_network._base import LOSS_FUNCTIONS

        name = "binary_log_loss" if est.loss == "log_loss" and est.out_activation_ == "logistic" else est.loss
        self.sk_loss = LOSS_FUNCTIONS[name]
        self.out = np.empty_like(self.Y)
        P = _layout.n_params(self.units)
        self.params = np.empty(P, dtype=self.dtype)
        self.grad = np.empty(P, dtype=self.dtype)
        self.total = np.empty(P, dtype=np.float64)
        chunk = min(self.CHUNK, len(X))
        self.work = np.empty(_layout.workspace_size(self.units, chunk, self.acts), dtype=self.dtype)
        self.rows = [np.arange(s, min(s + chunk, len(X)), dtype=np.int64) for s in range(0, len(X), chunk)]
        # packed[order] is fastbp's flat layout: coefs (n_in, n_out) row-major, then intercepts.
        order = np.empty(P, dtype=np.int64)
        ours_W, ours_b = _layout.param_views(order, self.units)
        start = 0
        for W in ours_W:
            n_out, n_in = W.shape
            W[...] = np.arange(start, start + n_in * n_out).reshape(n_in, n_out).T
            start += n_in * n_out
        for b in ours_b:
            b[...] = np.arange(start, start + b.size)
            start += b.size
        self.order = order
        self.is_weight = np.zeros(P, dtype=bool)
        for W in _layout.param_views(self.is_weight, self.units)[0]:
            W[...] = True

    def loss_grad(self, packed, alpha):
        from .kernels import batch_gradient, forward

        n = self.X.shape[0]
        self.params[...] = packed[self.order]
        self.total[...] = 0.0
        for rows in self.rows:
            batch_gradient(self.X, self.Y, rows, self.params, self.sizes, self.acts, self.loss, self.grad, self.work,
                           self.grad[:0])
            self.total += self.grad
            forward(self.X[rows[0]:rows[-1] + 1], self.params, self.sizes, self.acts, self.work,
                    self.out[rows[0]:rows[-1] + 1])
        weights = self.params[self.is_weight].astype(np.float64)
        loss = self.sk_loss(self.Y, self.out) + 0.5 * alpha * float(weights @ weights) / n
        self.total[self.is_weight] += alpha * weights
        self.total /= n
        out = np.empty(packed.shape[0], dtype=np.float64)
        out[self.order] = self.total
        return loss, out


class _FlatNet:
    """An estimator's parameters and optimizer state in fastbp's flat layout,
    for the length of one fit call.

    ``coefs_``/``intercepts_`` are replaced by views of the flat buffer, so
    scikit-learn's per-epoch code (validation scores, best-weight copies)
    sees every step with no copying.
    """

    def __init__(self, est, layer_units, dtype, batch_size, opt):
        self.layer_units = [int(n) for n in layer_units]
        self.sizes = np.array(self.layer_units, dtype=np.int64)
        self.dtype = np.dtype(dtype)
        n = _layout.n_params(layer_units)
        self.params = np.empty(n, dtype=self.dtype)
        weights, biases = _layout.param_views(self.params, layer_units)
        for W, b, coef, intercept in zip(weights, biases, est.coefs_, est.intercepts_):
            W[...] = coef.T
            b[...] = intercept
        est.coefs_ = [W.T for W in weights]
        est.intercepts_ = list(biases)
        self.acts, self.loss = _codes_of(est, len(layer_units) - 1)
        self.grad = np.empty(n, dtype=self.dtype)
        self.work = np.empty(_layout.workspace_size(self.layer_units, batch_size, self.acts), dtype=self.dtype)
        self.state = self._load_state(opt)

    def _load_state(self, opt):
        """Flat state from the scikit-learn optimizer's per-parameter lists
        (velocities, or first and second moments), ordered coefs + intercepts."""
        spec, names = _OPTIMIZERS[type(opt)]
        L = len(self.sizes) - 1
        P = self.params.size
        state = np.empty(spec.state_copies * P, dtype=self.dtype)
        for k, name in enumerate(names):
            weights, biases = _layout.param_views(state[k * P : (k + 1) * P], self.layer_units)
            per_param = getattr(opt, name)
            for l in range(L):
                weights[l][...] = per_param[l].T
                biases[l][...] = per_param[L + l]
        return state

    def store_optimizer_state(self, opt):
        """Hand the state back to the scikit-learn optimizer (its own orientation)."""
        P = self.params.size
        for k, name in enumerate(_OPTIMIZERS[type(opt)][1]):
            weights, biases = _layout.param_views(self.state[k * P : (k + 1) * P], self.layer_units)
            setattr(opt, name, [W.T.copy() for W in weights] + [b.copy() for b in biases])

    def epoch(self, X, Y, perm, batch_size, opt, alpha):
        """One compiled epoch; returns (mean data loss, mean L2 penalty)."""
        from .kernels import train_epoch_optim

        spec = _OPTIMIZERS[type(opt)][0]
        if spec is Adam:
            lr, step = opt.learning_rate_init, opt.t
        else:  # the schedule's current rate; SGD keeps no step count
            lr, step = opt.learning_rate, 0
        hyper = pack(spec, lr, 0.0, alpha, {name: getattr(opt, name) for name, _, _ in spec.params})
        loss, penalty = train_epoch_optim(
            X, Y, perm.astype(np.int64, copy=False), batch_size, self.params, self.sizes, self.acts, self.loss,
            spec.code, hyper, step, self.state, self.grad, self.work, self.grad[:0],
        )
        return float(loss), float(penalty)


if not _COMPATIBLE:  # leave scikit-learn's own loop in place rather than guess at a new one
    warnings.warn(
        "fastbp.sklearn does not know this scikit-learn version's MLP training loop; its estimators "
        "will run scikit-learn's own (correct, not faster)", RuntimeWarning, stacklevel=2,
    )
    del _CompiledEpochs._fit_stochastic


def _with_leaky_relu(constraints: dict) -> dict:
    return {**constraints, "activation": [StrOptions(set(_HIDDEN))]}


class MLPClassifier(_CompiledEpochs, _SkMLPClassifier):
    __doc__ = (
        "scikit-learn's MLPClassifier with compiled training epochs (see :mod:`fastbp.sklearn`).\n\n"
        "Parameters, attributes and methods are those of ``sklearn.neural_network.MLPClassifier``;\n"
        "``solver`` is 'adam' (default) or 'sgd', and ``activation`` may also be 'leaky_relu'.\n"
    )
    _parameter_constraints = _with_leaky_relu(_SkMLPClassifier._parameter_constraints)


class MLPRegressor(_CompiledEpochs, _SkMLPRegressor):
    __doc__ = (
        "scikit-learn's MLPRegressor with compiled training epochs (see :mod:`fastbp.sklearn`).\n\n"
        "Parameters, attributes and methods are those of ``sklearn.neural_network.MLPRegressor``;\n"
        "``solver`` is 'adam' (default) or 'sgd', and ``activation`` may also be 'leaky_relu'.\n"
    )
    _parameter_constraints = _with_leaky_relu(_SkMLPRegressor._parameter_constraints)
