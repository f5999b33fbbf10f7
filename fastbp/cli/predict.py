"""``fastbp predict`` and ``fastbp evaluate``: a saved model's predictions
(labels, values or class probabilities) as CSV, and its scores on a labelled file.

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
from .columns import NumberFormat
from .data import load_data, out_of_range
from .options import number_format_of
from .encoding import Encoder
from .scaling import Standardizer


def _model(path: str):
    import fastbp

    from .. import _io

    try:
        meta = _io.read_model(path)[0]
        net = (fastbp.Ensemble if "members" in meta else fastbp.Network).load(path)  # the members' mean
        info = meta.get("extra") or {}
    except (FileNotFoundError, IsADirectoryError):
        raise UsageError(f"no such model file: {path}") from None
    except PermissionError:
        raise UsageError(f"cannot read the model file {path}: permission denied") from None
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    return net, info if isinstance(info, dict) else {}


def prepared_inputs(net, info: dict, args, target: str | None, need_y: bool = False):
    """The model inputs of the data file ``args.data``, as ``fastbp train``
    made them for the model ``args.model``: its feature columns found by
    name, numbers read in its format, text one-hot encoded and empty cells
    imputed as learned on its training rows, standardised. A damaged field
    of the model file is blamed on the model file, a cell on the data file.
    Returns ``(X, table)``; ``table.y`` the target with ``need_y``."""
    path, model = args.data, args.model
    stored = None
    if "number_format" in info:
        try:
            stored = NumberFormat.from_json(info["number_format"])
        except ValueError as exc:
            raise UsageError(f"{model}: {exc}") from None
    number_format = number_format_of(args, stored)
    features = info.get("features")
    if features is not None and not (isinstance(features, list) and all(isinstance(f, str) for f in features)
                                     and len(set(features)) == len(features)):
        raise UsageError(f"{model}: the model file's features are malformed: a list of distinct column names "
                         "expected")
    csv_input = not path.lower().endswith(".npz")
    encoder = None
    if "encoding" in info:
        names = features if features is not None else None
        try:
            width = len(info["encoding"]) if isinstance(info["encoding"], list) else -1
            encoder = Encoder.from_json(info["encoding"], names or [f"x{j}" for j in range(width)])
        except ValueError as exc:
            raise UsageError(f"{model}: {exc}") from None
        table = load_data(path, target, need_y=need_y, features=features if csv_input else None,
                          text=encoder.text_columns, missing=True, number_format=number_format)
        if table.X.shape[1] != len(encoder.columns):
            raise UsageError(f"{path} has {table.X.shape[1]} feature columns; the model expects "
                             f"{len(encoder.columns)}")
        X = encoder.transform(table) if encoder.needed or np.isnan(table.X).any() else table.X
    else:  # a model file of a fastbp before the encoding
        if features is not None and len(features) != net.sizes[0]:
            features = None
        table = load_data(path, target, need_y=need_y, features=features if csv_input else None,
                          number_format=number_format)
        X = table.X
    if X.shape[1] != net.sizes[0]:
        raise UsageError(f"{path} has {X.shape[1]} feature columns; the model expects {net.sizes[0]}")
    if "scaling" in info:
        try:
            scaling = Standardizer.from_json(info["scaling"], net.sizes[0], "feature scaling")
        except ValueError as exc:
            raise UsageError(f"{model}: {exc}") from None
        X = scaling.apply(X)
    # A cell the model's dtype cannot hold once scaled: named here, not as an index into X by the network.
    bad = out_of_range(X, net.dtype)
    if bad is not None:
        i, k = bad
        j = encoder.source_column(k) if encoder is not None else k
        raise UsageError(f"{table.where(i, j)}: {table.X[i, j]:g} is too large for the model: scaled as it was "
                         f"trained, it is beyond the largest {net.dtype} ({np.finfo(net.dtype).max:.3g})")
    return X, table


def labels_of(net, info: dict, model: str):
    """The class labels the model file keeps, or None; a UsageError naming the
    field when they do not fit the model (a list of numbers or strings, one per class)."""
    if "classes" not in info:
        return None
    from .._labels import check_classes

    classes, kind = info["classes"], net._output_kind
    try:
        if not isinstance(classes, list) or not kind.single_label(net.sizes[-1]):
            raise ValueError("a list for a classifier of one label per row expected")
        return check_classes(classes, kind, net.sizes[-1])  # Network.classes' own rule
    except ValueError as exc:
        raise UsageError(f"{model}: the model file's classes are malformed: {exc}") from None


def cmd_predict(args) -> int:
    net, info = _model(args.model)
    X, _ = prepared_inputs(net, info, args, args.target)
    classes = labels_of(net, info, args.model)
    try:
        target_scaling = None
        if "target_scaling" in info and not net._output_kind.classifier:
            try:
                target_scaling = Standardizer.from_json(info["target_scaling"], net.sizes[-1], "target scaling")
            except ValueError as exc:
                raise UsageError(f"{args.model}: {exc}") from None
        if args.proba:
            if not net._output_kind.classifier:
                raise UsageError(f"--proba needs a classification model; {args.model} is a regression model "
                                 "(its predictions are values)")
            pred = net.predict_proba(X)
        else:
            pred = net.predict(X)
    except ValueError as exc:
        raise UsageError(f"{args.data}: {exc}") from None
    if args.proba:
        names = [str(c) for c in classes] if classes is not None else [f"class_{j}" for j in range(pred.shape[1])]
    else:
        if target_scaling is not None:
            pred = target_scaling.invert(pred)
            if not np.isfinite(pred).all():
                raise UsageError(f"{args.model}: the model file's target scaling turns predictions infinite: "
                                 "the file is damaged")
        if classes is not None:
            pred = classes[pred]
        pred = pred.reshape(len(pred), -1)
        names = ["prediction"] if pred.shape[1] == 1 else [f"prediction_{j}" for j in range(pred.shape[1])]
    write_csv(names, pred, args.out, inputs=(args.model, args.data))
    if args.out:
        what = "class probabilities" if args.proba else "predictions"
        print(f"{what} for {len(pred)} rows written to {args.out}")
    return 0


def write_csv(header: list[str], rows: np.ndarray, out: str | None, inputs=()) -> None:
    """``rows`` under ``header`` as CSV, to ``out`` (``_io.write_file``: a
    failure leaves an existing file as it was; never one of ``inputs``) or stdout."""
    text = io.StringIO()
    w = csv.writer(text, lineterminator="\n")
    w.writerow(header)
    for row in rows.tolist():
        w.writerow([f"{v:.9g}" if isinstance(v, float) else v for v in row])
    if out:
        from .. import _io

        try:
            _io.write_file(out, lambda f: f.write(text.getvalue().encode("utf-8")), "the predictions", inputs)
        except (OSError, ValueError) as exc:
            raise UsageError(f"cannot write {out}: {getattr(exc, 'strerror', None) or exc}") from None
    else:
        sys.stdout.write(text.getvalue())


def cmd_evaluate(args) -> int:
    """Scores of a saved model on a labelled file: accuracy, log loss and the
    confusion matrix for classification; R², RMSE and MAE for regression."""
    net, info = _model(args.model)
    kind, n_out = net._output_kind, net.sizes[-1]
    if kind.classifier and not kind.single_label(n_out):
        raise UsageError(f"evaluate scores models that give one label per row; {args.model} has {n_out} "
                         f"{kind.name} units, one label each")
    target = args.target or (info.get("target") if isinstance(info.get("target"), str) else None)
    if target is None and not args.data.lower().endswith(".npz"):
        raise UsageError(f"{args.model} does not name its target column: give --target COLUMN")
    X, table = prepared_inputs(net, info, args, target, need_y=True)
    y = table.y_text if table.y_text is not None else table.y
    print(f"data: {args.data}: {len(X)} samples")
    if not kind.classifier:
        pred = net.predict(X)[:, 0]
        if "target_scaling" in info:
            try:
                pred = Standardizer.from_json(info["target_scaling"], 1, "target scaling").invert(pred)
            except ValueError as exc:
                raise UsageError(f"{args.model}: {exc}") from None
        y = table.y
        if y.dtype.kind not in "iuf":
            raise UsageError(f"{args.data}: the target of a regression model must be numbers, it holds text")
        y = y.astype(np.float64)
        from .._metrics import r2

        print(f"R2    {r2(y[:, None], pred[:, None]):.4f}")
        print(f"RMSE  {np.sqrt(np.mean((y - pred) ** 2)):.6g}")
        print(f"MAE   {np.mean(np.abs(y - pred)):.6g}")
        return 0
    classes = labels_of(net, info, args.model)
    if classes is None:
        classes = np.arange(kind.n_labels(n_out))
    from .._labels import to_indices

    try:
        truth = to_indices(y, classes, "the target")
    except ValueError as exc:
        try:  # "7.0" in the file for the label "7": the same number
            truth = to_indices(y.astype(np.float64), classes.astype(np.float64), "the target")
        except ValueError:
            raise UsageError(f"{args.data}: {exc}") from None
    P = net.predict_proba(X)
    pred = P.argmax(axis=1)
    tiny = np.finfo(P.dtype).tiny
    print(f"accuracy  {np.mean(pred == truth):.4f}")
    print(f"log loss  {-np.mean(np.log(np.maximum(P[np.arange(len(truth)), truth], tiny))):.4f}")
    k = len(classes)
    matrix = np.zeros((k, k), dtype=np.int64)
    np.add.at(matrix, (truth, pred), 1)
    names = [str(c) for c in classes]
    width = max(max(map(len, names)), len(str(matrix.max())), 4)
    print("confusion matrix (rows: true label, columns: predicted label):")
    print(" " * width + " " + " ".join(n.rjust(width) for n in names))
    for name, row in zip(names, matrix):
        print(name.rjust(width) + " " + " ".join(str(v).rjust(width) for v in row))
    return 0
