"""Which CSV feature columns are numbers and which are text, and how numbers are written.

A column is read as numbers when its cells parse as numbers. One holding
cells that do not is read as text (one-hot encoded) only when they are more
than a small share of it: a column of numbers with a few odd cells (``0x10``,
``∞``, ``True``, a typo) is refused, naming the column and the cells, since
encoding it as categories trains a silently worse model. Numbers written with
a decimal comma (``0,5``) or a thousands separator (``1,000``) are never
taken for categories either: they are read with ``--decimal``/``--thousands``,
or refused naming those options.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from .checks import UsageError

#: A column whose non-number cells are at most this share of its non-empty
#: cells is taken for a column of numbers with mistyped cells, and refused.
MISTYPED_SHARE = 0.10
#: Characters of a cell quoted in a message.
QUOTED_CHARS = 80
_EXAMPLES = 3  # offending cells named in a message

# A number with a comma: a decimal comma (0,5; 1.000,5) or a thousands separator (1,000; 12,345.5).
_COMMA_NUMBER = re.compile(r"[+-]?(\d+,\d+|\d{1,3}(\.\d{3})+,\d+|\d{1,3}(,\d{3})+(\.\d+)?)")


def quote(cell: str) -> str:
    """``cell`` for a message: its repr, cut to :data:`QUOTED_CHARS` characters."""
    if len(cell) <= QUOTED_CHARS:
        return repr(cell)
    return f"{cell[:QUOTED_CHARS]!r}... ({len(cell)} characters)"


def comma_hint(cell: str) -> str:
    """A hint for a cell that is a number written with a comma, else ''."""
    if not _COMMA_NUMBER.fullmatch(cell):
        return ""
    return (" (a number written with a comma: --decimal , reads '0,5' as 0.5 and '1.000,5' as 1000.5; "
            "--thousands , reads '1,000' as 1000)")


@dataclass(frozen=True)
class NumberFormat:
    """How the file writes numbers: the decimal mark and a thousands
    separator (``""``: none). Cells in that form are rewritten to Python's
    (``1.000,5`` to ``1000.5``) before they are parsed; others parse as they are."""

    decimal: str = "."
    thousands: str = ""

    def __post_init__(self):
        if self.decimal not in ".," or len(self.decimal) != 1 or self.thousands not in ("", ",", "."):
            raise UsageError(f"unknown number format: decimal {self.decimal!r}, thousands {self.thousands!r}")
        if self.decimal == self.thousands:
            raise UsageError(f"--decimal {self.decimal} and --thousands {self.thousands} must differ")

    @property
    def plain(self) -> bool:
        return self.decimal == "." and not self.thousands

    def _pattern(self) -> re.Pattern:
        d, t = re.escape(self.decimal), re.escape(self.thousands)
        grouped = rf"\d{{1,3}}({t}\d{{3}})+({d}\d*)?|" if self.thousands else ""
        return re.compile(rf"[+-]?({grouped}\d*{d}\d+|\d+{d}?)")

    def normalise(self, block: np.ndarray) -> None:
        """Rewrite, in place, the cells of the string array ``block`` written in this format."""
        if self.plain:
            return
        marks = np.char.find(block, self.decimal) >= 0
        if self.thousands:
            marks |= np.char.find(block, self.thousands) >= 0
        pattern = self._pattern()
        for index in zip(*np.nonzero(marks)):
            cell = str(block[index])
            if pattern.fullmatch(cell):
                block[index] = cell.replace(self.thousands, "").replace(self.decimal, ".") if self.thousands \
                    else cell.replace(self.decimal, ".")

    def to_json(self) -> dict:
        return {"decimal": self.decimal, "thousands": self.thousands}

    @classmethod
    def from_json(cls, value) -> "NumberFormat":
        """The format a model file stored; ValueError naming the field if it is malformed."""
        try:
            return cls(value["decimal"], value["thousands"])
        except (TypeError, KeyError, UsageError):
            raise ValueError("the model file's number_format is malformed: a decimal mark '.' or ',' and a "
                             "thousands separator '', ',' or '.' expected") from None


@dataclass
class Census:
    """Per column: non-empty cells, cells that are not numbers, the first few
    of those with their lines, and whether every one is a number with a comma."""

    width: int
    non_empty: np.ndarray = None
    non_numbers: np.ndarray = None
    examples: dict = field(default_factory=dict)  # column -> [(cell, line)]
    comma_only: dict = field(default_factory=dict)  # column -> every non-number cell a comma number

    def __post_init__(self):
        self.non_empty = np.zeros(self.width, dtype=np.int64)
        self.non_numbers = np.zeros(self.width, dtype=np.int64)

    def add(self, block: np.ndarray, lines, bad: dict) -> None:
        """Count a chunk: ``block`` its stripped cells, ``bad`` column -> rows of non-number cells."""
        self.non_empty += (block != "").sum(axis=0)
        for j, rows in bad.items():
            self.non_numbers[j] += len(rows)
            seen = self.examples.setdefault(j, [])
            seen += [(str(block[i, j]), lines[i]) for i in rows[:_EXAMPLES - len(seen)]]
            commas = all(_COMMA_NUMBER.fullmatch(str(block[i, j])) for i in rows)
            self.comma_only[j] = self.comma_only.get(j, True) and commas

    def text_columns(self, path: str, header: list[str], forced: set) -> set:
        """The columns read as text: those in ``forced`` (indices), and those
        whose non-number cells are more than :data:`MISTYPED_SHARE` of them.
        A column of numbers with a few other cells, or with numbers written
        with a comma, is refused, naming it and those cells."""
        out = set()
        for j in sorted(self.examples):
            if j in forced:
                continue
            cells = ", ".join(f"{quote(cell)} (line {line})" for cell, line in self.examples[j])
            name = header[j]
            if self.comma_only[j]:
                raise UsageError(f"{path}, column {name!r}: numbers written with a comma, such as {cells}: "
                                 "--decimal , reads '0,5' as 0.5 and '1.000,5' as 1000.5; --thousands , reads "
                                 "'1,000' as 1000 (or --text-columns to encode the column as categories)")
            bad, total = int(self.non_numbers[j]), int(self.non_empty[j])
            if bad <= MISTYPED_SHARE * total:
                raise UsageError(
                    f"{path}, column {name!r}: {bad} of its {total} cells {'is' if bad == 1 else 'are'} not a "
                    f"number: {cells}{' ...' if bad > len(self.examples[j]) else ''}; a column of numbers with "
                    f"a few other cells is not encoded as categories unasked: fix those cells (an empty cell is "
                    f"a missing value), or --text-columns {_flag_value(name)} to encode it as categories")
            out.add(j)
        return out | forced


def _flag_value(name: str) -> str:
    return name if re.fullmatch(r"[\w.-]+", name) else repr(name)
