"""``python -m fastbp.bench``: the comparison by the command's own parser (its worker processes start this way)."""
import sys

from .options import main

sys.exit(main())
