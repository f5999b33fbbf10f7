"""asv suites (bench_*.py) and the side-by-side comparison (compare.py)."""
