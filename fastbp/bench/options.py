"""The one argument parser of ``fastbp bench`` (the command's ``bench``
subparser and ``python -m fastbp.bench`` both take :func:`add_arguments`),
its checks, and :func:`run`, which does what the arguments ask."""
from __future__ import annotations

import argparse
import json
import subprocess
import sys

from .configs import ACTIVATION, CONFIGS, DISTRIBUTED_PEERS, ESTIMATOR_CONFIGS, ESTIMATOR_PEERS, PEERS

#: The configurations timed when none is named (the sweep's are its own: ``users.SWEEP_CONFIGS``).
DEFAULT_CONFIGS = ("M",)


def description() -> str:
    configs = "; ".join(f"{name}: {'-'.join(map(str, sizes))}, batch {batch}, {n} rows"
                        + (f" ({ESTIMATOR_CONFIGS[name]} estimator)" if name in ESTIMATOR_CONFIGS else "")
                        for name, (sizes, batch, n) in CONFIGS.items())
    return ("Seconds per epoch of fastbp and its peers, each in its own process, on synthetic data. "
            f"Configurations: {configs}. Peers by default: {', '.join(PEERS)} (a peer not installed is skipped); "
            f"for the estimator configurations {', '.join(ESTIMATOR_PEERS)}.")


def add_arguments(parser: argparse.ArgumentParser, internal: bool = False) -> None:
    """The benchmark's options on ``parser``; ``internal`` adds the hidden
    ones its own worker processes are started with."""
    from ..activations import HIDDEN

    parser.add_argument("--config", nargs="+", choices=list(CONFIGS),
                        help="S, M, L: plain SGD epochs; T, E, E32, E64: the scikit-learn estimators "
                             f"(default: {' '.join(DEFAULT_CONFIGS)}; with --sweep: S T M)")
    parser.add_argument("--peers", nargs="+", choices=PEERS + ESTIMATOR_PEERS + DISTRIBUTED_PEERS,
                        help="who runs; one_rank two_ranks: the distributed row (fit(comm=), 1 thread a rank)")
    parser.add_argument("--rounds", type=int, default=5, help="timed epochs of each peer, interleaved")
    parser.add_argument("--dtype", choices=["float32", "float64"],
                        help="every peer's dtype (default: float32; with --sweep: both)")
    parser.add_argument("--activation", choices=list(HIDDEN), default=ACTIVATION,
                        help="hidden activation of the dense configurations' peers (sigmoid: the published tables; "
                             "tanh: Network's default)")
    parser.add_argument("--sweep", action="store_true",
                        help="instead of peers: fastbp's epoch with every hidden activation, as multiples of relu's")
    parser.add_argument("--busy", type=int, metavar="N",
                        help="instead of peers: the estimators' default fit (breast cancer) beside N busy "
                             "processes, with the default threads, on one thread, and scikit-learn's")
    parser.add_argument("--ensemble", type=int, metavar="K",
                        help="instead of peers: a K-member fastbp.Ensemble against K sequential fits, per "
                             "model-epoch, on S T M (or --config)")
    parser.add_argument("--search", action="store_true",
                        help="instead of peers: fastbp.sklearn.GridSearchCV against scikit-learn's, 16 candidates x "
                             "5 folds on digits")
    parser.add_argument("--threads", type=int, default=2, help="threads of every peer")
    parser.add_argument("--settle", type=float, default=0.5, help="seconds of rest between two timed epochs")
    parser.add_argument("--plot", help="write a chart here (.png, .pdf, .svg; needs matplotlib)")
    parser.add_argument("--json", help="write the medians to this JSON file")
    parser.add_argument("--no-limit", action="store_true",
                        help="leave out the limit row (the epoch's FLOPs at the best rate of a 2048^3 GEMM)")
    if internal:
        parser.add_argument("--worker", help=argparse.SUPPRESS)
        parser.add_argument("--rate", action="store_true", help=argparse.SUPPRESS)


def check(args) -> None:
    """Every argument checked before minutes of timing; a ``cli.checks.UsageError`` naming the bad one."""
    from ..cli.checks import UsageError, check_distinct, check_output_file, check_plot_file

    for name in ("rounds", "threads"):
        v = getattr(args, name)
        if v < 1:
            raise UsageError(f"--{name} must be a positive integer, got {v}")
    if args.settle < 0:
        raise UsageError(f"--settle takes seconds, 0 or more, got {args.settle}")
    if args.ensemble is not None and args.ensemble < 1:
        raise UsageError(f"--ensemble takes a count of members, 1 or more, got {args.ensemble}")
    if args.busy is not None and args.busy < 0:
        raise UsageError(f"--busy takes a count of processes, 0 or more, got {args.busy}")
    if args.plot:
        check_plot_file(args.plot, "--plot")
    if args.json:
        check_output_file(args.json, "--json")
    check_distinct({"--plot": args.plot, "--json": args.json})


def run(args) -> int:
    """Do what ``args`` (checked) asks: the sweep, the busy machine, or the side-by-side comparison."""
    if getattr(args, "worker", None):
        from .peers import worker

        return worker(args.worker, args.config[0], args.dtype or "float32", args.threads, args.activation)
    if getattr(args, "rate", False):
        from .machine import gemm_rate

        print(gemm_rate(args.dtype or "float32", args.threads))
        return 0
    if args.sweep or args.busy is not None or args.ensemble is not None or args.search:  # what users run
        from . import users

        if args.ensemble is not None:
            users.ensemble_vs_sequential(args.ensemble, args.config or users.SWEEP_CONFIGS, args.rounds,
                                         args.dtype or "float32")
        if args.sweep:
            users.activation_sweep(args.config or users.SWEEP_CONFIGS,
                                   [args.dtype] if args.dtype else ["float32", "float64"], args.rounds)
        if args.busy is not None:
            users.busy_fit(args.busy, args.rounds)
        if args.search:
            users.search_vs_scikit_learn(args.rounds)
        return 0
    return _side_by_side(args)


def _side_by_side(args) -> int:
    from .side_by_side import compare, plot, report

    configs, dtype = args.config or list(DEFAULT_CONFIGS), args.dtype or "float32"
    rate = None
    if not args.no_limit:  # in its own process, like every peer: its own threads and allocator
        rate = float(subprocess.run([sys.executable, "-m", "fastbp.bench", "--rate", "--dtype", dtype,
                                     "--threads", str(args.threads)], capture_output=True, text=True,
                                    check=True).stdout)
    results = {}
    for config in configs:
        peers = args.peers or (ESTIMATOR_PEERS if config in ESTIMATOR_CONFIGS else PEERS)
        blas, memory = {}, {}
        times = compare(config, peers, args.rounds, dtype, args.threads, args.settle, blas=blas, memory=memory,
                        activation=args.activation)
        results[config] = report(config, times, dtype, args.threads, blas=blas, rate=rate, memory=memory,
                                 activation=args.activation)
        sys.stdout.flush()
    if args.json:
        from .._io import write_file

        text = json.dumps({"dtype": dtype, "threads": args.threads, "seconds_per_epoch": results}, indent=1)
        write_file(args.json, lambda f: f.write(text.encode()), "the benchmark's JSON")
    if args.plot:
        plot(results, args.plot)
    return 0


def main(argv=None) -> int:
    """``python -m fastbp.bench [options]``: the command's ``bench`` by the same parser."""
    from . import __doc__ as doc
    from ..cli.checks import UsageError

    parser = argparse.ArgumentParser(prog="python -m fastbp.bench", description=doc,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser, internal=True)
    args = parser.parse_args(argv)
    try:
        check(args)
    except UsageError as exc:
        parser.error(str(exc))
    return run(args)
