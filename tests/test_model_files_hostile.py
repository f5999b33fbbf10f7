"""Model files past the happy path: what save may replace, what it refuses,
and hostile archives that load must refuse with a ValueError in bounded memory."""
import io
import json
import os
import socket
import stat
import struct
import threading
import tracemalloc
import zipfile

import numpy as np
import pytest

import fastbp


def _net(seed=0):
    return fastbp.Network([5, 4, 3], seed=seed)


def _model_bytes(tmp_path, seed=0) -> bytes:
    p = tmp_path / f"good{seed}.npz"
    _net(seed).save(p)
    return p.read_bytes()


# -- save: what it replaces ---------------------------------------------------------------

def test_save_through_a_symlink_replaces_the_file_it_points_to(tmp_path):
    target = tmp_path / "real.npz"
    _net(0).save(target)
    link = tmp_path / "link.npz"
    link.symlink_to(target)
    _net(1).save(link)
    assert link.is_symlink() and os.readlink(link) == str(target)
    np.testing.assert_array_equal(fastbp.Network.load(target).weights[0], _net(1).weights[0])


def test_save_through_a_dangling_symlink_creates_its_target(tmp_path):
    link = tmp_path / "link.npz"
    link.symlink_to(tmp_path / "new.npz")
    _net(0).save(link)
    assert link.is_symlink() and (tmp_path / "new.npz").is_file()


def _fifo(p):
    os.mkfifo(p)


def _folder(p):
    os.mkdir(p)


def _socket(p):
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(p))
    return s


def _device(p):
    if os.geteuid() != 0:
        pytest.skip("creating a device node needs root")
    os.mknod(p, 0o600 | stat.S_IFCHR, os.makedev(1, 3))  # as /dev/null


@pytest.mark.parametrize("make,kind", [(_fifo, "a FIFO"), (_folder, "a folder"), (_socket, "a socket"),
                                       (_device, "a device")])
@pytest.mark.parametrize("through_link", [False, True])
def test_save_refuses_what_is_not_a_regular_file(tmp_path, make, kind, through_link):
    thing = tmp_path / "thing"
    keep = make(thing)
    mode = os.lstat(thing).st_mode
    path = tmp_path / "link" if through_link else thing
    if through_link:
        path.symlink_to(thing)
    with pytest.raises(ValueError, match=f"it is {kind}, not a regular file"):
        _net().save(path)
    assert os.lstat(thing).st_mode == mode, "the special file was replaced"
    assert sorted(os.listdir(tmp_path)) == sorted(["thing"] + (["link"] if through_link else []))
    if keep is not None:
        keep.close()


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="chown to another user needs root")
def test_save_refuses_another_users_file(tmp_path):
    path = tmp_path / "theirs.npz"
    _net(0).save(path)
    os.chown(path, 12345, 12345)
    before = path.read_bytes()
    with pytest.raises(ValueError, match="belongs to another user"):
        _net(1).save(path)
    assert path.read_bytes() == before


@pytest.mark.parametrize("where", ["weights", "biases"])
@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_save_refuses_parameters_load_would_refuse(tmp_path, where, value):
    path = tmp_path / "model.npz"
    net = _net()
    net.save(path)
    before = path.read_bytes()
    getattr(net, where)[1][0] = value
    with pytest.raises(ValueError, match=rf"{where}\[1\] holds NaN or infinity"):
        net.save(path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["model.npz"]


def test_save_never_touches_the_umask(tmp_path, monkeypatch):
    umask = os.umask(0o027)
    try:
        def forbidden(mask):
            raise AssertionError("save changed the process umask")

        monkeypatch.setattr(os, "umask", forbidden)
        _net().save(tmp_path / "new.npz")
    finally:
        monkeypatch.undo()
        os.umask(umask)
    assert stat.S_IMODE(os.stat(tmp_path / "new.npz").st_mode) == 0o640


def test_save_keeps_an_existing_files_mode(tmp_path):
    path = tmp_path / "model.npz"
    _net(0).save(path)
    os.chmod(path, 0o604)
    _net(1).save(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o604


def test_concurrent_saves_leave_no_file_world_writable(tmp_path):
    """Other threads' files keep the umask while saves run (save used to set it to 0)."""
    umask = os.umask(0o022)
    os.umask(umask)
    stop = threading.Event()

    def saver():
        net = _net()
        while not stop.is_set():
            net.save(tmp_path / "m.npz")

    t = threading.Thread(target=saver)
    t.start()
    try:
        for i in range(300):
            p = tmp_path / f"f{i}"
            with open(p, "w"):
                pass
            assert stat.S_IMODE(os.stat(p).st_mode) == 0o666 & ~umask
    finally:
        stop.set()
        t.join()


@pytest.mark.parametrize("path", ["missing/sub/model.npz"])
def test_save_errors_name_the_target_not_the_temporary_file(tmp_path, path):
    target = tmp_path / path
    with pytest.raises(FileNotFoundError) as info:
        _net().save(target)
    assert str(target) in str(info.value) and ".tmp" not in str(info.value)


# -- load: hostile archives -----------------------------------------------------------------

def _zip(path, entries, compression=zipfile.ZIP_STORED):
    """Write ``entries`` [(name, bytes)] as a zip, duplicates allowed."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # duplicate names
        with zipfile.ZipFile(path, "w", compression) as z:
            for name, data in entries:
                z.writestr(name, data)


def _npy(arr) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr)
    return buf.getvalue()


def _meta(**over) -> bytes:
    meta = {"format": "fastbp-model", "format_version": 1, "sizes": [3, 2], "activation": "sigmoid",
            "output": "softmax", "loss": "cross_entropy", "dtype": "float64"}
    meta.update(over)
    return _npy(np.frombuffer(json.dumps(meta).encode(), np.uint8))


def _meta_raw(text: str) -> bytes:
    return _npy(np.frombuffer(text.encode(), np.uint8))


GOOD = [("W0.npy", _npy(np.zeros((2, 3)))), ("b0.npy", _npy(np.zeros(2)))]


def _header_claiming(shape) -> bytes:
    """An .npy entry whose header declares ``shape`` but holds 24 bytes of data."""
    header = repr({"descr": "<f8", "fortran_order": False, "shape": shape}).encode()
    header += b" " * (-(10 + len(header) + 1) % 64) + b"\n"  # magic + length + header: a multiple of 64
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + b"\0" * 24


def _patch_method(data: bytes, method: int) -> bytes:
    """Set every entry's compression method (local and central headers) to ``method``."""
    b = bytearray(data)
    for sig, off in ((b"PK\x03\x04", 8), (b"PK\x01\x02", 10)):
        i = b.find(sig)
        while i != -1:
            b[i + off: i + off + 2] = struct.pack("<H", method)
            i = b.find(sig, i + 4)
    return bytes(b)


def _patch_flags(data: bytes, flag: int) -> bytes:
    b = bytearray(data)
    for sig, off in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        i = b.find(sig)
        while i != -1:
            b[i + off: i + off + 2] = struct.pack("<H", struct.unpack("<H", b[i + off: i + off + 2])[0] | flag)
            i = b.find(sig, i + 4)
    return bytes(b)


def _case_nested_json(p):
    _zip(p, [("meta.npy", _meta_raw("[" * 100_000 + "]" * 100_000))] + GOOD)


def _case_huge_declared_shape(p):
    _zip(p, [("meta.npy", _meta()), ("W0.npy", _header_claiming((100_000_000_000, 3))), GOOD[1]])


def _case_huge_declared_size(p):
    big = _npy(np.zeros((2, 3)))
    _zip(p, [("meta.npy", _meta()), ("W0.npy", big + b"\0" * 5_000_000), GOOD[1]], zipfile.ZIP_DEFLATED)


def _case_extra_compressed_entry(p):
    _zip(p, [("meta.npy", _meta())] + GOOD + [("junk.npy", b"\0" * 200_000_000)], zipfile.ZIP_DEFLATED)


def _case_encrypted(p):
    _zip(p, [("meta.npy", _meta())] + GOOD)
    p.write_bytes(_patch_flags(p.read_bytes(), 0x1))


def _case_unknown_compression(p):
    _zip(p, [("meta.npy", _meta())] + GOOD)
    p.write_bytes(_patch_method(p.read_bytes(), 99))


def _case_duplicate_entries(p):
    _zip(p, [("meta.npy", _meta())] + GOOD + [("W0.npy", _npy(np.ones((2, 3))))])


CASES = {
    "nested JSON metadata": (_case_nested_json, "nests deeper"),
    "header declares (1e11, 3)": (_case_huge_declared_shape, "shape"),
    "entry larger than its shape": (_case_huge_declared_size, "declares"),
    "extra compressed entry": (_case_extra_compressed_entry, "unexpected arrays"),
    "encrypted entry": (_case_encrypted, "encrypted"),
    "unknown compression": (_case_unknown_compression, "compression method 99"),
    "duplicate entry names": (_case_duplicate_entries, "duplicate entry names"),
    "format_version 1.0": (lambda p: _zip(p, [("meta.npy", _meta(format_version=1.0))] + GOOD), "integer"),
    "format_version true": (lambda p: _zip(p, [("meta.npy", _meta(format_version=True))] + GOOD), "integer"),
    "format_version '1'": (lambda p: _zip(p, [("meta.npy", _meta(format_version="1"))] + GOOD), "integer"),
    "activation not a string": (lambda p: _zip(p, [("meta.npy", _meta(activation=["x"]))] + GOOD), "activation"),
    "sizes of floats": (lambda p: _zip(p, [("meta.npy", _meta(sizes=[3.0, 2]))] + GOOD), "sizes"),
    "big-endian array": (lambda p: _zip(p, [("meta.npy", _meta()), ("W0.npy", _npy(np.zeros((2, 3), ">f8"))),
                                            GOOD[1]]), "dtype"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_hostile_archive_is_a_value_error_in_bounded_memory(tmp_path, name):
    make, message = CASES[name]
    path = tmp_path / "hostile.npz"
    make(path)
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match="hostile.npz") as info:
            fastbp.Network.load(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert message in str(info.value)
    assert peak < 16 << 20, f"{name}: load used {peak / 2**20:.0f} MiB before refusing a {path.stat().st_size}-byte file"


def test_load_of_a_fifo_is_a_value_error_not_a_hang(tmp_path):
    os.mkfifo(tmp_path / "pipe.npz")
    with pytest.raises(ValueError, match="not a regular file"):
        fastbp.Network.load(tmp_path / "pipe.npz")


def test_fuzzed_model_files_raise_only_value_error_in_bounded_memory(tmp_path):
    """Mutate bytes of valid files many times: load either reads a model or raises ValueError."""
    rng = np.random.default_rng(2026)
    originals = [_model_bytes(tmp_path, s) for s in range(2)]
    path = tmp_path / "fuzz.npz"
    outcomes = {"loaded": 0, "refused": 0}
    tracemalloc.start()
    try:
        for i in range(600):
            data = bytearray(originals[i % 2])
            kind = i % 4
            if kind == 0:  # flip a few bytes
                for pos in rng.integers(0, len(data), size=rng.integers(1, 9)):
                    data[pos] = rng.integers(0, 256)
            elif kind == 1:  # truncate
                data = data[: rng.integers(0, len(data))]
            elif kind == 2:  # overwrite a run with large little-endian integers (sizes, offsets)
                pos = int(rng.integers(0, len(data) - 4))
                data[pos: pos + 4] = struct.pack("<I", int(rng.integers(2**20, 2**32)))
            else:  # insert bytes
                pos = int(rng.integers(0, len(data)))
                data[pos:pos] = bytes(rng.integers(0, 256, size=int(rng.integers(1, 64)), dtype=np.uint8))
            path.write_bytes(bytes(data))
            tracemalloc.reset_peak()
            try:
                fastbp.Network.load(path)
                outcomes["loaded"] += 1
            except ValueError as exc:
                assert "fuzz.npz" in str(exc), exc
                outcomes["refused"] += 1
            peak = tracemalloc.get_traced_memory()[1]
            assert peak < 16 << 20, f"mutation {i} (kind {kind}): {peak / 2**20:.0f} MiB"
    finally:
        tracemalloc.stop()
    assert outcomes["refused"] > 400, outcomes


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_load_holds_the_model_about_twice_not_more(tmp_path, dtype):
    """The file's arrays and the network's buffer, plus bounded read and check
    buffers: no initial weights drawn only to be overwritten (a float64
    temporary of the largest layer, twice a float32 model's bytes)."""
    net = fastbp.Network([3000, 1500, 10], dtype=dtype, seed=0)
    path = tmp_path / "big.npz"
    net.save(path)
    size = net._params.nbytes
    tracemalloc.start()
    try:
        loaded = fastbp.Network.load(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    np.testing.assert_array_equal(loaded._params, net._params)
    # 2x the model, a quarter for the finiteness check's mask, 16 MiB of read buffer.
    assert peak < 2.3 * size + (17 << 20), f"{peak / size:.2f} x the model's {size / 2**20:.0f} MiB"
