"""The command's loose ends: ``fastbp example`` (whose tables the README's
commands use: tests/test_package.py runs them), ``--version``, ``--quiet``,
``predict --out``'s confirmation, ``train`` without ``--out`` saying nothing
was saved, and ``fastbp cache`` listing and clearing what fastbp wrote (and
only that)."""
import os
import re
import subprocess
import sys

import pytest

import fastbp

from conftest import copy_package


def run(*args, cwd=None, env=None, timeout=300):
    return subprocess.run([sys.executable, "-m", "fastbp", *args], capture_output=True, text=True, timeout=timeout,
                          cwd=cwd, env=None if env is None else {**os.environ, **env})


def test_example_writes_its_tables_and_never_overwrites(tmp_path):
    out = run("example", str(tmp_path))
    assert out.returncode == 0, out.stderr
    table = (tmp_path / "table.csv").read_text().splitlines()
    assert table[0] == "age,income,city,visits,label" and len(table) == 401
    assert any(",," in line for line in table)  # a few empty cells, as tables have
    assert (tmp_path / "new_rows.csv").read_text().splitlines()[0] == "age,income,city,visits"
    (tmp_path / "table.csv").write_text("mine\n")
    again = run("example", str(tmp_path))
    assert again.returncode == 2 and "exist already: nothing written" in again.stderr
    assert (tmp_path / "table.csv").read_text() == "mine\n"
    assert run("example", str(tmp_path), "--force").returncode == 0
    assert (tmp_path / "table.csv").read_text().startswith("age,")


def test_version():
    out = run("--version")
    assert out.returncode == 0 and out.stdout.strip() == f"fastbp {fastbp.__version__}"


@pytest.fixture(scope="module")
def tables(tmp_path_factory):
    folder = tmp_path_factory.mktemp("example")
    assert run("example", str(folder)).returncode == 0
    return folder


def test_quiet_prints_only_the_final_figure(tables):
    out = run("train", "--data", str(tables / "table.csv"), "--target", "label", "--quiet", "--epochs", "5")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert len(lines) == 1 and lines[0].startswith("test accuracy: "), out.stdout
    # No progress report on stderr either (a background compile still says, on exit, that it goes on).
    assert not [ln for ln in out.stderr.splitlines() if "goes on in the background" not in ln], out.stderr


def test_train_without_out_says_nothing_was_saved(tables):
    out = run("train", "--data", str(tables / "table.csv"), "--target", "label", "--epochs", "3")
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[-1] == ("the model is not saved: --out model.npz keeps it (for fastbp predict "
                                           "and evaluate)")
    assert "--out" in run("train", "--help").stdout.split("save it", 1)[1][:20]


def test_predict_out_confirms(tables, tmp_path):
    model = str(tmp_path / "m.npz")
    assert run("train", "--data", str(tables / "table.csv"), "--target", "label", "--quiet", "--epochs", "3",
               "--out", model).returncode == 0
    out = run("predict", model, "--data", str(tables / "new_rows.csv"), "--out", str(tmp_path / "p.csv"))
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"predictions for 20 rows written to {tmp_path / 'p.csv'}"
    assert len((tmp_path / "p.csv").read_text().splitlines()) == 21
    proba = run("predict", model, "--data", str(tables / "new_rows.csv"), "--proba", "--out", str(tmp_path / "q.csv"))
    assert proba.stdout.strip().startswith("class probabilities for 20 rows written to ")


def test_cache_lists_and_clears_what_fastbp_wrote_and_nothing_else(tmp_path):
    site = copy_package(tmp_path)
    package_cache = os.path.join(site, "fastbp", "kernels", "__pycache__")
    os.makedirs(os.path.join(package_cache, "numpy-64"))
    with open(os.path.join(package_cache, "numpy-64", "epoch.train_epoch-80.py311.nbi"), "wb") as f:
        f.write(b"x" * 1000)
    with open(os.path.join(package_cache, "epoch.cpython-311.pyc"), "wb") as f:
        f.write(b"python's own")
    home, numba_dir = tmp_path / "home", tmp_path / "numba"
    env = {"PYTHONPATH": site, "HOME": str(home), "NUMBA_CACHE_DIR": str(numba_dir)}
    env.pop("XDG_CACHE_HOME", None)
    code = ("from fastbp import _cache; import os\n"
            "for label, root in _cache.folders('numpy-64'):\n"
            "    os.makedirs(root, exist_ok=True); open(os.path.join(root, 'k.nbi'), 'wb').write(b'y' * 500)\n")
    full = {**os.environ, **env}
    full.pop("XDG_CACHE_HOME", None)
    assert subprocess.run([sys.executable, "-c", code], env=full, cwd="/").returncode == 0
    listed = subprocess.run([sys.executable, "-m", "fastbp", "cache"], capture_output=True, text=True, env=full,
                            cwd="/")
    assert listed.returncode == 0, listed.stderr
    rows = dict(re.findall(r"^(\S+)\s+.*\((\d+ files|empty)", listed.stdout, re.M))
    assert rows == {"NUMBA_CACHE_DIR": "1 files", "package": "2 files", "user": "1 files"}, listed.stdout
    cleared = subprocess.run([sys.executable, "-m", "fastbp", "cache", "clear"], capture_output=True, text=True,
                             env=full, cwd="/")
    assert cleared.returncode == 0, cleared.stderr
    assert cleared.stdout.count(": cleared") == 3
    assert os.listdir(package_cache) == ["epoch.cpython-311.pyc"]  # Python's own file stays
    assert not any(files for _, _, files in os.walk(numba_dir)) and not any(files for _, _, files in os.walk(home))
    again = subprocess.run([sys.executable, "-m", "fastbp", "cache", "clear"], capture_output=True, text=True,
                           env=full, cwd="/")
    assert again.stdout.strip() == "the compile cache is empty"


def test_train_an_ensemble_then_predict_and_evaluate_with_its_file(tables, tmp_path):
    model = str(tmp_path / "e.npz")
    out = run("train", "--data", str(tables / "table.csv"), "--target", "label", "--ensemble", "3", "--epochs", "4",
              "--out", model)
    assert out.returncode == 0, out.stderr
    assert "the mean of 3 networks" in out.stdout and "ensemble saved to" in out.stdout
    assert len(re.findall(r"member \d/3: ", out.stdout)) == 3
    ensemble = fastbp.Ensemble.load(model)
    assert ensemble.n_models == 3 and len(set(ensemble.seeds)) == 3
    predicted = run("predict", model, "--data", str(tables / "new_rows.csv"))
    assert predicted.returncode == 0, predicted.stderr
    labels = predicted.stdout.splitlines()
    assert labels[0] == "prediction" and len(labels) == 21
    proba = run("predict", model, "--data", str(tables / "new_rows.csv"), "--proba")
    rows = [list(map(float, line.split(","))) for line in proba.stdout.splitlines()[1:]]
    assert len(rows) == 20 and all(abs(sum(r) - 1) < 1e-5 for r in rows)
    scored = run("evaluate", model, "--data", str(tables / "table.csv"))
    assert scored.returncode == 0 and "accuracy" in scored.stdout, scored.stderr


@pytest.mark.parametrize("extra, message", [
    (["--ensemble", "0"], "--ensemble takes a count of networks"),
    (["--ensemble", "2", "--plot", "p.png"], "--plot draws one network's curves"),
])
def test_train_refuses_what_an_ensemble_cannot_do(tables, extra, message, tmp_path):
    out = run("train", "--data", str(tables / "table.csv"), "--target", "label", *extra, cwd=tmp_path)
    assert out.returncode == 2 and message in out.stderr, out.stderr
