"""Data-parallel training over MPI: ``Network.fit(X_local, y_local, ..., comm=comm)``.

Each rank holds its own shard of the rows. ``batch_size`` is the global batch:
rank ``r`` of ``N`` takes ``batch_size // N`` rows (one more for the first
``batch_size % N`` ranks) from its shard at each step, in its own (shuffled or
stored) order. The compiled ``batch_gradient`` sums the gradient over those
rows into a flat buffer that also carries the summed loss and the row count;
one in-place ``Allreduce`` adds the ranks' buffers; ``apply_update`` divides by
the total row count and steps. So every rank applies the mean over the union
of the step's rows, which is what one process would apply to that union as one
batch. A rank whose shard is exhausted contributes zero rows; an epoch lasts
until every shard is.

Every rank starts from rank 0's parameters (and optimizer state) and, since
all apply the same arithmetic to the same sums, stays equal to it; rank 0's
parameters are broadcast again at the end of each epoch, so ranks agree bit
for bit even under an MPI whose reductions could differ between ranks.

``average_every=k`` switches to local SGD: each rank steps on its own share
with its own optimizer state, and the parameters are averaged over ranks
every ``k`` steps and at the end of each epoch.

Errors are collective: each rank checks its arguments and data, then all ranks
exchange the outcome, and if any rank failed every rank raises the same
``ValueError`` naming it, before any collective of training is entered.
"""
from __future__ import annotations

import numpy as np

from . import _layout, optimizers
from ._codes import HYPER_ALPHA, HYPER_L2, PLAIN_SGD
from ._threads import _cpu_count, check_threads, num_threads
from ._validation import check_learning_rate, check_positive_int

MPI_EXTRA = "pip install 'fastbp[mpi]' (mpi4py and an MPI library: the mpich wheel, with mpiexec)"


def _mpi():
    try:
        from mpi4py import MPI
    except ImportError:
        raise ImportError(f"fit(comm=...) needs mpi4py and an MPI library: {MPI_EXTRA}") from None
    return MPI


def check_comm(comm):
    """The mpi4py module, once ``comm`` is known to be an intracommunicator."""
    MPI = _mpi()
    if not isinstance(comm, MPI.Intracomm):
        raise ValueError(
            f"comm must be an mpi4py intracommunicator such as mpi4py.MPI.COMM_WORLD, got {type(comm).__name__}"
        )
    return MPI


def agree(comm, error: BaseException | None) -> None:
    """Collective: if any rank has an error, every rank raises the same ValueError naming it."""
    message = None if error is None else str(error)
    messages = comm.allgather(message)
    failed = [(r, m) for r, m in enumerate(messages) if m is not None]
    if failed:
        r, m = failed[0]
        more = f" (and {len(failed) - 1} other rank(s))" if len(failed) > 1 else ""
        raise ValueError(f"rank {r} of {comm.Get_size()}{more}: {m}")


def threads_per_rank(comm, MPI) -> int:
    """The cores of this machine shared out over the ranks running on it: more
    threads than that would make BLAS and MPI spin against each other (digits,
    2 ranks with 2 threads each on 2 cores: 0.10 s an epoch instead of 0.002)."""
    local = comm.Split_type(MPI.COMM_TYPE_SHARED)
    try:
        ranks_here = local.Get_size()
    finally:
        local.Free()
    return max(1, _cpu_count() // ranks_here)


def _settings(net, epochs, batch_size, lr, shuffle, opt, average_every):
    """What every rank must have alike, as comparable text."""
    return (
        f"network {net!r}, epochs={epochs}, batch_size={batch_size}, lr={lr}, shuffle={shuffle}, "
        f"optimizer={opt!r}, average_every={average_every}"
    )


def _checked(comm, step):
    """Collective: run ``step()`` on every rank; if it fails on any rank (any
    exception: a bad argument, MemoryError, a bug), every rank raises the same
    ValueError naming that rank. Returns ``step()``'s result."""
    result, error = None, None
    try:
        result = step()
    except Exception as exc:  # noqa: BLE001 - shared with every rank, then raised
        error = exc if isinstance(exc, ValueError) else ValueError(f"{type(exc).__name__}: {exc}")
    agree(comm, error)
    return result


def fit(net, X, y, *, comm, epochs, batch_size, lr, shuffle, verbose, optimizer, threads, on_divergence, average_every):
    """``BaseNetwork.fit`` over the ranks of ``comm``; see the module docstring.

    Three agreed phases come before any collective of training: each rank's
    own checks; the settings against rank 0's and the shard lengths; the
    buffers (optimizer state, workspace). Anything that fails in them fails
    on every rank alike, so no rank is left waiting in a collective.
    """
    MPI = check_comm(comm)
    rank, size = comm.Get_rank(), comm.Get_size()

    def local_checks():
        if on_divergence not in ("raise", "warn"):
            raise ValueError(f"on_divergence must be 'raise' or 'warn', got {on_divergence!r}")
        n_epochs = check_positive_int(epochs, "epochs")
        batch = check_positive_int(batch_size, "batch_size")
        rate = check_learning_rate(lr)
        every = None if average_every is None else check_positive_int(average_every, "average_every")
        if threads is not None:
            check_threads(threads)
        opt = optimizers.resolve(optimizer)
        if not opt.is_plain_sgd:
            opt.state_for(net._params.size, net.dtype)  # another network's optimizer fails here
        XY = net._XY(X, y)
        return n_epochs, batch, rate, every, opt, XY

    epochs, batch_size, lr, average_every, opt, (X, Y) = _checked(comm, local_checks)
    settings = _settings(net, epochs, batch_size, lr, shuffle, opt, average_every)
    reference = comm.bcast(settings, root=0)
    agree(comm, None if settings == reference else ValueError(
        f"fit arguments differ from rank 0's: {settings} against {reference}"))
    lengths = comm.allgather(X.shape[0])
    # As in one process, a batch larger than the data is the whole data.
    batch_size = min(batch_size, sum(lengths))
    if batch_size < size:  # the same on every rank: all raise it
        raise ValueError(f"batch_size ({batch_size}, at most the {sum(lengths)} rows of all shards) "
                         f"must be at least the number of ranks ({size})")
    shares = [batch_size // size + (r < batch_size % size) for r in range(size)]
    n_steps = max(-(-n // s) for n, s in zip(lengths, shares))
    share = shares[rank]
    P = net._params.size

    def buffers():
        state = np.empty(0, dtype=net.dtype) if opt.is_plain_sgd else opt.state_for(P, net.dtype)
        work = np.empty(_layout.workspace_size(net.sizes, share), dtype=net.dtype)
        buf = np.empty(P + 2, dtype=net.dtype)  # gradient sums, then loss sum and row count
        return state, work, buf, net._kernels()

    state, work, buf, kernels = _checked(comm, buffers)
    comm.Bcast(net._params, root=0)  # every rank starts from rank 0's parameters
    if opt.is_plain_sgd:
        code, hyper = PLAIN_SGD, opt.hyper(lr)
    else:
        code, hyper = opt.code, opt.hyper(lr)
        comm.Bcast(state, root=0)
        opt.step_count = comm.bcast(opt.step_count, root=0)
    local_sgd = average_every is not None
    if threads is None:
        threads = threads_per_rank(comm, MPI)

    history: dict[str, list[float]] = {"loss": []}
    with num_threads(threads):
        for epoch in range(epochs):
            perm = net._rng.permutation(X.shape[0]) if shuffle else np.arange(X.shape[0])
            perm = perm.astype(np.int64, copy=False)
            restore = net._snapshot(opt)
            args = (X, Y, perm, share, n_steps, net, kernels, code, hyper, state, opt, buf, work)
            if local_sgd:
                loss = _local_sgd_epoch(comm, MPI, average_every, *args)
            else:
                loss = _allreduce_epoch(comm, MPI, *args)
            comm.Bcast(net._params, root=0)
            # Every rank holds the same parameters and global loss, so all decide alike.
            if not net._end_epoch(loss, epoch, epochs, lr, restore, history, on_divergence, verbose and rank == 0,
                                  stacklevel=4):
                break
    return history


def _allreduce_epoch(comm, MPI, X, Y, perm, share, n_steps, net, kernels, code, hyper, state, opt, buf, work):
    """One epoch, one Allreduce of the gradient sums per step; returns the global mean loss (+ L2)."""
    P = net._params.size
    grad = buf[:P]
    total = penalty = rows_seen = 0.0
    for k in range(n_steps):
        rows = perm[k * share : (k + 1) * share]
        buf[P] = kernels.batch_gradient(
            X, Y, rows, net._params, net._size_codes, net._act_codes, net._loss_code, grad, work
        )
        buf[P + 1] = rows.shape[0]
        comm.Allreduce(MPI.IN_PLACE, buf, op=MPI.SUM)
        count = int(round(float(buf[P + 1])))
        total += float(buf[P])
        rows_seen += count
        sumsq = kernels.apply_update(net._params, grad, count, net._size_codes, code, hyper, opt.step_count, state)
        opt.step_count += 1
        penalty += 0.5 * (hyper[HYPER_ALPHA] + hyper[HYPER_L2] * count) * sumsq
    return float((total + penalty) / rows_seen)


def _local_sgd_epoch(comm, MPI, every, X, Y, perm, share, n_steps, net, kernels, code, hyper, state, opt, buf, work):
    """One epoch of local SGD: own steps on own rows, parameters averaged every
    ``every`` steps and at the end; returns the global mean loss (+ L2)."""
    P = net._params.size
    grad = buf[:P]
    size = comm.Get_size()
    sums = np.zeros(2)  # loss (+ penalty) and rows, summed over ranks at the end
    for k in range(n_steps):
        rows = perm[k * share : (k + 1) * share]
        if rows.shape[0]:
            sums[0] += kernels.batch_gradient(
                X, Y, rows, net._params, net._size_codes, net._act_codes, net._loss_code, grad, work
            )
            sumsq = kernels.apply_update(
                net._params, grad, rows.shape[0], net._size_codes, code, hyper, opt.step_count, state
            )
            opt.step_count += 1
            sums[0] += 0.5 * (hyper[HYPER_ALPHA] + hyper[HYPER_L2] * rows.shape[0]) * sumsq
            sums[1] += rows.shape[0]
        if (k + 1) % every == 0 or k == n_steps - 1:
            comm.Allreduce(MPI.IN_PLACE, net._params, op=MPI.SUM)
            net._params *= net.dtype.type(1.0 / size)
    comm.Allreduce(MPI.IN_PLACE, sums, op=MPI.SUM)
    return float(sums[0] / sums[1])
