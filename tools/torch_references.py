"""Compute, with PyTorch, the values fastbp's independent checks compare with,
and store them in ``tests/data/torch_references.npz`` (inputs and outputs).

    pip install torch==2.13.0    # any CPU build; the values are float64
    python tools/torch_references.py

CI does not install PyTorch (it is a peer to measure against, never a
dependency): ``tests/test_against_pytorch.py`` reads this file, so GELU,
SiLU, RMSprop, AdamW (with and without AMSGrad) and Huber are checked against
PyTorch's own numbers on every run, and against live PyTorch where it is
installed. Inputs come from a seeded NumPy generator; rerun this script only
to add a case (the file records the PyTorch version that made it).
"""
import os

import numpy as np
import torch

OUT = os.path.join(os.path.dirname(__file__), os.pardir, "tests", "data", "torch_references.npz")
STEPS = 6


def activations(out: dict) -> None:
    z = np.linspace(-12, 12, 2001)
    out["act_z"] = z
    for name in ("gelu", "silu"):
        tz = torch.tensor(z, requires_grad=True)
        ta = getattr(torch.nn.functional, name)(tz)  # gelu: approximate='none', the erf form
        ta.sum().backward()
        out[f"act_{name}"] = ta.detach().numpy()
        out[f"act_{name}_grad"] = tz.grad.numpy()


def optimizer_run(out: dict, key: str, make, rng) -> None:
    """``STEPS`` steps on given gradients; weights in a group with decay, biases without."""
    W, b = rng.normal(size=(4, 3)), rng.normal(size=4)
    grads_W, grads_b = rng.normal(size=(STEPS, 4, 3)), rng.normal(size=(STEPS, 4))
    tW, tb = torch.tensor(W.copy(), requires_grad=True), torch.tensor(b.copy(), requires_grad=True)
    opt = make(tW, tb)
    traj_W, traj_b = [], []
    for t in range(STEPS):
        tW.grad, tb.grad = torch.tensor(grads_W[t]), torch.tensor(grads_b[t])
        opt.step()
        traj_W.append(tW.detach().numpy().copy())
        traj_b.append(tb.detach().numpy().copy())
    out.update({f"{key}_W0": W, f"{key}_b0": b, f"{key}_gW": grads_W, f"{key}_gb": grads_b,
                f"{key}_W": np.array(traj_W), f"{key}_b": np.array(traj_b)})


def optimizers(out: dict) -> None:
    rng = np.random.default_rng(0)
    for l2 in (0.0, 1e-2):
        optimizer_run(out, f"rmsprop_l2_{l2}", lambda tW, tb, l2=l2: torch.optim.RMSprop(
            [{"params": [tW], "weight_decay": l2}, {"params": [tb], "weight_decay": 0.0}],
            lr=0.01, alpha=0.9, eps=1e-6), rng)
    for amsgrad in (False, True):
        for wd in (0.0, 0.05):
            optimizer_run(out, f"adamw_ams_{int(amsgrad)}_wd_{wd}", lambda tW, tb, a=amsgrad, wd=wd: torch.optim.AdamW(
                [{"params": [tW], "weight_decay": wd}, {"params": [tb], "weight_decay": 0.0}],
                lr=0.01, betas=(0.85, 0.995), eps=1e-7, amsgrad=a), rng)


def huber(out: dict) -> None:
    rng = np.random.default_rng(1)
    A, Y = 2 * rng.normal(size=(7, 3)), rng.normal(size=(7, 3))
    out["huber_A"], out["huber_Y"] = A, Y
    for delta in (0.5, 1.0, 2.5):
        tA = torch.tensor(A, requires_grad=True)
        loss = torch.nn.HuberLoss(delta=delta, reduction="sum")(tA, torch.tensor(Y)) / A.shape[0]
        loss.backward()
        out[f"huber_{delta}_loss"] = np.array(loss.item())
        out[f"huber_{delta}_grad"] = tA.grad.numpy() * A.shape[0]  # per sample, as fastbp's deltas


def main() -> None:
    torch.set_default_dtype(torch.float64)
    out = {"torch_version": np.array(torch.__version__)}
    activations(out)
    optimizers(out)
    huber(out)
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    np.savez_compressed(OUT, **out)
    print(f"wrote {os.path.normpath(OUT)}: {len(out)} arrays, torch {torch.__version__}")


if __name__ == "__main__":
    main()
