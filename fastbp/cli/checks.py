"""The command's checks of what it will write, made before any work starts.

A training of minutes must not end in a traceback because ``--out`` names a
missing folder or ``--plot`` a format matplotlib cannot write: every output
path, its format and the optional package that writes it are checked first.
A failed check is one :class:`UsageError` line and exit status 2.
"""
from __future__ import annotations

import os
import sys


class UsageError(Exception):
    """Bad input from the command line: reported in one line, exit status 2."""


def warn(message: str) -> None:
    """One line on stderr for a setting that runs but is probably not what was meant."""
    print(f"warning: {message}", file=sys.stderr, flush=True)


def check_output_file(path: str, flag: str) -> str:
    """``path`` as an absolute path, if a file can be written there; else UsageError naming ``flag``."""
    if not path or not path.strip():
        raise UsageError(f"{flag} needs a file name")
    full = os.path.abspath(path)
    if os.path.isdir(full):
        raise UsageError(f"{flag} {path} is a folder; give a file name inside it")
    folder = os.path.dirname(full)
    if not os.path.isdir(folder):
        raise UsageError(f"{flag} {path}: the folder {folder} does not exist (create it first)")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UsageError(f"{flag} {path}: no permission to write in {folder}")
    if os.path.exists(full) and not os.access(full, os.W_OK):
        raise UsageError(f"{flag} {path}: the file exists and is not writable")
    return full


def check_model_file(path: str, flag: str = "--out") -> str:
    """As :func:`check_output_file`, plus what ``Network.save`` itself refuses (not a regular file...)."""
    from .. import _io

    full = check_output_file(path, flag)
    try:
        _io.file_to_replace(path)
    except ValueError as exc:
        raise UsageError(f"{flag}: {exc}") from None
    return full


def check_plot_file(path: str, flag: str = "--plot") -> str:
    """As :func:`check_output_file`, plus: matplotlib is installed and writes this file's format."""
    full = check_output_file(path, flag)
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise UsageError(f'{flag} needs matplotlib: pip install "fastbp[plot]" (or pip install matplotlib)') from None
    # Those matplotlib writes with itself and Pillow, its dependency (pgf needs LaTeX, avif a codec).
    formats = {"png", "pdf", "svg", "svgz", "eps", "ps", "jpg", "jpeg", "tif", "tiff"} & set(
        FigureCanvasAgg(Figure()).get_supported_filetypes())
    ext = os.path.splitext(path)[1].lower().lstrip(".")
    if ext not in formats:
        given = f"'.{ext}' files" if ext else "a file without an extension"
        raise UsageError(f"{flag} {path}: matplotlib cannot write {given}; end the name in one of "
                         + ", ".join("." + f for f in sorted(formats)))
    return full


def check_distinct(paths: dict[str, str | None]) -> None:
    """Two flags naming one file would overwrite an input or one output with
    another: compared as files (device and inode, so hard links too), not names."""
    from .._io import identity

    seen: dict[tuple, str] = {}
    for flag, path in paths.items():
        if not path or not os.path.exists(os.path.dirname(os.path.abspath(path)) or "."):
            continue
        key = identity(path)
        if key in seen:
            raise UsageError(f"{seen[key]} and {flag} name the same file, {path}: give them different names")
        seen[key] = flag


def mpi_launch() -> tuple[int, int]:
    """``(rank, size)`` that an MPI launcher (mpiexec, mpirun) gave this process; ``(0, 1)`` if none.

    Read from the launchers' environment variables, so that nothing imports
    or initialises MPI: MPICH/Intel MPI (PMI_*), Open MPI (OMPI_COMM_WORLD_*),
    MVAPICH (MV2_COMM_WORLD_*).
    """
    for rank_var, size_var in (("PMI_RANK", "PMI_SIZE"), ("OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE"),
                               ("MV2_COMM_WORLD_RANK", "MV2_COMM_WORLD_SIZE")):
        try:
            return int(os.environ[rank_var]), int(os.environ[size_var])
        except (KeyError, ValueError):
            continue
    return 0, 1
