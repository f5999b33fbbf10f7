"""``fastbp predict``: a saved model's predictions, as CSV.

The model file says what ``fastbp train`` did to the data: which CSV columns
were the features (found again by name, in any order, other columns left
alone), how they and a regression target were standardised, and the class
labels. All of it is applied here, so predictions come back in the units and
labels of the training file.
"""
from __future__ import annotations

import csv
import io
import sys

import numpy as np

from .checks import UsageError
from .data import load_data
from .scaling import Standardizer


def _model(path: str):
    import fastbp

    from .. import _io

    try:
        net = fastbp.Network.load(path)
        info = _io.read_model(path)[0].get("extra") or {}
    except (FileNotFoundError, IsADirectoryError):
        raise UsageError(f"no such model file: {path}") from None
    except PermissionError:
        raise UsageError(f"cannot read the model file {path}: permission denied") from None
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    return net, info if isinstance(info, dict) else {}


def cmd_predict(args) -> int:
    net, info = _model(args.model)
    features = info.get("features")
    if not (isinstance(features, list) and len(features) == net.sizes[0] and all(isinstance(f, str) for f in features)):
        features = None
    csv_input = not args.data.lower().endswith(".npz")
    table = load_data(args.data, args.target, need_y=False, features=features if csv_input else None)
    X = table.X
    if X.shape[1] != net.sizes[0]:
        raise UsageError(f"{args.data} has {X.shape[1]} feature columns; the model expects {net.sizes[0]}")
    try:
        if "scaling" in info:
            X = Standardizer.from_json(info["scaling"], net.sizes[0], "feature scaling").apply(X)
        target_scaling = None
        if "target_scaling" in info and net.output == "identity":
            target_scaling = Standardizer.from_json(info["target_scaling"], net.sizes[-1], "target scaling")
        pred = net.predict(X)
    except ValueError as exc:
        raise UsageError(f"{args.data}: {exc}") from None
    if target_scaling is not None:
        pred = target_scaling.invert(pred)
    classes = info.get("classes")
    if isinstance(classes, list) and net.output == "softmax" and len(classes) == net.sizes[-1]:
        pred = np.asarray(classes)[pred]
    pred = pred.reshape(len(pred), -1)
    text = io.StringIO()  # formed whole first: a failure leaves an existing --out file as it was
    w = csv.writer(text, lineterminator="\n")
    w.writerow(["prediction"] if pred.shape[1] == 1 else [f"prediction_{j}" for j in range(pred.shape[1])])
    for row in pred.tolist():
        w.writerow([f"{v:.9g}" if isinstance(v, float) else v for v in row])
    if args.out:
        try:
            with open(args.out, "w", newline="") as f:
                f.write(text.getvalue())
        except OSError as exc:
            raise UsageError(f"cannot write {args.out}: {exc.strerror or exc}") from None
    else:
        sys.stdout.write(text.getvalue())
    return 0
