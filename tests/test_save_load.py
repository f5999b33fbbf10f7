"""Model files: round trip, no pickle, atomic save, clear errors on bad files."""
import json
import os
import zipfile

import numpy as np
import pytest

import fastbp


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("output,loss", [("softmax", "cross_entropy"), ("sigmoid", "binary_cross_entropy"), ("identity", "mse")])
def test_save_load_gives_identical_predictions(Net, tmp_path, rng, dtype, output, loss):
    net = Net([6, 5, 4, 3], activation="relu", output=output, loss=loss, dtype=dtype, seed=2)
    X = rng.normal(size=(9, 6))
    net.step(X, np.eye(3)[rng.integers(0, 3, 9)], lr=0.1)
    path = tmp_path / "model.npz"
    net.save(path)
    back = Net.load(path)
    assert type(back) is Net
    assert (back.sizes, back.activation, back.output, back.loss_name, back.dtype) == (
        net.sizes, net.activation, net.output, net.loss_name, net.dtype)
    np.testing.assert_array_equal(back.predict(X), net.predict(X))
    np.testing.assert_array_equal(back.forward(X), net.forward(X))
    # The file holds plain arrays: it opens without pickle.
    with np.load(path, allow_pickle=False) as z:
        meta = json.loads(z["meta"].tobytes())
    assert meta["format"] == "fastbp-model" and meta["sizes"] == [6, 5, 4, 3]


def test_model_files_are_shared_between_implementations(tmp_path, rng):
    net = fastbp.Network([4, 3, 2], seed=0)
    net.save(tmp_path / "m.npz")
    twin = fastbp.reference.Network.load(tmp_path / "m.npz")
    X = rng.normal(size=(5, 4))
    np.testing.assert_allclose(twin.forward(X), net.forward(X), rtol=1e-12)


def test_failed_save_leaves_previous_file_intact(Net, tmp_path, monkeypatch):
    path = tmp_path / "model.npz"
    Net([3, 2], seed=0).save(path)
    before = path.read_bytes()

    def boom(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np, "savez", boom)
    with pytest.raises(OSError):
        Net([3, 2], seed=1).save(path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["model.npz"], "the temporary file was not cleaned up"


def _write(path, **arrays):
    with open(path, "wb") as f:
        np.savez(f, **arrays)


def _meta(**over):
    meta = {"format": "fastbp-model", "format_version": 1, "fastbp_version": "0", "sizes": [3, 2],
            "activation": "sigmoid", "output": "softmax", "loss": "cross_entropy", "dtype": "float64"}
    meta.update(over)
    return np.frombuffer(json.dumps(meta).encode(), np.uint8)


GOOD = {"W0": np.zeros((2, 3)), "b0": np.zeros(2)}


@pytest.mark.parametrize(
    "name,make",
    [
        ("empty", lambda p: p.write_bytes(b"")),
        ("text", lambda p: p.write_text("hello")),
        ("truncated", lambda p: (fastbp.Network([3, 2]).save(p), p.write_bytes(p.read_bytes()[:60]))),
        ("single array", lambda p: np.save(open(p, "wb"), np.zeros(3))),
        ("foreign npz", lambda p: _write(p, x=np.zeros(3))),
        ("not json", lambda p: _write(p, meta=np.frombuffer(b"\xff{", np.uint8), **GOOD)),
        ("unknown version", lambda p: _write(p, meta=_meta(format_version=99), **GOOD)),
        ("wrong shape", lambda p: _write(p, meta=_meta(), W0=np.zeros((3, 2)), b0=np.zeros(2))),
        ("missing array", lambda p: _write(p, meta=_meta(), W0=np.zeros((2, 3)))),
        ("extra array", lambda p: _write(p, meta=_meta(), extra=np.zeros(1), **GOOD)),
        ("wrong dtype", lambda p: _write(p, meta=_meta(), W0=np.zeros((2, 3), np.float32), b0=np.zeros(2))),
        ("nan weights", lambda p: _write(p, meta=_meta(), W0=np.full((2, 3), np.nan), b0=np.zeros(2))),
        ("bad activation", lambda p: _write(p, meta=_meta(activation="os.system"), **GOOD)),
        ("bad sizes", lambda p: _write(p, meta=_meta(sizes=[3, -2]), **GOOD)),
        ("object array", lambda p: _write(p, meta=_meta(), W0=np.array([[None] * 3] * 2, dtype=object), b0=np.zeros(2))),
    ],
)
def test_bad_model_file_raises_value_error_naming_it(Net, tmp_path, name, make):
    path = tmp_path / "bad.npz"
    make(path)
    with pytest.raises(ValueError, match="bad.npz"):
        Net.load(path)


def test_missing_model_file(Net, tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.npz"):
        Net.load(tmp_path / "nope.npz")


def test_zip_without_npy_members(Net, tmp_path):
    path = tmp_path / "z.npz"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("meta.npy", b"not an array")
    with pytest.raises(ValueError, match="z.npz"):
        Net.load(path)


def test_metadata_is_kept_and_bad_metadata_refused_before_writing(Net, tmp_path):
    from fastbp import _io

    net = Net([3, 2], seed=0)
    net.save(tmp_path / "m.npz", metadata={"classes": ["a", "b"], "task": "classification"})
    assert _io.read_model(tmp_path / "m.npz")[0]["extra"] == {"classes": ["a", "b"], "task": "classification"}
    for bad in ({"x": object()}, {"x": float("nan")}, ["not", "a", "dict"]):
        with pytest.raises(ValueError, match="metadata must be"):
            net.save(tmp_path / "bad.npz", metadata=bad)
        assert not (tmp_path / "bad.npz").exists()
