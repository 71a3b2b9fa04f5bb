"""What every plot does the same way: make or take axes, and return what scanpy users expect."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from scanpy import settings

__all__ = ["finish", "new_axes"]


def new_axes(ax: Axes | None, n_panels: int = 1, *, panel_size: tuple[float, float] = (4.5, 3.6)) -> tuple[Figure, list[Axes]]:
    """The user's axes (single panel only) or a new figure with ``n_panels`` side by side."""
    if ax is not None:
        if n_panels != 1:
            msg = f"This plot draws {n_panels} panels; pass ax=None, or choose a single-panel variant."
            raise ValueError(msg)
        return ax.figure, [ax]
    fig, axes = plt.subplots(1, n_panels, figsize=(panel_size[0] * n_panels, panel_size[1]), squeeze=False, layout="constrained")
    return fig, list(axes.ravel())


def finish(fig: Figure, axes: Sequence[Axes], *, show: bool | None, return_fig: bool) -> Figure | Axes | list[Axes] | None:
    """Show and/or return, following scanpy: the Figure if asked, else the Axes when not shown."""
    if return_fig:
        return fig
    if show is None:
        show = settings.autoshow
    if show:
        plt.show()
        return None
    return axes[0] if len(axes) == 1 else list(axes)
