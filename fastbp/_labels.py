"""Class labels of a network's output units (``Network.classes``): their checks,
and labels to unit indices at the boundary."""
from __future__ import annotations

import numbers

import numpy as np


def check_classes(classes, output, n_out: int) -> np.ndarray | None:
    """``classes`` as a 1-D array of distinct labels (numbers, strings or bools)
    fitting the output kind ``output`` (a :class:`fastbp.outputs.Output`) of
    ``n_out`` units: as many as its ``n_labels`` (one per unit for softmax and
    sigmoid outputs, two (negative, positive) for one sigmoid unit); None for none."""
    if classes is None:
        return None
    want = output.n_labels(n_out)  # raises for an output that has no classes
    if isinstance(classes, (str, bytes)):
        raise ValueError(f"classes must be a sequence of labels, got the string {classes!r}")
    try:
        labels = list(classes)
    except TypeError:
        raise ValueError(f"classes must be a sequence of labels, got {classes!r}") from None
    for label in labels:
        if isinstance(label, np.generic):
            label = label.item()
        if not isinstance(label, (str, numbers.Real)) or (isinstance(label, float) and not np.isfinite(label)):
            raise ValueError(f"classes must be numbers, strings or bools; got {label!r}")
    arr = np.asarray(labels)
    if len({isinstance(label, str) for label in labels}) > 1 or arr.ndim != 1 or arr.dtype == object:
        raise ValueError(f"classes must be labels of one kind (all numbers or all strings), got {labels!r}")
    if arr.shape[0] != want:
        what = (f"one per output unit ({n_out})" if want == n_out
                else f"{want} (negative, positive) for one {output.name} unit")
        raise ValueError(f"classes must have {what}; got {arr.shape[0]}")
    if len(np.unique(arr)) != arr.shape[0]:
        raise ValueError(f"classes must be distinct, got {labels!r}")
    arr.setflags(write=False)
    return arr


def to_indices(y, classes: np.ndarray, name: str = "y") -> np.ndarray:
    """1-D labels ``y`` as the indices of their units in ``classes``; a ValueError naming an unknown label."""
    arr = np.asarray(y)
    if arr.ndim != 1:
        return arr
    if arr.dtype.kind in "fc" and classes.dtype.kind in "iub":  # 1.0 for the label 1
        if np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)):
            arr = arr.astype(np.int64)
    try:
        unique, inverse = np.unique(arr, return_inverse=True)
    except TypeError:
        raise ValueError(f"{name}: labels of mixed kinds") from None
    lookup = {label: i for i, label in enumerate(classes.tolist())}
    index = np.empty(unique.shape[0], dtype=np.int64)
    for k, label in enumerate(unique.tolist()):
        if label not in lookup:
            shown = ", ".join(map(repr, classes.tolist()[:10])) + (", ..." if len(classes) > 10 else "")
            raise ValueError(f"{name}: label {label!r} is not one of this network's classes ({shown})")
        index[k] = lookup[label]
    return index[inverse.reshape(-1)]
