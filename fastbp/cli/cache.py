"""``fastbp cache``: the compile cache's folders (``list``) and their removal
(``clear``), also what to run before ``pip uninstall fastbp``, which leaves
compiled code it did not install: the package's ``kernels/__pycache__``
subfolders written by ``fastbp compile``, and the user's cache folder."""
from __future__ import annotations

import os
import shutil

from .checks import UsageError


def _size(path: str) -> tuple[int, int]:
    """Files and bytes under ``path``."""
    files = size = 0
    for root, _, names in os.walk(path):
        for name in names:
            try:
                size += os.path.getsize(os.path.join(root, name))
                files += 1
            except OSError:
                pass
    return files, size


def _compiled(label: str, root: str) -> list[str]:
    """What fastbp wrote under a cache root: the root itself, except in the
    package's ``__pycache__``, where Python's own ``.pyc`` files stay (its
    subfolders, one per GEMM provider, and the worker's files go)."""
    if label != "package":
        return [root] if os.path.isdir(root) else []
    if not os.path.isdir(root):
        return []
    from .. import _worker

    return [os.path.join(root, name) for name in sorted(os.listdir(root))
            if os.path.isdir(os.path.join(root, name)) or name in (_worker.LOCK, _worker.LOG)]


def cmd_cache(args) -> int:
    from .. import _cache, _worker

    roots = _cache.folders("")
    if args.action == "list":
        for label, root in roots:
            paths = _compiled(label, root)
            files = size = 0
            for path in paths:
                f, s = _size(path) if os.path.isdir(path) else (1, os.path.getsize(path))
                files, size = files + f, size + s
            state = f"{files} files, {size / 1e6:.1f} MB" if paths else "empty"
            print(f"{label:<15} {root.rstrip(os.sep)} ({state})")
        print("fastbp cache clear removes them (those this user may write); the kernels then compile on next use")
        return 0
    removed = 0
    for label, root in roots:
        paths = _compiled(label, root)
        if not paths:
            continue
        folder = root.rstrip(os.sep)
        if not os.access(folder, os.W_OK):
            print(f"{label:<15} {folder}: read-only here, left as it is")
            continue
        lock = _worker._take_lock(folder)
        if lock is None:
            raise UsageError(f"a background compile is writing to {folder} (its log: "
                             f"{os.path.join(folder, _worker.LOG)}): clear the cache once it has ended")
        try:
            for path in paths:
                if os.path.isdir(path):
                    shutil.rmtree(path)
                elif os.path.basename(path) != _worker.LOCK:
                    os.unlink(path)
                removed += 1
            if os.path.exists(os.path.join(folder, _worker.LOCK)):  # held by this process: the last to go
                os.unlink(os.path.join(folder, _worker.LOCK))
        except OSError as exc:
            raise UsageError(f"cannot remove {path}: {exc.strerror or exc}") from None
        finally:
            if lock >= 0:
                os.close(lock)
        print(f"{label:<15} {folder}: cleared")
    if not removed:
        print("the compile cache is empty")
    return 0
