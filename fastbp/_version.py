"""The package's version (one place: ``fastbp.__version__``, model files, ``fastbp --version``)."""
__version__ = "0.1.0"
