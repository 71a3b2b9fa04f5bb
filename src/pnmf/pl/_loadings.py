"""Gene programs: top genes of each factor at a scale, and one factor across all scales."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from anndata import AnnData
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from .. import get
from .._docs import doc_params
from .._errors import PnmfIndexError, PnmfTypeError
from .._keys import DEFAULT_KEY
from .._validation import check_int, check_selection
from ..get._scales import scale_of
from ._utils import check_plot_options, finish, new_axes

__all__ = ["loadings", "loadings_across_scales"]

BAR_COLOR = "#1f77b4"


@doc_params
def loadings(
    adata: AnnData,
    scale: int | str = "recommended",
    *,
    factors: Sequence[int] | None = None,
    n_genes: int = 10,
    key: str = DEFAULT_KEY,
    ncols: int = 5,
    ax: Axes | None = None,
    show: bool | None = None,
    return_fig: bool = False,
) -> Figure | Axes | list[Axes] | None:
    """Bar charts of the top genes of each factor at one scale.

    Parameters
    ----------
    {adata}
    scale
        Scale index (0 finest; negative counts from the coarsest) or ``'recommended'``.
    factors
        Factors to draw (default: all).
    n_genes
        Genes per factor.
    {key}
    ncols
        Panels per row.
    ax
        Axes to draw into when exactly one factor is drawn.
    {show_return}

    Returns
    -------
    {returns_plot}

    Examples
    --------
    >>> import pnmf
    >>> adata = pnmf.datasets.nested_populations(300, 100)
    >>> pnmf.tl.pnmf(adata, n_comps=4, n_scales=3)
    >>> axes = pnmf.pl.loadings(adata, n_genes=5, show=False)
    """
    check_plot_options(show=show, return_fig=return_fig, ax=ax)
    ncols = check_int("ncols", ncols, minimum=1)
    t = scale_of(adata, scale, key=key)
    top = get.top_genes(adata, t, n_genes, key=key)
    n_factors = int(top["factor"].max()) + 1
    chosen = _check_factors(factors, n_factors) if factors is not None else list(range(n_factors))
    fig, axes = new_axes(
        ax, len(chosen), ncols=ncols, panel_size=(2.6, 0.22 * n_genes + 1.0), one_panel="pass factors=[<one factor>]"
    )
    for axis, factor in zip(axes, chosen, strict=True):
        rows = top[top["factor"] == factor]
        axis.barh(np.arange(len(rows)), rows["loading"], color=BAR_COLOR)
        axis.set_yticks(np.arange(len(rows)))
        axis.set_yticklabels(rows["gene"], fontsize=7)
        axis.invert_yaxis()
        axis.set_title(f"factor {factor}" if ax is None else f"factor {factor}, scale {t}", fontsize=9)
        axis.tick_params(axis="x", labelsize=7)
    if ax is None:  # the title of the plot's own figure; the user's figure keeps theirs
        fig.suptitle(f"top genes per factor, scale {t}", fontsize=10)
    return finish(fig, axes, show=show, return_fig=return_fig)


def _check_factors(factors: object, n_factors: int) -> list[int]:
    """Check a non-empty sequence of distinct factor indices in ``[0, n_factors)``."""
    if isinstance(factors, str) or not isinstance(factors, Sequence | np.ndarray):
        msg = f"factors must be a sequence of factor indices, e.g. [0, 1], got {factors!r}."
        raise PnmfTypeError(msg)
    chosen = []
    for factor in factors:
        if isinstance(factor, bool) or not isinstance(factor, int | np.integer):
            msg = f"factors must hold integer factor indices, got {factor!r}."
            raise PnmfTypeError(msg)
        if not 0 <= factor < n_factors:
            msg = f"factor {factor} does not exist; this result has factors 0 to {n_factors - 1}."
            raise PnmfIndexError(msg)
        chosen.append(int(factor))
    return check_selection("factors", chosen, factors, "factor")


@doc_params
def loadings_across_scales(
    adata: AnnData,
    factor: int,
    *,
    n_genes: int = 15,
    key: str = DEFAULT_KEY,
    ax: Axes | None = None,
    show: bool | None = None,
    return_fig: bool = False,
) -> Figure | Axes | None:
    """Heatmap of one factor's top genes (rows) across all scales (columns), fine to coarse.

    The genes are the union of the factor's top genes at every scale, ordered by their
    loading at the finest scale; the title gives how similar the program stays between
    consecutive scales (cosine of the loadings).

    Parameters
    ----------
    {adata}
    factor
        The factor (the same gene program at every scale).
    n_genes
        Top genes taken from each scale.
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
    >>> adata = pnmf.datasets.nested_populations(300, 100)
    >>> pnmf.tl.pnmf(adata, n_comps=4, n_scales=3)
    >>> ax = pnmf.pl.loadings_across_scales(adata, factor=1, show=False)
    """
    check_plot_options(show=show, return_fig=return_fig, ax=ax)
    n_genes = check_int("n_genes", n_genes, minimum=1)
    table = get.scales(adata, key=key)
    n_factors = get.loadings(adata, 0, key=key).shape[1]
    factor = check_int("factor", factor, minimum=0, maximum=n_factors - 1)
    matrix = np.column_stack([get.loadings(adata, t, key=key)[f"factor_{factor}"].to_numpy() for t in table.index])
    genes = get.loadings(adata, 0, key=key).index
    top = np.unique(
        np.concatenate([np.argsort(-matrix[:, t], kind="stable")[:n_genes] for t in range(matrix.shape[1])])
    )
    top = top[np.argsort(-matrix[top, 0], kind="stable")]
    fig, (axis,) = new_axes(ax, 1, panel_size=(0.45 * len(table) + 2.5, 0.2 * len(top) + 1.5))
    image = axis.imshow(matrix[top], aspect="auto", cmap="Reds", interpolation="nearest")
    axis.set_yticks(np.arange(len(top)))
    axis.set_yticklabels(genes[top], fontsize=7)
    axis.set_xticks(np.arange(len(table)))
    axis.set_xticklabels([str(t) for t in table.index], fontsize=8)
    axis.set_xlabel("scale (fine → coarse)")
    similarity = get.factor_similarity(adata, key=key)
    persistence = similarity[similarity["factor"] == factor]["similarity"]
    low = f", lowest cosine between consecutive scales {persistence.min():.2f}" if len(persistence) else ""
    axis.set_title(f"factor {factor} across scales{low}", fontsize=9)
    fig.colorbar(image, ax=axis, label="loading", shrink=0.8)
    return finish(fig, axis, show=show, return_fig=return_fig)
