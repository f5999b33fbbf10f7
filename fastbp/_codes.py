"""Names and integer codes of activations and losses, and the valid combinations.

Kernels take an activation as a runtime integer code rather than a Python
function, so one compiled specialisation per dtype serves every activation.
"""
from __future__ import annotations

# Activation codes shared by the kernels and the reference.
IDENTITY = 0
SIGMOID = 1
TANH = 2
RELU = 3
LEAKY_RELU = 4
SOFTMAX = 5
GELU = 6  # exact form z * Phi(z) (PyTorch's default), derivative from Z
SILU = 7  # z * sigmoid(z), derivative from Z

# Loss codes.
MSE = 0
CROSS_ENTROPY = 1
BINARY_CROSS_ENTROPY = 2

LEAKY_SLOPE = 0.01

# Activations from this code on have derivatives that need the pre-activation
# Z, not just the output A: the epoch keeps a Z block for their layers only.
FIRST_Z_ACTIVATION = 6


def keeps_z(act: int) -> bool:
    """Whether layers with activation code ``act`` keep Z (compiled too, by the kernels)."""
    return act >= FIRST_Z_ACTIVATION

ACTIVATIONS = {
    "identity": IDENTITY,
    "sigmoid": SIGMOID,
    "tanh": TANH,
    "relu": RELU,
    "leaky_relu": LEAKY_RELU,
    "softmax": SOFTMAX,
    "gelu": GELU,
    "silu": SILU,
}
HIDDEN_ACTIVATIONS = ("sigmoid", "tanh", "relu", "leaky_relu", "identity", "gelu", "silu")
OUTPUT_ACTIVATIONS = ("softmax", "sigmoid", "identity")

LOSSES = {"mse": MSE, "cross_entropy": CROSS_ENTROPY, "binary_cross_entropy": BINARY_CROSS_ENTROPY}

# loss -> output activations it is defined with (the README's table of outputs and losses).
VALID_PAIRS = {
    "mse": ("identity", "sigmoid"),
    "cross_entropy": ("softmax",),
    "binary_cross_entropy": ("sigmoid",),
}
# The loss a network gets when none is named.
DEFAULT_LOSS = {"softmax": "cross_entropy", "sigmoid": "binary_cross_entropy", "identity": "mse"}


def _choices(names) -> str:
    return ", ".join(repr(n) for n in names)


def check_config(sizes, activation: str, output: str, loss: str | None) -> tuple[list[int], str]:
    """Validate a network's architecture; return (sizes as ints, loss name).

    Raises
    ------
    ValueError
        On an unknown name, an unsupported output/loss pair or bad layer sizes.
    """
    try:
        sizes = list(sizes)
    except TypeError:
        raise ValueError(f"sizes must be a list of layer widths, got {sizes!r}") from None
    if len(sizes) < 2:
        raise ValueError(
            f"sizes must list at least an input and an output width, e.g. [784, 128, 10]; got {sizes!r}"
        )
    clean = []
    for i, s in enumerate(sizes):
        if isinstance(s, bool) or not hasattr(s, "__index__"):
            raise ValueError(f"sizes[{i}] must be a positive integer, got {s!r}")
        if int(s) < 1:
            raise ValueError(f"sizes[{i}] must be a positive integer, got {s!r}")
        clean.append(int(s))
    if not isinstance(activation, str) or activation not in HIDDEN_ACTIVATIONS:
        raise ValueError(
            f"unknown activation {activation!r}; valid hidden activations: {_choices(HIDDEN_ACTIVATIONS)}"
        )
    if not isinstance(output, str) or output not in OUTPUT_ACTIVATIONS:
        raise ValueError(f"unknown output {output!r}; valid output activations: {_choices(OUTPUT_ACTIVATIONS)}")
    if loss is None:
        loss = DEFAULT_LOSS[output]
    if not isinstance(loss, str) or loss not in LOSSES:
        raise ValueError(f"unknown loss {loss!r}; valid losses: {_choices(LOSSES)}")
    if output not in VALID_PAIRS[loss]:
        pairs = "; ".join(f"loss={k!r} with output in ({_choices(v)})" for k, v in VALID_PAIRS.items())
        why = ""
        if output == "softmax" and loss == "mse":
            why = " (the softmax derivative is a Jacobian, not elementwise)"
        raise ValueError(f"loss={loss!r} cannot be used with output={output!r}{why}; valid pairs: {pairs}")
    if output == "softmax" and clean[-1] < 2:
        raise ValueError(
            "a softmax output needs at least 2 units; for one binary output use "
            "output='sigmoid' with loss='binary_cross_entropy'"
        )
    return clean, loss
