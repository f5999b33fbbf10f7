"""Tiered execution: run a call on the NumPy reference while the kernels it
needs are not compiled yet, and compile them in the background.

Compiling the kernels a fit needs takes seconds of CPU (docs/performance.md,
*First-use compile*, has the figure); the reference
(``fastbp.reference``, the same arithmetic in NumPy, tested equal within
floating-point rounding) needs no compile. For each call, :func:`choose`
picks one tier for the whole call, never switching in the middle:

- ``"compiled"``: the kernels, loaded from the cache or already compiled in
  this process; or compiled now, in the foreground, where the call is
  expected to take longer on the reference than the compile takes;
- ``"reference"``: the NumPy twins, while a separate low-priority process
  (``fastbp compile --background``, one at a time per cache) fills the cache
  for the next call.

The setting (:func:`set_tier`, :func:`tier`, environment variable
``FASTBP_TIER``): ``"auto"`` (the default, as above), ``"wait"`` (always the
kernels, compiled in the foreground: bit for bit what a compiled run gives)
and ``"reference"`` (always the reference; nothing is compiled).

The two estimates (:func:`reference_seconds`, :data:`COMPILE_SECONDS`) are
measured rates, deliberately on the slow side for the reference, so a long
call compiles: docs/design.md, *Tiered execution*, says how they were taken.
"""
from __future__ import annotations

import contextlib
import logging
import math
import os
import sys
import threading
from dataclasses import dataclass
from typing import Callable, Iterator, Sequence

from ._variants import variant  # noqa: F401  (the tier keys: callers name them as _tiers.variant)

log = logging.getLogger("fastbp")

TIERS = ("auto", "wait", "reference")
ENV = "FASTBP_TIER"

#: CPU seconds to compile each top-level kernel (with its callees) from an
#: empty cache, per dtype, on a 2-core AMD EPYC (Zen 4), rounded up; a call
#: needing several pays roughly the largest plus a little (they share callees).
COMPILE_SECONDS = {
    "train_epoch": 15.0,
    "train_epoch_optim": 18.0,
    "train_epoch_packed": 16.0,
    "forward": 8.0,
    "loss_value": 1.0,
    "batch_gradient": 12.0,
    "apply_update": 4.0,
}

#: Reference-tier rates (seconds): per multiply-add of one row through one
#: layer in a training step (forward and backward), per layer per batch step,
#: per parameter per step for optimizers with state, and the forward pass
#: alone. Taken from ``fastbp.reference`` fits on 64-32-10 and 784-256-128-10
#: networks, batch 1 to 200 (2 BLAS threads), rounded up.
_TRAIN_MAC = {"float32": 0.8e-9, "float64": 1.1e-9}
_FORWARD_MAC = 0.2e-9
_LAYER_STEP = 70e-6
_PARAM_STEP = 6e-9
_FORWARD_LAYER = 25e-6
#: Sparse X (SciPy CSR products): per stored value times the first layer's
#: width, and per first-layer parameter per step (the reference forms the
#: first layer's gradient, and updates it, densely). From CSR fits of 5,000
#: to 100,000 columns, 0.1-2 % stored, batch 32-200, rounded up.
_SPARSE_MAC = 5e-9
_SPARSE_PARAM_STEP = {"float32": 5e-9, "float64": 9e-9}


def _check(name: str, where: str) -> str:
    if name not in TIERS:
        raise ValueError(f"{where} must be one of {', '.join(TIERS)}, got {name!r}")
    return name


_setting: str | None = None
_local = threading.local()


def get_tier() -> str:
    """The tier setting in force: ``'auto'``, ``'wait'`` or ``'reference'``.

    A :func:`tier` context in this thread wins over :func:`set_tier`, which
    wins over the environment variable ``FASTBP_TIER`` (default ``'auto'``).
    """
    pinned = getattr(_local, "pinned", None)
    if pinned:
        return pinned[-1]
    if _setting is not None:
        return _setting
    return _check(os.environ.get(ENV, "auto").strip().lower() or "auto", f"the environment variable {ENV}")


def set_tier(name: str) -> None:
    """Choose how calls run when their kernels are not compiled yet.

    Parameters
    ----------
    name : {'auto', 'wait', 'reference'}
        ``'auto'``: small calls run on the NumPy reference while the kernels
        compile in the background, large ones compile first; ``'wait'``:
        always compile first (bit for bit the compiled results);
        ``'reference'``: always the NumPy reference.
    """
    global _setting
    _setting = _check(name, "the tier")


@contextlib.contextmanager
def tier(name: str) -> Iterator[None]:
    """A ``with`` block in which this thread's calls use tier setting ``name`` (see :func:`set_tier`)."""
    _check(name, "the tier")
    stack = getattr(_local, "pinned", None)
    if stack is None:
        stack = _local.pinned = []
    stack.append(name)
    try:
        yield
    finally:
        stack.pop()


# -- the estimates ----------------------------------------------------------------

def _macs(sizes: Sequence[int]) -> int:
    return sum(int(a) * int(b) for a, b in zip(sizes[:-1], sizes[1:]))


def reference_seconds(sizes: Sequence[int], rows: int, *, epochs: int = 1, batch_size: int | None = None,
                      dtype: str = "float64", stateful: bool = False, training: bool = True,
                      stored: int | None = None) -> float:
    """Expected seconds of a call on the reference: ``epochs`` passes over
    ``rows`` rows of a network of ``sizes``, in steps of ``batch_size`` rows
    (training), or one forward pass (``training=False``). ``stored``: the
    number of values stored in a sparse X (the first layer is costed by
    them, not by ``rows * sizes[0]``)."""
    layers = len(sizes) - 1
    dense_macs = _macs(sizes) if stored is None else _macs(sizes[1:])
    sparse_macs = 0 if stored is None else int(stored) * int(sizes[1])
    if not training:
        return (rows * dense_macs * _FORWARD_MAC + sparse_macs * _SPARSE_MAC) + layers * _FORWARD_LAYER
    steps = epochs * math.ceil(rows / max(1, min(batch_size or rows, rows or 1)))
    params = sum(int(a) * int(b) + int(b) for a, b in zip(sizes[:-1], sizes[1:]))
    seconds = (epochs * rows * dense_macs * _TRAIN_MAC.get(dtype, _TRAIN_MAC["float64"])
               + steps * layers * _LAYER_STEP + (steps * params * _PARAM_STEP if stateful else 0.0))
    if stored is not None:
        first = int(sizes[0]) * int(sizes[1])
        seconds += epochs * sparse_macs * _SPARSE_MAC + steps * first * _SPARSE_PARAM_STEP.get(dtype, 9e-9)
    return seconds


def compile_seconds(kernels: Sequence[str]) -> float:
    """Expected CPU seconds to compile ``kernels`` (names in ``fastbp.kernels``)."""
    costs = sorted((COMPILE_SECONDS[k] for k in kernels), reverse=True)  # every top-level kernel has one
    return costs[0] + 0.25 * sum(costs[1:]) if costs else 0.0


# -- the choice -------------------------------------------------------------------

@dataclass(frozen=True)
class Choice:
    """How a call runs: ``tier`` is ``'compiled'`` or ``'reference'``;
    ``how`` says more: ``'in memory'``, ``'loaded'`` (from the cache),
    ``'compiled'`` (in the foreground, this call) or ``'reference'``."""

    tier: str
    how: str
    backend: object

    def describe(self) -> str:
        """A few words for progress reports."""
        return {"in memory": "compiled kernels", "loaded": "compiled kernels, loaded from the cache",
                "compiled": "compiled kernels, compiled for this call",
                "reference": "the NumPy reference (kernels compiling in the background)"}[self.how]


#: Said once per process (logger ``fastbp``, WARNING) by the first call that
#: runs on the reference because its kernels are not compiled yet; the
#: command, which reports the tier of its own calls, turns it off (``note_reference``).
REFERENCE_NOTE = ("running on the NumPy reference while kernels compile in the background; results equal "
                  "within rounding; `fastbp.set_tier('wait')` to wait")
note_reference = True
_noted_reference = False
_in_memory: set = set()  # (kernel, dtype) compiled or loaded in this process
_IN_MEMORY_CHOICE: list = []
_announced: set = set()
_warming = threading.local()


def _reference_choice() -> Choice:
    from . import _twins  # the reference's functions, without its Network front end

    return Choice("reference", "reference", _twins)


def signature(kernel: str, key: str) -> tuple:
    """The exact argument types of ``kernel`` for the tier key ``key``
    (``fastbp.kernels._signatures``, the one table of them)."""
    from ._variants import signature as of

    return of(kernel, key)


def choose(dtype, kernels: Sequence[str], reference_estimate: float, *, also: Sequence[tuple[str, Sequence[str]]] = (),
           distributed: bool = False, say: Callable[[str], None] | None = None) -> Choice:
    """The tier of one call that runs ``kernels`` on arrays of ``dtype``.

    Parameters
    ----------
    dtype : numpy dtype or str, or a ``variant`` key (``float64-sparse``)
    kernels : names in ``fastbp.kernels`` the call runs.
    reference_estimate : the call's expected seconds on the reference (:func:`reference_seconds`).
    also : ``(key, kernels)`` the call runs for another variant too (a fit's
        validation data of the other kind, sparse or dense): chosen, and
        compiled, with the rest.
    distributed : every rank must run the same tier: the kernels, unless the setting is 'reference'.
    say : also tell this function (a progress report) before compiling in the foreground.

    Missing kernels of a compiled choice are compiled before it returns
    (:func:`warm`: under the cache's lock, so a compile under way in another
    process is waited for and loaded, not repeated).
    """
    dtype = getattr(dtype, "name", str(dtype))
    setting = get_tier()
    if setting == "reference":
        return _reference_choice()
    needs = [(k, dtype) for k in kernels] + [(k, key) for key, names in also for k in names]
    if all(pair in _in_memory for pair in needs):  # the common case, in microseconds
        return _IN_MEMORY_CHOICE[0]
    from . import _cache, _worker

    if "fastbp.kernels" not in sys.modules and _cache.nothing_cached():
        compiled, missing = None, needs  # an empty cache: known without importing Numba and the kernels
    else:
        from . import _jit
        from . import kernels as compiled

        missing = [(k, key) for k, key in needs if not _jit.is_ready(getattr(compiled, k), signature(k, key))]
    if not missing or getattr(_warming, "on", False):
        loaded = any(_missing_in_memory(compiled, [k], key) for k, key in needs)
        if not loaded:
            _in_memory.update(needs)
            _IN_MEMORY_CHOICE[:] = [Choice("compiled", "in memory", compiled)]
        return Choice("compiled", "loaded" if loaded else "in memory", compiled)
    if (setting == "auto" and not distributed and reference_estimate < compile_seconds([k for k, _ in missing])
            and not _worker.given_up()):
        _worker.request(_background_jobs(dtype, kernels, also))
        _note_reference(say)
        return _reference_choice()
    for key in dict.fromkeys(key for _, key in missing):
        warm(key, [k for k, of in missing if of == key], say=say)
    from . import kernels as compiled

    return Choice("compiled", "compiled", compiled)


def _background_jobs(dtype: str, kernels: Sequence[str], also) -> list[tuple[str, list[str]]]:
    """What a background worker compiles for a call: its kernels and the
    prediction kernels (``forward``, ``loss_value``: what usually comes next)."""
    jobs = {dtype: list(dict.fromkeys([*kernels, "forward", "loss_value"]))}
    for key, names in also:
        jobs[key] = list(dict.fromkeys([*jobs.get(key, []), *names]))
    return list(jobs.items())


def _note_reference(say) -> None:
    """Log :data:`REFERENCE_NOTE` once per process, unless a progress report
    (``say``) or the command tells the user which tier runs."""
    global _noted_reference
    if say is None and note_reference and not _noted_reference:
        _noted_reference = True
        log.warning("fastbp: %s", REFERENCE_NOTE)


def _missing_in_memory(compiled, kernels, key) -> bool:
    """Whether any of ``kernels`` is not compiled or loaded in this process for ``key``."""
    return any(signature(k, key) not in getattr(compiled, k).overloads for k in kernels)


def announce(dtype: str, kernels: Sequence[str]) -> str:
    """The one message said before compiling in the foreground (logged once
    per dtype and kernel set by :func:`warm`); returned for the command's stderr."""
    seconds = compile_seconds(kernels)
    return (f"compiling fastbp's kernels for {dtype}: first use only, about {seconds:.0f} s; "
            "`fastbp compile` does this ahead of time")


def warm(dtype: str, kernels: Sequence[str], *, quiet: bool = False, say: Callable[[str], None] | None = None) -> None:
    """Compile (or load) ``kernels`` for ``dtype`` now, holding the cache's
    compile lock: another process compiling them is waited for, then its
    result is loaded. Logs :func:`announce` (logger ``fastbp``, level
    WARNING, so that it shows without any logging set up) once per dtype and
    kernel set, and tells ``say`` (instead of the log where logging is not
    set up, so that the line shows once)."""
    from . import _cache, _interrupts, _jit, _warmup
    from . import kernels as compiled

    key = (dtype, tuple(sorted(kernels)))
    if not quiet and key not in _announced:
        _announced.add(key)
        # Where logging is not set up, the log would print the line that ``say`` prints.
        if say is None or log.hasHandlers():
            log.warning("%s", announce(dtype, kernels))
    if say is not None:
        say(announce(dtype, kernels))
    # A compile under way elsewhere is waited for (then loaded), but not for
    # ever: a starved low-priority holder must not stall this process.
    # Ctrl-C is held over each kernel's compile (it can be lost inside LLVM) and answered after it.
    with _cache.compile_lock(_jit.cache_variant(), timeout=max(60.0, 3 * compile_seconds(kernels))), \
            _interrupts.held(f"the compile of fastbp's {dtype} kernels") as interrupted:
        _warming.on = True
        try:
            for name in kernels:
                if interrupted:
                    break
                if _missing_in_memory(compiled, [name], dtype):
                    _warmup.run(name, dtype)
        finally:
            _warming.on = False


def wait_for_background(timeout: float = 600.0) -> bool:
    """Wait for the background compiles this process started; True if all ended."""
    from . import _worker

    return _worker.wait(timeout)
