"""Where a first fit's compile time goes, per compiled function (Numba's compile events).

    python tools/compile_breakdown.py [--optimizer adam] [--dtype float64]

Runs one small fit in this process with an empty cache (a temporary
NUMBA_CACHE_DIR; run it on a copy of the package without ``__pycache__``,
via PYTHONPATH, or the package's own cache folder may serve it) and prints
the CPU seconds of each function's compile, its callees' compiles left out,
and every function compiled more than once with its signatures.
"""
import argparse
import collections
import os
import tempfile
import time

os.environ["NUMBA_CACHE_DIR"] = tempfile.mkdtemp(prefix="fastbp-breakdown-")
os.environ["FASTBP_TIER"] = "wait"

from numba.core import event  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--optimizer", default="sgd")
    ap.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    args = ap.parse_args()
    stack, own, count, signatures = [], collections.Counter(), collections.Counter(), collections.defaultdict(set)

    class Listener(event.Listener):
        def on_start(self, ev):
            stack.append([ev.data["dispatcher"].py_func.__qualname__, time.process_time(), 0.0, str(ev.data["args"])])

        def on_end(self, ev):
            name, start, inner, sig = stack.pop()
            spent = time.process_time() - start
            own[name] += spent - inner
            count[name] += 1
            signatures[name].add(sig)
            if stack:
                stack[-1][2] += spent

    event.register("numba:compile", Listener())
    import numpy as np

    import fastbp

    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((2000, 64)), rng.integers(0, 10, 2000)
    start = time.process_time()
    fastbp.Network([64, 32, 10], dtype=args.dtype, seed=0).fit(X, y, epochs=1, optimizer=args.optimizer, lr=0.01)
    print(f"{args.dtype} {args.optimizer} fit: {time.process_time() - start:.1f} s CPU, "
          f"{sum(count.values())} compiles of {len(count)} functions")
    for name, seconds in own.most_common():
        print(f"{seconds:6.2f} s  x{count[name]}  {name}")
    for name in (n for n, c in count.items() if c > 1):
        print(f"compiled {count[name]} times: {name}: " + "; ".join(sorted(signatures[name])))


if __name__ == "__main__":
    main()
