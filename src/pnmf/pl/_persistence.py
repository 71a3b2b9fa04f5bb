"""The H0 picture: how many components remain as the threshold grows, and the barcode."""

from __future__ import annotations

from typing import Literal

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import LogLocator, NullFormatter

from .. import get
from .._docs import doc_params
from .._keys import DEFAULT_KEY
from .._validation import check_choice
from ._utils import check_plot_options, finish, new_axes

__all__ = ["persistence"]

SCALE_COLOR = "#d62728"


@doc_params
def persistence(
    adata,
    *,
    kind: Literal["both", "components", "barcode"] = "both",
    key: str = DEFAULT_KEY,
    ax: Axes | None = None,
    show: bool | None = None,
    return_fig: bool = False,
) -> Figure | Axes | list[Axes] | None:
    """Plot the 0-dimensional persistence of the cells with the chosen scales marked.

    ``components``: the number of connected components against the threshold (log axes),
    a step curve that falls at every death; each chosen scale is a dot labelled with its
    index, the recommended one circled. ``barcode``: every H0 bar from 0 to its death,
    longest at the top, drawn as one filled envelope so that 100k bars stay readable;
    chosen thresholds are vertical lines.

    Parameters
    ----------
    {adata}
    kind
        Which panel(s) to draw.
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
    >>> adata = pnmf.datasets.concentric_circles()
    >>> pnmf.tl.pnmf(adata, n_comps=2, mask_var=None, filtration="rips")
    >>> pnmf.pl.persistence(adata, show=False)  # doctest: +ELLIPSIS
    [<Axes: ...>, <Axes: ...>]
    """
    check_plot_options(show=show, return_fig=return_fig, ax=ax)
    kind = check_choice("kind", kind, ("both", "components", "barcode"))
    table = get.scales(adata, key=key)
    bars = get.persistence_bars(adata, key=key)
    panels = ["components", "barcode"] if kind == "both" else [kind]
    fig, axes = new_axes(ax, len(panels), one_panel="pass kind='components' or kind='barcode'")
    for panel, axis in zip(panels, axes, strict=True):
        if panel == "components":
            _draw_components(axis, bars["death"].to_numpy(), table)
        else:
            _draw_barcode(axis, bars["death"].to_numpy(), table)
    return finish(fig, axes, show=show, return_fig=return_fig)


def _draw_components(ax: Axes, deaths: np.ndarray, table) -> None:
    finite = np.sort(deaths[np.isfinite(deaths) & (deaths > 0)])
    n_cells = len(deaths)
    thresholds = table["threshold"].to_numpy()
    if len(finite):
        # components just above each death: n - (number of deaths ≤ x)
        x = np.r_[finite, thresholds.max()]
        zero_deaths = int(np.sum(deaths == 0))
        y = n_cells - zero_deaths - np.r_[np.arange(1, len(finite) + 1), len(finite)]
        y = np.maximum(y, 1)
        ax.step(x, y, where="post", color="0.3", lw=1.2, label="components")
    ax.scatter(thresholds, table["n_connected"], s=36, color=SCALE_COLOR, zorder=3, label="chosen scales")
    recommended = table[table["recommended"]]
    ax.scatter(
        recommended["threshold"],
        recommended["n_connected"],
        s=160,
        facecolor="none",
        edgecolor=SCALE_COLOR,
        lw=1.5,
        zorder=3,
        label="recommended",
    )
    for scale, row in table.iterrows():
        ax.annotate(
            str(scale),
            (row["threshold"], row["n_connected"]),
            textcoords="offset points",
            xytext=(5, 4),
            fontsize=8,
            color=SCALE_COLOR,
        )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.xaxis.set_major_formatter("{x:g}")
    ax.set_xlabel("threshold ε")
    ax.set_ylabel("connected components")
    ax.set_title("H0: components vs threshold")
    ax.legend(frameon=False, fontsize=8, loc="lower left")


def _draw_barcode(ax: Axes, deaths: np.ndarray, table) -> None:
    thresholds = table["threshold"].to_numpy()
    finite = np.sort(deaths[np.isfinite(deaths)])[::-1]
    top = thresholds.max()
    lengths = np.r_[np.full(int(np.sum(~np.isfinite(deaths))), top), finite]
    rank = np.arange(len(lengths))
    ax.fill_betweenx(rank, 0, lengths, step="post", color="0.35", lw=0, rasterized=len(lengths) > 5000)
    for scale, threshold in enumerate(thresholds):
        ax.axvline(threshold, color=SCALE_COLOR, lw=0.8, alpha=0.8)
        ax.annotate(
            str(scale),
            (threshold, len(lengths)),
            textcoords="offset points",
            xytext=(2, 2),
            fontsize=8,
            color=SCALE_COLOR,
        )
    ax.set_ylim(len(lengths), 0)
    ax.set_xlim(0, top * 1.02)
    ax.set_xlabel("death ε (all bars are born at 0)")
    ax.set_ylabel("H0 bars, longest first")
    ax.set_title(f"H0 barcode ({len(lengths)} bars)")
