"""Sphinx configuration of fastbp's documentation site.

Build (as CI does, warnings as errors): ``python -m sphinx -W --keep-going -b html docs docs/_build/html``.
Sphinx because its autodoc + napoleon read the NumPy docstrings the code
already has, and MyST lets the Markdown notes of docs/ (design, math) be
pages as they are, with their math rendered.
"""
import os
import sys

import fastbp

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "_ext"))

project = "fastbp"
author = "the fastbp developers"
copyright = "2026, the fastbp developers"
release = version = fastbp.__version__

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
    "mathml",  # docs/_ext/mathml.py: math as MathML at build time, no script or network
]
html_math_renderer = "mathml"
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build", "_ext", "bench.json"]
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 3

autodoc_default_options = {"members": True, "show-inheritance": True}
autodoc_member_order = "bysource"
autodoc_typehints = "description"
napoleon_google_docstring = False
napoleon_numpy_docstring = True
nitpicky = False

# The theme of NumPy, SciPy and scikit-learn: a full-width code area, a search box in view.
html_theme = "pydata_sphinx_theme"
html_title = f"fastbp {release}"
html_theme_options = {"navigation_with_keys": False, "show_toc_level": 2}
# No left sidebar: its "Section Navigation" was empty on every page (the pages
# are one flat level, listed in the top bar).
html_sidebars = {"**": []}
html_static_path = ["_static"]
html_css_files = ["fastbp.css"]  # wide tables scroll; display math clear of what follows
