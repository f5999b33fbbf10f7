"""Side-by-side comparison of fastbp and its peers (see ``fastbp.bench``).

    python benchmarks/compare.py --config S M L --rounds 7 --plot chart.png

is the same as ``fastbp bench --config S M L --rounds 7 --plot chart.png``.
"""
import sys

from fastbp.bench.options import main

if __name__ == "__main__":
    sys.exit(main())
