"""Persistent nonnegative matrix factorization for single-cell data.

The submodules ``tl``, ``pl``, ``get``, ``io`` and ``datasets`` are imported on first use
(PEP 562), so that ``import pnmf`` and the command line start without loading scanpy,
gudhi, numba or matplotlib.
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING

from ._errors import PnmfError, PnmfIndexError, PnmfKeyError, PnmfTypeError, PnmfValueError

if TYPE_CHECKING:
    from . import datasets, get, io, pl, tl

try:
    __version__ = version("persistent-nmf")
except PackageNotFoundError:  # running from a source tree
    __version__ = "0.0.0"

_SUBMODULES = ("datasets", "get", "io", "pl", "tl")

__all__ = [
    "PnmfError",
    "PnmfIndexError",
    "PnmfKeyError",
    "PnmfTypeError",
    "PnmfValueError",
    "datasets",
    "get",
    "io",
    "pl",
    "tl",
]


def __getattr__(name: str) -> object:
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    msg = f"module {__name__!r} has no attribute {name!r}"
    raise AttributeError(msg)


def __dir__() -> list[str]:
    return sorted({*globals(), *_SUBMODULES})
