"""The integer codes and array slots the compiled kernels branch on, and nothing else.

The compiled code's cache key hashes this module (``_jit.sources_digest``),
so an edit here recompiles every kernel: it holds only what changes a
kernel's behaviour. Names, checks, messages and NumPy twins live in the
records of :mod:`fastbp.activations`, :mod:`fastbp.losses` and
:mod:`fastbp.optimizers`, which take their codes from here.

Kernels take an activation as a runtime integer code, a loss as a float64
array (its code, then its parameters) and an optimizer as a code and a
float64 ``hyper`` array, so one compiled specialisation per dtype serves them all.
"""

# Activations.
IDENTITY = 0
SIGMOID = 1
TANH = 2
RELU = 3
LEAKY_RELU = 4
SOFTMAX = 5
GELU = 6  # exact form z * Phi(z) (PyTorch's default), derivative from Z
SILU = 7  # z * sigmoid(z), derivative from Z

LEAKY_SLOPE = 0.01


def keeps_z(act: int) -> bool:
    """Whether layers with activation ``act`` keep the pre-activation Z (their
    derivative needs it, not just the output): the workspace's size and the
    kernels (compiled too) read this one rule."""
    return act == GELU or act == SILU


# Losses: slot 0 of a loss array is its code; its parameters follow.
LOSS_CODE = 0
MSE = 0
CROSS_ENTROPY = 1
BINARY_CROSS_ENTROPY = 2
HUBER = 3
HUBER_DELTA = 1

# Optimizers: the slots of the ``hyper`` array every optimizer shares, then each one's own.
HYPER_LR, HYPER_L2, HYPER_ALPHA = 0, 1, 2
SGD = 0
SGD_MOMENTUM, SGD_NESTEROV = 3, 4
ADAM = 1
ADAM_BETA_1, ADAM_BETA_2, ADAM_EPSILON = 3, 4, 5
RMSPROP = 2
RMSPROP_RHO, RMSPROP_EPSILON = 3, 4
ADAMW = 3
ADAMW_BETA_1, ADAMW_BETA_2, ADAMW_EPSILON, ADAMW_WEIGHT_DECAY, ADAMW_AMSGRAD = 3, 4, 5, 6, 7
