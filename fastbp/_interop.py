"""Networks in and out: from a fitted scikit-learn MLP, to an ONNX model.

Both work on the parameters alone (sizes, activations, weights, biases), so
``fastbp.Network`` and ``fastbp.reference.Network`` share them.
"""
from __future__ import annotations

import os

import numpy as np

from .activations import ACTIVATIONS, HIDDEN
from .outputs import BY_SKLEARN_NAME

# scikit-learn's activation names -> fastbp's (fastbp.sklearn's estimators also take fastbp's own names).
SKLEARN_OWN_HIDDEN = {ACTIVATIONS[a].sklearn_name: a for a in HIDDEN if ACTIVATIONS[a].sklearn_name}
SKLEARN_HIDDEN = {**SKLEARN_OWN_HIDDEN, **{a: a for a in HIDDEN if a not in SKLEARN_OWN_HIDDEN.values()}}
ONNX_OPSET = 17  # widely run (onnxruntime >= 1.13); GELU is written with Erf, which it has


def from_sklearn(cls, estimator):
    """A ``cls`` network with the layers and parameters of a fitted scikit-learn MLP."""
    coefs = getattr(estimator, "coefs_", None)
    intercepts = getattr(estimator, "intercepts_", None)
    if not hasattr(estimator, "out_activation_") or coefs is None or intercepts is None:
        raise ValueError(f"from_sklearn needs a fitted sklearn.neural_network MLPClassifier or MLPRegressor, "
                         f"got {type(estimator).__name__}" + (" (not fitted)" if hasattr(estimator, "hidden_layer_sizes")
                                                              else ""))
    for attribute in ("activation", "out_activation_"):
        if not isinstance(getattr(estimator, attribute), str):
            raise ValueError(f"from_sklearn: the estimator's {attribute} must be a name such as 'relu', "
                             f"got {getattr(estimator, attribute)!r}")
    activation = SKLEARN_HIDDEN.get(estimator.activation)
    output = BY_SKLEARN_NAME.get(estimator.out_activation_)
    if activation is None or output is None:
        raise ValueError(f"from_sklearn: activation {estimator.activation!r} / output {estimator.out_activation_!r} "
                         "has no fastbp counterpart")
    coefs, intercepts = _checked_layers(coefs, intercepts)
    dtype = np.result_type(*coefs)
    sizes = [coefs[0].shape[0]] + [c.shape[1] for c in coefs]
    net = cls(sizes, activation=activation, output=output.name, loss=output.default_loss, dtype=dtype)
    for W, b, coef, intercept in zip(net.weights, net.biases, coefs, intercepts):
        W[...] = coef.T  # scikit-learn keeps (n_in, n_out); fastbp (n_out, n_in)
        b[...] = intercept
    classes = getattr(estimator, "classes_", None)
    if classes is not None and output.classifier:
        net.classes = classes  # predict gives scikit-learn's labels
    return net


def _checked_layers(coefs, intercepts) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """An estimator's ``coefs_``/``intercepts_`` as arrays that chain into one
    network of finite float32 or float64 values; a ValueError naming what does not."""
    try:
        coefs, intercepts = [np.asarray(c) for c in coefs], [np.asarray(b) for b in intercepts]
    except (TypeError, ValueError):
        raise ValueError("from_sklearn: coefs_ and intercepts_ must be lists of arrays") from None
    if not coefs or len(coefs) != len(intercepts):
        raise ValueError(f"from_sklearn: {len(coefs)} coefs_ and {len(intercepts)} intercepts_; one of each per "
                         "layer expected")
    for l, (c, b) in enumerate(zip(coefs, intercepts)):
        if c.dtype not in (np.float32, np.float64) or b.dtype not in (np.float32, np.float64):
            raise ValueError(f"from_sklearn: layer {l}'s coefficients are {c.dtype}/{b.dtype}; float32 or float64 "
                             "expected")
        if c.ndim != 2 or b.shape != (c.shape[1],) or (l and c.shape[0] != coefs[l - 1].shape[1]) or 0 in c.shape:
            raise ValueError(f"from_sklearn: layer {l}'s coefs_ {c.shape} and intercepts_ {b.shape} do not chain "
                             "into one network")
        if not (np.isfinite(c).all() and np.isfinite(b).all()):
            raise ValueError(f"from_sklearn: layer {l}'s coefficients hold NaN or infinity")
    return coefs, intercepts


def to_onnx(net, path: str | os.PathLike | None = None):
    """The forward pass of ``net`` as an ONNX model (input ``X``, output ``Y``), written to ``path`` if given."""
    try:
        import onnx
        from onnx import TensorProto, helper, numpy_helper
    except ImportError:
        raise ImportError('to_onnx needs the onnx package: pip install "fastbp[onnx]"') from None
    elem = TensorProto.FLOAT if net.dtype == np.float32 else TensorProto.DOUBLE
    nodes, inits = [], []

    def const(name, value):
        inits.append(numpy_helper.from_array(np.asarray(value, dtype=net.dtype), name))
        return name

    def activate(x, act, l):
        y = f"A{l}"
        nodes.extend(ACTIVATIONS[act].onnx(helper.make_node, x, y, const))
        return y

    x = "X"
    L = len(net.weights)
    for l, (W, b) in enumerate(zip(net.weights, net.biases), start=1):
        nodes.append(helper.make_node("Gemm", [x, const(f"W{l}", W), const(f"b{l}", b)], [f"Z{l}"], transB=1))
        x = activate(f"Z{l}", net.activation if l < L else net.output, l)
    nodes.append(helper.make_node("Identity", [x], ["Y"]))
    graph = helper.make_graph(
        nodes, "fastbp_forward",
        [helper.make_tensor_value_info("X", elem, ["N", net.sizes[0]])],
        [helper.make_tensor_value_info("Y", elem, ["N", net.sizes[-1]])],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", ONNX_OPSET)],
                              producer_name="fastbp", doc_string=repr(net))
    model.ir_version = 8  # what opset 17 needs, so that older runtimes load it
    onnx.checker.check_model(model)
    if path is not None:
        from ._io import write_file

        data = model.SerializeToString()
        write_file(path, lambda f: f.write(data), "the ONNX model")
    return model
