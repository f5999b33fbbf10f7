"""``fastbp train`` / ``predict`` on real tables as users have them: unscaled
columns, text labels, columns in another order, and the file's own line
numbers in every CSV error."""
import csv
import os
import subprocess
import sys

import numpy as np
import pytest

sklearn_datasets = pytest.importorskip("sklearn.datasets")


def run(*args, env=None, timeout=300):
    return subprocess.run([sys.executable, "-m", "fastbp", *args], capture_output=True, text=True, timeout=timeout,
                          env=None if env is None else {**os.environ, **env})


def metric(stdout, name):
    line = [l for l in stdout.splitlines() if l.startswith(f"test {name}")][0]
    return float(line.split()[2].rstrip(";"))


def write_csv(path, header, rows):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return str(path)


def predictions(stdout):
    rows = list(csv.reader(stdout.splitlines()))
    assert rows[0] == ["prediction"]
    return [r[0] for r in rows[1:]]


@pytest.fixture(scope="module")
def tables(tmp_path_factory):
    """scikit-learn's wine (unscaled: columns from 0.1 to 1680), iris with its
    species names as the target, and the raw diabetes regression (targets 25..346)."""
    d = tmp_path_factory.mktemp("tables")
    wine = sklearn_datasets.load_wine()
    iris = sklearn_datasets.load_iris()
    diabetes = sklearn_datasets.load_diabetes(scaled=False)
    return {
        "wine": write_csv(d / "wine.csv", [*wine.feature_names, "cultivar"],
                          [[*x, t] for x, t in zip(wine.data, wine.target)]),
        "iris": write_csv(d / "iris.csv", ["species", *iris.feature_names],
                          [[iris.target_names[t], *x] for x, t in zip(iris.data, iris.target)]),
        "diabetes": write_csv(d / "diabetes.csv", [*diabetes.feature_names, "progression"],
                              [[*x, t] for x, t in zip(diabetes.data, diabetes.target)]),
        "dir": d,
    }


def test_unscaled_features_learn_and_predict_applies_the_scaling(tables):
    model = str(tables["dir"] / "wine.npz")
    out = run("train", "--data", tables["wine"], "--target", "cultivar", "--out", model)
    assert out.returncode == 0, out.stderr
    assert "standardised" in out.stdout
    assert metric(out.stdout, "accuracy") >= 0.9  # chance is 0.40 (the largest class)
    pred = run("predict", model, "--data", tables["wine"])
    assert pred.returncode == 0, pred.stderr
    y = sklearn_datasets.load_wine().target
    assert np.mean(np.array(predictions(pred.stdout), dtype=float) == y) >= 0.9


def test_turning_the_scaling_off_trains_on_the_raw_values(tables):
    out = run("train", "--data", tables["wine"], "--target", "cultivar", "--scale", "none",
              "--epochs", "3", "--lr", "1e-5")
    assert out.returncode == 0, out.stderr
    assert "features as they are" in out.stdout
    # The raw columns (magnesium ~100, proline ~750) swamp the others: it does not learn.
    assert metric(out.stdout, "accuracy") < 0.8


def test_text_labels_are_mapped_and_mapped_back(tables):
    model = str(tables["dir"] / "iris.npz")
    out = run("train", "--data", tables["iris"], "--target", "species", "--epochs", "60", "--out", model)
    assert out.returncode == 0, out.stderr
    assert "3 classes" in out.stdout and metric(out.stdout, "accuracy") >= 0.85
    pred = run("predict", model, "--data", tables["iris"])
    assert pred.returncode == 0, pred.stderr
    names = predictions(pred.stdout)
    truth = sklearn_datasets.load_iris().target_names[sklearn_datasets.load_iris().target]
    assert set(names) <= {"setosa", "versicolor", "virginica"}
    assert np.mean(np.array(names) == truth) >= 0.85


def test_unscaled_regression_predicts_in_the_targets_units(tables):
    model = str(tables["dir"] / "diabetes.npz")
    out = run("train", "--data", tables["diabetes"], "--target", "progression", "--out", model)
    assert out.returncode == 0, out.stderr
    assert "regression" in out.stdout and metric(out.stdout, "R2") > 0.2
    pred = run("predict", model, "--data", tables["diabetes"])
    assert pred.returncode == 0, pred.stderr
    values = np.array(predictions(pred.stdout), dtype=float)
    y = sklearn_datasets.load_diabetes(scaled=False).target
    assert abs(values.mean() - y.mean()) < 0.25 * y.std()  # the target's units, not standardised ones
    assert values.std() > 0.3 * y.std() and np.corrcoef(values, y)[0, 1] > 0.5


def test_patience_stops_early_and_keeps_the_best_epoch(tables):
    out = run("train", "--data", tables["diabetes"], "--target", "progression", "--epochs", "300",
              "--patience", "5")
    assert out.returncode == 0, out.stderr
    line = [l for l in out.stdout.splitlines() if l.startswith("early stop after epoch")][0]
    assert int(line.split()[4].rstrip(":")) < 300
    assert metric(out.stdout, "R2") > 0.3


def test_predict_finds_the_feature_columns_by_name(tables, tmp_path):
    model = str(tables["dir"] / "wine_by_name.npz")
    assert run("train", "--data", tables["wine"], "--target", "cultivar", "--epochs", "5",
               "--out", model).returncode == 0
    wine = sklearn_datasets.load_wine()
    names = list(wine.feature_names)
    shuffled = write_csv(tmp_path / "shuffled.csv", ["id", *names[::-1]],
                         [[i, *x[::-1]] for i, x in enumerate(wine.data)])
    a, b = run("predict", model, "--data", tables["wine"]), run("predict", model, "--data", shuffled)
    assert a.returncode == 0 and b.returncode == 0, (a.stderr, b.stderr)
    assert a.stdout == b.stdout
    missing = write_csv(tmp_path / "missing.csv", names[1:], [x[1:] for x in wine.data])
    out = run("predict", model, "--data", missing)
    assert out.returncode == 2 and names[0] in out.stderr and len(out.stderr.strip().splitlines()) == 1


def test_divergence_names_what_to_change(tables):
    out = run("train", "--data", tables["diabetes"], "--target", "progression", "--scale", "none")
    assert out.returncode == 2, out.stdout
    line = out.stderr.strip().splitlines()[-1]
    assert "diverged" in line and "--lr" in line and "--scale none" in line


CSV_ERRORS = {
    # The file, and the line number its error must give: blank lines and a
    # quoted two-line cell come before the bad cell.
    "text after blank lines": ('a,b,y\n1,2,0\n\n\n2,oops,1\n3,4,0\n', "line 5", "'b'"),
    "after a two-line cell": ('a,b,y\n"1",2,0\n3,"4",1\n5,6,"x\ny"\n7,?,0\n', "line 6", "'b'"),
    "empty cell": ("a,b,y\n1,2,0\n2,,1\n", "line 3", "empty"),
    "NaN": ("a,b,y\n1,2,0\n2,nan,1\n3,4,0\n", "line 3", "NaN"),
    "short row": ("a,b,y\n1,2,0\n2,3\n", "line 3", "2 cells"),
    "empty target": ("a,b,y\n1,2,0\n2,3,\n", "line 3", "target"),
    "duplicate column": ("a,a,y\n1,2,0\n2,3,1\n", "line 1", "twice"),
    "not UTF-8": (b"a,b,y\n1,2,\xff\n", "", "UTF-8"),
}


@pytest.mark.parametrize("case", list(CSV_ERRORS), ids=list(CSV_ERRORS))
def test_csv_errors_give_the_files_own_line(tmp_path, case):
    text, line, words = CSV_ERRORS[case]
    path = tmp_path / "bad.csv"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    # Text and empty cells refused, as they are without the encoding (tests/test_cli_tables.py).
    out = run("train", "--data", str(path), "--target", "y", "--text-columns", "refuse", "--missing", "refuse")
    assert out.returncode == 2, out.stdout
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in out.stderr, out.stderr
    assert line in lines[0] and words in lines[0], lines[0]


def test_semicolons_a_bom_and_a_near_miss_target_name(tmp_path):
    path = tmp_path / "semi.csv"
    rows = "".join(f"{i};{(i * 7) % 5};{'yes' if i % 2 else 'no'}\n" for i in range(40))
    path.write_bytes("\ufeffa;b;Label\n".encode() + rows.encode())
    out = run("train", "--data", str(path), "--target", "label")
    assert out.returncode == 2 and "did you mean 'Label'" in out.stderr
    out = run("train", "--data", str(path), "--target", "Label", "--epochs", "2")
    assert out.returncode == 0, out.stderr
    assert "2 features" in out.stdout and "2 classes" in out.stdout


@pytest.mark.parametrize("content,cap,words", [
    ("a,b,y\n1," + "x" * 5000 + ",0\n1,2,0\n", ("MAX_CELL_CHARS", 1000), "field larger than field limit (1000)"),
    ("a,b,y\n" + "1" * 5000 + "\n", ("MAX_LINE_CHARS", 1000), "line 2: longer than 1000 characters"),
    (",".join(f"c{i}" for i in range(50)) + "\n", ("MAX_COLUMNS", 40), "names 50 columns, more than the 40"),
], ids=["cell", "line", "columns"])
def test_a_csv_beyond_the_readers_caps_is_refused_before_it_is_read(tmp_path, monkeypatch, content, cap, words):
    import re

    from fastbp.cli import data, main

    monkeypatch.setattr(data, *cap)
    path = tmp_path / "big.csv"
    path.write_text(content)
    with pytest.raises(data.UsageError, match=re.escape(words)):
        data.read_csv(str(path), "y")
    assert main(["train", "--data", str(path), "--target", "y"]) == 2


def test_an_endless_file_is_refused_not_read_whole():
    from fastbp.cli import data

    if not os.path.exists("/dev/zero"):
        pytest.skip("no /dev/zero")
    with pytest.raises(data.UsageError, match="longer than"):
        data.read_csv("/dev/zero", "y")


def test_a_csv_is_read_in_two_passes_of_bounded_memory(tmp_path):
    """The numbers take 8 bytes a cell; the records are never all held as
    Python strings (several times the file's size)."""
    import tracemalloc

    from fastbp.cli import data

    rng = np.random.default_rng(0)
    n = 60_000
    X = rng.standard_normal((n, 12)).round(4)
    colour = rng.choice(["red", "green", "blue"], n)
    rows = [[*x, c, int(t)] for x, c, t in zip(X, colour, rng.integers(0, 3, n))]
    rows[n - 5][3] = ""  # an empty cell late in the file
    path = write_csv(tmp_path / "t.csv", [f"f{i}" for i in range(12)] + ["colour", "y"], rows)
    size = os.path.getsize(path)
    tracemalloc.start()
    try:
        table = data.read_csv(path, "y", text=True, missing=True)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 3 * size, f"{peak / size:.1f} x the file's size"
    assert table.X.shape == (n, 13) and list(table.text) == [12]
    np.testing.assert_array_equal(table.text[12], colour)
    assert np.isnan(table.X[n - 5, 3]) and np.isnan(table.X[:, 12]).all()
    np.testing.assert_allclose(np.delete(table.X[:, :12], 3, axis=1)[: n - 10], np.delete(X, 3, axis=1)[: n - 10])


def test_a_csv_from_a_pipe_is_read_once(tmp_path):
    """A FIFO cannot be read twice: it is read once and held."""
    import threading

    from fastbp.cli import data

    if not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs here")
    fifo = tmp_path / "rows.csv"
    os.mkfifo(fifo)
    text = "a,b,y\n" + "".join(f"{i},{i % 3},{i % 2}\n" for i in range(5000))

    def write():
        with open(fifo, "w") as f:
            f.write(text)

    writer = threading.Thread(target=write)
    writer.start()
    table = data.read_csv(str(fifo), "y")
    writer.join(timeout=10)
    assert table.X.shape == (5000, 2) and table.y[:4].tolist() == [0, 1, 0, 1]


def test_a_csv_that_changes_between_the_two_passes_is_an_error(tmp_path, monkeypatch):
    from fastbp.cli import data

    path = write_csv(tmp_path / "t.csv", ["a", "y"], [[1, 0], [2, 1], [3, 0]])
    calls = []
    original = data._chunks

    def growing(p):
        calls.append(p)
        if len(calls) == 2:  # the second pass: a row was appended meanwhile
            with open(p, "a") as f:
                f.write("4,1\n")
        return original(p)

    monkeypatch.setattr(data, "_chunks", growing)
    with pytest.raises(data.UsageError, match="changed while it was read"):
        data.read_csv(path, "y")
