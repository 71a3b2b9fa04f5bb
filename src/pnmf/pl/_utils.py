"""What every plot does the same way: make or take axes, and return what scanpy users expect."""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import cast, overload

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from scanpy import settings

from .._errors import PnmfTypeError, PnmfValueError

__all__ = ["check_plot_options", "components", "finish", "new_axes"]


def components(count: object) -> str:
    """Return ``'3 components'`` for a scale's count of connected components, '' where the result has none (a projection)."""
    if not isinstance(count, numbers.Integral):
        return ""  # <NA>
    return f"{int(count)} component{'s' if int(count) != 1 else ''}"


def new_axes(
    ax: Axes | None,
    n_panels: int = 1,
    *,
    ncols: int | None = None,
    panel_size: tuple[float, float] = (4.5, 3.6),
    one_panel: str = "ask for a single panel",
) -> tuple[Figure, list[Axes]]:
    """Return the user's axes (single panel only) or a new figure with ``n_panels`` in rows of ``ncols``.

    Parameters
    ----------
    ax
        The user's axes, or ``None`` for a new figure.
    n_panels
        Panels the plot draws; the user's axes hold one.
    ncols
        Panels per row of a new figure (default: all in one row).
    panel_size
        Width and height of one panel of a new figure, in inches.
    one_panel
        How to ask this plot for a single panel, for the message when ``ax`` is given and
        ``n_panels`` is not 1 (e.g. ``"pass kind='components'"``).

    Returns
    -------
    The figure (or subfigure) holding the axes, and the ``n_panels`` axes to draw into.
    """
    if ax is not None and not isinstance(ax, Axes):
        msg = f"ax must be a matplotlib Axes, got {type(ax).__name__}."
        raise PnmfTypeError(msg)
    if ax is not None:
        if n_panels != 1:
            msg = f"This plot draws {n_panels} panels, but ax holds one; pass ax=None, or {one_panel}."
            raise PnmfValueError(msg)
        return cast(Figure, ax.figure), [ax]  # the figure, or the subfigure, that holds the user's axes
    ncols = max(1, min(ncols or n_panels, n_panels))
    nrows = -(-n_panels // ncols)
    fig, grid = plt.subplots(
        nrows, ncols, figsize=(panel_size[0] * ncols, panel_size[1] * nrows), squeeze=False, layout="constrained"
    )
    panels = list(grid.ravel())
    for unused in panels[n_panels:]:
        unused.set_visible(False)
    return fig, panels[:n_panels]


def check_plot_options(*, show: object, return_fig: object, ax: object = None) -> None:
    """Check ``show`` (a bool or None), ``return_fig`` (a bool) and ``ax`` (an Axes or None) before drawing."""
    if not isinstance(return_fig, bool | np.bool_):
        msg = f"return_fig must be True or False, got {return_fig!r}."
        raise PnmfTypeError(msg)
    if show is not None and not isinstance(show, bool | np.bool_):
        msg = f"show must be True, False or None, got {show!r}."
        raise PnmfTypeError(msg)
    if ax is not None and not isinstance(ax, Axes):
        msg = f"ax must be a matplotlib Axes, got {type(ax).__name__}."
        raise PnmfTypeError(msg)


@overload
def finish(fig: Figure, axes: Axes, *, show: bool | None, return_fig: bool) -> Figure | Axes | None: ...


@overload
def finish(
    fig: Figure, axes: Sequence[Axes], *, show: bool | None, return_fig: bool
) -> Figure | Axes | list[Axes] | None: ...


def finish(
    fig: Figure, axes: Axes | Sequence[Axes], *, show: bool | None, return_fig: bool
) -> Figure | Axes | list[Axes] | None:
    """Show and/or return, following scanpy: the Figure if asked, else the Axes when not shown.

    ``axes`` is the plot's single Axes, or its panels (one panel is returned as its Axes).
    """
    check_plot_options(show=show, return_fig=return_fig)
    if return_fig:
        return fig
    if show is None:
        show = settings.autoshow
    if show:
        plt.show()
        return None
    if isinstance(axes, Axes):
        return axes
    return axes[0] if len(axes) == 1 else list(axes)
