"""Text feature columns and empty cells: one-hot encoding and imputation,
learned on the training rows only and kept in the model file.

A text column becomes one 0/1 column per category seen in the training rows
(scikit-learn's ``OneHotEncoder(handle_unknown="ignore")``): a category never
seen there is all zeros, with one warning line naming the column and value;
empty cells of a text column are a category of their own when the training
rows have any. An empty cell of a number column is the column's median over
the training rows, and a 0/1 column beside it says which values were missing
(``SimpleImputer(strategy="median", add_indicator=True)``), where the
training rows have any.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .checks import UsageError, warn
from .data import Table

#: Distinct values a text column may have in the training rows: more is an
#: identifier or free text, not a category, and would make as many inputs.
MAX_CATEGORIES = 100
_MISSING = ""  # the category of an empty text cell


@dataclass
class Column:
    """How one input column becomes model inputs."""

    name: str
    kind: str  # "number" or "text"
    median: float = 0.0  # number: what an empty cell becomes
    indicator: bool = False  # number: a 0/1 "was missing" input follows
    categories: list[str] = field(default_factory=list)  # text: one input each ("" for empty cells)

    @property
    def width(self) -> int:
        return 1 + self.indicator if self.kind == "number" else len(self.categories)


class Encoder:
    """The columns' encodings, learned by :meth:`fit`, applied by :meth:`transform`."""

    def __init__(self, columns: list[Column]):
        self.columns = columns

    @property
    def width(self) -> int:
        """Model inputs the encoded table has."""
        return sum(c.width for c in self.columns)

    @property
    def text_columns(self) -> set[str]:
        return {c.name for c in self.columns if c.kind == "text"}

    @property
    def needed(self) -> bool:
        """Whether it changes anything (a text column, or an imputed one)."""
        return any(c.kind == "text" or c.indicator for c in self.columns)

    @classmethod
    def fit(cls, table: Table, rows: np.ndarray) -> "Encoder":
        names = table.features or [f"x{j}" for j in range(table.X.shape[1])]
        text = table.text or {}
        columns = []
        for j, name in enumerate(names):
            if j in text:
                values = text[j][rows]
                categories = sorted(set(values.tolist()) - {_MISSING})
                if len(categories) > MAX_CATEGORIES:
                    raise UsageError(f"{table.source}, column {name!r}: {len(categories)} distinct text values in "
                                     f"the training rows, more than the {MAX_CATEGORIES} a category column may "
                                     "have (an identifier or free text?): drop the column or encode it as numbers")
                if (values == _MISSING).any():
                    categories.append(_MISSING)
                columns.append(Column(name, "text", categories=categories))
            else:
                values = table.X[rows, j]
                missing = np.isnan(values)
                median = float(np.median(values[~missing])) if (~missing).any() else 0.0
                columns.append(Column(name, "number", median=median, indicator=bool(missing.any())))
        return cls(columns)

    def source_column(self, k: int) -> int:
        """The input column that model input ``k`` comes from."""
        return int(np.searchsorted(np.cumsum([c.width for c in self.columns]), k, side="right"))

    def transform(self, table: Table) -> np.ndarray:
        """The model inputs of every row of ``table`` (its columns in this
        encoder's order); one warning line per column with unseen categories."""
        text = table.text or {}
        out = np.zeros((table.X.shape[0], self.width), dtype=np.float64)
        k = 0
        for j, col in enumerate(self.columns):
            if col.kind == "number":
                values = table.X[:, j]
                missing = np.isnan(values)
                out[:, k] = np.where(missing, col.median, values)
                if col.indicator:
                    out[:, k + 1] = missing
            else:
                values = text[j]
                index = {c: i for i, c in enumerate(col.categories)}
                codes = np.array([index.get(v, -1) for v in values.tolist()], dtype=np.int64)
                seen = codes >= 0
                out[np.flatnonzero(seen), k + codes[seen]] = 1.0
                if not seen.all():
                    unseen = sorted(set(values[~seen].tolist()))
                    shown = ", ".join(repr(v) if v else "an empty cell" for v in unseen[:3])
                    more = f" and {len(unseen) - 3} more" if len(unseen) > 3 else ""
                    warn(f"{table.source}, column {col.name!r}: {(~seen).sum()} rows hold values the training rows "
                         f"did not ({shown}{more}); they are encoded as no category")
            k += col.width
        return out

    def to_json(self) -> list[dict]:
        return [{"name": c.name, "kind": c.kind, "median": c.median, "indicator": c.indicator}
                if c.kind == "number" else {"name": c.name, "kind": c.kind, "categories": c.categories}
                for c in self.columns]

    @classmethod
    def from_json(cls, value, names: list[str]) -> "Encoder":
        """The encoder a model file stored, for its feature columns ``names``; ValueError if malformed."""
        def bad(why: str) -> ValueError:
            return ValueError(f"the model file's feature encoding is malformed: {why}")

        if not isinstance(value, list) or len(value) != len(names):
            raise bad(f"{len(names)} columns expected")
        columns = []
        for item, name in zip(value, names):
            if not isinstance(item, dict) or item.get("name") != name:
                raise bad(f"column {name!r}")
            if item.get("kind") == "number":
                median, indicator = item.get("median"), item.get("indicator")
                if type(median) not in (int, float) or not math.isfinite(median) or type(indicator) is not bool:
                    raise bad(f"column {name!r}: a finite median and a true/false indicator expected")
                columns.append(Column(name, "number", median=float(median), indicator=indicator))
            elif item.get("kind") == "text":
                categories = item.get("categories")
                if (not isinstance(categories, list) or not 0 < len(categories) <= MAX_CATEGORIES + 1
                        or not all(isinstance(c, str) for c in categories) or len(set(categories)) != len(categories)):
                    raise bad(f"column {name!r}: a list of distinct category strings expected")
                columns.append(Column(name, "text", categories=categories))
            else:
                raise bad(f"column {name!r}: kind 'number' or 'text' expected")
        return cls(columns)
