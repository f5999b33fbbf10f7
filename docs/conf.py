"""Sphinx configuration of fastbp's documentation site.

Build (as CI does, warnings as errors): ``python -m sphinx -W --keep-going -b html docs docs/_build/html``.
Sphinx because its autodoc + napoleon read the NumPy docstrings the code
already has, and MyST lets the Markdown notes of docs/ (design, math) be
pages as they are, with their math rendered.
"""
import fastbp

project = "fastbp"
author = "the fastbp developers"
copyright = "2026, the fastbp developers"
release = version = fastbp.__version__

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build", "bench.json"]
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 3

autodoc_default_options = {"members": True, "show-inheritance": True}
autodoc_member_order = "bysource"
autodoc_typehints = "description"
napoleon_google_docstring = False
napoleon_numpy_docstring = True
nitpicky = False

html_theme = "alabaster"
html_title = f"fastbp {release}"
html_theme_options = {"description": "Backpropagation, fast, on the CPU", "fixed_sidebar": True}
