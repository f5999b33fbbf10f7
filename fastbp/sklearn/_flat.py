"""The bridges between a scikit-learn MLP and fastbp's flat buffers: the
stochastic solvers' epochs (:class:`FlatNet`) and the L-BFGS objective
(:class:`FullBatch`), both on the compiled kernels."""
from __future__ import annotations

import numpy as np
from sklearn.neural_network._stochastic_optimizers import AdamOptimizer, SGDOptimizer

from .. import _interop, _layout
from .._sparse import as_csr, is_sparse, kernel_input, stored
from ..activations import ACTIVATIONS
from ..losses import LOSSES
from ..optimizers import SGD, Adam, pack
from ..outputs import BY_SKLEARN_NAME
from ..training.runners import Slices

# scikit-learn's activation names -> fastbp's: its four, then fastbp's own.
SKLEARN_HIDDEN, HIDDEN = _interop.SKLEARN_OWN_HIDDEN, _interop.SKLEARN_HIDDEN
# scikit-learn's optimizer -> (fastbp's specification, its state lists in state-copy order).
OPTIMIZERS = {SGDOptimizer: (SGD, ("velocities",)), AdamOptimizer: (Adam, ("ms", "vs"))}


def codes_of(est, n_layers: int):
    """The kernels' activation codes (one per layer) and loss array of a fitted estimator."""
    output = BY_SKLEARN_NAME[est.out_activation_]  # scikit-learn's loss is the output's default
    hidden = ACTIVATIONS[HIDDEN[est.activation]].code
    return (np.array([hidden] * (n_layers - 1) + [output.activation.code], dtype=np.int64),
            LOSSES[output.default_loss]().pack())


def flat_params(est, dtype, input_major: bool = False) -> tuple[list[int], np.ndarray]:
    """A fitted estimator's layer widths and parameters in fastbp's flat layout, of ``dtype``
    (the first block ``input_major`` for sparse input: ``_layout.set_input_major``)."""
    units = [est.coefs_[0].shape[0]] + [c.shape[1] for c in est.coefs_]
    params = np.empty(_layout.n_params(units), dtype=dtype)
    for W, b, coef, intercept in zip(*_layout.param_views(params, units, input_major), est.coefs_,
                                     est.intercepts_):
        W[...] = coef.T  # scikit-learn keeps (n_in, n_out); fastbp (n_out, n_in)
        b[...] = intercept
    return units, params


#: Rows per ``forward`` call in prediction: bounds the workspace, whatever the data's size.
PREDICT_CHUNK = 4096


def as_input(X, dtype):
    """Rows for the kernels: dense as C-contiguous ``dtype``, sparse as a checked CSR matrix of ``dtype``."""
    return as_csr(X, X.shape[1], dtype) if is_sparse(X) else np.ascontiguousarray(X, dtype=dtype)


def forward(est, X) -> np.ndarray:
    """``est``'s output activations for rows ``X``, dense or sparse (what
    scikit-learn's ``_forward_pass_fast`` returns), by ``forward`` on the tier
    ``fastbp._tiers`` chooses."""
    from .. import _tiers

    dtype = np.result_type(X.dtype, est.coefs_[0].dtype)
    dtype = np.dtype(dtype if dtype in (np.float32, np.float64) else np.float64)
    X = as_input(X, dtype)
    units, params = flat_params(est, dtype, is_sparse(X))
    acts, _ = codes_of(est, len(units) - 1)
    sizes = np.array(units, dtype=np.int64)
    n = X.shape[0]
    out = np.empty((n, units[-1]), dtype=dtype)
    chunk = max(1, min(PREDICT_CHUNK, n))
    work = np.empty(_layout.forward_size(units, chunk, acts), dtype=dtype)
    choice = _tiers.choose(_tiers.variant(dtype, is_sparse(X)), ("forward",),
                           _tiers.reference_seconds(units, n, training=False, stored=stored(X)))
    for start in range(0, n, chunk):
        choice.backend.forward(kernel_input(X[start:start + chunk]), params, sizes, acts, work,
                               out[start:start + chunk])
    return out


class FullBatch:
    """The L-BFGS objective scikit-learn's ``_loss_grad_lbfgs`` computes (its
    loss, L2 term and gradient, over every row, in its packed layout, with
    ``sample_weight``'s weighted means), from the compiled ``batch_gradient``
    summed over chunks of rows, dense or sparse."""

    CHUNK = 2048  # rows per batch_gradient call: bounds the workspace, whatever the data's size

    def __init__(self, est, X, y, sample_weight, layer_units):
        self.units = [int(n) for n in layer_units]
        self.sizes = np.array(self.units, dtype=np.int64)
        self.dtype = np.dtype(X.dtype if X.dtype in (np.float32, np.float64) else np.float64)
        n = X.shape[0]
        self.sparse = is_sparse(X)
        self.X = kernel_input(as_input(X, self.dtype))
        self.Y = np.ascontiguousarray(np.asarray(y).reshape(n, -1), dtype=self.dtype)
        self.sample_weight = sample_weight
        # scikit-learn's divisor: the weights' sum, or the row count.
        self.divisor = float(n) if sample_weight is None else float(np.sum(sample_weight))
        self.weights = (np.zeros(0, self.dtype) if sample_weight is None
                        else np.ascontiguousarray(sample_weight, dtype=self.dtype))
        self.acts, self.loss = codes_of(est, len(self.units) - 1)
        # The loss as scikit-learn computes it (its clipping of probabilities at
        # machine epsilon, squared_error averaged over the outputs too): L-BFGS's
        # line search must see its values to take its steps.
        from sklearn.neural_network._base import LOSS_FUNCTIONS

        name = "binary_log_loss" if est.loss == "log_loss" and est.out_activation_ == "logistic" else est.loss
        self.sk_loss = LOSS_FUNCTIONS[name]
        # Outputs and targets as columns (n_out, n): the outputs are copied from
        # batch_gradient's columns block row by row; scikit-learn's loss reads
        # both through .T views (its sums and means do not care about order).
        self.out_cols = np.empty((self.Y.shape[1], self.Y.shape[0]), dtype=self.dtype)
        self.Y_cols = np.ascontiguousarray(self.Y.T)
        P = _layout.n_params(self.units)
        self.params = np.empty(P, dtype=self.dtype)
        self.grad = np.empty(P, dtype=self.dtype)
        self.total = np.empty(P, dtype=np.float64)
        chunk = min(self.CHUNK, n)
        self.work = np.empty(_layout.workspace_size(self.units, chunk, self.acts, self.sparse), dtype=self.dtype)
        self.rows = [np.arange(s, min(s + chunk, n), dtype=np.int64) for s in range(0, n, chunk)]
        # packed[order] is fastbp's flat layout: coefs (n_in, n_out) row-major, then intercepts.
        # (For sparse rows fastbp's first block is input-major too: the kernels' layout.)
        order = np.empty(P, dtype=np.int64)
        ours_W, ours_b = _layout.param_views(order, self.units, self.sparse)
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
        from ..kernels import batch_gradient

        n = self.divisor
        self.params[...] = packed[self.order]
        self.total[...] = 0.0
        for rows in self.rows:
            batch_gradient(self.X, self.Y, rows, self.params, self.sizes, self.acts, self.loss, self.grad, self.work,
                           self.weights)
            self.total += self.grad
            # The outputs batch_gradient computed, left in its workspace: no second forward pass.
            self.out_cols[:, rows[0]:rows[-1] + 1] = _layout.output_block(self.work, self.units, rows.shape[0],
                                                                          self.sparse)
        weights = self.params[self.is_weight].astype(np.float64)
        loss = (self.sk_loss(self.Y_cols.T, self.out_cols.T, self.sample_weight)
                + 0.5 * alpha * float(weights @ weights) / n)
        self.total[self.is_weight] += alpha * weights
        self.total /= n
        out = np.empty(packed.shape[0], dtype=np.float64)
        out[self.order] = self.total
        return loss, out


class FlatNet:
    """An estimator's parameters and optimizer state in fastbp's flat layout,
    for the length of one fit call.

    ``coefs_``/``intercepts_`` are replaced by views of the flat buffer, so
    scikit-learn's per-epoch code (validation scores, best-weight copies)
    sees every step with no copying.
    """

    def __init__(self, est, layer_units, dtype, batch_size, opt, sparse: bool = False):
        self.layer_units = [int(n) for n in layer_units]
        self.sizes = np.array(self.layer_units, dtype=np.int64)
        self.dtype = np.dtype(dtype)
        n = _layout.n_params(layer_units)
        self.params = np.empty(n, dtype=self.dtype)
        # Sparse rows: the first block input-major, the sparse kernels' layout,
        # which is also scikit-learn's (n_in, n_out): coefs_[0] is C-ordered then.
        self.sparse = sparse
        weights, biases = _layout.param_views(self.params, layer_units, sparse)
        for W, b, coef, intercept in zip(weights, biases, est.coefs_, est.intercepts_):
            W[...] = coef.T
            b[...] = intercept
        est.coefs_ = [W.T for W in weights]
        est.intercepts_ = list(biases)
        self.acts, self.loss = codes_of(est, len(layer_units) - 1)
        self.grad = np.empty(n, dtype=self.dtype)
        self.work = np.empty(_layout.workspace_size(self.layer_units, batch_size, self.acts, sparse),
                             dtype=self.dtype)
        self.slices = Slices(self.layer_units)  # the epoch in slices, Ctrl-C answered between them
        self.state = self._load_state(opt)

    def _load_state(self, opt):
        """Flat state from the scikit-learn optimizer's per-parameter lists
        (velocities, or first and second moments), ordered coefs + intercepts."""
        spec, names = OPTIMIZERS[type(opt)]
        L = len(self.sizes) - 1
        P = self.params.size
        state = np.empty(spec.state_copies * P, dtype=self.dtype)
        for k, name in enumerate(names):
            weights, biases = _layout.param_views(state[k * P : (k + 1) * P], self.layer_units, self.sparse)
            per_param = getattr(opt, name)
            for l in range(L):
                weights[l][...] = per_param[l].T
                biases[l][...] = per_param[L + l]
        return state

    def store_optimizer_state(self, opt):
        """Hand the state back to the scikit-learn optimizer (its own
        orientation): views of the flat state, no copy (its update makes new
        arrays; it never writes into these)."""
        P = self.params.size
        for k, name in enumerate(OPTIMIZERS[type(opt)][1]):
            weights, biases = _layout.param_views(self.state[k * P : (k + 1) * P], self.layer_units, self.sparse)
            setattr(opt, name, [W.T for W in weights] + list(biases))

    def epoch(self, X, Y, perm, batch_size, opt, alpha, weights=None):
        """One compiled epoch on rows ``X`` (dense, or a checked CSR matrix);
        returns (mean data loss, mean L2 penalty), each as scikit-learn's
        ``loss_`` has it: with per-row ``weights``, the mean over rows of each
        batch's weighted mean, and the L2 term divided by each batch's weight sum."""
        from ..kernels import train_epoch_optim

        perm = perm.astype(np.int64, copy=False)
        if weights is not None:
            sums = np.add.reduceat(weights[perm].astype(np.float64), np.arange(0, perm.shape[0], batch_size))
            if not sums.all():  # where scikit-learn's weighted mean (np.average) raises
                raise ZeroDivisionError("Weights sum to zero, can't be normalized")
        spec = OPTIMIZERS[type(opt)][0]
        if spec is Adam:
            lr, step = opt.learning_rate_init, opt.t
        else:  # the schedule's current rate; SGD keeps no step count
            lr, step = opt.learning_rate, 0
        hyper = pack(spec, lr, 0.0, alpha, {name: getattr(opt, name) for name, _, _ in spec.params})
        inputs, row_weights = kernel_input(X), self.grad[:0] if weights is None else weights

        def call(rows):
            nonlocal step
            results = train_epoch_optim(inputs, Y, rows, batch_size, self.params, self.sizes, self.acts, self.loss,
                                        spec.code, hyper, step, self.state, self.grad, self.work, row_weights)
            taken = -(-rows.shape[0] // batch_size)
            step += taken
            if spec is Adam:  # its step count, as the finished batches left it (Ctrl-C between slices)
                opt.t += taken
            return results

        loss, penalty, batch_means = self.slices.run(call, perm, batch_size, row_weights)
        return float(loss if weights is None else batch_means), float(penalty)
