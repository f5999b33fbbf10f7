"""The command on messy tables: text columns one-hot encoded, empty cells
imputed (learned on the training rows, kept in the model file), early stopping
by default, predict --proba, evaluate, and a progress line that fits."""
import os
import subprocess
import sys

import numpy as np
import pytest

from fastbp.cli import main

TOOLS = os.path.join(os.path.dirname(__file__), os.pardir, "tools")
sys.path.insert(0, TOOLS)
from compare_command import bundled, messy_table, sklearn_scores, write  # noqa: E402


def _run(*argv, capsys=None):
    code = main(list(argv))
    out = capsys.readouterr() if capsys is not None else None
    return code, out


@pytest.fixture
def messy(tmp_path):
    header, rows, target = messy_table()
    path = str(tmp_path / "messy.csv")
    write(path, header, rows)
    return path, header, rows, target


def test_a_messy_table_trains_as_well_as_scikit_learns_pipeline(messy, tmp_path, capsys):
    path, header, rows, target = messy
    model = str(tmp_path / "m.npz")
    code, out = _run("train", "--data", path, "--target", target, "--out", model, capsys=capsys)
    assert code == 0, out.err
    assert "1 text column one-hot encoded" in out.out and "filled with the median" in out.out
    ours = float(out.out.split("test accuracy: ")[1].split()[0])
    pipeline, _ = sklearn_scores(header, rows, target, classification=True)
    assert ours >= pipeline - 0.02, (ours, pipeline)

    # predict: the model file's encoding on new rows, with a category and empty cells never seen.
    new = [list(r) for r in rows[:5]]
    size = header.index("size")
    new[0][size], new[1][size], new[2][0] = "huge", "", ""
    write(str(tmp_path / "new.csv"), header, new)
    code, out = _run("predict", model, "--data", str(tmp_path / "new.csv"), capsys=capsys)
    assert code == 0, out.err
    assert out.err.count("warning:") == 1 and "'huge'" in out.err and "'size'" in out.err
    labels = [line for line in out.out.splitlines()[1:]]
    assert len(labels) == 5 and set(labels) <= {"malignant", "benign"}

    code, out = _run("predict", model, "--data", str(tmp_path / "new.csv"), "--proba", capsys=capsys)
    lines = out.out.splitlines()
    assert lines[0] == "benign,malignant"
    probs = np.array([[float(v) for v in line.split(",")] for line in lines[1:]])
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-6)

    code, out = _run("evaluate", model, "--data", path, capsys=capsys)
    assert code == 0, out.err
    accuracy = float(out.out.split("accuracy")[1].split()[0])
    assert 0.9 < accuracy <= 1.0 and "log loss" in out.out and "confusion matrix" in out.out
    matrix = [line.split() for line in out.out.splitlines()[-2:]]
    assert sum(int(v) for row in matrix for v in row[1:]) == len(rows)


def test_the_encoding_is_learned_on_the_training_rows_only(tmp_path, capsys):
    """A category that appears only in the test rows gets no input of its own."""
    from fastbp import _io

    rng = np.random.default_rng(0)
    header = ["x", "color", "y"]
    rows = [[f"{v:.4f}", ["red", "blue"][i % 2], str(i % 2)] for i, v in enumerate(rng.normal(size=200))]
    from fastbp.cli.train import split

    train, test = split(len(rows), 0.25, np.random.default_rng(0))
    rows[test[0]][1] = "green"
    write(str(tmp_path / "t.csv"), header, rows)
    code, out = _run("train", "--data", str(tmp_path / "t.csv"), "--target", "y", "--out",
                     str(tmp_path / "m.npz"), capsys=capsys)
    assert code == 0, out.err
    assert "'green'" in out.err  # the test row's unseen category, said once
    meta = _io.read_model(str(tmp_path / "m.npz"))[0]["extra"]
    color = next(c for c in meta["encoding"] if c["name"] == "color")
    assert color["categories"] == ["blue", "red"]


def test_each_step_can_be_refused(messy, capsys):
    path, _, _, target = messy
    code, out = _run("train", "--data", path, "--target", target, "--text-columns", "refuse", capsys=capsys)
    assert code == 2 and "is not a number" in out.err and "--text-columns refuse" in out.err
    code, out = _run("train", "--data", path, "--target", target, "--missing", "refuse", capsys=capsys)
    assert code == 2 and "empty cell" in out.err


def test_an_identifier_column_is_refused_not_one_hot_encoded(tmp_path, capsys):
    rows = [[f"id{i}", f"{i % 7}", str(i % 2)] for i in range(300)]
    write(str(tmp_path / "ids.csv"), ["id", "x", "y"], rows)
    code, out = _run("train", "--data", str(tmp_path / "ids.csv"), "--target", "y", capsys=capsys)
    assert code == 2 and "column 'id'" in out.err and "distinct text values" in out.err


def test_raw_diabetes_with_the_defaults(tmp_path, capsys):
    header, rows, target = bundled("diabetes")
    write(str(tmp_path / "d.csv"), header, rows)
    code, out = _run("train", "--data", str(tmp_path / "d.csv"), "--target", target, capsys=capsys)
    assert code == 0
    assert float(out.out.split("test R2: ")[1].split()[0]) >= 0.45
    assert "early stop after epoch" in out.out or "is kept" in out.out  # early stopping is on by default
    code, out = _run("train", "--data", str(tmp_path / "d.csv"), "--target", target, "--patience", "0",
                     capsys=capsys)
    assert code == 0 and "early stop" not in out.out and "is kept" not in out.out


def test_evaluate_regression_and_errors(tmp_path, capsys):
    header, rows, target = bundled("diabetes")
    write(str(tmp_path / "d.csv"), header, rows)
    model = str(tmp_path / "m.npz")
    assert _run("train", "--data", str(tmp_path / "d.csv"), "--target", target, "--out", model,
                capsys=capsys)[0] == 0
    code, out = _run("evaluate", model, "--data", str(tmp_path / "d.csv"), capsys=capsys)
    assert code == 0 and "R2" in out.out and "RMSE" in out.out and "MAE" in out.out
    code, out = _run("predict", model, "--data", str(tmp_path / "d.csv"), "--proba", capsys=capsys)
    assert code == 2 and "--proba needs a classification model" in out.err


def test_evaluate_names_an_unknown_label(messy, tmp_path, capsys):
    path, header, rows, target = messy
    model = str(tmp_path / "m.npz")
    assert _run("train", "--data", path, "--target", target, "--out", model, capsys=capsys)[0] == 0
    bad = [list(r) for r in rows[:4]]
    bad[1][-1] = "unknown"
    write(str(tmp_path / "bad.csv"), header, bad)
    code, out = _run("evaluate", model, "--data", str(tmp_path / "bad.csv"), capsys=capsys)
    assert code == 2 and "'unknown' is not one of" in out.err


@pytest.mark.parametrize("columns", [120, 80, 60, 40])
def test_the_progress_line_fits_the_terminal(columns):
    from fastbp.training.progress import Progress

    progress = Progress(30, interactive=True)
    progress.seconds = [0.5, 0.01, 0.012]
    line = progress._line(3, ["loss 0.1234", "val accuracy 0.9500"], columns - 1)
    assert len(line) <= columns - 1 and line.startswith("epoch 3/30")
    if columns >= 40:
        assert "val accuracy 0.9500" in line  # the validation score goes last
    if columns >= 80:
        assert "left" in line


def test_help_texts():
    def out(*argv):
        text = subprocess.run([sys.executable, "-m", "fastbp", *argv], capture_output=True, text=True).stdout
        return " ".join(text.split())  # as one line, whatever the wrapping

    assert "no subcommand" in out("--help")
    train = out("train", "--help")
    assert "(default: 0)" in train and "(default: 0.0)" in train  # --seed, --l2
    assert "max(2, rows / 5) distinct values" in train
    assert "Versions" in out("info", "--help")
    bench = out("bench", "--help")
    assert "S: 64-32-10, batch 16" in bench and "Peers by default: fastbp, reference" in bench
    assert "confusion matrix" in out("evaluate", "--help")


def test_labels_come_back_as_the_file_spells_them(tmp_path, capsys):
    rng = np.random.default_rng(0)
    labels = ["007", "12345678901", "42"]
    rows = [[f"{x:.4f}", f"{x * 2:.4f}", labels[int(x > 0.5) + int(x > -0.5)]] for x in rng.normal(size=300)]
    write(str(tmp_path / "t.csv"), ["a", "b", "y"], rows)
    model = str(tmp_path / "m.npz")
    code, out = _run("train", "--data", str(tmp_path / "t.csv"), "--target", "y", "--out", model,
                     capsys=capsys)
    assert code == 0 and "classification (3 classes" in out.out, out.err
    code, out = _run("predict", model, "--data", str(tmp_path / "t.csv"), capsys=capsys)
    assert code == 0
    assert set(out.out.splitlines()[1:]) <= set(labels) and "007" in out.out.splitlines()[1:]
    code, out = _run("predict", model, "--data", str(tmp_path / "t.csv"), "--proba", capsys=capsys)
    assert out.out.splitlines()[0] == ",".join(sorted(labels))
    code, out = _run("evaluate", model, "--data", str(tmp_path / "t.csv"), capsys=capsys)
    assert code == 0 and float(out.out.split("accuracy")[1].split()[0]) > 0.8


@pytest.mark.parametrize("field,value,words", [
    ("classes", ["a", "b"], "classes are malformed"),
    ("classes", [{"x": 1}, None, 3], "classes are malformed"),
    ("features", "a,b", "features are malformed"),
    ("features", ["a", "a"], "features are malformed"),
    ("target_scaling", {"mean": [0.0], "scale": [1e308]}, "target scaling turns predictions infinite"),
])
def test_the_model_files_metadata_is_checked_on_load(tmp_path, capsys, field, value, words):
    import fastbp
    from fastbp import _io

    output = "identity" if field == "target_scaling" else "softmax"
    net = fastbp.Network([2, 3, 1 if output == "identity" else 3], output=output, seed=0)
    extra = {"features": ["a", "b"], field: value}
    net.save(tmp_path / "m.npz", metadata=extra)
    write(str(tmp_path / "rows.csv"), ["a", "b"], [["1", "2"], ["3", "4"]])
    code, out = _run("predict", str(tmp_path / "m.npz"), "--data", str(tmp_path / "rows.csv"), capsys=capsys)
    assert code == 2 and words in out.err, out.err
    assert _io.read_model(tmp_path / "m.npz")  # the file itself is valid: its extra fields are the command's


def test_patience_without_validation_rows_says_so(tmp_path, capsys):
    """A validation split that rounds to no rows: a warning, every epoch trained, no NaN score kept."""
    write(str(tmp_path / "tiny.csv"), ["a", "y"], [[str(i), str(i % 2)] for i in range(6)])
    code, out = _run("train", "--data", str(tmp_path / "tiny.csv"), "--target", "y", "--patience", "3",
                     "--epochs", "5", capsys=capsys)
    assert code == 0 and "--patience 3 watches validation rows" in out.err
    assert "early stop" not in out.out and "nan" not in out.out.lower()


def test_evaluate_and_predict_a_sigmoid_model_saved_by_the_api(tmp_path, capsys):
    """A model file of one sigmoid unit (a binary classifier written by
    ``Network.save``) evaluates with two classes; several sigmoid units (one
    label each) are refused by name, not with a traceback."""
    import fastbp

    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 3))
    y = (X[:, 0] > 0).astype(int)
    write(str(tmp_path / "d.csv"), ["a", "b", "c", "y"], [list(map(float, r)) + [int(t)] for r, t in zip(X, y)])
    net = fastbp.Network([3, 4, 1], output="sigmoid", seed=0)
    net.fit(X, y, epochs=40, lr=0.5)
    net.save(str(tmp_path / "one.npz"))
    code, out = _run("evaluate", str(tmp_path / "one.npz"), "--data", str(tmp_path / "d.csv"), "--target", "y",
                     capsys=capsys)
    assert code == 0, out.err
    assert float(out.out.split("accuracy")[1].split()[0]) == pytest.approx(net.score(X, y))
    code, out = _run("predict", str(tmp_path / "one.npz"), "--data", str(tmp_path / "d.csv"), "--target", "y",
                     "--proba", capsys=capsys)
    assert code == 0 and out.out.splitlines()[0] == "class_0,class_1"
    np.testing.assert_allclose(np.loadtxt(out.out.splitlines()[1:], delimiter=","), net.predict_proba(X), rtol=1e-7)
    fastbp.Network([3, 4, 3], output="sigmoid", seed=0).save(str(tmp_path / "three.npz"))
    code, out = _run("evaluate", str(tmp_path / "three.npz"), "--data", str(tmp_path / "d.csv"), "--target", "y",
                     capsys=capsys)
    assert code == 2 and "has 3 sigmoid units, one label each" in out.err and not out.out
