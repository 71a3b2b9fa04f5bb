"""Stability and reconstruction error against the number of factors, as cNMF draws them."""

from __future__ import annotations

from anndata import AnnData
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from .. import get
from .._docs import doc_params
from .._keys import DEFAULT_K_KEY
from ._utils import check_plot_options, finish, new_axes

__all__ = ["k_selection"]

STABILITY_COLOR = "#1f77b4"
ERROR_COLOR = "#d62728"


@doc_params
def k_selection(
    adata: AnnData,
    *,
    scales: bool = True,
    key: str = DEFAULT_K_KEY,
    ax: Axes | None = None,
    show: bool | None = None,
    return_fig: bool = False,
) -> Figure | Axes | None:
    """Plot the stability of the programs and the reconstruction error against k, the suggested k marked.

    Stability (left axis, blue) is the mean silhouette of the factors' copies over runs
    (solid, filled markers) and that of the least stable factor (dashed, open markers);
    the error (right axis, red) is the relative reconstruction error with its standard
    deviation over runs. A good k is where the error has mostly fallen and every factor is
    still stable; the dashed vertical line marks the suggested k, where the least stable
    factor is the most stable (see :func:`pnmf.tl.select_k`).

    Parameters
    ----------
    adata
        AnnData with a ``tl.select_k`` result.
    scales
        Also draw each scale's stability as a thin line (darker = coarser).
    key
        ``key_added`` of the ``tl.select_k`` result.
    ax
        Axes to draw into (the error goes on a twin axis sharing its x axis).
    {show_return}

    Returns
    -------
    {returns_plot}

    Examples
    --------
    >>> import scanpy as sc
    >>> import pnmf
    >>> adata = pnmf.datasets.gene_programs(600, 300, n_programs=4)
    >>> sc.pp.pca(adata)
    >>> sc.pp.neighbors(adata)
    >>> pnmf.tl.select_k(adata, [3, 4, 5], n_runs=3, n_scales=2)
    >>> ax = pnmf.pl.k_selection(adata, show=False)
    """
    check_plot_options(show=show, return_fig=return_fig, ax=ax)
    table = get.k_selection(adata, "k", key=key)
    fig, (axis,) = new_axes(ax, 1, panel_size=(5.0, 3.6))
    k = table["n_comps"].to_numpy()
    if scales:
        per_scale = get.k_selection(adata, "scale", key=key)
        n_scales = int(per_scale["scale"].max()) + 1
        for t, rows in per_scale.groupby("scale"):
            shade = 0.25 + 0.5 * (t / max(n_scales - 1, 1))
            axis.plot(rows["n_comps"], rows["stability"], color=STABILITY_COLOR, lw=0.8, alpha=shade, zorder=1)
    axis.plot(k, table["stability"], marker="o", color=STABILITY_COLOR, lw=2, label="mean", zorder=2)
    axis.plot(
        k,
        table["min_stability"],
        marker="o",
        markerfacecolor="white",
        color=STABILITY_COLOR,
        lw=1.5,
        ls="--",
        label="least stable factor",
        zorder=2,
    )
    axis.legend(loc="best", fontsize=8, frameon=False, title="stability", title_fontsize=8)
    axis.set_xlabel("number of factors k")
    axis.set_ylabel("stability (silhouette over runs)", color=STABILITY_COLOR)
    axis.tick_params(axis="y", colors=STABILITY_COLOR)
    twin = axis.twinx()
    twin.errorbar(
        k, table["error"], yerr=table["error_std"], marker="s", color=ERROR_COLOR, lw=1.5, capsize=3, label="error"
    )
    twin.set_ylabel("relative reconstruction error", color=ERROR_COLOR)
    twin.tick_params(axis="y", colors=ERROR_COLOR)
    suggested = int(table.loc[table["suggested"], "n_comps"].iloc[0])
    axis.axvline(suggested, color="black", ls="--", lw=1, zorder=0)
    axis.annotate(
        f"suggested k = {suggested}",
        xy=(suggested, 1.0),
        xycoords=("data", "axes fraction"),
        xytext=(3, -12),
        textcoords="offset points",
        fontsize=8,
    )
    axis.set_xticks(k)
    axis.set_title("choosing k: stability and error across runs", fontsize=10)
    return finish(fig, axis, show=show, return_fig=return_fig)
