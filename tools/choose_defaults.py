"""The measurement behind ``fastbp.Network``'s default activation and learning
rate: each candidate's held-out score on scikit-learn's bundled data sets,
standardised, with ``fit``'s other defaults (10 epochs, batch 32).

    python tools/choose_defaults.py            # prints one table; about a minute

Per data set: a 75/25 split (stratified for classifiers), features
standardised on the training rows (a regression target too), one hidden
layer of 64 units, the mean test score (accuracy, or R² in the target's
units) over 5 seeds of the weights and batch order.
"""
import itertools
import warnings

import numpy as np
from sklearn import datasets
from sklearn.model_selection import train_test_split

import fastbp

SETS = {
    "iris": (datasets.load_iris, "classification"),
    "wine": (datasets.load_wine, "classification"),
    "breast_cancer": (datasets.load_breast_cancer, "classification"),
    "digits": (datasets.load_digits, "classification"),
    "diabetes": (datasets.load_diabetes, "regression"),
}
ACTIVATIONS = ["sigmoid", "tanh", "relu", "leaky_relu", "gelu", "silu"]
RATES = [0.1, 0.03]
SEEDS = range(5)


def score(load, task, activation, lr, seed) -> float:
    X, y = load(return_X_y=True)
    stratify = y if task == "classification" else None
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.25, random_state=0, stratify=stratify)
    mu, sd = X_tr.mean(0), X_tr.std(0)
    sd[sd == 0] = 1
    X_tr, X_te = (X_tr - mu) / sd, (X_te - mu) / sd
    if task == "classification":
        classes = np.unique(y_tr)
        net = fastbp.Network([X.shape[1], 64, len(classes)], activation=activation, seed=seed)
        net.fit(X_tr, np.searchsorted(classes, y_tr), lr=lr, on_divergence="warn")
        return float(np.mean(classes[net.predict(X_te)] == y_te))
    ym, ys = y_tr.mean(), y_tr.std()
    net = fastbp.Network([X.shape[1], 64, 1], activation=activation, output="identity", seed=seed)
    net.fit(X_tr, (y_tr - ym) / ys, lr=lr, on_divergence="warn")
    pred = net.predict(X_te)[:, 0] * ys + ym
    return float(1 - np.sum((y_te - pred) ** 2) / np.sum((y_te - y_te.mean()) ** 2))


def main() -> None:
    warnings.simplefilter("ignore")
    fastbp.set_tier("wait")
    rows = []
    for activation, lr in itertools.product(ACTIVATIONS, RATES):
        scores = [np.mean([score(load, task, activation, lr, s) for s in SEEDS]) for load, task in SETS.values()]
        rows.append((activation, lr, scores))
    print(f"{'activation':12s} {'lr':>5s} " + " ".join(f"{n:>13s}" for n in SETS) + f" {'mean':>7s}")
    for activation, lr, scores in sorted(rows, key=lambda r: -np.mean(r[2])):
        print(f"{activation:12s} {lr:5g} " + " ".join(f"{s:13.3f}" for s in scores) + f" {np.mean(scores):7.3f}")


if __name__ == "__main__":
    main()
