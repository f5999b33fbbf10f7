"""Before/after epoch times of two trees, in one process, alternating calls.

    python tools/ab_epochs.py OLD_TREE NEW_TREE --config S T M --rounds 201

Each tree's ``fastbp`` package is copied as ``fastbp_old`` / ``fastbp_new``
into a temporary folder (every import inside the package is relative), both
are imported here, and their epochs (``Network.fit(epochs=1)`` as ``fastbp
bench`` times S, M, L; the estimator's ``partial_fit`` for T, E, E32, E64)
alternate call by call: on a shared 2-core machine, two concurrent worker
processes showed a position bias of several percent, this did not. Compiled
code comes from each copy's own cache (the first calls compile, untimed).
Unset OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE to measure as users run.
"""
import argparse
import importlib
import os
import shutil
import statistics
import sys
import tempfile
import time
import warnings


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("old")
    ap.add_argument("new")
    ap.add_argument("--config", nargs="+", default=["S", "T"])
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--rounds", type=int, default=101)
    ap.add_argument("--activation", default=None,
                    help="hidden activation (default: sigmoid for S, M, L; the estimators' relu for T, E, ...)")
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    root = tempfile.mkdtemp(prefix="fastbp-ab-")
    for tree, name in ((args.old, "fastbp_old"), (args.new, "fastbp_new")):
        shutil.copytree(os.path.join(tree, "fastbp"), os.path.join(root, name),
                        ignore=shutil.ignore_patterns("__pycache__"))
    sys.path.insert(0, root)
    import numpy as np

    packages = {name: importlib.import_module(name) for name in ("fastbp_old", "fastbp_new")}
    bench = importlib.import_module("fastbp_new.bench")
    for config in args.config:
        sizes, batch, n = bench.CONFIGS[config]
        X, y, Y = bench.make_data(sizes, n, args.dtype)
        epochs = {}
        for name, pkg in packages.items():
            if hasattr(pkg, "set_tier"):
                pkg.set_tier("wait")
            pkg.set_num_threads(2)
            if config in bench.ESTIMATOR_CONFIGS:
                sk = importlib.import_module(name + ".sklearn")
                act = {None: "relu", "sigmoid": "logistic"}.get(args.activation, args.activation)
                clf = sk.MLPClassifier(hidden_layer_sizes=tuple(sizes[1:-1]), batch_size=batch, random_state=0,
                                       solver=bench.ESTIMATOR_CONFIGS[config], activation=act)
                clf.partial_fit(X, y, classes=np.unique(y))
                epochs[name] = lambda clf=clf: clf.partial_fit(X, y)
            else:
                net = pkg.Network(sizes, activation=args.activation or "sigmoid", output="softmax", loss="cross_entropy",
                                  dtype=args.dtype, seed=0)
                epochs[name] = lambda net=net: net.fit(X, Y, epochs=1, batch_size=batch, lr=0.01)
        for run in epochs.values():
            run()
            run()
        times = {name: [] for name in epochs}
        for r in range(args.rounds):
            for name in (("fastbp_old", "fastbp_new") if r % 2 == 0 else ("fastbp_new", "fastbp_old")):
                start = time.perf_counter()
                epochs[name]()
                times[name].append(time.perf_counter() - start)
        before, after = statistics.median(times["fastbp_old"]), statistics.median(times["fastbp_new"])
        print(f"{config} {args.dtype} {args.activation or 'default'}: before {before * 1e3:.2f} ms  after {after * 1e3:.2f} ms  "
              f"after/before {after / before:.3f}  (medians of {args.rounds} alternating epochs)", flush=True)
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
