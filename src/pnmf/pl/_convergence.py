"""How the solver converged: the objective per iteration along the path and per coupled sweep."""

from __future__ import annotations

import numpy as np
from anndata import AnnData
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from .. import get
from .._docs import doc_params
from .._keys import DEFAULT_KEY
from ._utils import check_plot_options, finish, new_axes

__all__ = ["convergence"]


@doc_params
def convergence(
    adata: AnnData,
    *,
    key: str = DEFAULT_KEY,
    ax: Axes | None = None,
    show: bool | None = None,
    return_fig: bool = False,
) -> Figure | list[Axes] | None:
    """Plot the objective per iteration: each scale along the warm-started path, then the coupled sweeps.

    Left: every scale's objective, relative to its final value, as it is fitted (coarse
    to fine, each started from the coarser one). Right: the total objective over the
    coupled sweeps. Both must decrease; flat ends mean converged.

    Parameters
    ----------
    {adata}
    {key}
    ax
        Not supported (two panels); must be ``None``.
    {show_return}

    Returns
    -------
    The Figure if ``return_fig``, else the two Axes when not shown.

    Examples
    --------
    >>> import pnmf
    >>> adata = pnmf.datasets.nested_populations(300, 100)
    >>> pnmf.tl.pnmf(adata, n_comps=4, n_scales=3)
    >>> axes = pnmf.pl.convergence(adata, show=False)
    """
    check_plot_options(show=show, return_fig=return_fig, ax=ax)
    history = get.history(adata, key=key)
    table = get.scales(adata, key=key)
    fig, (path_ax, sweep_ax) = new_axes(ax, 2, panel_size=(4.3, 3.4))
    cmap = colormaps["viridis"]
    path = history[history["phase"] == "path"]
    for t in table.index:
        rows = path[path["scale"] == t]
        excess = rows["objective"].to_numpy() / rows["objective"].iloc[-1] - 1.0
        color = cmap(t / max(len(table) - 1, 1))
        path_ax.plot(rows["iteration"], np.maximum(excess, 1e-12), color=color, lw=1.2, label=f"scale {t}")
    path_ax.set_yscale("log")
    path_ax.set_xlabel("iteration")
    path_ax.set_ylabel("objective / final − 1")
    path_ax.set_title("path: one scale at a time", fontsize=10)
    path_ax.legend(fontsize=7, frameon=False, ncols=2)
    sweeps = history[history["phase"] == "sweep"]
    sweep_ax.plot(sweeps["iteration"], sweeps["objective"], marker="o", color="0.2")
    sweep_ax.set_xlabel("coupled sweep (0 = after the path)")
    sweep_ax.set_ylabel("total objective")
    sweep_ax.set_title("coupled sweeps over all scales", fontsize=10)
    return finish(fig, [path_ax, sweep_ax], show=show, return_fig=return_fig)
