"""Numba's function cache over fastbp's chain of folders (``fastbp._cache``):
load from the first folder that holds an entry, save to the first writable."""
from __future__ import annotations

import functools
import hashlib
import logging
import os
import sys

from numba.core.caching import CompileResultCacheImpl, FunctionCache, IndexDataCacheFile

from ._cache import folders, writable_folder

log = logging.getLogger("fastbp")


class _Impl(CompileResultCacheImpl):
    """Numba's serialisation of compile results, without its locator search
    (which raises where no folder is writable)."""

    def __init__(self, py_func):  # noqa: D107 - deliberately not calling super().__init__
        self._lineno = py_func.__code__.co_firstlineno
        self._locator = None
        modname = os.path.splitext(os.path.basename(py_func.__code__.co_filename))[0]
        qualname = getattr(py_func, "__qualname__", py_func.__name__).replace("<", "").replace(">", "")
        self._filename_base = (f"{modname}.{qualname}-{self._lineno}.py{sys.version_info[0]}{sys.version_info[1]}"
                               f"{getattr(sys, 'abiflags', '')}")


class ChainedCache(FunctionCache):
    """A Numba function cache over :func:`folders`: load from the first that
    holds an entry, save to the first writable. ``stamp``: the source stamp
    every entry carries (a stale entry reads as absent)."""

    def __init__(self, py_func, variant: str, stamp):
        self._name = repr(py_func)
        self._py_func = py_func
        self._impl = _Impl(py_func)
        self._variant = variant
        self._files = [IndexDataCacheFile(cache_path=path, filename_base=self._impl.filename_base, source_stamp=stamp)
                       for _, path in folders(variant)]
        self._cache_file = self._files[0]
        self._cache_path = os.path.dirname(self._files[0]._index_path)
        self.enable()

    def _load_overload(self, sig, target_context):
        if not self._enabled:
            return None
        key = self._index_key(sig, target_context.codegen())
        for cache_file in self._files:
            try:
                data = cache_file.load(key)
            except Exception:  # an unreadable or foreign index: the next folder, or compile
                data = None
            if data is not None:
                return self._impl.rebuild(target_context, data)
        return None

    def _save_overload(self, sig, data):
        if not self._enabled or not self._impl.check_cachable(data):
            return
        path = writable_folder(self._variant)
        if path is None:
            return
        cache_file = next(f for f in self._files if os.path.dirname(f._index_path) == path)
        key = self._index_key(sig, data.codegen)
        try:
            cache_file.save(key, self._impl.reduce(data))
        except OSError as exc:  # a full disk, a folder made read-only since: the code still runs
            log.warning("fastbp: could not save compiled code in %s: %s", path, exc)
        except Exception as exc:  # noqa: BLE001 - an unreadable index (empty, truncated, garbage): start it afresh
            _rebuilt_index(cache_file._index_path, exc)
            try:
                cache_file.save(key, self._impl.reduce(data))
            except Exception as again:  # noqa: BLE001 - the code still runs; only its saving failed
                log.warning("fastbp: could not save compiled code in %s: %s", path, again)

    def holds(self, signature: tuple) -> bool:
        """Whether a folder holds code for exactly ``signature`` (a tuple of
        Numba types) that this process would load: for these sources (stamp
        and bytecode) and this CPU (a cache built on another machine's CPU is
        compiled again)."""
        code_hash = hashlib.sha256(self._py_func.__code__.co_code).hexdigest()
        for cache_file in self._files:
            try:
                index = cache_file._load_index()
            except Exception:
                continue
            if any(tuple(key[0]) == signature and key[1] == _magic_tuple() and key[2][0] == code_hash
                   for key in index):
                return True
        return False


def _rebuilt_index(index_path: str, why: BaseException) -> None:
    """Remove an index file Numba cannot read (its entries are then compiled
    and saved again), with one warning per file."""
    try:
        os.unlink(index_path)
    except OSError:
        pass
    log.warning("fastbp: the compiled-code cache index %s was unreadable (%s: %s) and is rebuilt: the kernels "
                "it listed compile once more", index_path, type(why).__name__, why)


@functools.lru_cache(maxsize=None)
def _magic_tuple() -> tuple:
    """The target triple, CPU name and features that Numba keys cache entries by."""
    from numba.core.registry import cpu_target

    return cpu_target.target_context.codegen().magic_tuple()
