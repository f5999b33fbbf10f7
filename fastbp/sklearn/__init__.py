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
- Sparse ``X`` (CSR, or CSC converted once) trains in the same compiled
  epochs, its first layer on the nonzeros only; ``sample_weight`` too, with
  scikit-learn's weighted means and its L2 term divided by each batch's
  weight sum. ``MLPRegressor(loss='poisson')`` runs scikit-learn's own
  Python loop (correct, not faster).
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
from sklearn.neural_network import MLPClassifier as _SkMLPClassifier
from sklearn.neural_network import MLPRegressor as _SkMLPRegressor
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.extmath import safe_sparse_dot
from sklearn.utils.validation import validate_data

from .._sparse import stored
from ..activations import ACTIVATIONS
from ..outputs import BY_SKLEARN_NAME as _OUTPUT
from . import _flat, _stochastic
from ._flat import HIDDEN as _HIDDEN
from ._flat import SKLEARN_HIDDEN as _SKLEARN_HIDDEN

__all__ = ["MLPClassifier", "MLPRegressor", "GridSearchCV", "RandomizedSearchCV"]

# Multiply-adds of one forward pass over all rows below which solver='lbfgs'
# runs every BLAS on one thread (``_threads.blas_on_one_thread``): measured here
# (2 cores), fits of 1.7M-13M such multiply-adds ran 3-7x faster serial.
LBFGS_SERIAL_WORK = 1 << 24
# Epochs a stochastic fit is expected to run per epoch of patience
# (``n_iter_no_change``), without and with early stopping (``_expected_epochs``).
EPOCHS_PER_PATIENCE = {False: 15, True: 8}

# The private method whose batch loop is replaced, in the form it has had since 1.7.
_EXPECTED_SIGNATURE = [
    "self", "X", "y", "sample_weight", "activations", "deltas", "coef_grads", "intercept_grads", "layer_units",
    "incremental",
]
_COMPATIBLE = list(inspect.signature(_SkMLPClassifier._fit_stochastic).parameters) == _EXPECTED_SIGNATURE


class _CompiledEpochs:
    """Mixin over scikit-learn's MLP estimators: compiled epochs for the stochastic solvers."""

    #: What the searches (``_search.py``) recognise fastbp's estimators by, without importing this module.
    _fastbp_network = True

    def to_onnx(self, path=None):
        """The fitted network's forward pass as an ONNX model (``fastbp.Network.to_onnx``):
        output ``Y`` is ``predict_proba`` for a multiclass classifier, the positive
        class's probability for a binary one, ``predict`` for a regressor."""
        from ..network import Network

        return Network.from_sklearn(self).to_onnx(path)

    def _fit_lbfgs(self, X, y, sample_weight, activations, deltas, coef_grads, intercept_grads, layer_units):
        args = (X, y, sample_weight, activations, deltas, coef_grads, intercept_grads, layer_units)
        if self._compiled_path_refusal() is not None:
            return super()._fit_lbfgs(*args)
        from .._threads import blas_on_one_thread

        work = X.shape[0] * sum(a * b for a, b in zip(layer_units[:-1], layer_units[1:]))
        compiled = self._tier(X, layer_units, ("batch_gradient", "forward"), self.max_iter, X.shape[0]) == "compiled"
        if compiled:
            self._full_batch = _flat.FullBatch(self, X, y, sample_weight, layer_units)
        try:  # scikit-learn's own loop too: the same serial code between short BLAS calls
            with blas_on_one_thread(provider_too=work < LBFGS_SERIAL_WORK):
                return super()._fit_lbfgs(*args)
        finally:
            self.__dict__.pop("_full_batch", None)

    def _loss_grad_lbfgs(self, packed_coef_inter, X, y, sample_weight, activations, deltas, coef_grads,
                         intercept_grads):
        full = getattr(self, "_full_batch", None)
        if full is None:  # scikit-learn's own path (the reference tier, poisson's exp output)
            return super()._loss_grad_lbfgs(packed_coef_inter, X, y, sample_weight, activations, deltas,
                                            coef_grads, intercept_grads)
        return full.loss_grad(packed_coef_inter, self.alpha)

    def _tier(self, X, layer_units, kernels, epochs: int, batch: int) -> str:
        """This fit's tier (``fastbp._tiers``), kept in ``fit_tier_``: ``'compiled'``,
        or ``'reference'``, which here is scikit-learn's own loop (the same steps),
        run while the kernels are not compiled and it is expected to finish
        sooner. fastbp's own activations have no such loop: they compile."""
        from .. import _tiers

        dtype = np.dtype(X.dtype if X.dtype in (np.float32, np.float64) else np.float64)
        estimate = _tiers.reference_seconds(layer_units, X.shape[0], epochs=epochs, batch_size=batch,
                                            dtype=dtype.name, stateful=True, stored=stored(X))
        own = self.activation not in _SKLEARN_HIDDEN
        with _tiers.tier("wait") if own else contextlib.nullcontext():
            choice = _tiers.choose(_tiers.variant(dtype, sp.issparse(X)), kernels, estimate)
        self.fit_tier_ = choice.tier
        return choice.tier

    def _expected_epochs(self) -> int:
        """The epochs a stochastic fit is expected to run: ``max_iter``, or
        fewer where the stopping rule ends it first (measured on scikit-learn's
        bundled data sets, standardised, defaults: early stopping on
        validation rows ended after 12-71 epochs, the training loss's rule
        after 130 to over 200, with ``n_iter_no_change=10``)."""
        per_patience = EPOCHS_PER_PATIENCE[bool(self.early_stopping)]
        return max(1, min(int(self.max_iter), per_patience * int(self.n_iter_no_change)))

    def _compiled_path_refusal(self) -> str | None:
        """Why this fit cannot run in compiled code, or None when it can; a
        ValueError when it must but cannot (one of fastbp's own activations)."""
        why = None
        if self.out_activation_ not in _OUTPUT:
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
        if (self._compiled_path_refusal() is not None
                or self._tier(X, layer_units, ("train_epoch_optim",), 1 if incremental else self._expected_epochs(),
                              batch) != "compiled"):
            return super()._fit_stochastic(
                X, y, sample_weight, activations, deltas, coef_grads, intercept_grads, layer_units, incremental
            )

        from .._threads import largest_product, num_threads

        with num_threads(None, largest_product(layer_units, batch)):  # one thread for small fits (_threads.py)
            return _stochastic.fit_stochastic(self, X, y, sample_weight, layer_units, incremental)

    def _forward_pass_fast(self, X, check_input=True):
        """The output activations (``predict``'s and ``predict_proba``'s) by
        the compiled ``forward`` (or, while it is not compiled and the call is
        small, its NumPy twin: ``fastbp._tiers``), dense or sparse ``X``;
        outputs fastbp has not (poisson's exp) by scikit-learn's own code."""
        if check_input:
            X = validate_data(self, X, accept_sparse=["csr", "csc"], reset=False)
        if self.out_activation_ in _OUTPUT:
            return _flat.forward(self, X)
        if self.activation in _SKLEARN_HIDDEN:
            return super()._forward_pass_fast(X, check_input=False)
        from .. import reference

        A = X
        for i, (W, b) in enumerate(zip(self.coefs_, self.intercepts_)):
            A = safe_sparse_dot(A, W)
            A += b
            if i < self.n_layers_ - 2:
                A = reference.activate(A, ACTIVATIONS[self.activation].code)  # elementwise: rows as columns
        from sklearn.neural_network._base import ACTIVATIONS as _SK_ACTIVATIONS

        _SK_ACTIVATIONS[self.out_activation_](A)
        return A


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


from ._search import GridSearchCV, RandomizedSearchCV  # noqa: E402  (they search over the estimators above)
