"""Where each layer's parameters and the epoch workspaces sit in flat buffers.

All of a network's parameters live in one flat array, ``[W1, b1, W2, b2, ...]``
with each ``W`` row-major ``(n_out, n_in)``: ``Network.weights`` are views into
it, the compiled epoch reads it with the same offsets, and one buffer is one
allreduce or one copy for a snapshot.
"""
from __future__ import annotations

import contextlib

import numpy as np

from ._codes import keeps_z


def n_params(sizes) -> int:
    """Number of scalars in the flat parameter buffer."""
    return sum(n_out * n_in + n_out for n_in, n_out in zip(sizes[:-1], sizes[1:]))


def param_views(params: np.ndarray, sizes, input_major: bool = False) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Views ``(weights, biases)`` into the flat parameter buffer, each weight
    ``(n_out, n_in)``. With ``input_major``, the first block is read as
    stored input-major (``input_major``): its view is a transposed one."""
    weights, biases = [], []
    off = 0
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        block = params[off : off + n_out * n_in]
        weights.append(block.reshape(n_in, n_out).T if input_major and off == 0 else block.reshape(n_out, n_in))
        off += n_out * n_in
        biases.append(params[off : off + n_out])
        off += n_out
    return weights, biases


def set_input_major(buffers, sizes, on: bool = True) -> None:
    """Store the first weight block of each flat buffer in ``buffers``
    (parameters, gradients, or optimizer state: any buffer a multiple of the
    parameters' length, each copy's block) input-major, ``W.T`` as
    ``(n_in, n_out)``, the layout the sparse kernels read (``kernels.sparse``);
    or, with ``on=False``, back to ``(n_out, n_in)``. One scratch block
    serves every transposition."""
    n_in, n_out = int(sizes[0]), int(sizes[1])
    P, m = n_params(sizes), n_in * n_out
    blocks = [buf[k * P : k * P + m] for buf in buffers if buf.size for k in range(buf.size // P)]
    if not blocks:
        return
    stored, wanted = ((n_out, n_in), (n_in, n_out)) if on else ((n_in, n_out), (n_out, n_in))
    scratch = np.empty(m, dtype=blocks[0].dtype)
    for block in blocks:
        scratch.reshape(wanted)[...] = block.reshape(stored).T
        block[...] = scratch


@contextlib.contextmanager
def input_major(buffers, sizes):
    """``set_input_major`` for the length of the block, restored on the way out, exception or not."""
    set_input_major(buffers, sizes)
    try:
        yield
    finally:
        set_input_major(buffers, sizes, on=False)


def forward_size(sizes, batch_size: int, acts) -> int:
    """Scalars the forward pass of ``batch_size`` rows needs: an activation
    block per layer, and a Z block for each layer whose activation keeps Z
    (``_codes.keeps_z``; activation codes ``acts``, one per layer)."""
    return batch_size * sum(n * (1 + keeps_z(int(a))) for n, a in zip(sizes[1:], acts))


def workspace_size(sizes, batch_size: int, acts, sparse: bool = False) -> int:
    """Scalars an epoch needs per batch: the gathered batch (X as rows and as
    columns, Y), a delta block per layer and ``forward_size``'s blocks. No gradient block:
    the fused SGD step writes the weight gradient straight into W, and the
    optimizers' gradients have their own flat buffer. ``sparse`` input is read
    in place: no X blocks (``kernels._input.input_width``)."""
    n_in = 0 if sparse else sizes[0]
    return batch_size * (2 * n_in + sizes[-1] + sum(sizes[1:])) + forward_size(sizes, batch_size, acts)


def packed_workspace_size(sizes, batch_size: int, members: int) -> int:
    """Scalars ``train_epoch_packed`` needs: the batch gathered once (X as rows
    and columns, Y), every member's first layer's Z, A and delta blocks, and
    per member the Z, A and delta blocks of each layer above it."""
    B, K = batch_size, members
    return B * (2 * sizes[0] + sizes[-1]) + 3 * K * sizes[1] * B + K * 3 * B * sum(sizes[2:])


def output_block(work: np.ndarray, sizes, batch_size: int, sparse: bool = False) -> np.ndarray:
    """The ``(n_out, batch_size)`` view of ``work`` where a batch's output
    activations (columns) are left by ``batch_gradient`` (kernel and twin):
    after the batch's blocks and its deltas, the last layer's activation block
    (``workspace_size``'s layout; ``kernels._views._batch_views``)."""
    B, L = batch_size, len(sizes) - 1
    n_in = 0 if sparse else sizes[0]
    off = B * (2 * n_in + sizes[-1] + sum(sizes[1:])) + B * sum(sizes[1:L])
    return work[off : off + sizes[-1] * B].reshape(sizes[-1], B)
