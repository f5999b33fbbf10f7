"""Run under ``mpiexec -n 2`` by tests/test_distributed.py: every scenario, each
rank writing what it saw to ``<out>/<scenario>.rank<r>.npz``.

A scenario that raises on a rank records the message instead; a rank left
waiting in a collective would hang the run, which the test's timeout turns
into a failure.
"""
import sys
import traceback

import numpy as np
from mpi4py import MPI

import fastbp
from fastbp import optimizers


def params_of(net):
    return np.concatenate([a.ravel() for a in net.weights + net.biases])

comm = MPI.COMM_WORLD
rank, size = comm.Get_rank(), comm.Get_size()
SIZES = [6, 9, 3]


def data(n=120, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, SIZES[0])), rng.integers(0, SIZES[-1], size=n)


def union_order(lengths, batch):
    """Row indices of the whole data in the order of the distributed steps,
    rank r owning rows r::size; and each step's union of shares."""
    shares = [batch // size + (r < batch % size) for r in range(size)]
    owned = [np.arange(r, lengths, size) for r in range(size)]
    steps = []
    k = 0
    while any(k * s < len(o) for s, o in zip(shares, owned)):
        steps.append(np.concatenate([o[k * s : (k + 1) * s] for s, o in zip(shares, owned)]))
        k += 1
    return steps


def scenario_equal_shards(Net=fastbp.Network, optimizer="nesterov", dtype="float64"):
    """``optimizer``: a name or an optimizer factory (one fresh object per fit)."""
    make = optimizer if callable(optimizer) else (lambda: optimizer)
    X, y = data()
    net = Net(SIZES, activation="tanh", dtype=dtype, seed=rank)  # rank 0's initial weights must win
    hist = net.fit(X[rank::size], y[rank::size], epochs=4, batch_size=12, lr=0.05, shuffle=False,
                   optimizer=make(), comm=comm)
    single = Net(SIZES, activation="tanh", dtype=dtype, seed=0)
    order = np.concatenate(union_order(len(X), 12))
    single_hist = single.fit(X[order], y[order], epochs=4, batch_size=12, lr=0.05, shuffle=False, optimizer=make())
    return dict(params=params_of(net), single=params_of(single), loss=hist["loss"], single_loss=single_hist["loss"])


def scenario_equal_shards_sgd_float32():
    return scenario_equal_shards(optimizer="sgd", dtype="float32")


def scenario_equal_shards_adam():
    return scenario_equal_shards(optimizer=lambda: optimizers.Adam(l2=1e-3))


def scenario_sparse():
    """Each rank's shard a CSR matrix (about half its entries zero), Adam: one
    process on the same rows, dense, takes the same steps."""
    import scipy.sparse as sp

    X, y = data()
    X[np.abs(X) < 0.7] = 0.0
    net = fastbp.Network(SIZES, activation="tanh", seed=rank)
    hist = net.fit(sp.csr_matrix(X[rank::size]), y[rank::size], epochs=4, batch_size=12, lr=0.01, shuffle=False,
                   optimizer="adam", comm=comm)
    single = fastbp.Network(SIZES, activation="tanh", seed=0)
    order = np.concatenate(union_order(len(X), 12))
    single_hist = single.fit(X[order], y[order], epochs=4, batch_size=12, lr=0.01, shuffle=False, optimizer="adam")
    return dict(params=params_of(net), single=params_of(single), loss=hist["loss"], single_loss=single_hist["loss"])


def scenario_reference_network():
    return scenario_equal_shards(Net=fastbp.reference.Network, optimizer="momentum")


def scenario_unequal_shards():
    """Rank 0 holds 47 rows, rank 1 holds 20: later steps are rank 0's alone."""
    X, y = data(67)
    mine = np.arange(67)[:47] if rank == 0 else np.arange(67)[47:]
    net = fastbp.Network(SIZES, activation="relu", seed=0)
    opt = optimizers.SGD(momentum=0.9)
    hist = net.fit(X[mine], y[mine], epochs=3, batch_size=10, lr=0.05, shuffle=False, optimizer=opt, comm=comm)
    # One process, one step per union of shares (5 rows from each rank while both last).
    single, single_opt = fastbp.Network(SIZES, activation="relu", seed=0), optimizers.SGD(momentum=0.9)
    owned = [np.arange(47), np.arange(47, 67)]
    losses = []
    for _ in range(3):
        total = 0.0
        for k in range(10):  # ceil(47 / 5) steps
            rows = np.concatenate([o[k * 5 : (k + 1) * 5] for o in owned])
            total += single.fit(X[rows], y[rows], epochs=1, batch_size=len(rows), lr=0.05, shuffle=False,
                                optimizer=single_opt)["loss"][0] * len(rows)
        losses.append(total / 67)
    return dict(params=params_of(net), single=params_of(single), loss=hist["loss"], single_loss=losses,
                steps=opt.step_count)


def scenario_shuffled():
    X, y = data()
    net = fastbp.Network(SIZES, seed=rank)
    hist = net.fit(X[rank::size], y[rank::size], epochs=3, batch_size=16, lr=0.1, optimizer="adam", comm=comm)
    ordered = fastbp.Network(SIZES, seed=rank)
    ordered.fit(X[rank::size], y[rank::size], epochs=3, batch_size=16, lr=0.1, optimizer="adam", comm=comm,
                shuffle=False)
    return dict(params=params_of(net), loss=hist["loss"], ordered=params_of(ordered))


def scenario_local_sgd_every_step_is_allreduce():
    """Plain SGD, equal shares, averaging after every step: the mean of the
    ranks' steps is the step on the mean gradient."""
    X, y = data()
    a, b = fastbp.Network(SIZES, seed=0), fastbp.Network(SIZES, seed=0)
    a.fit(X[rank::size], y[rank::size], epochs=2, batch_size=12, lr=0.1, shuffle=False, comm=comm, average_every=1)
    b.fit(X[rank::size], y[rank::size], epochs=2, batch_size=12, lr=0.1, shuffle=False, comm=comm)
    c = fastbp.Network(SIZES, seed=0)
    hist = c.fit(X[rank::size], y[rank::size], epochs=3, batch_size=12, lr=0.1, comm=comm, average_every=4)
    return dict(params=params_of(a), single=params_of(b), every4=params_of(c), loss=hist["loss"])


def _error(fn):
    try:
        fn()
    except ValueError as exc:
        return dict(error=str(exc), kind=type(exc).__name__)
    return dict(error="")


def scenario_bad_width_on_rank_1():
    X, y = data()
    mine = X[rank::size] if rank == 0 else X[rank::size, :5]
    return _error(lambda: fastbp.Network(SIZES, seed=0).fit(mine, y[rank::size], comm=comm))


def scenario_nan_on_rank_1():
    X, y = data()
    mine = X[rank::size].copy()
    if rank == 1:
        mine[3, 2] = np.nan
    return _error(lambda: fastbp.Network(SIZES, seed=0).fit(mine, y[rank::size], comm=comm))


def scenario_different_lr_on_rank_1():
    X, y = data()
    return _error(lambda: fastbp.Network(SIZES, seed=0).fit(X[rank::size], y[rank::size], lr=0.1 + rank, comm=comm))


def scenario_other_networks_optimizer_on_rank_1():
    """An optimizer object holding another network's state, on rank 1 only."""
    X, y = data()
    opt = optimizers.SGD(momentum=0.9)
    if rank == 1:
        fastbp.Network([6, 4, 3], seed=0).fit(X[:10], y[:10], epochs=1, optimizer=opt)
    return _error(lambda: fastbp.Network(SIZES, seed=0).fit(X[rank::size], y[rank::size], optimizer=opt, comm=comm))


# Failures injected on rank 1 at each point that can fail before training's
# collectives: (owner.attribute, replacement), the owner a module of fastbp or fastbp.Network.
def _raise(exc):
    def fail(*args, **kwargs):
        raise exc

    return fail


INJECTED = {
    "resolve": ("optimizers.resolve", _raise(ValueError("injected: optimizer"))),
    "threads": ("training.loop.check_fit", _raise(ValueError("injected: threads"))),
    "workspace": ("_layout.workspace_size", _raise(MemoryError("injected: workspace"))),
    "kernels": ("Network._kernels", staticmethod(_raise(ImportError("injected: kernels")))),
}


def _injected(point):
    import importlib

    owner_path, fn = INJECTED[point]
    owner_name, attr = owner_path.rsplit(".", 1)
    owner = fastbp.Network if owner_name == "Network" else importlib.import_module(f"fastbp.{owner_name}")
    X, y = data()
    original = vars(owner)[attr] if isinstance(owner, type) else getattr(owner, attr)  # keeps a staticmethod
    if rank == 1:
        setattr(owner, attr, fn)
    try:
        return _error(lambda: fastbp.Network(SIZES, seed=0).fit(X[rank::size], y[rank::size], threads=1,
                                                                 optimizer="adam", comm=comm))
    finally:
        setattr(owner, attr, original)


def scenario_injected_resolve():
    return _injected("resolve")


def scenario_injected_threads():
    return _injected("threads")


def scenario_injected_workspace():
    return _injected("workspace")


def scenario_injected_kernels():
    return _injected("kernels")


def scenario_weighted():
    """Per-row weights (and a class weight dict): each step the weighted mean over the union of the shares."""
    X, y = data()
    w = np.random.default_rng(7).uniform(0, 2, size=len(X))
    cw = {0: 2.0, 2: 0.5}
    net = fastbp.Network(SIZES, activation="tanh", seed=0)
    hist = net.fit(X[rank::size], y[rank::size], epochs=3, batch_size=12, lr=0.05, shuffle=False, optimizer="adam",
                   sample_weight=w[rank::size], class_weight=cw, comm=comm)
    order = np.concatenate(union_order(len(X), 12))
    single = fastbp.Network(SIZES, activation="tanh", seed=0)
    single_hist = single.fit(X[order], y[order], epochs=3, batch_size=12, lr=0.05, shuffle=False, optimizer="adam",
                             sample_weight=w[order], class_weight=cw)
    return dict(params=params_of(net), single=params_of(single), loss=hist["loss"], single_loss=single_hist["loss"])


def scenario_validation_and_early_stopping():
    """Each rank scores its own validation rows; the history holds the global
    values, and every rank stops at the same epoch with the best parameters."""
    X, y = data()
    Xv, yv = data(40, seed=3)
    kw = dict(epochs=30, batch_size=12, lr=0.05, shuffle=False, patience=2, min_delta=0.02, restore_best=True,
              lr_schedule="cosine")
    net = fastbp.Network(SIZES, activation="tanh", seed=0)
    hist = net.fit(X[rank::size], y[rank::size], validation_data=(Xv[rank::size], yv[rank::size]), comm=comm, **kw)
    order = np.concatenate(union_order(len(X), 12))
    single = fastbp.Network(SIZES, activation="tanh", seed=0)
    single_hist = single.fit(X[order], y[order], validation_data=(Xv, yv), **kw)
    return dict(params=params_of(net), single=params_of(single), loss=hist["loss"], single_loss=single_hist["loss"],
                val_loss=hist["val_loss"], single_val_loss=single_hist["val_loss"],
                val_accuracy=hist["val_accuracy"], single_val_accuracy=single_hist["val_accuracy"])


def scenario_validation_on_one_rank_only():
    """Ranks that disagree on validation are refused alike, not left waiting."""
    X, y = data()
    net = fastbp.Network(SIZES, seed=0)
    try:
        net.fit(X[rank::size], y[rank::size], epochs=2, comm=comm, validation_split=0.2 if rank == 1 else 0.0)
    except ValueError as exc:
        return dict(error=str(exc), kind=type(exc).__name__)
    return dict(error="no error", kind="none")


def scenario_balanced_class_weight():
    """'balanced' would count one shard's classes: refused on every rank alike."""
    X, y = data()
    try:
        fastbp.Network(SIZES, seed=0).fit(X[rank::size], y[rank::size], epochs=1, comm=comm, class_weight="balanced")
    except ValueError as exc:
        return dict(error=str(exc), kind=type(exc).__name__)
    return dict(error="no error", kind="none")


def scenario_batch_larger_than_all_data():
    """batch_size 2**40 is the whole data (as in one process), not a 2**40-row allocation."""
    X, y = data()
    a = fastbp.Network(SIZES, seed=0)
    a.fit(X[rank::size], y[rank::size], epochs=2, batch_size=2**40, lr=0.1, shuffle=False, comm=comm)
    b = fastbp.Network(SIZES, seed=0)
    b.fit(X[rank::size], y[rank::size], epochs=2, batch_size=len(X), lr=0.1, shuffle=False, comm=comm)
    return dict(params=params_of(a), whole=params_of(b))


def _fails_on_rank_1_in_epoch_2(what):
    """A fit whose ``what`` (callback, schedule) fails on rank 1 alone, after training has started."""
    X, y = data()

    def callback(epoch, history):
        if rank == 1 and epoch == 1:
            raise RuntimeError("injected: callback")

    def lr_schedule(epoch):
        if rank == 1 and epoch == 1:
            return float("nan") if what == "schedule_value" else 1 / 0
        return 0.05

    kw = {"callback": callback} if what == "callback" else {"lr_schedule": lr_schedule}
    kw["validation_split"] = 0.2
    return _error(lambda: fastbp.Network(SIZES, seed=0).fit(X[rank::size], y[rank::size], epochs=4, comm=comm, **kw))


def scenario_during_training_callback():
    return _fails_on_rank_1_in_epoch_2("callback")


def scenario_during_training_schedule_raises():
    return _fails_on_rank_1_in_epoch_2("schedule_raises")


def scenario_during_training_schedule_value():
    return _fails_on_rank_1_in_epoch_2("schedule_value")


def scenario_after_errors_training_still_works():
    """No rank was left behind in a collective by the errors above."""
    X, y = data()
    net = fastbp.Network(SIZES, seed=0)
    net.fit(X[rank::size], y[rank::size], epochs=1, comm=comm)
    return dict(params=params_of(net))


def main(out):
    names = sorted(n for n in globals() if n.startswith("scenario_"))
    names.remove("scenario_after_errors_training_still_works")
    for name in names + ["scenario_after_errors_training_still_works"]:
        try:
            result = globals()[name]()
        except Exception:  # recorded, so the test shows it
            result = dict(crash=traceback.format_exc())
        np.savez(f"{out}/{name[len('scenario_'):]}.rank{rank}.npz", **{k: np.asarray(v) for k, v in result.items()})
        comm.Barrier()


if __name__ == "__main__":
    main(sys.argv[1])
