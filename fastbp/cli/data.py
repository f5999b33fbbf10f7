"""Reading the command's data: CSV files, ``.npz`` archives, the default digits.

Every problem in a file is one :class:`UsageError` that names the file and,
for a CSV, the file's own line number and the column: the line a user finds
in an editor, whatever blank lines or quoted multi-line cells come before it.
"""
from __future__ import annotations

import csv
import itertools
import os
from dataclasses import dataclass

import numpy as np

from .checks import UsageError
from .columns import Census, NumberFormat, comma_hint, quote

_CHUNK_ROWS = 2048  # rows converted to numbers at once: bounds the memory of the text array


@dataclass
class Table:
    """Features, an optional target and where they came from.

    ``X`` holds the numbers, NaN where a cell was empty (when empty cells were
    allowed) and in the place of a text column, whose cells are in ``text``."""

    X: np.ndarray  # (n, d) float64
    y: np.ndarray | None  # (n,) float64, or str labels
    source: str  # for messages: the path, or what the default data is
    features: list[str] | None = None  # the CSV's names of X's columns
    text: dict[int, np.ndarray] | None = None  # column of X -> its cells, stripped ("" where empty)
    y_text: np.ndarray | None = None  # a CSV target's cells as read (labels come back as they were)
    lines: np.ndarray | None = None  # a CSV's line of each row, for messages

    def where(self, row: int, column: int | None = None) -> str:
        """Where row ``row`` (and feature ``column``) of X is, for a message:
        the CSV's line and column name, or the array index."""
        if self.lines is None:
            return f"{self.source}: X[{row}{'' if column is None else f', {column}'}]"
        name = "" if column is None else f", column {(self.features or [])[column]!r}" \
            if self.features else f", column {column + 1}"
        return f"{self.source} line {self.lines[row]}{name}"


def load_data(path: str | None, target: str | None = None, *, need_y: bool = True,
              features: list[str] | None = None, text: bool | set = False, missing: bool = False,
              number_format: NumberFormat = NumberFormat(), detect: bool | None = None) -> Table:
    """The table in ``path`` (CSV or ``.npz``), or scikit-learn's digits when ``path`` is None.

    ``features``: for a CSV, the columns to read as X, in this order (what a
    saved model was trained on); every other column is left alone.
    ``text``: False refuses a non-number in a feature column (naming it);
    True reads a column holding non-numbers as text, as ``fastbp.cli.columns``
    decides (a few non-numbers among numbers are refused); a set of names
    reads those columns as text and the others as numbers, or with
    ``detect``, as True does. ``missing``: read an empty feature cell (an
    .npz's NaN) as missing (NaN) instead of refusing it. ``number_format``:
    the decimal mark and thousands separator of a CSV's numbers.
    """
    if path is None:
        try:
            from sklearn.datasets import load_digits
        except ImportError:
            raise UsageError("the default data set is scikit-learn's digits: pip install scikit-learn") from None
        X, y = load_digits(return_X_y=True)
        return Table(X, y, "scikit-learn digits (8x8 images, pixels 0..16)")
    if not os.path.exists(path):
        raise UsageError(f"no such file: {path}")
    if os.path.isdir(path):
        raise UsageError(f"{path} is a folder, not a data file")
    if path.lower().endswith(".npz"):
        return _read_npz(path, need_y, missing)
    if need_y and target is None:
        raise UsageError("a CSV needs --target COLUMN, the name of the column to learn")
    return read_csv(path, target, features, text, missing, number_format, detect)


# -- CSV ----------------------------------------------------------------------

def _delimiter(first_line: str) -> str:
    """Comma, unless the header has none and has semicolons or tabs (spreadsheet exports)."""
    if "," not in first_line:
        for d in (";", "\t"):
            if d in first_line:
                return d
    return ","


#: Caps that refuse a hostile or mistaken file before its memory is spent: a
#: line's characters, a cell's, and the columns of the header.
MAX_LINE_CHARS = 16 << 20
MAX_CELL_CHARS = 1 << 20
MAX_COLUMNS = 100_000


def _lines(f, path: str):
    """The file's lines, each read with a cap on its length (a file of one
    endless line, such as /dev/zero, is refused, not read whole)."""
    number = 0
    while True:
        line = f.readline(MAX_LINE_CHARS + 1)
        if not line:
            return
        number += 1
        if len(line) > MAX_LINE_CHARS:
            raise UsageError(f"{path} line {number}: longer than {MAX_LINE_CHARS} characters: not a CSV table "
                             "this command reads")
        yield line


def _record_stream(path: str):
    """The non-blank records of a CSV file, each with the line it starts on
    (1-based), read as they come: a pass over the file holds one record."""
    limit = csv.field_size_limit()
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            lines = _lines(f, path)
            first = next(lines, "")
            csv.field_size_limit(MAX_CELL_CHARS)
            # The first line back in front, not a seek: a pipe cannot seek.
            reader = csv.reader(itertools.chain([first] if first else [], lines), delimiter=_delimiter(first))
            end, first = 0, True
            try:
                for record in reader:
                    start, end = end + 1, reader.line_num
                    if first and len(record) > MAX_COLUMNS:
                        raise UsageError(f"{path} line {start}: the header names {len(record)} columns, more than "
                                         f"the {MAX_COLUMNS} this command reads")
                    if any(cell.strip() for cell in record):
                        first = False
                        yield record, start
            except csv.Error as exc:
                raise UsageError(f"{path} line {reader.line_num}: not valid CSV ({exc})") from None
            finally:
                csv.field_size_limit(limit)
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise UsageError(f"{path} is not a UTF-8 text CSV file") from None


def _chunks(path: str):
    """The header record alone, ``([header], [line])``, then the data records
    in chunks of ``_CHUNK_ROWS``, each with the lines they start on."""
    stream = _record_stream(path)
    head = next(stream, None)
    if head is None:
        return
    yield [head[0]], [head[1]]
    chunk, lines = [], []
    for record, line in stream:
        chunk.append(record)
        lines.append(line)
        if len(chunk) == _CHUNK_ROWS:
            yield chunk, lines
            chunk, lines = [], []
    if chunk:
        yield chunk, lines


def _passes(path: str):
    """A function giving a fresh pass over ``_chunks(path)``: read from the file
    each time for a regular file; a pipe or device is read once and held."""
    if os.path.isfile(path):
        return lambda: _chunks(path)
    held = list(_chunks(path))
    return lambda: iter(held)


def _scan(passes, path: str, detect: bool, number_format: NumberFormat) -> tuple[list[str], int, Census | None]:
    """A first pass over the file, holding one chunk at a time: its header,
    the number of data rows, every row's width checked against the header,
    and (``detect``) a census of the cells that are not numbers. Errors
    come in the order a read of the whole file gives them: the file's own
    (CSV, line length), no data rows, the header, a row's width."""
    chunks = passes()
    head = next(chunks, None)
    n, wrong = 0, None
    census = Census(len(head[0][0])) if detect and head is not None else None
    for chunk, lines in chunks:
        n += len(chunk)
        width = len(head[0][0])
        if wrong is None:
            wrong = next(((len(r), line) for r, line in zip(chunk, lines) if len(r) != width), None)
        if census is not None and wrong is None:
            block = _stripped(chunk, width, number_format)
            census.add(block, lines, _non_numbers(block))
    if head is None or n == 0:
        raise UsageError(f"{path} has no data rows under its header")
    header = _header(path, head[0][0], head[1][0])
    if wrong is not None:
        raise UsageError(f"{path} line {wrong[1]}: {wrong[0]} cells, the header (line {head[1][0]}) has "
                         f"{len(header)}")
    return header, n, census


def _non_numbers(block: np.ndarray) -> dict:
    """Column -> rows of ``block``'s non-empty cells that are not numbers."""
    filled = np.where(block == "", "nan", block)
    try:
        filled.astype(np.float64)
        return {}
    except ValueError:
        pass
    out = {}
    for j in range(block.shape[1]):
        try:
            filled[:, j].astype(np.float64)
        except ValueError:
            out[j] = [i for i, cell in enumerate(filled[:, j]) if not _is_number(cell)]
    return out


def _stripped(chunk: list[list[str]], width: int, number_format: NumberFormat) -> np.ndarray:
    """A chunk's cells as a stripped string array, with room for the "nan" of
    an empty cell, numbers in ``number_format`` rewritten as Python's."""
    block = np.char.strip(np.array(chunk, dtype=np.str_).reshape(len(chunk), width))
    block = block.astype(f"U{max(3, block.dtype.itemsize // 4)}")
    number_format.normalise(block)
    return block


def _header(path: str, record: list[str], line: int) -> list[str]:
    names = [h.strip() or f"column {j + 1}" for j, h in enumerate(record)]
    seen: dict[str, int] = {}
    for j, name in enumerate(names):
        if name in seen:
            raise UsageError(f"{path} line {line}: the header names column {name!r} twice "
                             f"(columns {seen[name] + 1} and {j + 1})")
        seen[name] = j
    return names


def _column_index(path: str, header: list[str], name: str, what: str) -> int:
    if name in header:
        return header.index(name)
    near = [h for h in header if h.lower() == name.strip().lower()]
    hint = f" (did you mean {near[0]!r}?)" if near else ""
    raise UsageError(f"{path} has no column {name!r} ({what}){hint}; its columns: {', '.join(header)}")


def read_csv(path: str, target: str | None, features: list[str] | None = None, text: bool | set = False,
             missing: bool = False, number_format: NumberFormat = NumberFormat(), detect: bool | None = None) -> Table:
    """A CSV with a header row: feature columns of numbers (or, as ``text``
    allows, text), and a target column of numbers or labels.

    Two passes over the file, each holding one chunk of records: the first
    checks its shape (and, with ``text`` True, finds the text columns), the
    second converts; the numbers then take 8 bytes a cell, where records held
    as Python strings took several times the file's size."""
    passes = _passes(path)
    detect = text is True if detect is None else detect
    header, n, census = _scan(passes, path, detect, number_format)
    t = None if target is None else _column_index(path, header, target, "the --target")
    if features is not None:
        cols = [_column_index(path, header, name, "a feature column of the model") for name in features]
    else:
        cols = [j for j in range(len(header)) if j != t]
    if not cols:
        raise UsageError(f"{path} has no feature columns besides the target {target!r}")
    names = [header[j] for j in cols]
    named = text if isinstance(text, set) else set()
    unknown = sorted(named - set(header))
    if unknown and features is None:
        raise UsageError(f"{path} has no column {unknown[0]!r} (--text-columns); its columns: {', '.join(header)}")
    as_text = {k for k, name in enumerate(names) if name in named}
    if census is not None:
        found = census.text_columns(path, header, {cols[k] for k in as_text})
        as_text = {k for k, j in enumerate(cols) if j in found}
    X = np.empty((n, len(cols)), dtype=np.float64)
    cells = {k: [] for k in sorted(as_text)}
    y_cells, row_lines, done = [], np.empty(n, dtype=np.int64), 0
    chunks = passes()
    next(chunks)  # the header
    for chunk, lines in chunks:
        if done + len(chunk) > n or any(len(row) != len(header) for row in chunk):
            raise UsageError(f"{path} changed while it was read: read it again when it is complete")
        X[done:done + len(chunk)] = _numbers(path, chunk, lines, cols, names, as_text, missing, number_format)
        for k in cells:
            cells[k].append(np.array([row[cols[k]].strip() for row in chunk], dtype=np.str_))
        if t is not None:
            y_cells += [row[t].strip() for row in chunk]
        row_lines[done:done + len(chunk)] = lines
        done += len(chunk)
    if done != n:  # the file changed between the two passes
        raise UsageError(f"{path} changed while it was read: read it again when it is complete")
    cells = {k: np.concatenate(parts) for k, parts in cells.items()}
    y = None if t is None else _target(path, y_cells, row_lines, header[t])
    y_text = None if t is None else np.array(y_cells, dtype=np.str_)
    return Table(X, y, path, names, cells or None, y_text, row_lines)


def _cell_error(path, line, name, cell, text_ok: bool = False) -> UsageError:
    where, cell = f"{path} line {line}, column {name!r}", str(cell)
    shown = quote(cell) + comma_hint(cell)
    if not cell.strip():
        return UsageError(f"{where}: empty cell (a missing value): fill it in or drop the row, or leave out "
                          "--missing refuse (empty cells are then filled in)")
    if text_ok:  # a column the model reads as numbers
        return UsageError(f"{where}: {shown} is not a number, and the model read this column as numbers")
    return UsageError(f"{where}: {shown} is not a number (features must be numeric with --text-columns refuse: "
                      "leave it out to one-hot encode text columns)")


def _numbers(path, rows, lines, cols, names, as_text: set, missing: bool, number_format: NumberFormat) -> np.ndarray:
    """One chunk's columns ``cols`` as float64, NaN for the columns in
    ``as_text`` and, with ``missing``, for empty cells; the first bad cell of
    another column (not a number, empty, NaN or infinite) is named."""
    chunk = [[row[j] for j in cols] for row in rows]
    block = _stripped(chunk, len(cols), number_format)
    empty = block == ""
    block[empty] = "nan"
    numeric = ~np.isin(np.arange(len(cols)), sorted(as_text))
    block[:, ~numeric] = "nan"
    try:
        values = block.astype(np.float64)
    except ValueError:
        for k in range(len(cols)):
            try:
                block[:, k].astype(np.float64)
            except ValueError:
                i = next(i for i, cell in enumerate(block[:, k]) if not _is_number(cell))
                raise _cell_error(path, lines[i], names[k], block[i, k], bool(as_text)) from None
        raise  # pragma: no cover - some column failed above
    if not missing and (empty & numeric).any():
        i, k = np.argwhere(empty & numeric)[0]
        raise _cell_error(path, lines[i], names[k], "")
    bad = np.argwhere(~np.isfinite(values) & ~empty & numeric)
    if len(bad):
        i, k = bad[0]
        raise UsageError(f"{path} line {lines[i]}, column {names[k]!r}: "
                         f"{quote(chunk[i][k].strip())} is NaN or infinite: fill in or drop the row")
    return values


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _target(path, cells, lines, name) -> np.ndarray:
    """The target column (its stripped ``cells``): numbers if every cell is one, else text labels."""
    for cell, line in zip(cells, lines):
        if not cell:
            raise UsageError(f"{path} line {line}, target column {name!r}: empty cell: fill it in or drop the row")
    try:
        y = np.array(cells, dtype=np.str_).astype(np.float64)
    except ValueError:
        return np.array(cells, dtype=np.str_)
    bad = np.flatnonzero(~np.isfinite(y))
    if len(bad):
        raise UsageError(f"{path} line {lines[bad[0]]}, target column {name!r}: {cells[bad[0]]!r} is NaN or "
                         "infinite: fill in or drop the row")
    return y


def out_of_range(values: np.ndarray, dtype) -> tuple[int, int] | None:
    """The first ``(row, column)`` of ``values`` beyond the largest finite
    value of ``dtype`` (NaN, a missing value, passes), or None."""
    with np.errstate(invalid="ignore"):
        bad = np.argwhere(np.abs(values) > np.finfo(dtype).max)
    return None if len(bad) == 0 else (int(bad[0][0]), int(bad[0][1]))


# -- .npz ---------------------------------------------------------------------

def _read_npz(path: str, need_y: bool, missing: bool = False) -> Table:
    try:
        archive = np.load(path, allow_pickle=False)
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise UsageError(f"{path} is not a readable .npz file ({exc})") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise UsageError(f"{path} holds a single array; an .npz with arrays 'X' and 'y' is expected")
    with archive:
        if "X" not in archive.files or (need_y and "y" not in archive.files):
            wanted = "arrays 'X' and 'y'" if need_y else "an array 'X'"
            raise UsageError(f"{path} must hold {wanted}; it holds {archive.files}")
        try:
            X = archive["X"]
            y = archive["y"] if need_y else None
        except ValueError as exc:
            raise UsageError(f"{path}: {exc}") from None
    if X.dtype.kind not in "biuf":
        raise UsageError(f"{path}: X must hold numbers, it holds {X.dtype}")
    if X.ndim != 2:
        raise UsageError(f"{path}: X must be 2-D (samples x features), it has shape {X.shape}")
    X = X.astype(np.float64)
    if np.isinf(X).any() or (not missing and np.isnan(X).any()):
        i, k = np.argwhere(~np.isfinite(X))[0]
        raise UsageError(f"{path}: X[{i}, {k}] is {X[i, k]}: fill in or drop the row"
                         + ("" if np.isinf(X[i, k]) else " (or leave out --missing refuse: NaN is then a missing value)"))
    if y is not None:
        if y.dtype.kind in "SU":
            y = y.astype(np.str_)
        elif y.dtype.kind not in "biuf":
            raise UsageError(f"{path}: y must hold numbers or text labels, it holds {y.dtype}")
        if y.ndim != 1 or len(y) != len(X):
            raise UsageError(f"{path}: y must be 1-D with one value per row of X; X {X.shape}, y {y.shape}")
    return Table(X, y, path)
