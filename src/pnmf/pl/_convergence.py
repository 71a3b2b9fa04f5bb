"""How the solver converged: the objective per iteration along the path and per coupled sweep."""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd
from anndata import AnnData
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from .. import get
from .._docs import doc_params
from .._errors import PnmfValueError
from .._keys import DEFAULT_KEY
from .._validation import check_choice
from ._utils import check_plot_options, finish, new_axes

__all__ = ["convergence"]


@doc_params
def convergence(
    adata: AnnData,
    *,
    kind: Literal["both", "path", "sweeps"] = "both",
    key: str = DEFAULT_KEY,
    ax: Axes | None = None,
    show: bool | None = None,
    return_fig: bool = False,
) -> Figure | Axes | list[Axes] | None:
    """Plot the objective per iteration: each scale along the warm-started path, then the coupled sweeps.

    Left: every scale's objective, relative to its final value, as it is fitted (coarse
    to fine, each started from the coarser one). Right: the total objective over the
    coupled sweeps. Both must decrease; flat ends mean converged.

    Parameters
    ----------
    {adata}
    kind
        Which panel(s) to draw: ``'path'`` (left), ``'sweeps'`` (right) or ``'both'``.
    {key}
    ax
        Axes to draw a single panel into.
    {show_return}

    Returns
    -------
    {returns_plot}

    Examples
    --------
    >>> import pnmf
    >>> adata = pnmf.datasets.nested_populations(300, 100)
    >>> pnmf.tl.pnmf(adata, n_comps=4, n_scales=3)
    >>> axes = pnmf.pl.convergence(adata, show=False)
    """
    check_plot_options(show=show, return_fig=return_fig, ax=ax)
    kind = check_choice("kind", kind, ("both", "path", "sweeps"))
    history = get.history(adata, key=key)
    if len(history) and (history["phase"] == "projection").all():
        msg = (
            f"The result {key!r} is a projection onto a reference (pnmf.tl.project): its cells were embedded with the "
            "reference's loadings fixed, there was no fit to converge; plot the reference's convergence instead."
        )
        raise PnmfValueError(msg)
    table = get.scales(adata, key=key)
    panels = ["path", "sweeps"] if kind == "both" else [kind]
    fig, axes = new_axes(ax, len(panels), panel_size=(4.3, 3.4), one_panel="pass kind='path' or kind='sweeps'")
    for panel, axis in zip(panels, axes, strict=True):
        if panel == "path":
            _draw_path(axis, history[history["phase"] == "path"], table)
        else:
            _draw_sweeps(axis, history[history["phase"] == "sweep"])
    return finish(fig, axes, show=show, return_fig=return_fig)


def _draw_path(axis: Axes, path: pd.DataFrame, table: pd.DataFrame) -> None:
    cmap = colormaps["viridis"]
    for t in table.index:
        rows = path[path["scale"] == t]
        excess = rows["objective"].to_numpy() / rows["objective"].iloc[-1] - 1.0
        color = cmap(t / max(len(table) - 1, 1))
        axis.plot(rows["iteration"], np.maximum(excess, 1e-12), color=color, lw=1.2, label=f"scale {t}")
    axis.set_yscale("log")
    axis.set_xlabel("iteration")
    axis.set_ylabel("objective / final − 1")
    axis.set_title("path: one scale at a time", fontsize=10)
    axis.legend(fontsize=7, frameon=False, ncols=2)


def _draw_sweeps(axis: Axes, sweeps: pd.DataFrame) -> None:
    axis.plot(sweeps["iteration"], sweeps["objective"], marker="o", color="0.2")
    axis.set_xlabel("coupled sweep (0 = after the path)")
    axis.set_ylabel("total objective")
    axis.set_title("coupled sweeps over all scales", fontsize=10)
