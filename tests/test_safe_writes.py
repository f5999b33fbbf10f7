"""Every file fastbp writes is written as save writes a model (``_io.write_file``):
a failure leaves the previous file as it was, a hard link to an input is the
input, special files and other users' files are refused, and save refuses
what load would refuse before touching the target."""
import os
import resource
import subprocess
import sys

import pytest

import fastbp
from fastbp import _io


@pytest.fixture
def model(tmp_path):
    net = fastbp.Network([4, 3, 2], seed=0)
    path = tmp_path / "m.npz"
    net.save(path, metadata={"features": ["a", "b", "c", "d"]})
    return net, path


def _limit_file_size(limit):
    def apply():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


def test_a_failed_predictions_write_leaves_the_previous_file(model, tmp_path):
    net, path = model
    rows = tmp_path / "rows.csv"
    rows.write_text("a,b,c,d\n" + "".join(f"{i},{i + 1},{i + 2},{i + 3}\n" for i in range(3000)))
    out = tmp_path / "pred.csv"
    out.write_text("previous predictions\n" * 300)  # 6,300 bytes, as the reproduction's 6,011
    before = out.read_bytes()
    proc = subprocess.run([sys.executable, "-m", "fastbp", "predict", str(path), "--data", str(rows), "--out", str(out)],
                          capture_output=True, text=True, preexec_fn=_limit_file_size(4096), timeout=300)
    assert proc.returncode != 0
    assert out.read_bytes() == before
    assert not [f for f in os.listdir(tmp_path) if f.endswith(".tmp")]


def test_a_hard_link_to_an_input_is_the_input(model, tmp_path):
    net, path = model
    rows = tmp_path / "rows.csv"
    rows.write_text("a,b,c,d\n1,2,3,4\n")
    link = tmp_path / "link.csv"
    os.link(path, link)
    before = path.read_bytes()
    proc = subprocess.run([sys.executable, "-m", "fastbp", "predict", str(path), "--data", str(rows), "--out",
                           str(link)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and "name the same file" in proc.stderr, proc.stderr
    assert path.read_bytes() == before
    data_link = tmp_path / "data.png"
    os.link(rows, data_link)
    proc = subprocess.run([sys.executable, "-m", "fastbp", "train", "--data", str(rows), "--target", "d",
                           "--plot", str(data_link)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and "name the same file" in proc.stderr, proc.stderr
    assert rows.read_text() == "a,b,c,d\n1,2,3,4\n"
    with pytest.raises(ValueError, match="same file as"):
        _io.write_file(link, lambda f: f.write(b"x"), "the predictions", inputs=[path])


@pytest.mark.parametrize("metadata,match", [({"big": "x" * (_io.MAX_META_BYTES + 10)}, "bytes, more than"),
                                            ({"deep": eval("[" * 40 + "]" * 40)}, "nests deeper")])
def test_save_refuses_what_load_would_refuse_before_touching_the_file(model, metadata, match):
    net, path = model
    before = path.read_bytes()
    with pytest.raises(ValueError, match=match):
        net.save(path, metadata=metadata)
    assert path.read_bytes() == before
    fastbp.Network.load(path)


def test_to_onnx_writes_as_save_does(model, tmp_path):
    pytest.importorskip("onnx")
    net, _ = model
    fifo = tmp_path / "pipe.onnx"
    os.mkfifo(fifo)
    with pytest.raises(ValueError, match="FIFO"):
        net.to_onnx(fifo)
    target = tmp_path / "m.onnx"
    target.write_bytes(b"previous")

    def failing(*args, **kwargs):
        raise OSError(28, "No space left on device")

    real = _io.os.fsync
    _io.os.fsync = failing
    try:
        with pytest.raises(OSError):
            net.to_onnx(target)
    finally:
        _io.os.fsync = real
    assert target.read_bytes() == b"previous"
    net.to_onnx(target)
    import onnx

    assert onnx.load(str(target)).graph.output[0].name == "Y"
