"""Persistent nonnegative matrix factorization for single-cell data."""

from importlib.metadata import PackageNotFoundError, version

from . import datasets, get, pl, tl
from ._errors import PnmfError, PnmfIndexError, PnmfKeyError, PnmfTypeError, PnmfValueError

try:
    __version__ = version("persistent-nmf")
except PackageNotFoundError:  # running from a source tree
    __version__ = "0.0.0"

__all__ = [
    "PnmfError",
    "PnmfIndexError",
    "PnmfKeyError",
    "PnmfTypeError",
    "PnmfValueError",
    "datasets",
    "get",
    "pl",
    "tl",
]
