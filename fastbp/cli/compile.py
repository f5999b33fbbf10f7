"""``fastbp compile``: compile the kernels ahead of use (a Docker image's build
step, a CI cache, a conda post-link script), and ``--background``, the
low-priority worker that ``fastbp._tiers`` starts while a call runs on the
reference.
"""
from __future__ import annotations

import os
import sys
import time

from .checks import UsageError

def _optimizer_kernels() -> dict[str, str]:
    """``--optimizers`` names -> the epoch kernel each runs (plain SGD its own, the rest one)."""
    from ..optimizers import NAMES

    return {name: "train_epoch" if name == "sgd" else "train_epoch_optim" for name in NAMES}


#: ``--optimizers`` names -> the epoch kernel each runs.
OPTIMIZER_KERNELS = _optimizer_kernels()


def _megabytes(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


def selected_kernels(args) -> list[str]:
    """The kernels ``args`` ask for: ``--kernels``, else the defaults with the
    epoch kernels narrowed to ``--optimizers``."""
    from .._warmup import DEFAULT

    if args.kernels:
        return list(dict.fromkeys(args.kernels))
    names = list(DEFAULT)
    if args.optimizers:
        epochs = {OPTIMIZER_KERNELS[o] for o in args.optimizers}
        names = [k for k in names if k not in OPTIMIZER_KERNELS.values() or k in epochs]
    return names


def cmd_compile(args) -> int:
    if args.provider:
        if "fastbp.kernels" in sys.modules:  # pragma: no cover - the command imports no kernel before here
            raise UsageError("--provider must be chosen before the kernels are imported")
        os.environ["FASTBP_BLAS"] = args.provider
    if args.background:
        return _background(args.background)
    names = selected_kernels(args)
    from .. import _cache, _jit, _tiers, kernels

    _cache.write_package_first()  # on purpose: the installation's own folder, read by every user
    variant = _jit.cache_variant()
    folder, writable = kernels.cache_folder()
    if not writable:
        print("warning: no writable cache folder: the kernels compile now but are not kept; set NUMBA_CACHE_DIR "
              "to a writable folder", file=sys.stderr)
    total = time.process_time()
    for dtype in args.dtype:
        for name in names:
            ready = _jit.is_ready(getattr(kernels, name), _tiers.signature(name, dtype))
            t = time.process_time()
            _tiers.warm(dtype, [name], quiet=True)
            what = "loaded from the cache" if ready else "compiled"
            print(f"{dtype:<8} {name:<18} {what} ({time.process_time() - t:.1f} s CPU)", flush=True)
    print(f"done in {time.process_time() - total:.1f} s CPU")
    for row in _cache.summary(variant):
        if row["path"] == folder:
            print(f"cache: {row['path']} ({row['entries']} entries, {_megabytes(row['bytes'])})")
    return 0


def _background(specs: list[str]) -> int:
    """The background worker (``fastbp._worker``, which starts it at the
    lowest priority): holding the cache folder's worker lock (another worker holding it: leave
    at once), compile what each ``KEY:KERNEL,KERNEL`` spec names that is
    still missing, after any compile under way in this cache."""
    from .. import _jit, _tiers, _worker, kernels

    with _worker.holding_the_folder() as mine:
        if not mine:
            print("another worker is compiling in this cache folder: leaving it to that one", flush=True)
            return _worker.DEFERRED
        print(f"fastbp compile --background, process {os.getpid()}: {' '.join(specs)}", flush=True)
        for spec in specs:
            key, _, names = spec.partition(":")
            for name in names.split(","):
                if _jit.is_ready(getattr(kernels, name), _tiers.signature(name, key)):
                    continue
                t = time.process_time()
                _tiers.warm(key, [name], quiet=True)
                print(f"{key} {name}: compiled in {time.process_time() - t:.1f} s CPU", flush=True)
        print("done", flush=True)
    return 0
