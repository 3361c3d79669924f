"""The package version, in one place (read by hatchling and by ``evana --version``)."""

__version__ = "0.1.0"
