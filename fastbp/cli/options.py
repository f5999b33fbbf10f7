"""Flag values that need more than argparse: checked before any work, named as the flags are."""
from __future__ import annotations

from .checks import (
    UsageError,
    check_distinct,
    check_model_file,
    check_output_file,
    check_plot_file,
    mpi_launch,
    warn,
)

MOMENTUM_OPTIMIZERS = ("momentum", "nesterov")


def text_columns_of(value: str) -> bool | set:
    """``--text-columns``: True (onehot), False (refuse), or the set of names listed."""
    if value in ("onehot", "refuse"):
        return value == "onehot"
    names = {name.strip() for name in value.split(",")}
    if "" in names:
        raise UsageError(f"--text-columns takes onehot, refuse or column names separated by commas, got {value!r}")
    return names


def number_format_of(args, stored=None):
    """The CSV number format of ``--decimal``/``--thousands``, the flags
    left out taking the model's ``stored`` one (predict, evaluate). With a
    decimal comma, the thousands separator is a dot unless said otherwise."""
    from .columns import NumberFormat

    decimal = args.decimal or (stored.decimal if stored else ".")
    if args.thousands is not None:
        thousands = "" if args.thousands == "none" else args.thousands
    elif stored is not None and args.decimal in (None, stored.decimal):
        thousands = stored.thousands
    else:
        thousands = "." if decimal == "," else ""
    if decimal == thousands:
        raise UsageError(f"--decimal {decimal} and --thousands {thousands} must differ")
    return NumberFormat(decimal, thousands)


def optimizer_of(args):
    """The optimizer object of ``--optimizer/--momentum/--l2`` (one for the
    whole run, so momentum and Adam state carry across epochs); sets the
    default ``--lr``: 0.1 for the SGD family, 0.001 for the adaptive ones.
    Bad values raise UsageError naming the option."""
    from fastbp import optimizers

    base = optimizers.NAMES[args.optimizer]()
    if args.lr is None:
        args.lr = 0.1 if isinstance(base, optimizers.SGD) else 0.001
    values = {name: getattr(base, name) for name, _, _ in base.params}
    if values.get("momentum") and args.momentum is not None:
        values["momentum"] = args.momentum
    try:
        return type(base)(**values, l2=args.l2)
    except ValueError as exc:
        raise UsageError(f"--{exc}") from None


def check_train(args) -> None:
    from .._validation import check_fit

    try:
        check_fit(args.epochs, args.batch_size, args.lr if args.lr is not None else 0.1, "raise",
                  args.threads, None, False)
    except ValueError as exc:
        raise UsageError(f"--{str(exc).replace('batch_size', 'batch-size')}") from None
    for name in ("validation_split", "test_split"):
        v = getattr(args, name)
        if not 0 <= v < 1:
            raise UsageError(f"--{name.replace('_', '-')} must lie in [0, 1), got {v}")
    if args.validation_split + args.test_split >= 1:
        raise UsageError(f"--validation-split {args.validation_split} and --test-split {args.test_split} "
                         "leave nothing to train on")
    if args.patience is not None:
        if args.patience < 0:
            raise UsageError(f"--patience must be a non-negative integer (0: no early stopping), got {args.patience}")
        if args.patience > 0 and args.validation_split == 0:
            raise UsageError("--patience watches the validation score: it needs --validation-split above 0")
    if args.ensemble is not None:
        from ..ensemble import MAX_MEMBERS

        if not 1 <= args.ensemble <= MAX_MEMBERS:
            raise UsageError(f"--ensemble takes a count of networks from 1 to {MAX_MEMBERS}, got {args.ensemble}")
        if args.distributed:
            raise UsageError("--ensemble trains its networks on this machine's cores: leave out --distributed")
        if args.plot:
            raise UsageError("--plot draws one network's curves: leave it out with --ensemble")
    if min(args.hidden) < 1:
        raise UsageError(f"--hidden widths must be positive integers, got {args.hidden}")
    if args.seed < 0:
        raise UsageError(f"--seed must be a non-negative integer, got {args.seed}")
    args.optimizer_object = optimizer_of(args)
    args.text = text_columns_of(args.text_columns)
    args.number_format = number_format_of(args)
    rank, size = mpi_launch()  # under mpiexec, rank 0 alone warns
    if args.momentum is not None and args.optimizer not in MOMENTUM_OPTIMIZERS and rank == 0:
        warn(f"--momentum {args.momentum:g} is used by --optimizer momentum or nesterov only; "
             f"--optimizer {args.optimizer} ignores it")
    if args.out:
        check_model_file(args.out, "--out")
    if args.plot:
        check_plot_file(args.plot, "--plot")
    check_distinct({"--data": args.data, "--out": args.out, "--plot": args.plot})
    if size > 1 and not args.distributed and rank == 0:
        also = " and write the same --out file" if args.out else ""
        warn(f"started as {size} MPI processes without --distributed: each trains its own copy on all the "
             f"data{also}; add --distributed to share the work between them")


def check_predict(args) -> None:
    if args.out:
        check_output_file(args.out, "--out")
    check_distinct({"model": args.model, "--data": args.data, "--out": args.out})


def check_evaluate(args) -> None:
    check_distinct({"model": args.model, "--data": args.data})
