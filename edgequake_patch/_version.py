"""The package's version, written once (pyproject.toml carries the same)."""

__version__ = "0.1.0"
