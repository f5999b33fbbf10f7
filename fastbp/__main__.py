"""``python -m fastbp``: the ``fastbp`` command (see ``fastbp.cli``)."""
import sys

from .cli import main

sys.exit(main())
