"""The distribution's version, in one place: pyproject.toml reads it (tool.setuptools.dynamic)
and `qmc --version` / `eqmail-ref --version` print it. CHANGELOG.md says what each one changed."""

__all__ = ["__version__"]

__version__ = "0.2.0"
