"""The ``fastbp`` command, driven in a subprocess as a user would."""
import csv
import os
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("sklearn")


def run(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "fastbp", *args], capture_output=True, text=True, timeout=timeout)


def _metric(stdout, name):
    line = [l for l in stdout.splitlines() if l.startswith(f"test {name}")][0]
    return float(line.split()[2].rstrip(";"))


def test_train_on_the_default_data(tmp_path):
    out = run("train", "--out", str(tmp_path / "m.npz"))
    assert out.returncode == 0, out.stderr
    assert "digits" in out.stdout and "s per epoch" in out.stdout
    assert _metric(out.stdout, "accuracy") >= 0.95
    assert (tmp_path / "m.npz").exists()


@pytest.mark.parametrize("optimizer", ["momentum", "adam"])
def test_train_with_an_optimizer(optimizer):
    out = run("train", "--epochs", "15", "--optimizer", optimizer, "--l2", "1e-4",
              *(["--lr", "0.02"] if optimizer == "momentum" else []))
    assert out.returncode == 0, out.stderr
    assert ("Adam(" if optimizer == "adam" else "SGD(momentum=0.9") in out.stdout
    assert _metric(out.stdout, "accuracy") >= 0.93


def test_no_subcommand_trains_the_default(tmp_path):
    out = run("--epochs", "2")
    assert out.returncode == 0, out.stderr
    assert "test accuracy" in out.stdout


@pytest.fixture
def regression_csv(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 3))
    y = X @ [1.5, -2.0, 0.5] + 0.3 * np.sin(3 * X[:, 0])
    path = tmp_path / "reg.csv"
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["a", "b", "target", "c"])
        for row, t in zip(X, y):
            w.writerow([row[0], row[1], t, row[2]])
    return path


def test_train_on_csv_regression_then_predict(tmp_path, regression_csv):
    model = tmp_path / "reg.npz"
    out = run("train", "--data", str(regression_csv), "--target", "target", "--hidden", "32", "--epochs", "60",
              "--lr", "0.02", "--out", str(model), "--plot", str(tmp_path / "curve.png"))
    assert out.returncode == 0, out.stderr
    assert "regression" in out.stdout
    assert _metric(out.stdout, "R2") > 0.9
    assert (tmp_path / "curve.png").stat().st_size > 1000
    pred = run("predict", str(model), "--data", str(regression_csv), "--target", "target", "--out", str(tmp_path / "p.csv"))
    assert pred.returncode == 0, pred.stderr
    rows = list(csv.reader(open(tmp_path / "p.csv")))
    assert rows[0] == ["prediction"] and len(rows) == 401
    float(rows[1][0])


def test_train_on_npz_classification_with_labels_kept(tmp_path):
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True)
    labels = np.array([10, 20, 30])[y]  # not 0..k-1: the command maps and maps back
    np.savez(tmp_path / "iris.npz", X=X, y=labels)
    model = tmp_path / "iris_model.npz"
    out = run("train", "--data", str(tmp_path / "iris.npz"), "--epochs", "80", "--hidden", "16",
              "--out", str(model))
    assert out.returncode == 0, out.stderr
    assert _metric(out.stdout, "accuracy") > 0.8
    pred = run("predict", str(model), "--data", str(tmp_path / "iris.npz"))
    assert pred.returncode == 0, pred.stderr
    values = {int(v) for v in pred.stdout.split()[1:]}
    assert values <= {10, 20, 30} and len(values) >= 2


def test_info():
    out = run("info")
    assert out.returncode == 0, out.stderr
    for word in ("fastbp", "numpy", "numba", "scipy", "openblas", "threads", "compile cache", "sklearn", "mpi4py"):
        assert word in out.stdout


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """The bad and good inputs of ``BAD``, and one trained model: made once for all of them."""
    tmp_path = tmp_path_factory.mktemp("cli")
    (tmp_path / "text.csv").write_text("a,b,y\n1,x,0\n2,3,1\n")
    (tmp_path / "nan.csv").write_text("a,b,y\n1,nan,0\n2,3,1\n3,4,0\n4,5,1\n5,6,0\n")
    (tmp_path / "ok.csv").write_text("a,b,y\n1,2,0\n2,3,1\n3,4,0\n4,5,1\n5,6,0\n")
    (tmp_path / "garbage.npz").write_bytes(b"not a zip")
    np.savez(tmp_path / "noy.npz", X=np.zeros((5, 2)))
    trained = run("train", "--epochs", "1", "--out", str(tmp_path / "m.npz"))
    assert trained.returncode == 0, trained.stderr
    return tmp_path


BAD = {
    "missing file": (["train", "--data", "{d}/nope.csv", "--target", "y"], "no such file"),
    "non-numeric cell": (["train", "--data", "{d}/text.csv", "--target", "y", "--text-columns", "refuse"],
                         "not a number"),
    "missing target column": (["train", "--data", "{d}/ok.csv", "--target", "label"], "no column 'label'"),
    "csv without target": (["train", "--data", "{d}/ok.csv"], "--target"),
    "unreadable npz": (["train", "--data", "{d}/garbage.npz"], "garbage.npz"),
    "npz without y": (["train", "--data", "{d}/noy.npz"], "'y'"),
    "NaN cell": (["train", "--data", "{d}/nan.csv", "--target", "y"], "NaN"),
    "too many threads": (["train", "--threads", "512"], "threads"),
    "unknown activation": (["train", "--activation", "swish"], "invalid choice"),
    "unknown flag": (["train", "--colour", "red"], "unrecognized"),
    "negative epochs": (["train", "--epochs", "-3"], "--epochs"),
    "bad lr": (["train", "--lr", "nan"], "--lr"),
    "unknown optimizer": (["train", "--optimizer", "adagrad"], "invalid choice"),
    "momentum out of range": (["train", "--optimizer", "nesterov", "--momentum", "1.5"], "--momentum must be in [0, 1)"),
    "negative l2": (["train", "--l2", "-1"], "--l2 must be >= 0"),
    "shape mismatch on predict": (["predict", "{d}/m.npz", "--data", "{d}/ok.csv"], "expects 64"),
    "missing model": (["predict", "{d}/none.npz", "--data", "{d}/ok.csv"], "no such model"),
    "corrupt model": (["predict", "{d}/garbage.npz", "--data", "{d}/ok.csv"], "not a valid fastbp model"),
}


@pytest.mark.parametrize("case", list(BAD), ids=list(BAD))
def test_bad_input_is_one_line_and_status_2(files, case):
    argv, words = BAD[case]
    out = run(*[a.format(d=files) for a in argv])
    assert out.returncode == 2, (out.stdout, out.stderr)
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert "Traceback" not in out.stderr and words in lines[0]


def test_ctrl_c_saves_the_last_finished_epoch(tmp_path):
    import re
    import signal
    import threading
    import time

    model = tmp_path / "m.npz"
    # SIGINT as a terminal leaves it, even where this test runs as a background
    # job (whose shell ignores SIGINT, and Python then never sees Ctrl-C).
    p = subprocess.Popen([sys.executable, "-m", "fastbp", "train", "--epochs", "100000", "--patience", "0",
                          "--out", str(model)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    lines = {"stdout": [], "stderr": []}

    def read(name, stream):
        for line in stream:
            lines[name].append(line)

    readers = [threading.Thread(target=read, args=(name, getattr(p, name)), daemon=True) for name in lines]
    for reader in readers:
        reader.start()
    # Wait (with a deadline that can fire) until two epochs have finished.
    deadline = time.monotonic() + 120
    while not any(re.match(r"epoch ([2-9]|\d\d+)/100000", ln) for ln in lines["stdout"] + lines["stderr"]):
        assert p.poll() is None, "".join(lines["stderr"])
        assert time.monotonic() < deadline, "no second epoch within 120 s: " + "".join(lines["stderr"])
        time.sleep(0.05)
    p.send_signal(signal.SIGINT)
    assert p.wait(timeout=120) == 130
    for reader in readers:
        reader.join(timeout=10)
    stderr = "".join(lines["stderr"])
    done = re.search(r"interrupted after (\d+) finished epochs", stderr)
    assert done and int(done.group(1)) >= 2, stderr
    import fastbp

    net = fastbp.Network.load(model)
    assert all(np.isfinite(w).all() for w in net.weights)


# Every output path, its format and the package that writes it are checked
# before any data is read: "network:" (printed once the data is loaded)
# never appears, and nothing is written.
OUTPUTS = {
    "--out in a missing folder": (["train", "--out", "{d}/missing/m.npz"], "does not exist"),
    "--out a folder": (["train", "--out", "{d}"], "is a folder"),
    "--plot in an unknown format": (["train", "--plot", "{d}/c.xyz"], "'.xyz'"),
    "--plot without an extension": (["train", "--plot", "{d}/curves"], "extension"),
    "--plot in a missing folder": (["train", "--plot", "{d}/missing/c.png"], "does not exist"),
    "--out the same file as --plot": (["train", "--out", "{d}/x.png", "--plot", "{d}/x.png"], "same file"),
    "--out the --data file": (["train", "--data", "{d}/ok.csv", "--target", "y", "--out", "{d}/ok.csv"],
                              "same file"),
    "negative seed": (["train", "--seed", "-1"], "--seed"),
    "negative patience": (["train", "--patience", "-1"], "--patience"),
    "patience without validation rows": (["train", "--patience", "3", "--validation-split", "0"], "--validation-split"),
    "splits leave nothing": (["train", "--test-split", "0.5", "--validation-split", "0.5"], "nothing to train"),
    "predict --out a folder": (["predict", "{d}/m.npz", "--data", "{d}/ok.csv", "--out", "{d}"], "is a folder"),
    "predict --out over its model": (["predict", "{d}/m.npz", "--data", "{d}/ok.csv", "--out", "{d}/m.npz"],
                                     "same file"),
    "bench --plot in an unknown format": (["bench", "--plot", "{d}/c.xyz"], "'.xyz'"),
    "bench --json in a missing folder": (["bench", "--json", "{d}/missing/b.json"], "does not exist"),
}


@pytest.mark.parametrize("case", list(OUTPUTS), ids=list(OUTPUTS))
def test_outputs_are_checked_before_any_work(files, case):
    argv, words = OUTPUTS[case]
    before = sorted(os.listdir(files))
    out = run(*[a.format(d=files) for a in argv])
    assert out.returncode == 2, (out.stdout, out.stderr)
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in out.stderr and words in lines[0], out.stderr
    assert "network:" not in out.stdout and "config" not in out.stdout
    assert sorted(os.listdir(files)) == before


def test_plot_without_matplotlib_fails_before_training(tmp_path):
    blocker = tmp_path / "block"
    blocker.mkdir()
    (blocker / "matplotlib").mkdir()
    (blocker / "matplotlib" / "__init__.py").write_text("raise ImportError('no matplotlib here')\n")
    env = {**os.environ, "PYTHONPATH": f"{blocker}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    out = subprocess.run([sys.executable, "-m", "fastbp", "train", "--plot", str(tmp_path / "c.png")],
                         capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 2 and "network:" not in out.stdout
    assert out.stderr.strip().splitlines() == ['error: --plot needs matplotlib: pip install "fastbp[plot]" '
                                               "(or pip install matplotlib)"]


def test_help_shows_the_defaults():
    out = run("train", "--help")
    assert out.returncode == 0
    text = " ".join(out.stdout.split())
    for shown in ("(default: 30)", "(default: 64)", "(default: 32)", "(default: float32)", "(default: 0.25)",
                  "(default: 0.1)", "(default: standard)", "fastbp.Network's is float64"):
        assert shown in text, shown


def test_a_log_gets_lines_not_a_bar_and_notes_what_is_ignored(tmp_path):
    env = {**os.environ, "PMI_RANK": "0", "PMI_SIZE": "2"}  # as mpiexec -n 2 sets them
    out = subprocess.run([sys.executable, "-m", "fastbp", "train", "--epochs", "3", "--momentum", "0.5",
                          "--test-split", "0"], capture_output=True, text=True, timeout=300, env=env)
    assert out.returncode == 0, out.stderr
    assert "\r" not in out.stdout + out.stderr
    assert [l.split()[1] for l in out.stdout.splitlines() if l.startswith("epoch ")][-1] == "3/3"
    assert "nan" not in out.stdout and "no test samples" in out.stdout
    warnings = [l for l in out.stderr.splitlines() if l.startswith("warning:")]
    assert any("--momentum 0.5" in w and "ignores it" in w for w in warnings), out.stderr
    assert any("2 MPI processes without --distributed" in w for w in warnings), out.stderr


def test_the_command_trains_in_one_fit(monkeypatch, capsys):
    """One fit for the whole run: the checks, the conversion and any MPI set-up happen once."""
    import fastbp
    from fastbp.cli import main

    calls = []
    fit = fastbp.Network.fit

    def counted(self, *args, **kwargs):
        calls.append(kwargs.get("epochs"))
        return fit(self, *args, **kwargs)

    monkeypatch.setattr(fastbp.Network, "fit", counted)
    assert main(["train", "--epochs", "4", "--patience", "50"]) == 0
    assert calls == [4]
    assert "test accuracy" in capsys.readouterr().out


@pytest.mark.parametrize("env,words", [({"NUMBA_DISABLE_JIT": "1"}, "NUMBA_DISABLE_JIT"),
                                       ({"FASTBP_BLAS": "bogus"}, "FASTBP_BLAS='bogus'")])
@pytest.mark.parametrize("command", [["train", "--epochs", "1"], ["info"], ["compile", "--kernels", "forward"]])
def test_a_bad_environment_is_one_line(env, words, command):
    proc = subprocess.run([sys.executable, "-m", "fastbp", *command], capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=300)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and words in lines[0], lines
