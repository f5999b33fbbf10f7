"""Where each layer's parameters and the epoch workspaces sit in flat buffers.

All of a network's parameters live in one flat array, ``[W1, b1, W2, b2, ...]``
with each ``W`` row-major ``(n_out, n_in)``: ``Network.weights`` are views into
it, the compiled epoch reads it with the same offsets, and one buffer is one
allreduce or one copy for a snapshot.
"""
from __future__ import annotations

import numpy as np


def n_params(sizes) -> int:
    """Number of scalars in the flat parameter buffer."""
    return sum(n_out * n_in + n_out for n_in, n_out in zip(sizes[:-1], sizes[1:]))


def param_views(params: np.ndarray, sizes) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Views ``(weights, biases)`` into the flat parameter buffer."""
    weights, biases = [], []
    off = 0
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        weights.append(params[off : off + n_out * n_in].reshape(n_out, n_in))
        off += n_out * n_in
        biases.append(params[off : off + n_out])
        off += n_out
    return weights, biases


def workspace_size(sizes, batch_size: int) -> int:
    """Scalars ``train_epoch`` needs: the gathered batch (X and Y rows) and an
    activation block and a delta block per layer. No dW block: the fused SGD
    update writes the weight gradient straight into W."""
    return batch_size * (sizes[0] + sizes[-1] + 2 * sum(sizes[1:]))
