"""``fastbp train`` with its defaults against scikit-learn on the same split:
a pipeline of ``OneHotEncoder``/``SimpleImputer``/``StandardScaler`` and
``MLPClassifier``/``MLPRegressor`` (defaults), and ``HistGradientBoosting``.

    python tools/compare_command.py            # one table; a minute or two

Data: scikit-learn's bundled sets written as CSV (features as they come),
and a messy table (``messy_table``: breast cancer with a text column and
empty cells). The split is the command's own (``--seed 0``: 25 % test rows);
scikit-learn trains on every other row (the command holds 10 % of them out
for early stopping).
"""
import csv
import os
import re
import subprocess
import sys
import tempfile
import warnings

import numpy as np
from sklearn import datasets
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.impute import SimpleImputer
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler


def messy_table(seed: int = 0):
    """Breast cancer with 'mean area' as a text column (small/medium/large,
    from its terciles) and about 8 % of the cells of four columns empty;
    target: 'malignant'/'benign'. Returns ``(header, rows, target name)``."""
    data = datasets.load_breast_cancer()
    rng = np.random.default_rng(seed)
    X, names = data.data, [n.replace(" ", "_") for n in data.feature_names]
    area = names.index("mean_area")
    cuts = np.quantile(X[:, area], [1 / 3, 2 / 3])
    size = np.array(["small", "medium", "large"])[np.searchsorted(cuts, X[:, area])]
    rows = []
    for i in range(len(X)):
        cells = [f"{v:.6g}" for v in X[i]]
        cells[area] = size[i]
        rows.append(cells + [data.target_names[data.target[i]]])
    for col in (area, 0, 5, 12):
        for i in np.flatnonzero(rng.random(len(rows)) < 0.08):
            rows[i][col] = ""
    names[area] = "size"
    return names + ["diagnosis"], rows, "diagnosis"


def bundled(name: str):
    load = {"wine": datasets.load_wine, "breast_cancer": datasets.load_breast_cancer, "iris": datasets.load_iris,
            "digits": datasets.load_digits, "diabetes": datasets.load_diabetes}[name]
    kw = {"scaled": False} if name == "diabetes" else {}
    X, y = load(return_X_y=True, **kw)
    header = [f"f{j}" for j in range(X.shape[1])] + ["target"]
    rows = [[f"{v:.10g}" for v in x] + [str(t)] for x, t in zip(X, y)]
    return header, rows, "target"


def write(path, header, rows):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)


def command_score(path, target) -> float:
    out = subprocess.run([sys.executable, "-m", "fastbp", "train", "--data", path, "--target", target, "--quiet"],
                         capture_output=True, text=True, check=True).stdout
    return float(re.search(r"test (?:accuracy|R2): ([-0-9.]+)", out).group(1))


def sklearn_scores(header, rows, target, classification: bool) -> tuple[float, float]:
    from fastbp.cli.train import split

    t = header.index(target)
    n = len(rows)
    train, test = split(n, 0.25, np.random.default_rng(0))
    cols = [j for j in range(len(header)) if j != t]
    cells = np.array([[r[j] for j in cols] for r in rows], dtype=object)
    text = [k for k in range(len(cols)) if any(c and not _number(c) for c in cells[:, k])]
    num = [k for k in range(len(cols)) if k not in text]
    Xn = np.array([[float(c) if c else np.nan for c in cells[i, num]] for i in range(n)])
    Xt = np.where(cells[:, text] == "", "missing", cells[:, text]).astype(str) if text else np.zeros((n, 0))
    X = np.empty((n, len(num) + len(text)), dtype=object)
    X[:, :len(num)], X[:, len(num):] = Xn, Xt
    y = np.array([r[t] for r in rows])
    if not classification:
        y = y.astype(float)
    prep = ColumnTransformer([
        ("num", make_pipeline(SimpleImputer(strategy="median", add_indicator=True), StandardScaler()),
         list(range(len(num)))),
        ("text", OneHotEncoder(handle_unknown="ignore"), list(range(len(num), len(num) + len(text)))),
    ])
    mlp = make_pipeline(prep, MLPClassifier(random_state=0) if classification else MLPRegressor(random_state=0))
    hgb = make_pipeline(ColumnTransformer([("num", "passthrough", list(range(len(num)))),
                                           ("text", OneHotEncoder(handle_unknown="ignore"),
                                            list(range(len(num), len(num) + len(text))))]),
                        HistGradientBoostingClassifier(random_state=0) if classification
                        else HistGradientBoostingRegressor(random_state=0))
    return tuple(float(m.fit(X[train], y[train]).score(X[test], y[test])) for m in (mlp, hgb))


def _number(cell) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def main() -> None:
    warnings.simplefilter("ignore")
    folder = tempfile.mkdtemp()
    cases = {name: (bundled(name), name != "diabetes") for name in ("wine", "breast_cancer", "diabetes", "iris",
                                                                    "digits")}
    cases["messy table"] = (messy_table(), True)
    print(f"{'data':14s} {'score':9s} {'fastbp train':>12s} {'sklearn MLP pipeline':>21s} {'HistGradientBoosting':>21s}")
    for name, ((header, rows, target), classification) in cases.items():
        path = os.path.join(folder, name.replace(" ", "_") + ".csv")
        write(path, header, rows)
        ours = command_score(path, target)
        mlp, hgb = sklearn_scores(header, rows, target, classification)
        print(f"{name:14s} {'accuracy' if classification else 'R2':9s} {ours:12.4f} {mlp:21.4f} {hgb:21.4f}")


if __name__ == "__main__":
    main()
