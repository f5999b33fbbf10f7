"""SHA-1 of the trained weights of one tree, per configuration: a restructuring
that must not change arithmetic prints the same lines before and after.

    python tools/weights_digest.py TREE > before.txt   # e.g. a worktree of main
    python tools/weights_digest.py .    > after.txt
    diff before.txt after.txt

The tree's ``fastbp`` package is copied under another name into a temporary
folder and imported from there (an editable install of this checkout would
otherwise win). Every configuration trains 3 epochs from seed 0 in the
compiled tier: each hidden activation, each output/loss pair, each
optimizer (with and without L2), per-row weights, both dtypes, a layer
small enough for the register tiles and one for the BLAS; then the
scikit-learn estimators (sgd, adam, lbfgs) and ``step``/``gradients``.
"""
import argparse
import hashlib
import importlib
import itertools
import os
import shutil
import sys
import tempfile
import warnings

import numpy as np


def digest(*arrays) -> str:
    h = hashlib.sha1()
    for a in arrays:
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()[:16]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("tree")
    ap.add_argument("--quick", action="store_true", help="float64 only, fewer optimizer pairs")
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    root = tempfile.mkdtemp(prefix="fastbp-digest-")
    shutil.copytree(os.path.join(args.tree, "fastbp"), os.path.join(root, "fastbp_digest"),
                    ignore=shutil.ignore_patterns("__pycache__"))
    sys.path.insert(0, root)
    fb = importlib.import_module("fastbp_digest")
    fb.set_tier("wait")
    fb.set_num_threads(1)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 12))
    labels = rng.integers(0, 3, size=300)
    targets = {"softmax": np.eye(3)[labels], "sigmoid": (rng.random((300, 3)) > 0.5) * 1.0,
               "identity": rng.normal(size=(300, 3))}
    weights = rng.random(300)
    pairs = [("softmax", "cross_entropy"), ("sigmoid", "binary_cross_entropy"), ("identity", "mse"),
             ("sigmoid", "mse")]
    hidden = ["sigmoid", "tanh", "relu", "leaky_relu", "identity", "gelu", "silu"]
    optimizers = [("sgd", {}), ("momentum", {}), ("nesterov", {}), ("adam", {}), ("rmsprop", {}),
                  ("sgd_l2", {"l2": 1e-3}), ("adam_l2", {"l2": 1e-3})]
    dtypes = ["float64"] if args.quick else ["float64", "float32"]
    for dtype, width in itertools.product(dtypes, (8, 96)):
        for act, (output, loss) in itertools.product(hidden, pairs):
            net = fb.Network([12, width, 3], activation=act, output=output, loss=loss, dtype=dtype, seed=0)
            net.fit(X, targets[output], epochs=3, batch_size=32, lr=0.05)
            print(f"{dtype} w{width} {act:10s} {output}/{loss:20s} sgd", digest(*net.weights, *net.biases))
        for name, extra in optimizers:
            opt = name.split("_")[0]
            make = {"sgd": lambda **k: fb.optimizers.SGD(**k), "momentum": lambda **k: fb.optimizers.SGD(0.9, **k),
                    "nesterov": lambda **k: fb.optimizers.SGD(0.9, True, **k),
                    "adam": lambda **k: fb.optimizers.Adam(**k), "rmsprop": lambda **k: fb.optimizers.RMSprop(**k)}
            net = fb.Network([12, width, 3], activation="relu", dtype=dtype, seed=0)
            net.fit(X, labels, epochs=3, batch_size=32, lr=0.01, optimizer=make[opt](**extra))
            print(f"{dtype} w{width} relu softmax {name:10s}", digest(*net.weights, *net.biases))
            net = fb.Network([12, width, 3], activation="tanh", dtype=dtype, seed=0)
            net.fit(X, labels, epochs=3, batch_size=32, lr=0.01, optimizer=make[opt](**extra), sample_weight=weights)
            print(f"{dtype} w{width} tanh softmax {name:10s} weighted", digest(*net.weights, *net.biases))
        net = fb.Network([12, width, 3], activation="relu", dtype=dtype, seed=0)
        loss = net.step(X[:50], labels[:50], lr=0.1)
        dW, db = net.gradients(X, labels)
        print(f"{dtype} w{width} step+gradients", digest(*net.weights, *net.biases, *dW, *db, np.float64(loss)))
        print(f"{dtype} w{width} forward", digest(net.forward(X)))
    sk = importlib.import_module("fastbp_digest.sklearn")
    for solver in ("sgd", "adam", "lbfgs"):
        clf = sk.MLPClassifier(hidden_layer_sizes=(20,), solver=solver, max_iter=3, random_state=0).fit(X, labels)
        print(f"sklearn classifier {solver} coefs", digest(*clf.coefs_, *clf.intercepts_))
        print(f"sklearn classifier {solver} predict_proba", digest(clf.predict_proba(X)))
        reg = sk.MLPRegressor(hidden_layer_sizes=(20,), solver=solver, max_iter=3, random_state=0)
        reg.fit(X, targets["identity"])
        print(f"sklearn regressor {solver} coefs", digest(*reg.coefs_, *reg.intercepts_))
        print(f"sklearn regressor {solver} predict", digest(reg.predict(X)))


if __name__ == "__main__":
    main()
