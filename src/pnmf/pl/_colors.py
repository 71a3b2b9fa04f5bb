"""Colouring cells or nodes by a cluster, an obs column or a gene, the same way in every panel."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scanpy as sc
from anndata import AnnData
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from .._errors import PnmfKeyError, PnmfTypeError
from .._palette import categorical_colors, stored_colors

__all__ = ["NA_COLOR", "NA_LABEL", "CategoricalColors", "CellColors", "NumericColors", "category_legend", "cell_colors"]

#: Colour and legend label of missing values, as scanpy draws them.
NA_COLOR = "lightgray"
NA_LABEL = "NA"


@dataclass(frozen=True)
class CategoricalColors:
    """Categories per cell, each with its colour.

    Missing values are the category :data:`NA_LABEL` (last, in :data:`NA_COLOR`).
    """

    name: str
    values: pd.Series
    categories: list[str]
    palette: dict[str, str]


@dataclass(frozen=True)
class NumericColors:
    """Numbers per cell, drawn on a colormap from ``vmin`` to ``vmax``; missing numbers stay NaN (drawn in :data:`NA_COLOR`)."""

    name: str
    values: pd.Series
    vmin: float = 0.0
    vmax: float = 1.0


#: How to colour cells: by categories or by numbers.
CellColors = CategoricalColors | NumericColors


def cell_colors(adata: AnnData, color: str, *, layer: str | None = None) -> CellColors:
    """Resolve ``color`` to an obs column or a gene (from ``layer`` or ``X``), with fixed colours."""
    if not isinstance(color, str):
        msg = f"color must be the name of an adata.obs column or a gene, got {color!r}."
        raise PnmfTypeError(msg)
    if color in adata.obs.columns:
        column = adata.obs[color]
    elif color in adata.var_names:
        if layer is not None and layer not in adata.layers:
            msg = f"layer={layer!r} is not in adata.layers (available: {list(adata.layers)}); pass layer=None to use adata.X."
            raise PnmfKeyError(msg)
        column = sc.get.obs_df(adata, keys=[color], layer=layer)[color]
    else:
        msg = f"color={color!r} is neither a column of adata.obs nor a gene in adata.var_names."
        raise PnmfKeyError(msg)
    if isinstance(column.dtype, pd.CategoricalDtype) or column.dtype == object or column.dtype == bool:
        return _categorical(adata, color, column)
    if not pd.api.types.is_numeric_dtype(column.dtype):
        msg = f"adata.obs[{color!r}] has dtype {column.dtype}, which cannot be drawn as colours; convert it to categories or numbers."
        raise PnmfTypeError(msg)
    values = column.astype(np.float64)
    finite = values[np.isfinite(values)]
    low, high = (float(finite.min()), float(finite.max())) if len(finite) else (0.0, 1.0)
    return NumericColors(color, values, vmin=low, vmax=high if high > low else low + 1.0)


def _categorical(adata: AnnData, color: str, column: pd.Series) -> CategoricalColors:
    column = column.astype("category")
    categories = [str(c) for c in column.cat.categories]
    stored = stored_colors(adata.uns, color, len(categories))
    colors = stored if stored is not None else list(categorical_colors(len(categories)))
    palette = dict(zip(categories, colors, strict=False))
    labels = column.astype(str).to_numpy(dtype=object)
    missing = column.isna().to_numpy()
    if missing.any():
        na = NA_LABEL if NA_LABEL not in palette else f"{NA_LABEL} (missing)"
        labels[missing] = na
        categories = [*categories, na]
        palette[na] = NA_COLOR
    return CategoricalColors(color, pd.Series(labels, index=column.index, dtype=str), categories, palette)


def category_legend(where: Axes | Figure, colors: CategoricalColors, *, title: str, fontsize: float = 8) -> None:
    """Draw the legend of the categories right of a plot's own figure, or right of one axes of the user's figure.

    A legend of the whole figure is only drawn on a figure the plot made: on the user's
    figure it would cover their other axes.
    """
    handles = [Line2D([], [], marker="o", ls="", color=colors.palette[c], label=c) for c in colors.categories]
    if isinstance(where, Axes):
        where.legend(
            handles=handles, title=title, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False, fontsize=fontsize
        )
    else:
        where.legend(handles=handles, title=title, loc="outside right center", frameon=False, fontsize=fontsize)
