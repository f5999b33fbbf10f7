"""End to end: a small network learns scikit-learn's bundled digits data."""
import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn")
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402

import fastbp  # noqa: E402


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_digits_held_out_accuracy_at_least_95_percent(dtype):
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X / 16.0, y, test_size=0.25, random_state=0, stratify=y)
    net = fastbp.Network([64, 64, 10], activation="tanh", output="softmax", loss="cross_entropy", dtype=dtype, seed=0)
    history = net.fit(X_train, y_train, epochs=30, batch_size=32, lr=0.1)
    assert history["loss"][-1] < history["loss"][0]
    accuracy = np.mean(net.predict(X_test) == y_test)
    assert accuracy >= 0.95, f"test accuracy {accuracy:.3f} on digits ({dtype})"


def test_main_job_prints_accuracy():
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "fastbp", "--quiet"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    line = [l for l in out.stdout.splitlines() if l.startswith("test accuracy")][0]
    assert float(line.split()[2]) >= 0.95, out.stdout
