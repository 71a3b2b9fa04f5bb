"""Agreement with known labels against the scale, with the baselines as lines."""

from __future__ import annotations

from typing import Literal

import numpy as np
from anndata import AnnData
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from .. import get
from .._docs import doc_params
from .._keys import DEFAULT_KEY
from .._validation import check_choice
from ._utils import check_plot_options, finish, new_axes

__all__ = ["scale_scores"]

BASELINE_STYLES = {
    "nmf": ("#d62728", "NMF (no graph)"),
    "gnmf": ("#2ca02c", "GNMF (one scale)"),
    "pca": ("#7f7f7f", "PCA"),
}


@doc_params
def scale_scores(
    adata: AnnData,
    labels_key: str,
    *,
    metric: Literal["ari", "nmi"] = "ari",
    key: str = DEFAULT_KEY,
    ax: Axes | None = None,
    show: bool | None = None,
    return_fig: bool = False,
) -> Figure | Axes | None:
    """Plot each scale's k-means agreement with known labels; baselines are horizontal lines.

    The x axis is the number of connected components of each scale (log, fine on the
    left); error bars are the standard deviation over k-means seeds; the recommended scale is
    circled; the Leiden ARI per scale is drawn too when it was scored.

    Parameters
    ----------
    adata
        AnnData with ``tl.pnmf`` and ``tl.score_scales`` results.
    labels_key
        The labels that were scored.
    metric
        ``'ari'`` (adjusted Rand index) or ``'nmi'`` (normalized mutual information).
    {key}
    ax
        Axes to draw into.
    {show_return}

    Returns
    -------
    {returns_plot}

    Examples
    --------
    >>> import pnmf
    >>> adata = pnmf.datasets.concentric_circles()
    >>> pnmf.tl.pnmf(adata, n_comps=2, mask_var=None, filtration="rips")
    >>> pnmf.tl.score_scales(adata, "circle", baselines=["nmf"])
    >>> ax = pnmf.pl.scale_scores(adata, "circle", show=False)
    """
    check_plot_options(show=show, return_fig=return_fig, ax=ax)
    metric = check_choice("metric", metric, ("ari", "nmi"))
    table = get.scale_scores(adata, labels_key, key=key)
    scales = table[table["method"] == "pnmf"]
    fig, (axis,) = new_axes(ax, 1, panel_size=(5.5, 3.8))
    x = scales["n_connected"].to_numpy()
    axis.errorbar(
        x,
        scales[f"{metric}_mean"],
        yerr=scales[f"{metric}_std"],
        marker="o",
        color="#1f77b4",
        capsize=3,
        label="pNMF, k-means",
    )
    if metric == "ari" and scales["leiden_ari"].notna().any():
        axis.plot(x, scales["leiden_ari"], marker="s", ls=":", color="#1f77b4", alpha=0.7, label="pNMF, Leiden")
    recommended = scales[scales["recommended"]]
    axis.scatter(
        recommended["n_connected"],
        recommended[f"{metric}_mean"],
        s=180,
        facecolor="none",
        edgecolor="black",
        zorder=3,
        label="recommended scale",
    )
    for method, (color, label) in BASELINE_STYLES.items():
        rows = table[table["method"] == method]
        if len(rows):
            axis.axhline(rows[f"{metric}_mean"].iloc[0], color=color, ls="--", lw=1.2, label=label)
    axis.set_xscale("log")
    axis.invert_xaxis()
    axis.set_xlabel("connected components at the scale (fine → coarse)")
    axis.set_ylabel(f"k-means {metric.upper()} with {labels_key}")
    axis.set_title(f"agreement with {labels_key!r} per scale", fontsize=10)
    axis.legend(fontsize=7, frameon=False, loc="best")
    axis.set_ylim(min(0.0, float(np.nanmin(table[f"{metric}_mean"]))) - 0.02, 1.02)
    return finish(fig, axis, show=show, return_fig=return_fig)
