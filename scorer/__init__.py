"""The trusted scorer: holds the hidden evaluation and the signing key; depends on autolab_mcp.core only."""

from importlib.metadata import PackageNotFoundError, version

__all__ = ["__version__"]

try:
    __version__ = version("autolab-mcp")
except PackageNotFoundError:  # run from a source tree that was never installed
    __version__ = "0+unknown"
