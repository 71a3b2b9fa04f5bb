"""The exceptions pnmf raises for a mistake in its input or options.

Each is also the built-in exception a Python user would expect (``ValueError``,
``KeyError``, …), so ``except ValueError`` keeps working; :class:`PnmfError` catches them
all and nothing else, so that a bug (any other exception) is never mistaken for a user's
mistake, e.g. by the command line.
"""

from __future__ import annotations

__all__ = ["PnmfError", "PnmfIndexError", "PnmfKeyError", "PnmfTypeError", "PnmfValueError"]


class PnmfError(Exception):
    """Base class of the errors raised for invalid input or options; the message says what to do instead."""


class PnmfValueError(PnmfError, ValueError):
    """An argument or the data has the right type but an invalid value."""


class PnmfTypeError(PnmfError, TypeError):
    """An argument has the wrong type."""


class PnmfIndexError(PnmfError, IndexError):
    """An index (a scale, a factor) is out of range."""


class PnmfKeyError(PnmfError, KeyError):
    """A key (a column, a layer, a result) is missing from the AnnData."""

    def __str__(self) -> str:
        # KeyError quotes its message as the repr of a key; show it as the sentence it is
        return str(self.args[0]) if len(self.args) == 1 else super().__str__()
