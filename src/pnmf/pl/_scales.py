"""Every scale's embedding side by side, in the same two factors and the same colours."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
from anndata import AnnData
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from .. import get
from .._docs import doc_params
from .._errors import PnmfTypeError, PnmfValueError
from .._keys import DEFAULT_KEY, Manifest
from .._validation import check_bool, check_choice, check_int, check_real
from ..get._scales import laid_out_scales, scales_of, umaps
from ._colors import NA_COLOR, CategoricalColors, CellColors, category_legend, cell_colors
from ._utils import check_plot_options, components, finish, new_axes

__all__ = ["scales"]

COLORMAP = "viridis"


@doc_params
def scales(
    adata: AnnData,
    color: str | None = None,
    *,
    basis: Literal["factors", "umap"] | None = None,
    factors: tuple[int, int] | None = None,
    which: Sequence[int] | None = None,
    key: str = DEFAULT_KEY,
    layer: str | None = None,
    size: float | None = None,
    share_axes: bool | None = None,
    ncols: int = 4,
    ax: Axes | None = None,
    show: bool | None = None,
    return_fig: bool = False,
) -> Figure | Axes | list[Axes] | None:
    """Scatter the cells in two factors at every scale, fine to coarse.

    Factors are aligned across scales (factor j is the same gene program at every scale),
    so the panels share one basis and show how the cells move together as the scale grows.

    Parameters
    ----------
    {adata}
    color
        An ``adata.obs`` column or a gene; the same colours (or colour range) in every panel.
    basis
        ``'factors'``: two factors of the embeddings. ``'umap'``: the per-scale UMAPs of
        :func:`pnmf.tl.umap`, where populations merging from fine to coarse show. By
        default the UMAPs when :func:`pnmf.tl.umap` has laid out every scale to draw (and
        ``factors`` is not given), the factors otherwise.
    factors
        With ``basis='factors'``, the two factors on the axes. By default the two whose values
        vary most across cells at the recommended scale.
    which
        Scales to draw (default: all; with ``basis="umap"``, those :func:`pnmf.tl.umap` laid out).
    {key}
    layer
        Layer to read gene values from (default ``adata.X``).
    size
        Point size (default from the number of cells).
    share_axes
        The same axis limits in every panel, so that an embedding contracting as the scale
        grows looks smaller, as it is. By default on for factors, off for UMAPs (whose
        coordinates are not comparable between scales).
    ncols
        Panels per row.
    ax
        Axes to draw into when exactly one scale is drawn.
    {show_return}

    Returns
    -------
    {returns_plot}

    Examples
    --------
    >>> import pnmf
    >>> adata = pnmf.datasets.concentric_circles()
    >>> pnmf.tl.pnmf(adata, n_comps=2, mask_var=None, filtration="rips")
    >>> axes = pnmf.pl.scales(adata, color="circle", show=False)
    """
    check_plot_options(show=show, return_fig=return_fig, ax=ax)
    table = get.scales(adata, key=key)
    basis = check_choice(
        "basis", _default_basis(adata, key, which, factors) if basis is None else basis, ("factors", "umap")
    )
    if basis == "umap" and factors is not None:
        msg = "factors applies to basis='factors' only; UMAPs have two coordinates. Pass factors=None."
        raise PnmfValueError(msg)
    ncols = check_int("ncols", ncols, minimum=1)
    if size is not None:
        size = check_real("size", size, strict=True)
    if share_axes is not None:
        share_axes = check_bool("share_axes", share_axes)
    if which is not None:
        chosen = scales_of(adata, which, key=key)
    elif basis == "umap":
        chosen = laid_out_scales(adata, key=key)
    else:
        chosen = list(table.index)
    colors = cell_colors(adata, color, layer=layer) if color is not None else None
    if basis == "factors":
        embeddings = [get.embedding(adata, t, key=key).to_numpy() for t in chosen]
        n_factors = embeddings[0].shape[1]
        if n_factors == 1:  # one factor: a strip of its values, cells spread vertically at random
            if factors is not None:
                msg = f"factors={factors!r}: this result has a single factor (0), drawn against a random spread; pass factors=None."
                raise PnmfValueError(msg)
            spread = np.random.default_rng(0).uniform(-1.0, 1.0, size=adata.n_obs)
            embeddings = [np.column_stack([U[:, 0], spread]) for U in embeddings]
            first, second = 0, 1
            labels = ("factor 0", "random spread")
        else:
            first, second = (
                _check_factors(factors, n_factors)
                if factors is not None
                else _most_variable_factors(get.embedding(adata, "recommended", key=key).to_numpy())
            )
            labels = (f"factor {first}", f"factor {second}")
    else:
        embeddings = umaps(adata, chosen, key=key)
        first, second = 0, 1
        labels = ("UMAP 1", "UMAP 2")
    share_axes = basis == "factors" if share_axes is None else share_axes
    fig, axes = new_axes(ax, len(chosen), ncols=ncols, panel_size=(3.3, 3.0), one_panel="pass which=[<one scale>]")
    point_size = size if size is not None else max(0.5, min(30.0, 12000.0 / adata.n_obs))
    scatter = None
    for axis, t, U in zip(axes, chosen, embeddings, strict=True):
        scatter = _draw_cells(axis, U[:, first], U[:, second], colors, point_size)
        row = table.loc[t]
        count = components(row["n_connected"])
        label = f"scale {t}" + (f": {count}" if count else "") + (" (recommended)" if row["recommended"] else "")
        axis.set_title(label, fontsize=9)
        axis.set_xlabel(labels[0], fontsize=8)
        axis.set_ylabel(labels[1], fontsize=8)
        axis.tick_params(labelsize=7)
    if share_axes:
        _share_limits(axes, [U[:, first] for U in embeddings], [U[:, second] for U in embeddings])
    if colors is not None:
        _legend(fig, axes, colors, scatter, own_figure=ax is None)
    return finish(fig, axes, show=show, return_fig=return_fig)


def _default_basis(
    adata: AnnData, key: str, which: Sequence[int] | None, factors: object
) -> Literal["factors", "umap"]:
    """``'umap'`` where ``tl.umap`` laid out every scale to draw and no factors were asked for, else ``'factors'``."""
    if factors is not None or Manifest.UMAP not in adata.uns[key]:
        return "factors"
    wanted = scales_of(adata, which, key=key) if which is not None else range(len(adata.uns[key][Manifest.OBSM_KEYS]))
    return "umap" if set(wanted) <= set(laid_out_scales(adata, key=key)) else "factors"


def _most_variable_factors(U: np.ndarray) -> tuple[int, int]:
    order = np.argsort(-U.var(axis=0), kind="stable")
    return int(order[0]), int(order[1])


def _check_factors(factors: object, n_factors: int) -> tuple[int, int]:
    if isinstance(factors, str) or not isinstance(factors, Sequence) or len(factors) != 2:
        msg = f"factors must be a pair of factor indices, e.g. (0, 1), got {factors!r}."
        raise PnmfTypeError(msg)
    first, second = (check_int("factors", f, minimum=0, maximum=n_factors - 1) for f in factors)
    if first == second:
        msg = f"factors={tuple(factors)!r} names one factor twice; pass two different factors."
        raise PnmfValueError(msg)
    return first, second


def _share_limits(axes: list[Axes], xs: list[np.ndarray], ys: list[np.ndarray]) -> None:
    for values, setter in ((xs, "set_xlim"), (ys, "set_ylim")):
        low, high = min(float(v.min()) for v in values), max(float(v.max()) for v in values)
        pad = 0.05 * (high - low) if high > low else 0.5
        for axis in axes:
            getattr(axis, setter)(low - pad, high + pad)


def _draw_cells(ax: Axes, x: np.ndarray, y: np.ndarray, colors: CellColors | None, size: float):
    if colors is None:
        return ax.scatter(x, y, s=size, c="0.4", lw=0, rasterized=True)
    if isinstance(colors, CategoricalColors):
        point_colors = colors.values.map(colors.palette).to_numpy()
        return ax.scatter(x, y, s=size, c=point_colors, lw=0, rasterized=True)
    values = colors.values.to_numpy()
    missing = ~np.isfinite(values)
    if missing.any():  # missing values in light grey, below the others, as scanpy draws them
        ax.scatter(x[missing], y[missing], s=size, c=NA_COLOR, lw=0, rasterized=True)
    order = np.flatnonzero(~missing)[np.argsort(values[~missing], kind="stable")]  # high values drawn last, on top
    return ax.scatter(
        x[order],
        y[order],
        s=size,
        c=values[order],
        cmap=COLORMAP,
        vmin=colors.vmin,
        vmax=colors.vmax,
        lw=0,
        rasterized=True,
    )


def _legend(fig: Figure, axes: list[Axes], colors: CellColors, scatter, *, own_figure: bool) -> None:
    """Draw the legend or colorbar beside the panels: right of the plot's own figure, or of the user's axes."""
    if isinstance(colors, CategoricalColors):
        category_legend(fig if own_figure else axes[-1], colors, title=colors.name)
    else:
        fig.colorbar(scatter, ax=axes, label=colors.name, shrink=0.8)
