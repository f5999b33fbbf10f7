"""Hardening, round 3, through the command: a column of numbers is never
silently turned into categories, numbers written with commas are read or
refused naming the option, and every refusal names the file, the line and
the column (a model file and its field), quotes a cell briefly, and comes
without NumPy's warnings."""
import csv
import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest

from fastbp.cli.columns import MISTYPED_SHARE, QUOTED_CHARS, NumberFormat


def run(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "fastbp", *args], capture_output=True, text=True, timeout=timeout)


def write(path, header, rows, delimiter=","):
    with open(path, "w", newline="") as f:
        w = csv.writer(f, delimiter=delimiter)
        w.writerow(header)
        w.writerows(rows)
    return str(path)


def table(n=60, seed=0):
    """Two informative number columns and a 0/1 target, as strings."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 2))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    return [[f"{a:.4f}", f"{b:.4f}", str(t)] for (a, b), t in zip(X, y)]


def quiet_train(*args):
    return run("train", "--target", "y", "--epochs", "3", *args)


def no_numpy_warning(out):
    assert "Warning" not in out.stderr and "numpy" not in out.stderr, out.stderr


@pytest.mark.parametrize("n", [20, 60])
@pytest.mark.parametrize("cell", ["0x10", "∞", "True", "n/a", "1.5.3", "12 kg"])
def test_a_few_odd_cells_in_a_numeric_column_are_refused_naming_column_cells_and_lines(tmp_path, cell, n):
    rows = table(n)
    rows[7][0] = cell
    path = write(tmp_path / "t.csv", ["a", "b", "y"], rows)
    out = quiet_train("--data", path)
    assert out.returncode == 2, out.stdout
    message = out.stderr.strip()
    assert message.count("\n") == 0 and message.startswith("error: ")
    assert f"column 'a'" in message and repr(cell) in message and "(line 9)" in message  # header is line 1
    assert "--text-columns a" in message and f"1 of its {n} cells" in message
    no_numpy_warning(out)


def test_several_odd_cells_are_listed_by_their_first_few(tmp_path):
    rows = table(100)
    for i in (3, 10, 40, 41):
        rows[i][1] = f"x{i}"
    out = quiet_train("--data", write(tmp_path / "t.csv", ["a", "b", "y"], rows))
    assert out.returncode == 2
    assert "4 of its 100 cells are not a number: 'x3' (line 5), 'x10' (line 12), 'x40' (line 42) ..." in out.stderr


def test_the_refused_column_can_be_encoded_as_categories_on_request(tmp_path):
    rows = table(60)
    rows[7][0] = "0x10"
    path = write(tmp_path / "t.csv", ["a", "b", "y"], rows)
    out = quiet_train("--data", path, "--text-columns", "a")
    assert out.returncode == 0, out.stderr
    assert "1 text column one-hot encoded ('a')" in out.stdout
    out = quiet_train("--data", path, "--text-columns", "nope")
    assert out.returncode == 2 and "no column 'nope' (--text-columns)" in out.stderr


def test_columns_mostly_of_text_are_one_hot_encoded_and_named(tmp_path):
    share = int(1 / MISTYPED_SHARE) + 1  # every this many rows a text cell: above the share
    rows = [row + [["red", "green", "blue"][i % 3], "5" if i % share else "many"] for i, row in
            enumerate(table(60))]
    rows = [[r[0], r[1], r[3], r[4], r[2]] for r in rows]
    # A column of text with a few numbers in it stays a text column.
    for i in (0, 5):
        rows[i][2] = "7"
    path = write(tmp_path / "t.csv", ["a", "b", "colour", "count", "y"], rows)
    out = quiet_train("--data", path)
    assert out.returncode == 2 and "column 'count'" in out.stderr  # 5 of 60 'many': numbers with odd cells
    rows = [r[:3] + r[4:] for r in rows]
    out = quiet_train("--data", write(tmp_path / "u.csv", ["a", "b", "colour", "y"], rows))
    assert out.returncode == 0, out.stderr
    assert "1 text column one-hot encoded ('colour')" in out.stdout


def test_many_text_columns_are_named_by_the_first_few_and_a_count(tmp_path):
    rows = [row[:2] + [f"c{(i * k) % 3}" for k in range(1, 7)] + row[2:] for i, row in enumerate(table(60))]
    names = [f"t{k}" for k in range(1, 7)]
    out = quiet_train("--data", write(tmp_path / "t.csv", ["a", "b", *names, "y"], rows))
    assert out.returncode == 0, out.stderr
    assert "6 text columns one-hot encoded ('t1', 't2', 't3', 't4' and 2 more)" in out.stdout


def _same_model(tmp_path, plain_rows, odd_path, odd_flags, header=("a", "b", "y")):
    """Train on the plain table and on its odd spelling: the same numbers, so the same model and predictions."""
    plain = write(tmp_path / "plain.csv", list(header), plain_rows)
    results = []
    for path, flags, model in ((plain, [], "p.npz"), (odd_path, odd_flags, "o.npz")):
        out = quiet_train("--data", path, "--out", str(tmp_path / model), *flags)
        assert out.returncode == 0, out.stderr
        predicted = run("predict", str(tmp_path / model), "--data", path)
        assert predicted.returncode == 0, predicted.stderr
        results.append((out.stdout.splitlines()[-2].split(";")[0], predicted.stdout))
    assert results[0] == results[1]
    import fastbp

    weights = [fastbp.Network.load(str(tmp_path / m)).weights for m in ("p.npz", "o.npz")]
    assert all(np.array_equal(a, b) for a, b in zip(*weights))


def test_decimal_commas_are_refused_naming_the_option_then_read_as_numbers(tmp_path):
    rows = table(60)
    rows[3][0] = "1234.5"
    odd = [[c.replace(".", ",") if j < 2 else c for j, c in enumerate(r)] for r in rows]
    odd[3][0] = "1.234,5"  # a dot separating thousands, as spreadsheets in these locales write it
    path = write(tmp_path / "comma.csv", ["a", "b", "y"], odd, delimiter=";")
    out = quiet_train("--data", path)
    assert out.returncode == 2 and "--decimal ," in out.stderr and "column 'a'" in out.stderr
    assert "one-hot" not in out.stdout
    _same_model(tmp_path, rows, path, ["--decimal", ","])


def test_thousands_separators_are_refused_naming_the_option_then_read_as_numbers(tmp_path):
    rows = table(60)
    rows[10][1] = "1000"
    rows[20][1] = "-12345.5"
    odd = [list(r) for r in rows]
    odd[10][1], odd[20][1] = "1,000", "-12,345.5"
    path = write(tmp_path / "thousands.csv", ["a", "b", "y"], odd)
    out = quiet_train("--data", path)
    assert out.returncode == 2 and "--thousands ," in out.stderr and "'1,000' (line 12)" in out.stderr
    _same_model(tmp_path, rows, path, ["--thousands", ","])
    refused = quiet_train("--data", path, "--text-columns", "refuse")
    assert refused.returncode == 2 and "--thousands ," in refused.stderr and "line 12, column 'b'" in refused.stderr


@pytest.mark.parametrize("text_columns", ["onehot", "refuse"])
def test_a_long_cell_is_quoted_briefly(tmp_path, text_columns):
    rows = table(60)
    rows[4][0] = "x" * 200_000
    out = quiet_train("--data", write(tmp_path / "t.csv", ["a", "b", "y"], rows), "--text-columns", text_columns)
    assert out.returncode == 2
    assert len(out.stderr) < 600 and "(200000 characters)" in out.stderr and "line 6" in out.stderr
    assert "x" * QUOTED_CHARS in out.stderr and "x" * (QUOTED_CHARS + 1) not in out.stderr


def test_a_value_beyond_float32_is_named_by_line_and_column_without_numpy_warnings(tmp_path):
    rows = table(60)
    rows[5][1] = "1e300"
    path = write(tmp_path / "t.csv", ["a", "b", "y"], rows)
    out = quiet_train("--data", path, "--scale", "none")
    assert out.returncode == 2
    assert "t.csv line 7, column 'b': 1e+300 is beyond the largest float32" in out.stderr
    no_numpy_warning(out)
    scaled = quiet_train("--data", path)  # standardised it fits: an outlier, trained on
    assert scaled.returncode == 0, scaled.stderr
    no_numpy_warning(scaled)
    target = write(tmp_path / "r.csv", ["a", "b", "y"], [[r[0], r[1], "1e300" if i == 8 else r[0]]
                                                          for i, r in enumerate(table(60))])
    out = quiet_train("--data", target, "--scale", "none", "--task", "regression")
    assert out.returncode == 2 and "r.csv line 10, target column 'y': 1e+300 is beyond" in out.stderr
    no_numpy_warning(out)


def _tamper(path, out, edit):
    arrays = dict(np.load(path))
    meta = json.loads(bytes(arrays["meta"]).decode())
    edit(meta["extra"])
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    np.savez(out, **arrays)
    return str(out)


@pytest.mark.parametrize("field, value", [("scaling", 5e-324), ("scaling", 1e-300), ("target_scaling", 5e-324)])
def test_a_damaged_model_scaling_blames_the_model_file_and_its_field(tmp_path, field, value):
    rows = table(60)
    data = write(tmp_path / "t.csv", ["a", "b", "y"], rows)
    model = str(tmp_path / "m.npz")
    assert quiet_train("--data", data, "--out", model, "--task", "regression").returncode == 0

    def edit(extra):
        extra[field]["scale"][0] = value

    damaged = _tamper(model, tmp_path / "d.npz", edit)
    for command in ("predict", "evaluate"):
        out = run(command, damaged, "--data", data)
        assert out.returncode == 2, out.stdout
        what = "feature scaling" if field == "scaling" else "target scaling"
        assert out.stderr.startswith(f"error: {damaged}: the model file's {what} is malformed"), out.stderr
        no_numpy_warning(out)


def test_a_new_cell_too_large_for_the_model_is_named_at_predict(tmp_path):
    rows = table(60)
    model = str(tmp_path / "m.npz")
    assert quiet_train("--data", write(tmp_path / "t.csv", ["a", "b", "y"], rows), "--out", model).returncode == 0
    rows[2][1] = "-1e300"
    out = run("predict", model, "--data", write(tmp_path / "new.csv", ["a", "b", "y"], rows))
    assert out.returncode == 2 and "new.csv line 4, column 'b': -1e+300 is too large for the model" in out.stderr
    no_numpy_warning(out)


def test_a_model_keeps_its_number_format_for_predict(tmp_path):
    rows = [[c.replace(".", ",") if j < 2 else c for j, c in enumerate(r)] for r in table(60)]
    path = write(tmp_path / "comma.csv", ["a", "b", "y"], rows, delimiter=";")
    model = str(tmp_path / "m.npz")
    assert quiet_train("--data", path, "--decimal", ",", "--out", model).returncode == 0
    out = run("predict", model, "--data", path)
    assert out.returncode == 0, out.stderr
    assert len(out.stdout.splitlines()) == 61
    broken = _tamper(model, tmp_path / "d.npz", lambda extra: extra.update(number_format={"decimal": "x"}))
    out = run("predict", broken, "--data", path)
    assert out.returncode == 2 and "number_format is malformed" in out.stderr and str(broken) in out.stderr


@pytest.mark.parametrize("fmt, cells, numbers", [
    (NumberFormat(",", "."), ["0,5", "-1.234,5", "1.234", "7", "1e3", "abc", "1,2,3"],
     ["0.5", "-1234.5", "1234", "7", "1e3", "abc", "1,2,3"]),
    (NumberFormat(",", ""), ["0,5", "1.234,5", "+3,25"], ["0.5", "1.234,5", "+3.25"]),
    (NumberFormat(".", ","), ["1,000", "-12,345.5", "1,00", "2.5", "1,000,000"],
     ["1000", "-12345.5", "1,00", "2.5", "1000000"]),
])
def test_number_formats_rewrite_only_cells_written_in_them(fmt, cells, numbers):
    block = np.array([cells], dtype="U16")
    fmt.normalise(block)
    assert block[0].tolist() == numbers


def test_sigint_during_a_compile_is_held_and_delivered_once_it_ends(monkeypatch, python_sigint):
    from fastbp import _tiers, _warmup

    ran = []

    def compile_one(name, key):  # a compile that Ctrl-C interrupts half way
        ran.append(name)
        os.kill(os.getpid(), signal.SIGINT)
        ran.append(f"{name} finished")

    monkeypatch.setattr(_warmup, "run", compile_one)
    monkeypatch.setattr(_tiers, "_missing_in_memory", lambda compiled, kernels, key: True)
    with pytest.raises(KeyboardInterrupt, match="during the compile of fastbp's float64 kernels"):
        _tiers.warm("float64", ["forward", "loss_value"], quiet=True)
    assert ran == ["forward", "forward finished"]  # the kernel under way ended; the next did not start
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
