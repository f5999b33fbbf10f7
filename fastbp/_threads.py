"""One setting for the threads of the BLAS the kernels call.

No kernel runs its own loops on several threads: the threads that run are
the BLAS's (every compiler option lives in ``_jit.py``). ``set_num_threads`` sets every BLAS threadpoolctl
sees (the GEMM provider's, NumPy's, SciPy's), so none of them
oversubscribes the others.

Policy: a product too small to gain from threads is never split. Below
``M*N*K`` = 2**19 (OpenBLAS's own threshold for a second thread) the kernels
multiply in their register tiles on the calling thread (``kernels/_tiles.py``:
there a second BLAS thread gained nothing and the tiles beat the BLAS); from
there on the BLAS splits the product over its threads, which gained 1.3-1.9x
on 2 cores (docs/design.md, *Small layers*). The rule depends on shapes only,
so results do not depend on the thread count through it.

A whole fit whose largest product stays below :data:`SERIAL_FIT_WORK`
multiply-adds runs the provider's BLAS on one thread (``num_threads(n,
largest_product)``): such products gain little from a second thread on an
idle machine, and where another process holds a core, OpenBLAS's threads
wait for each other at every call, and small fits ran several times slower
than on one thread (docs/performance.md, *A busy machine*). The user's count
(``threads=``, ``set_num_threads``) stays the upper bound; larger fits use
it whole. GEMM results do not depend on the thread count (each element of C
is summed by one thread), so neither do trained weights.
"""
from __future__ import annotations

import contextlib
import os
import threading

from ._validation import check_threads, cpu_count

_blas_limiter = None

#: Multiply-adds of a fit's largest product (batch x fan-in x fan-out) below
#: which the fit runs its BLAS on one thread (measured: docs/performance.md).
SERIAL_FIT_WORK = 1 << 20


def largest_product(sizes, batch: int) -> int:
    """Multiply-adds of the largest product of an epoch of ``sizes`` at ``batch`` rows."""
    return int(batch) * max(int(a) * int(b) for a, b in zip(sizes[:-1], sizes[1:]))


_provider_controller = None


def _provider_limits(n: int):
    """threadpoolctl's limit on the provider's BLAS alone, from a controller
    made once (a fresh one scans every loaded library: most of a millisecond,
    a visible share of a small fit); None where threadpoolctl cannot see it."""
    global _provider_controller
    from threadpoolctl import ThreadpoolController

    from .kernels import _blas

    if _blas.PROVIDER.library is None:
        return None
    if _provider_controller is None:
        mine = os.path.realpath(_blas.PROVIDER.library)
        found = ThreadpoolController()
        chosen = [lib.filepath for lib in found.lib_controllers
                  if lib.user_api == "blas" and os.path.realpath(lib.filepath) == mine]
        _provider_controller = found.select(filepath=chosen) if chosen else False
    if not _provider_controller:
        return None
    return _provider_controller.limit(limits=n)

# BLAS thread counts are process-wide (openblas_set_num_threads sets a global),
# so fits running at once in several Python threads share one setting: the
# first to start sets it, the last to finish restores it, and a fit that asks
# for another count meanwhile is refused (its result would depend on timing).
_state = threading.Lock()
_running = 0  # fits inside num_threads blocks
_running_count: int | None = None  # the count they asked for (None: the setting as it was)
_restore = None  # the threadpoolctl limiter that restores the setting afterwards


def set_num_threads(n: int) -> None:
    """Use ``n`` threads in fastbp's kernels: those of every BLAS threadpoolctl sees.

    Parameters
    ----------
    n : int
        From 1 to the number of CPUs this process may run on.

    Raises
    ------
    ValueError
        If ``n`` is out of that range, or a ``fit`` is running in this process
        (BLAS threads are process-wide), as ``fit(threads=)`` refuses another count then.
    """
    global _blas_limiter
    n = check_threads(n)
    from threadpoolctl import threadpool_limits

    from .kernels import _blas  # noqa: F401  (loads the provider's BLAS, so the limit reaches it)

    with _state:
        if _running:
            raise ValueError(
                f"set_num_threads({n}) while {_running} fit(s) run in this process would change their "
                "thread count mid-training (BLAS threads are process-wide); call it before or after them"
            )
        _blas_limiter = threadpool_limits(limits=n, user_api="blas")


def get_num_threads() -> int:
    """Threads the GEMMs of fastbp's kernels use.

    Returns
    -------
    int
        The count of the GEMM provider's BLAS as threadpoolctl reads it; 1
        for the compiled-loop GEMM provider; the CPUs available where the
        BLAS is one threadpoolctl cannot see (Accelerate), whose own choice
        fastbp cannot change either.
    """
    from .kernels import _blas

    n = _blas.threads()
    return cpu_count() if n is None else n


def _describe(n: int | None) -> str:
    return "the thread setting as it was (threads=None)" if n is None else f"threads={n}"


@contextlib.contextmanager
def num_threads(n: int | None, largest_product: int | None = None):
    """Within the block, use ``n`` threads (``None``: leave the setting alone),
    or one where ``largest_product`` (multiply-adds) is below :data:`SERIAL_FIT_WORK`.

    Blocks may overlap in several Python threads when they ask for the same
    ``n``; the setting is restored when the last one ends. Asking for another
    ``n`` while one runs is a ValueError: the count is process-wide, and
    results would depend on which fit ran when. The first block's size rule
    holds for blocks that start while it runs (it only changes speed).
    """
    global _running, _running_count, _restore
    n = None if n is None else check_threads(n)
    serial = largest_product is not None and largest_product < SERIAL_FIT_WORK
    with _state:
        if _running and n != _running_count:
            raise ValueError(
                f"fit with {_describe(n)} while another fit in this process runs with {_describe(_running_count)}: "
                "BLAS threads are process-wide, so concurrent fits must use the same threads= "
                "(or set it once with fastbp.set_num_threads)"
            )
        if not _running and (n is not None or serial):
            if serial:
                _restore = _provider_limits(1)
            if n is not None and (not serial or _restore is None):
                from threadpoolctl import threadpool_limits

                _restore = threadpool_limits(limits=n, user_api="blas")
        _running_count = n
        _running += 1
    try:
        yield
    finally:
        with _state:
            _running -= 1
            if not _running and _restore is not None:
                _restore.restore_original_limits()
                _restore = None


@contextlib.contextmanager
def blas_on_one_thread(provider_too: bool):
    """BLAS libraries on one thread for the length of the block: every one
    threadpoolctl sees but the GEMM provider's, and the provider's too when
    ``provider_too`` and no fit of this process holds a thread setting.

    For SciPy's L-BFGS-B around fastbp's objective: its serial code and
    SciPy's own BLAS (a second OpenBLAS in the PyPI wheels, whose vectors are
    the network's parameters, far too short for threads) alternate with
    fastbp's products at every iteration, and OpenBLAS's worker threads, which
    spin for a while after each call, took the two cores from the serial part.
    Small problems are faster with every BLAS serial (docs/guide.md, *scikit-learn
    estimators*); large ones keep the provider's threads for their products.
    """
    from threadpoolctl import ThreadpoolController

    from .kernels import _blas

    controller = ThreadpoolController()  # made afresh: a library loaded since must be seen too
    mine = os.path.realpath(_blas.PROVIDER.library) if _blas.PROVIDER.library else None
    with _state:
        provider_too = provider_too and not _running
    chosen = [lib.filepath for lib in controller.lib_controllers
              if lib.user_api == "blas" and (provider_too or os.path.realpath(lib.filepath) != mine)]
    if not chosen:
        yield
        return
    with controller.select(filepath=chosen).limit(limits=1):
        yield
