"""Where fastbp's compiled code is kept: a chain of folders, read in order,
written to the first writable one.

Numba's own cache takes the first folder it can *write* (``NUMBA_CACHE_DIR``,
``__pycache__`` beside the source, a user-wide folder) and reads only that
one: a cache built as root inside a read-only package (a Dockerfile step)
is never read by another user, and where no folder is writable Numba raises
at the first call. fastbp's kernels use :class:`ChainedCache` instead:

1. ``NUMBA_CACHE_DIR`` (``/fastbp-<package hash>``), when set;
2. the package's own ``kernels/__pycache__``, read even when read-only
   (where ``fastbp compile`` run at image build leaves it);
3. the user's cache folder (``~/.cache/fastbp/<package hash>`` on Linux).

Each in a subfolder per GEMM provider (``_jit.set_cache_variant``). Loading
takes the first folder that holds the signature for the current sources.
Saving goes to the first writable of ``NUMBA_CACHE_DIR``, the user's folder,
the package's: an ordinary run leaves nothing in the installed package (so
``pip uninstall`` removes it whole); ``fastbp compile`` puts the package's
folder first (:func:`write_package_first`), on purpose, for every user. With none writable, kernels
compile in every process and one warning (logger ``fastbp``) names
``NUMBA_CACHE_DIR``. Writes are Numba's (a temporary file, then a rename),
so concurrent writers cannot corrupt an entry; :func:`compile_lock` lets
one process wait for another's compile instead of repeating it.
"""
from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
import os
import sys
import tempfile
import threading
import time


log = logging.getLogger("fastbp")

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
_PACKAGE_KEY = "fastbp-" + hashlib.sha1(_PACKAGE_DIR.encode()).hexdigest()[:12]
LOCK_NAME = "compile.lock"


def numba_cache_dir() -> str:
    """``NUMBA_CACHE_DIR`` as Numba reads it (its config, once Numba is imported), or ''."""
    if "numba" in sys.modules:
        from numba.core import config

        return config.CACHE_DIR
    return os.environ.get("NUMBA_CACHE_DIR", "")


def _user_cache_root() -> str:
    if sys.platform.startswith("linux"):  # Numba's appdirs' rule, without importing Numba
        root = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
        return os.path.join(root, "fastbp", _PACKAGE_KEY)
    from numba.misc.appdirs import AppDirs

    return os.path.join(AppDirs(appname="fastbp", appauthor=False).user_cache_dir, _PACKAGE_KEY)


def folders(variant: str) -> list[tuple[str, str]]:
    """``(label, path)`` of every cache folder for ``variant``, in lookup order
    (``variant`` '': the folders' roots, which hold one subfolder per variant)."""
    out = []
    if numba_cache_dir():
        out.append(("NUMBA_CACHE_DIR", os.path.join(numba_cache_dir(), _PACKAGE_KEY, variant)))
    out.append(("package", os.path.join(_PACKAGE_DIR, "kernels", "__pycache__", variant)))
    out.append(("user", os.path.join(_user_cache_root(), variant)))
    return out


def nothing_cached() -> bool:
    """Whether no cache folder holds compiled code for any variant: found
    without importing Numba, so that a first call from an empty cache does
    not pay for that import to learn that nothing is there."""
    for _, root in folders(""):
        try:
            names = os.listdir(root)
        except OSError:
            continue
        for name in names:
            sub = os.path.join(root, name)
            try:
                if any(f.endswith(".nbi") for f in (os.listdir(sub) if os.path.isdir(sub) else [name])):
                    return False
            except OSError:
                return False  # unreadable: not known to be empty
    return True


def is_writable(path: str) -> bool:
    """Whether ``path`` exists or can be made, and a file can be written in it."""
    try:
        os.makedirs(path, exist_ok=True)
        tempfile.TemporaryFile(dir=path).close()
        return True
    except OSError:
        return False


_package_first = False


def write_package_first(first: bool = True) -> None:
    """Save new code in the package's own folder when it is writable
    (``fastbp compile``: an image's build step fills it for every user)."""
    global _package_first
    _package_first = first
    writable_folder.cache_clear()


def write_order(variant: str) -> list[str]:
    """The folders new code may be saved in, in the order they are tried."""
    paths = dict(folders(variant))
    labels = ["NUMBA_CACHE_DIR", "package", "user"] if _package_first else ["NUMBA_CACHE_DIR", "user", "package"]
    return [paths[label] for label in labels if label in paths]


@functools.lru_cache(maxsize=None)
def writable_folder(variant: str) -> str | None:
    """The folder new code for ``variant`` is saved in, or None when none is writable."""
    for path in write_order(variant):
        if is_writable(path):
            return path
    log.warning(
        "fastbp: no writable folder for compiled kernels (the package's __pycache__ and the user's cache "
        "folder are read-only): kernels compile in every process; set NUMBA_CACHE_DIR to a writable folder"
    )
    return None


def summary(variant: str) -> list[dict]:
    """For ``fastbp info``/``compile``: each folder's label, path, whether it
    exists and is writable, its entries (``.nbc`` files) and bytes."""
    rows = []
    for label, path in folders(variant):
        files = os.listdir(path) if os.path.isdir(path) else []
        data = [f for f in files if f.endswith(".nbc")]
        size = sum(os.path.getsize(os.path.join(path, f)) for f in files if f.endswith((".nbc", ".nbi")))
        writable = os.path.isdir(path) and os.access(path, os.W_OK) or (
            not os.path.exists(path) and _creatable(path))
        rows.append(dict(label=label, path=path, exists=os.path.isdir(path), writable=bool(writable),
                         entries=len(data), bytes=size))
    return rows


def _creatable(path: str) -> bool:
    parent = path
    while not os.path.exists(parent):
        up = os.path.dirname(parent)
        if up == parent:
            return False
        parent = up
    return os.path.isdir(parent) and os.access(parent, os.W_OK | os.X_OK)


# -- one compile at a time per cache --------------------------------------------

_held = threading.local()


def try_lock(fd: int | None) -> bool | None:
    """Take the exclusive file lock of descriptor ``fd`` without waiting:
    True if taken, False if another open file holds it; None where the
    platform has no file locks (``fd`` None only asks that). The lock is
    released when the file is closed (by every process holding a copy)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        return None
    if fd is None:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


@contextlib.contextmanager
def compile_lock(variant: str, wait: bool = True, timeout: float = 900.0):
    """Hold the writable cache folder's compile lock; yields whether it is held.

    ``wait=False`` yields False at once when another process holds it (the
    background compile then leaves). Waiting is bounded by ``timeout``: a
    stuck holder delays, never blocks, a compile: after it the block runs
    without the lock, yields False, and says so once on the ``fastbp``
    logger. Reentrant in a thread (an inner block yields what the outer
    holds). Where no folder is writable or the platform has no ``fcntl``
    there is no lock to hold (False): concurrent compiles are then only
    duplicated work, since entries are written by rename.
    """
    if getattr(_held, "depth", 0):
        _held.depth += 1
        try:
            yield _held.got
        finally:
            _held.depth -= 1
        return
    path = writable_folder(variant)
    if path is None or try_lock(None) is None:
        yield False
        return
    with open(os.path.join(path, LOCK_NAME), "a+b") as handle:  # closing it releases the lock
        deadline = time.monotonic() + timeout
        while not (got := try_lock(handle.fileno())) and wait and time.monotonic() <= deadline:
            time.sleep(0.1)
        if not got and not wait:
            yield False
            return
        if not got:
            log.warning("fastbp: another process has held the compile lock in %s for over %.0f s; compiling "
                        "without it (at worst the same kernels compile twice)", path, timeout)
        _held.depth, _held.got = 1, got
        try:
            yield got
        finally:
            _held.depth = 0
