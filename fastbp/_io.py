"""Model files: an ``.npz`` archive of the parameters plus JSON metadata.

No pickle anywhere, and nothing in a file is trusted: ``read_model`` checks
the archive's directory (entry names, compression, declared sizes) and every
array header against the metadata *before* decompressing anything, so a
hostile file costs at most about the memory of the model it claims to be,
and every malformed file is a ``ValueError`` naming it.

``write_model`` refuses parameters that ``read_model`` would refuse, writes a
temporary file beside the target and moves it into place in one
``os.replace``, so a crash or a full disk leaves any previous file intact. It
follows a symbolic link to the file it names and replaces that file; it never
replaces anything that is not a regular file (a folder, FIFO, device or
socket) nor a file of another user.
"""
from __future__ import annotations

import ast
import errno
import json
import math
import os
import secrets
import stat
import zipfile

import numpy as np

FORMAT = "fastbp-model"
FORMAT_VERSION = 1
MAX_META_BYTES = 1 << 20  # metadata is a few hundred bytes; JSON nesting is capped by this too
_MAX_JSON_DEPTH = 32
_NPY_HEADER_BYTES = 4096  # an .npy header is 128 bytes or a few multiples of 64
_MAX_ENTRIES = 2 * 10_000 + 1


def file_to_replace(path: str, what: str = "the model") -> str:
    """The file to replace: ``path``, or the file a symbolic link there points to.

    Raises ValueError for anything that exists and is not a regular file of
    this user (checked with ``lstat`` on the resolved path: nothing is opened).
    """
    target = os.path.realpath(path)
    try:
        st = os.lstat(target)
    except FileNotFoundError:
        return target
    if not stat.S_ISREG(st.st_mode):
        kind = ("a folder" if stat.S_ISDIR(st.st_mode) else "a FIFO" if stat.S_ISFIFO(st.st_mode)
                else "a socket" if stat.S_ISSOCK(st.st_mode) else "a device" if stat.S_ISCHR(st.st_mode)
                or stat.S_ISBLK(st.st_mode) else "not a regular file")
        shown = path if target == os.path.abspath(path) else f"{path} (-> {target})"
        raise ValueError(f"cannot save {what} to {shown!r}: it is {kind}, not a regular file")
    if hasattr(os, "geteuid") and st.st_uid != os.geteuid():
        raise ValueError(f"cannot save {what} to {path!r}: the file belongs to another user (uid {st.st_uid})")
    return target


def identity(path) -> tuple:
    """What names a file whatever its name: ``(device, inode)`` of an existing
    file (hard links and symbolic links to it share it), else its resolved path."""
    try:
        st = os.stat(path)
        return ("inode", st.st_dev, st.st_ino)
    except OSError:
        return ("path", os.path.realpath(path))


def write_file(path, write, what: str = "the model", inputs=()) -> None:
    """Write a file the safe way, whatever it holds: ``write(f)`` fills a new
    temporary file in the target's folder, which is flushed, fsynced and
    renamed over the target in one step, so a failure (a full disk, an
    exception) leaves a previous file as it was. Refused, before anything is
    written: a target that is not a regular file of this user
    (:func:`file_to_replace`), and one that is the same file as any of
    ``inputs`` (hard links included)."""
    path = os.fspath(path)
    target = file_to_replace(path, what)
    mine = identity(target)
    for other in inputs:
        if other is not None and identity(other) == mine:
            raise ValueError(f"cannot save {what} to {path!r}: it is the same file as {os.fspath(other)!r}, "
                             "which would be lost")
    try:
        fd, tmp = _create_beside(target)
    except OSError as exc:
        raise type(exc)(exc.errno, f"cannot save {what} to {path!r}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        try:  # an existing file keeps its permissions
            os.chmod(tmp, os.stat(target).st_mode & 0o7777)
        except FileNotFoundError:
            pass
        os.replace(tmp, target)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, OSError) and exc.filename == tmp:
            raise type(exc)(exc.errno, f"cannot save {what} to {path!r}: {exc.strerror}") from None
        raise


def _create_beside(target: str) -> tuple[int, str]:
    """A new temporary file in the target's folder, created with mode 0o666
    less the umask (as ``open`` creates files; the umask itself is never changed)."""
    folder, name = os.path.split(target)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0) | getattr(os, "O_NOFOLLOW", 0)
    for _ in range(100):
        tmp = os.path.join(folder, f".{name}.{secrets.token_hex(4)}.tmp")
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no unused temporary name", folder)  # pragma: no cover


def check_parameters(weights, biases) -> None:
    """ValueError naming the first non-finite parameter: such a file could not be loaded."""
    for kind, arrays in (("weights", weights), ("biases", biases)):
        for i, arr in enumerate(arrays):
            if not np.isfinite(arr).all():
                raise ValueError(f"cannot save the model: {kind}[{i}] holds NaN or infinity "
                                 "(a file that load() would refuse; the previous file was left as it was)")


def check_metadata(metadata) -> None:
    """A ValueError unless ``metadata`` (a caller's values for ``save``) is None or a dict of JSON values."""
    if metadata is None:
        return
    try:
        if not isinstance(metadata, dict):
            raise TypeError(f"got {type(metadata).__name__}")
        json.dumps(metadata, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"metadata must be a dict of JSON values (no NaN): {exc}") from None


def write_model(path, meta: dict, weights, biases) -> None:
    """Atomically write ``meta`` and the parameter arrays to ``path`` (see the
    module's notes); refused first, the target untouched, if ``read_model``
    would refuse the file (non-finite parameters, metadata over its caps)."""
    _write(path, meta, [("", weights, biases)])


def write_members(path, meta: dict, members) -> None:
    """``write_model`` for an ensemble: ``members`` a list of ``(weights, biases)``,
    member k's arrays named ``m{k}_W{i}``, ``m{k}_b{i}``; ``meta["members"]`` their sizes."""
    _write(path, meta, [(f"m{k}_", Ws, bs) for k, (Ws, bs) in enumerate(members)])


def _write(path, meta: dict, layouts) -> None:
    for _, weights, biases in layouts:
        check_parameters(weights, biases)
    text = json.dumps(meta)
    if len(text.encode("utf-8")) > MAX_META_BYTES:
        raise ValueError(f"cannot save the model: its metadata takes {len(text.encode('utf-8'))} bytes, more than "
                         f"the {MAX_META_BYTES} load() reads (the previous file was left as it was)")
    if not _json_depth_ok(text):
        raise ValueError(f"cannot save the model: its metadata nests deeper than the {_MAX_JSON_DEPTH} levels "
                         "load() reads (the previous file was left as it was)")
    arrays = {"meta": np.frombuffer(text.encode("utf-8"), dtype=np.uint8)}
    for prefix, weights, biases in layouts:
        for i, (W, b) in enumerate(zip(weights, biases)):
            arrays[f"{prefix}W{i}"] = W
            arrays[f"{prefix}b{i}"] = b
    write_file(path, lambda f: np.savez(f, **arrays))


def read_model(path) -> tuple[dict, list, list]:
    """Read and check a model file; return ``(meta, weights, biases)``: for an
    ensemble's file (``meta["members"]``, the members' sizes) each member's list.

    Raises
    ------
    FileNotFoundError, PermissionError
        If the file is missing or may not be read.
    ValueError
        Naming the file, for anything else: not a regular file, empty,
        truncated, not a fastbp model, of an unknown format version, arrays
        that do not match the metadata, hostile archives (duplicate or
        unexpected entries, encrypted or unknown compression, sizes or
        shapes larger than the metadata allows, deeply nested JSON).
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(errno.ENOENT, f"no model file at {path!r}", path)

    def bad(why: str) -> ValueError:
        return ValueError(f"{path!r} is not a valid fastbp model file: {why}")

    if not os.path.isfile(path):  # a FIFO would block the open below for ever
        raise bad("it is not a regular file")
    with open(path, "rb") as fh:
        try:
            return _read_archive(fh, bad)
        except _Invalid as exc:
            raise bad(str(exc)) from None
        except Exception as exc:  # anything else a malformed archive makes the readers raise
            raise bad(f"unreadable archive ({type(exc).__name__}: {exc})") from None


class _Invalid(Exception):
    """A reason the file is not a model, for ``read_model`` to wrap."""


def _read_archive(fh, bad) -> tuple[dict, list[np.ndarray], list[np.ndarray]]:
    try:
        zf = zipfile.ZipFile(fh)
    except zipfile.BadZipFile as exc:
        raise _Invalid(f"not an .npz archive ({exc})") from None
    infos = zf.infolist()
    if len(infos) > _MAX_ENTRIES:
        raise _Invalid(f"{len(infos)} entries: more than any model has")
    names = [info.filename for info in infos]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise _Invalid(f"duplicate entry names {duplicates}")
    for info in infos:
        if info.flag_bits & 0x1:
            raise _Invalid(f"entry {info.filename!r} is encrypted")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise _Invalid(f"entry {info.filename!r} uses compression method {info.compress_type}, "
                           "not one NumPy writes (stored or deflated)")
    entries = {info.filename: info for info in infos}
    if "meta.npy" not in entries:
        raise _Invalid("no 'meta' entry")
    meta_info = entries["meta.npy"]
    if meta_info.file_size > MAX_META_BYTES + _NPY_HEADER_BYTES:
        raise _Invalid(f"the metadata entry declares {meta_info.file_size} bytes, more than metadata can need")
    raw = _read_npy(zf, meta_info, None, np.dtype(np.uint8), "meta")
    meta = _parse_meta(raw.tobytes())
    dtype = np.dtype(meta["dtype"])
    members = meta.get("members")
    layouts = [("", meta["sizes"])] if members is None else [(f"m{k}_", s) for k, s in enumerate(members)]
    expected = {}
    for prefix, sizes in layouts:
        L = len(sizes) - 1
        expected.update({f"{prefix}W{i}": (sizes[i + 1], sizes[i]) for i in range(L)})
        expected.update({f"{prefix}b{i}": (sizes[i + 1],) for i in range(L)})
    present = {n[:-4] if n.endswith(".npy") else n for n in entries} - {"meta"}
    missing, extra = sorted(set(expected) - present), sorted(present - set(expected))
    if missing:
        raise _Invalid(f"missing arrays {missing}")
    if extra:
        raise _Invalid(f"unexpected arrays {extra}")
    arrays = {}
    for name, shape in expected.items():
        info = entries.get(name + ".npy")
        if info is None:
            raise _Invalid(f"entry {name!r} is not an .npy file")
        arr = _read_npy(zf, info, shape, dtype, name)
        if not np.isfinite(arr).all():
            raise _Invalid(f"array {name} holds NaN or infinity")
        arrays[name] = arr
    weights = [[arrays[f"{p}W{i}"] for i in range(len(s) - 1)] for p, s in layouts]
    biases = [[arrays[f"{p}b{i}"] for i in range(len(s) - 1)] for p, s in layouts]
    return (meta, weights[0], biases[0]) if members is None else (meta, weights, biases)


def _read_npy(zf, info, shape, dtype, name) -> np.ndarray:
    """One ``.npy`` entry, its declared size and header checked before its data is read.

    ``shape`` None accepts any 1-D array (the metadata bytes, size already capped).
    """
    limit = None if shape is None else math.prod(shape) * dtype.itemsize
    if limit is not None and info.file_size > limit + _NPY_HEADER_BYTES:
        raise _Invalid(f"entry {name!r} declares {info.file_size} bytes; the metadata's sizes need {limit}")
    with zf.open(info) as f:
        version = np.lib.format.read_magic(f)
        if version not in ((1, 0), (2, 0), (3, 0)):
            raise _Invalid(f"entry {name!r} has .npy format version {version}")
        header_len = int.from_bytes(f.read(2 if version == (1, 0) else 4), "little")
        if header_len > _NPY_HEADER_BYTES:
            raise _Invalid(f"entry {name!r} has a {header_len}-byte .npy header")
        header = f.read(header_len).decode("latin1" if version != (3, 0) else "utf-8")
        try:
            d = ast.literal_eval(header)
            got_shape, fortran, descr = tuple(d["shape"]), bool(d["fortran_order"]), np.dtype(d["descr"])
        except Exception as exc:
            raise _Invalid(f"entry {name!r} has a malformed .npy header ({exc})") from None
        if descr != dtype:
            raise _Invalid(f"array {name} has dtype {descr}, the metadata says {dtype}")
        if shape is None:
            if len(got_shape) != 1 or not 0 <= got_shape[0] <= MAX_META_BYTES:
                raise _Invalid(f"the metadata entry has shape {got_shape}")
            shape = got_shape
        elif got_shape != tuple(shape):
            raise _Invalid(f"array {name} has shape {got_shape}, the metadata's sizes need {tuple(shape)}")
        # Read into the array itself, a chunk at a time: the declared size once
        # in memory (a read of the whole entry, then a copy, held three times it).
        arr = np.empty(math.prod(shape), dtype=dtype)
        view = memoryview(arr.view(np.uint8))
        got = 0
        while got < view.nbytes:
            n = f.readinto(view[got:got + (1 << 24)])
            if not n:
                raise _Invalid(f"array {name} is truncated ({got} of {view.nbytes} bytes)")
            got += n
    return arr.reshape(shape, order="F" if fortran else "C")


def _json_depth_ok(text: str) -> bool:
    """Whether no JSON container nests deeper than ``_MAX_JSON_DEPTH`` (brackets inside strings count too: harmless)."""
    depth = 0
    for ch in text:
        if ch in "[{":
            depth += 1
            if depth > _MAX_JSON_DEPTH:
                return False
        elif ch in "]}":
            depth -= 1
    return True


def _check_sizes(sizes) -> None:
    if (
        not isinstance(sizes, list)
        or len(sizes) < 2
        or not all(type(s) is int and 0 < s <= 1 << 24 for s in sizes)
    ):
        raise _Invalid(f"sizes must be a list of positive integers, got {sizes!r}")


def _parse_meta(raw: bytes) -> dict:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _Invalid(f"metadata is not UTF-8 ({exc})") from None
    if not _json_depth_ok(text):
        raise _Invalid(f"metadata nests deeper than {_MAX_JSON_DEPTH} levels")
    try:
        meta = json.loads(text)
    except ValueError as exc:
        raise _Invalid(f"metadata is not JSON ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise _Invalid("metadata does not name the fastbp-model format")
    version = meta.get("format_version")
    if type(version) is not int:
        raise _Invalid(f"format_version must be an integer, got {version!r}")
    if version != FORMAT_VERSION:
        raise _Invalid(f"unknown format_version {version!r} (this fastbp reads {FORMAT_VERSION})")
    for key in ("sizes", "activation", "output", "loss", "dtype"):
        if key not in meta:
            raise _Invalid(f"metadata lacks {key!r}")
    _check_sizes(meta["sizes"])
    if "members" in meta:  # an ensemble's file (fastbp.Ensemble)
        members = meta["members"]
        if not isinstance(members, list) or not members:
            raise _Invalid(f"members must be a list of the members' sizes, got {members!r}")
        for sizes in members:
            _check_sizes(sizes)
        if 2 * sum(len(s) - 1 for s in members) + 1 > _MAX_ENTRIES:
            raise _Invalid(f"{len(members)} members with more layers in all than any file holds")
    if meta["dtype"] not in ("float32", "float64"):
        raise _Invalid(f"dtype must be 'float32' or 'float64', got {meta['dtype']!r}")
    return meta
