"""``python -m fastbp``: train a small network on scikit-learn's bundled digits
data (a stratified quarter held out) and print the test accuracy."""
from __future__ import annotations

import argparse
import sys
import time


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fastbp", description=__doc__)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--hidden", type=int, nargs="+", default=[64], help="hidden layer widths")
    parser.add_argument("--activation", default="tanh")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    try:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
    except ImportError:
        print("python -m fastbp needs scikit-learn for its bundled digits data: pip install scikit-learn",
              file=sys.stderr)
        return 2

    import fastbp

    X, y = load_digits(return_X_y=True)
    X = X / 16.0  # pixel values 0..16 -> 0..1
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=args.seed, stratify=y)
    try:
        net = fastbp.Network([X.shape[1], *args.hidden, 10], activation=args.activation, output="softmax",
                             loss="cross_entropy", dtype=args.dtype, seed=args.seed)
        start = time.perf_counter()
        history = net.fit(X_train, y_train, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr)
        seconds = time.perf_counter() - start
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    accuracy = float((net.predict(X_test) == y_test).mean())
    print(f"digits: {net!r}")
    print(f"trained {args.epochs} epochs on {len(X_train)} samples in {seconds:.2f} s "
          f"(first call includes compiling or loading the kernels); final loss {history['loss'][-1]:.4f}")
    print(f"test accuracy: {accuracy:.2%} on {len(X_test)} held-out samples")
    return 0


if __name__ == "__main__":
    sys.exit(main())
