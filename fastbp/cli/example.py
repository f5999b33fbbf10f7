"""``fastbp example``: write the small tables the README's commands use.

``table.csv`` (a labelled table as people have them: numbers of every scale,
a text column, a few empty cells) and ``new_rows.csv`` (rows of the same
columns without the label), drawn from a fixed rule with noise, so that
``fastbp train --data table.csv --target label`` has something to learn.
"""
from __future__ import annotations

import csv
import os

import numpy as np

from .checks import UsageError

FILES = ("table.csv", "new_rows.csv")
HEADER = ["age", "income", "city", "visits", "label"]
_CITIES = ("Lyon", "Oslo", "Porto")


def rows(n: int, seed: int) -> list[list[str]]:
    """``n`` rows of the example table (label last)."""
    rng = np.random.default_rng(seed)
    age = rng.integers(18, 80, n)
    income = np.round(rng.lognormal(10.3, 0.5, n), -1)
    city = rng.integers(0, len(_CITIES), n)
    visits = rng.poisson(4, n)
    score = (0.04 * (age - 45) + 1.2 * (np.log(income) - 10.3) + np.array([0.8, -0.6, 0.0])[city]
             + 0.25 * (visits - 4) + rng.normal(0, 0.6, n))
    missing = rng.random(n) < 0.03  # a few empty income cells
    return [[str(a), "" if m else f"{i:.0f}", _CITIES[c], str(v), "yes" if s > 0 else "no"]
            for a, i, c, v, s, m in zip(age, income, city, visits, score, missing)]


def cmd_example(args) -> int:
    folder = args.folder
    if not os.path.isdir(folder):
        raise UsageError(f"{folder} is not a folder")
    paths = [os.path.join(folder, name) for name in FILES]
    there = [p for p in paths if os.path.exists(p)]
    if there and not args.force:
        raise UsageError(f"{' and '.join(there)} {'exist' if len(there) > 1 else 'exists'} already: nothing written "
                         "(--force replaces the files)")
    tables = {paths[0]: (HEADER, rows(400, 0)), paths[1]: (HEADER[:-1], [r[:-1] for r in rows(20, 1)])}
    from .. import _io

    for path, (header, body) in tables.items():
        def write(f, header=header, body=body):
            import io

            text = io.StringIO()
            w = csv.writer(text, lineterminator="\n")
            w.writerow(header)
            w.writerows(body)
            f.write(text.getvalue().encode("utf-8"))

        try:
            _io.write_file(path, write, "the example table")
        except (OSError, ValueError) as exc:
            raise UsageError(f"cannot write {path}: {getattr(exc, 'strerror', None) or exc}") from None
    print(f"wrote {paths[0]} (400 rows: age, income, city, visits and the label to learn, yes or no) and "
          f"{paths[1]} (20 new rows without the label); try:")
    print(f"  fastbp train --data {paths[0]} --target label --out model.npz")
    print(f"  fastbp predict model.npz --data {paths[1]} --proba")
    return 0
