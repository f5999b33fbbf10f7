"""The training curves of ``fastbp train --plot`` (the path and matplotlib are checked before training)."""
from __future__ import annotations

import numpy as np

from .checks import UsageError


def plot_history(history: dict, metric: str, path: str, title: str, inputs=()) -> None:
    """Training loss (left axis) and validation ``metric`` (right axis) per epoch, legend below the axes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = np.arange(1, len(history["loss"]) + 1)
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    lines = ax.plot(epochs, history["loss"], color="#d62728", label="training loss")
    ax.set_xlabel("epoch")
    ax.set_ylabel("training loss")
    if np.isfinite(history["val"]).any():
        ax2 = ax.twinx()
        lines += ax2.plot(epochs, history["val"], color="#1f77b4", label=f"validation {metric}")
        ax2.set_ylabel(f"validation {metric}")
    ax.set_title(title if len(title) <= 70 else title[:67] + "...", fontsize=9)
    # Below the plot, not over it: inside, the legend covered the right axis's label or the curves.
    ax.legend(handles=lines, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, frameon=False)
    fig.tight_layout()
    from .. import _io

    try:
        _io.write_file(path, lambda f: fig.savefig(f, dpi=110, format=path.rsplit(".", 1)[-1].lower()), "the plot",
                       inputs)
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot write {path}: {getattr(exc, 'strerror', None) or exc}") from None
    finally:
        plt.close(fig)
