"""The ``fastbp`` command: train, predict, bench, info.

Every argument, output path, file format and optional package is checked
before any work starts; bad input gets one line on stderr naming the problem
and exit status 2, never a traceback. The modules: ``options`` and ``checks``
(those checks), ``data`` (CSV and .npz files), ``scaling`` (standardisation
kept in the model file), ``train``, ``predict``, ``plots`` (the progress report is ``fastbp.training.progress``).
"""
from __future__ import annotations

import argparse
import sys

import numpy as np

from ..activations import HIDDEN as HIDDEN_ACTIVATIONS
from ..losses import LOSSES
from .checks import UsageError
from .columns import MISTYPED_SHARE
from .options import check_evaluate, check_predict, check_train
from .predict import cmd_evaluate, cmd_predict
from .cache import cmd_cache
from .compile import cmd_compile
from .example import cmd_example
from .train import cmd_train

__all__ = ["main", "build_parser", "UsageError"]


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, not usage + message
        raise UsageError(f"{self.prog}: {message}")


class _Help(argparse.HelpFormatter):
    """Ends each flag's help with its default, unless there is none to show or the help names it."""

    def _get_help_string(self, action):
        text = action.help or ""
        default = action.default
        if default is None or default is False or default is argparse.SUPPRESS or "(default" in text \
                or not action.option_strings:
            return text
        shown = " ".join(map(str, default)) if isinstance(default, list) else default
        return f"{text} (default: {shown})"


# -- info ---------------------------------------------------------------------

def cmd_info(args) -> int:
    import numba
    import scipy

    import fastbp

    from .. import _jit, kernels
    from ..kernels import _blas

    print(f"fastbp      {fastbp.__version__}")
    print(f"numpy       {np.__version__}")
    print(f"numba       {numba.__version__}")
    print(f"scipy       {scipy.__version__}")
    print(_blas.summary())
    for reason in _blas.SKIPPED:
        print(f"  passed over: {reason}")
    for lib in _blas.blas_libraries():
        print(f"blas library: {lib.get('internal_api')} {lib.get('version')}, kernel {lib.get('architecture')}, "
              f"{lib.get('num_threads')} threads, {lib.get('filepath')}")
    print(f"threads: {fastbp.get_num_threads()} (the BLAS's; no kernel is parallel in Numba)")
    folder, writable = kernels.cache_folder()
    print(f"compile cache: {folder}")
    from .. import _cache, _tiers
    from .._warmup import KERNELS

    for row in _cache.summary(_jit.cache_variant()):
        state = ("in use" if row["path"] == folder else "read") + (", writable" if row["writable"] else ", read-only")
        held = f"{row['entries']} entries, {row['bytes'] / 1e6:.1f} MB" if row["exists"] else "absent"
        print(f"  {row['label']:<15} {row['path']} ({held}; {state})")
    for dtype in ("float32", "float64"):
        ready = [k for k in KERNELS if _jit.is_ready(getattr(kernels, k), _tiers.signature(k, dtype))]
        print(f"  {dtype} kernels cached: {', '.join(ready) if ready else 'none'}"
              + ("" if len(ready) == len(KERNELS) else " (fastbp compile compiles the rest)"))
    print(f"kernel sources digest: {_jit.sources_digest()[:16]}")
    print(f"tier: {_tiers.get_tier()} (FASTBP_TIER: auto, wait or reference)")
    import importlib.util

    for name, extra in (("sklearn", "sklearn"), ("mpi4py", "mpi")):
        if importlib.util.find_spec(name) is None:
            print(f"{name:<11} not installed (pip install 'fastbp[{extra}]')")
        elif name == "mpi4py":  # importing mpi4py.MPI initialises MPI: only its version string here
            import mpi4py

            print(f"mpi4py      {mpi4py.__version__} (fit(comm=...), fastbp train --distributed)")
        else:
            import sklearn

            print(f"sklearn     {sklearn.__version__} (fastbp.sklearn estimators)")
    return 0


# -- main ---------------------------------------------------------------------

def _check_environment(args) -> None:
    """The environment settings the kernels read (``FASTBP_BLAS``,
    ``NUMBA_DISABLE_JIT``), checked once, as one line: importing the kernels
    chooses the GEMM provider and compiles nothing. The background compile
    worker's failures are its own."""
    if getattr(args, "background", False):
        return
    try:
        import fastbp.kernels  # noqa: F401
    except (ImportError, ValueError) as exc:
        if "fastbp" not in str(exc) and "FASTBP" not in str(exc):
            raise
        raise UsageError(str(exc)) from None


def _number_format_options(parser, model: bool = False) -> None:
    default = " (default: as in the training file, which the model keeps)" if model else ""
    parser.add_argument("--decimal", choices=[".", ","], default=None if model else ".", metavar="MARK",
                        help="the CSV's decimal mark, '.' or ',': ',' reads '0,5' as 0.5 and, with '.' as the thousands "
                             f"separator, '1.000,5' as 1000.5{default}")
    parser.add_argument("--thousands", choices=["none", ",", "."], metavar="SEP",
                        help="the CSV's thousands separator, none, ',' or '.': ',' reads '1,000' as 1000 " + (
                            default or "(default: none; '.' with --decimal ,)"))


def build_parser() -> argparse.ArgumentParser:
    from .. import optimizers

    p = _Parser(prog="fastbp", description="Train dense neural networks by backpropagation, fast, on the CPU. "
                                           "With no subcommand (options only, or nothing) it runs train: "
                                           "`fastbp` alone trains on scikit-learn's digits.")
    from .._version import __version__

    p.add_argument("--version", action="version", version=f"fastbp {__version__}")
    sub = p.add_subparsers(dest="command", parser_class=_Parser)

    t = sub.add_parser("train", help="train a network (default data: scikit-learn's digits)", formatter_class=_Help,
                       description="Train a network on a CSV or .npz file (default: scikit-learn's digits), "
                                   "report held-out accuracy (classification) or R2 (regression), and save it "
                                   "with --out (without it, nothing is saved, and it says so).")
    t.add_argument("--data", help="CSV file with a header row (with --target), or .npz file with arrays X and y; "
                                  "when left out: scikit-learn's digits")
    t.add_argument("--target", help="name of the CSV column to learn: numbers, or text labels (classification)")
    t.add_argument("--task", choices=["auto", "classification", "regression"], default="auto",
                   help="auto: classification when the target holds text, or only integers with at most "
                        "max(2, rows / 5) distinct values; else regression")
    t.add_argument("--scale", choices=["standard", "none"], default="standard",
                   help="standard: features (and a regression target) to mean 0, deviation 1 over the training "
                        "rows, kept in the model file for predict; none: as they are")
    t.add_argument("--no-scale", dest="scale", action="store_const", const="none", help="same as --scale none")
    for alias in ("--no-standardize", "--no-standardise"):
        t.add_argument(alias, dest="scale", action="store_const", const="none", help=argparse.SUPPRESS)
    t.add_argument("--text-columns", default="onehot", metavar="{onehot,refuse,NAME[,NAME...]}",
                   help="onehot: a feature column holding text becomes one 0/1 input per category of the training "
                        "rows (a category never seen there: all zeros, with a warning), but a column of numbers "
                        f"with a few other cells (at most {MISTYPED_SHARE * 100:.0f}%% of them) is refused, naming them; "
                        "refuse: any text is an error; column names: these columns are encoded as categories "
                        "whatever they hold, the others as onehot says")
    _number_format_options(t)
    t.add_argument("--missing", choices=["impute", "refuse"], default="impute",
                   help="impute: an empty feature cell becomes its column's median over the training rows, with a "
                        "0/1 input saying it was missing (text: a category of its own); refuse: an error")
    t.add_argument("--hidden", type=int, nargs="+", default=[64], metavar="N", help="hidden layer widths")
    t.add_argument("--activation", choices=HIDDEN_ACTIVATIONS, default="tanh", help="hidden layers' activation")
    t.add_argument("--loss", choices=list(LOSSES),
                   help="cost function (default: cross_entropy for classification, mse for regression; huber: "
                        "regression's mse turning linear past 1.0, in the standardised target's units, so "
                        "outliers pull less)")
    t.add_argument("--optimizer", choices=list(optimizers.NAMES), default="sgd",
                   help="update rule, with its defaults (fastbp.optimizers): plain SGD, SGD with momentum or "
                        "Nesterov momentum, or an adaptive one")
    t.add_argument("--momentum", type=float,
                   help="momentum of --optimizer momentum/nesterov (default: 0.9); other optimizers ignore it")
    t.add_argument("--l2", type=float, default=0.0, help="L2 weight decay: l2 * W is added to each weight gradient")
    t.add_argument("--lr", type=float, help="learning rate (default: 0.1 for the SGD family, 0.001 for the others)")
    t.add_argument("--epochs", type=int, default=30, help="passes over the training rows")
    t.add_argument("--batch-size", type=int, default=32, help="rows per step")
    t.add_argument("--dtype", choices=["float32", "float64"], default="float32",
                   help="the network's dtype; the command's default is float32 (half the memory, faster), "
                        "fastbp.Network's is float64")
    t.add_argument("--seed", type=int, default=0, help="seed of the initial weights, the splits and the batch order")
    t.add_argument("--threads", type=int, help="BLAS threads (default: every core this process may use)")
    t.add_argument("--validation-split", type=float, default=0.1,
                   help="fraction of the training rows held out to report a validation score each epoch")
    t.add_argument("--test-split", type=float, default=0.25, help="fraction of the rows held out for the final test")
    t.add_argument("--patience", type=int, metavar="N",
                   help="stop after N epochs without the validation loss falling by more than 1e-4 "
                        "(scikit-learn's n_iter_no_change and tol) and keep the best epoch's model; 0: train every "
                        "epoch and keep the last (default: 10, with validation rows)")
    t.add_argument("--out", help="save the model here (.npz with the scaling and labels; read by fastbp predict)")
    t.add_argument("--plot", help="write loss and validation curves to this image (.png, .pdf, .svg; needs "
                                  "matplotlib)")
    t.add_argument("--quiet", action="store_true",
                   help="print only the final figure (and errors and warnings): no progress report or summary")
    t.add_argument("--ensemble", type=int, metavar="K",
                   help="train K networks side by side (fastbp.Ensemble: their seeds drawn from --seed, one core "
                        "each) and predict with their mean; --out saves the ensemble in one file")
    t.add_argument("--distributed", action="store_true",
                   help="data-parallel over MPI, under mpiexec -n N: each rank trains on every Nth training row, "
                        "one allreduce per step; rank 0 prints and saves (needs fastbp[mpi])")
    t.set_defaults(func=cmd_train, check=check_train)

    pr = sub.add_parser("predict", help="predict with a saved model", formatter_class=_Help,
                        description="Write a saved model's predictions as CSV, in the training target's units "
                                    "and labels (the model file's scaling and labels are applied).")
    pr.add_argument("model", help="a model saved by fastbp train --out")
    pr.add_argument("--data", required=True,
                    help="CSV with a header row (the model's feature columns are found by name) or .npz (array X)")
    pr.add_argument("--target", help="a CSV column to leave out of the features (models of older fastbp versions)")
    pr.add_argument("--proba", action="store_true",
                    help="a classification model's probability of each class, one column per class named by its "
                         "label, instead of the predicted label")
    pr.add_argument("--out", help="write the predictions here instead of to stdout")
    _number_format_options(pr, model=True)
    pr.set_defaults(func=cmd_predict, check=check_predict)

    ev = sub.add_parser("evaluate", help="score a saved model on a labelled file", formatter_class=_Help,
                        description="Score a saved model on a labelled CSV or .npz file, prepared as for predict: "
                                    "accuracy, log loss and the confusion matrix for classification; R2, RMSE "
                                    "and MAE (in the target's units) for regression.")
    ev.add_argument("model", help="a model saved by fastbp train --out")
    ev.add_argument("--data", required=True, help="CSV with a header row, or .npz with arrays X and y")
    ev.add_argument("--target", help="the CSV column of true values (default: the column the model was trained on)")
    _number_format_options(ev, model=True)
    ev.set_defaults(func=cmd_evaluate, check=check_evaluate)

    from ..bench import options as bench  # standard library imports only

    b = sub.add_parser("bench", help="side-by-side comparison against peers", formatter_class=_Help,
                       description=bench.description())
    bench.add_arguments(b)
    b.set_defaults(func=bench.run, check=bench.check)

    ex = sub.add_parser("example", help="write the small example tables the README's commands use",
                        formatter_class=_Help,
                        description="Write table.csv (400 labelled rows: numbers, a text column, a few empty cells) "
                                    "and new_rows.csv (20 rows without the label) into FOLDER, for trying train, "
                                    "predict and evaluate.")
    ex.add_argument("folder", nargs="?", default=".", help="where to write them")
    ex.add_argument("--force", action="store_true", help="replace the files if they exist")
    ex.set_defaults(func=cmd_example, check=None)

    ca = sub.add_parser("cache", help="list or clear the compile cache (clear before pip uninstall)",
                        formatter_class=_Help,
                        description="The folders holding fastbp's compiled kernels, with their size (list), or "
                                    "their removal (clear: those this user may write). pip uninstall leaves them: "
                                    "run fastbp cache clear first.")
    ca.add_argument("action", nargs="?", choices=["list", "clear"], default="list")
    ca.set_defaults(func=cmd_cache, check=None)

    i = sub.add_parser("info", help="versions, BLAS, threads and the compile cache",
                       description="Versions, the GEMM provider and its threads, the compile cache's folders "
                                   "(which is written, what each holds) and the tier setting.")
    i.set_defaults(func=cmd_info, check=None)

    from .._warmup import KERNELS

    c = sub.add_parser("compile", help="compile the kernels ahead of use (Docker images, CI caches)",
                       formatter_class=_Help,
                       description="Compile the kernels that fit, predict and the estimators use, and keep them "
                                   "in the compile cache, so that no later process waits for the compiler. Run it "
                                   "as the owner of the installation at image build time to fill the package's "
                                   "own cache folder, which every user reads.")
    c.add_argument("--dtype", nargs="+", choices=["float32", "float64", "float32-sparse", "float64-sparse"],
                   default=["float32", "float64"],
                   help="dtypes to compile for; -sparse: the kernels' specialisations for sparse (CSR) X")
    c.add_argument("--optimizers", nargs="+", choices=list(optimizers.NAMES),
                   help="compile the epoch of these optimizers only (sgd: plain SGD's own epoch; the others "
                        "share one; default: both)")
    c.add_argument("--kernels", nargs="+", choices=list(KERNELS), metavar="NAME",
                   help="compile these top-level kernels only: " + "; ".join(f"{k} ({v})" for k, v in KERNELS.items()))
    c.add_argument("--provider", choices=["auto", "numpy", "openblas", "scipy", "numba"],
                   help="GEMM provider to compile for (as FASTBP_BLAS; default: the one this process picks)")
    c.add_argument("--background", nargs="+", metavar="KEY:KERNELS", help=argparse.SUPPRESS)  # fastbp._worker
    c.set_defaults(func=cmd_compile, check=None)
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the command with ``argv`` (default: ``sys.argv[1:]``); returns the exit status."""
    from .. import _tiers

    _tiers.note_reference = False  # the command reports each call's tier itself
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0].startswith("-") and argv[0] not in ("-h", "--help", "--version"):
        argv = ["train", *argv]  # no subcommand: train, the main job
    try:
        args = parser.parse_args(argv)
        if args.check is not None:
            args.check(args)
        _check_environment(args)
        return args.func(args)
    except UsageError as exc:
        mpi = sys.modules.get("mpi4py.MPI")  # under --distributed every rank fails alike; rank 0 says so
        if mpi is None or mpi.COMM_WORLD.Get_rank() == 0:
            print(f"error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        return 0
    except KeyboardInterrupt as exc:  # one line, not a traceback
        print(f"interrupted{f': {exc}' if str(exc) else ''}", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
