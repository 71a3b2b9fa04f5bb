"""Docstring snippets shared by several public functions, filled in by :func:`doc_params`."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TypeVar

__all__ = ["doc_params"]

F = TypeVar("F", bound=Callable)

SNIPPETS = {
    "adata": """\
adata
    AnnData with a ``tl.pnmf`` result.""",
    "key": """\
key
    ``key_added`` of the ``tl.pnmf`` result.""",
    "scale": """\
scale
    Scale index (0 finest; negative counts from the coarsest) or ``'recommended'``.""",
    "show_return": """\
show
    Show the figure; by default follows ``scanpy.settings.autoshow``.
return_fig
    Return the Figure.""",
    "returns_plot": """\
The Figure if ``return_fig``, else the Axes (a list for several panels) when not shown.""",
}


def doc_params(func: F) -> F:
    """Replace ``{snippet}`` lines of ``func``'s docstring by the shared text, indented to match."""

    def fill(match: re.Match) -> str:
        indent, name = match.group(1), match.group(2)
        return "\n".join(indent + line if line else line for line in SNIPPETS[name].splitlines())

    if func.__doc__:  # None under python -OO
        func.__doc__ = re.sub(r"^( *)\{(" + "|".join(SNIPPETS) + r")\}$", fill, func.__doc__, flags=re.MULTILINE)
    return func
