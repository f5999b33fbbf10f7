"""Model files: an ``.npz`` archive of the parameters plus JSON metadata.

No pickle anywhere: ``load`` reads with ``allow_pickle=False`` and never runs
code from a file. ``save`` writes a temporary file beside the target and
moves it into place in one ``os.replace``, so a crash or a full disk leaves
any previous file intact.
"""
from __future__ import annotations

import json
import os
import tempfile
import zipfile

import numpy as np

FORMAT = "fastbp-model"
FORMAT_VERSION = 1


def write_model(path, meta: dict, weights, biases) -> None:
    """Atomically write ``meta`` and the parameter arrays to ``path``."""
    path = os.fspath(path)
    arrays = {"meta": np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)}
    for i, (W, b) in enumerate(zip(weights, biases)):
        arrays[f"W{i}"] = W
        arrays[f"b{i}"] = b
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, _file_mode(path))
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _file_mode(path: str) -> int:
    """Keep an existing file's permissions; else the umask's default (mkstemp uses 0600)."""
    try:
        return os.stat(path).st_mode & 0o777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def read_model(path) -> tuple[dict, list[np.ndarray], list[np.ndarray]]:
    """Read and check a model file; return ``(meta, weights, biases)``.

    Raises
    ------
    FileNotFoundError
        If there is no such file.
    ValueError
        Naming the file, if it is empty, truncated, not a fastbp model, of an
        unknown format version, or its arrays do not match its metadata.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"no model file at {path!r}")

    def bad(why: str) -> ValueError:
        return ValueError(f"{path!r} is not a valid fastbp model file: {why}")

    try:
        archive = np.load(path, allow_pickle=False)
        if not isinstance(archive, np.lib.npyio.NpzFile):
            raise bad("it holds a single array, not a model archive")
        with archive:
            arrays = {name: archive[name] for name in archive.files}
    except ValueError as exc:
        if "not a valid fastbp model file" in str(exc):
            raise
        raise bad(f"unreadable archive ({exc})") from None
    except (OSError, EOFError, zipfile.BadZipFile, KeyError) as exc:
        raise bad(f"unreadable archive ({type(exc).__name__}: {exc})") from None

    for name, arr in arrays.items():
        if not isinstance(arr, np.ndarray) or arr.dtype.kind not in "uif":
            raise bad(f"entry {name!r} is not a numeric array")
    if "meta" not in arrays:
        raise bad("no 'meta' entry")
    try:
        meta = json.loads(arrays.pop("meta").tobytes().decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise bad(f"metadata is not JSON ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise bad("metadata does not name the fastbp-model format")
    if meta.get("format_version") != FORMAT_VERSION:
        raise bad(f"unknown format_version {meta.get('format_version')!r} (this fastbp reads {FORMAT_VERSION})")
    for key in ("sizes", "activation", "output", "loss", "dtype"):
        if key not in meta:
            raise bad(f"metadata lacks {key!r}")
    sizes = meta["sizes"]
    if (
        not isinstance(sizes, list)
        or len(sizes) < 2
        or not all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in sizes)
    ):
        raise bad(f"sizes must be a list of positive integers, got {sizes!r}")
    if meta["dtype"] not in ("float32", "float64"):
        raise bad(f"dtype must be 'float32' or 'float64', got {meta['dtype']!r}")
    dtype = np.dtype(meta["dtype"])
    L = len(sizes) - 1
    expected = {f"W{i}": (sizes[i + 1], sizes[i]) for i in range(L)}
    expected.update({f"b{i}": (sizes[i + 1],) for i in range(L)})
    missing = sorted(set(expected) - set(arrays))
    extra = sorted(set(arrays) - set(expected))
    if missing:
        raise bad(f"missing arrays {missing}")
    if extra:
        raise bad(f"unexpected arrays {extra}")
    for name, shape in expected.items():
        arr = arrays[name]
        if arr.shape != shape:
            raise bad(f"array {name} has shape {arr.shape}, the metadata's sizes need {shape}")
        if arr.dtype != dtype:
            raise bad(f"array {name} has dtype {arr.dtype}, the metadata says {dtype}")
        if not np.isfinite(arr).all():
            raise bad(f"array {name} holds NaN or infinity")
    weights = [arrays[f"W{i}"] for i in range(L)]
    biases = [arrays[f"b{i}"] for i in range(L)]
    return meta, weights, biases
