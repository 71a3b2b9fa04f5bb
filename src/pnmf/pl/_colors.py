"""Colouring cells or nodes by a cluster, an obs column or a gene, the same way in every panel."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scanpy as sc
from anndata import AnnData

from .._errors import PnmfKeyError
from ._palette import categorical_colors

__all__ = ["CellColors", "cell_colors"]


@dataclass(frozen=True)
class CellColors:
    """Values per cell and how to draw them: categories with colours, or numbers on a colormap."""

    name: str
    values: pd.Series
    categories: list[str] | None = None
    palette: dict[str, str] | None = None
    vmin: float = 0.0
    vmax: float = 1.0

    @property
    def is_categorical(self) -> bool:
        """Whether the values are categories (else numbers)."""
        return self.categories is not None


def cell_colors(adata: AnnData, color: str, *, layer: str | None = None) -> CellColors:
    """Resolve ``color`` to an obs column or a gene (from ``layer`` or ``X``), with fixed colours."""
    if color in adata.obs.columns:
        column = adata.obs[color]
    elif color in adata.var_names:
        column = sc.get.obs_df(adata, keys=[color], layer=layer)[color]
    else:
        msg = f"color={color!r} is neither a column of adata.obs nor a gene in adata.var_names."
        raise PnmfKeyError(msg)
    if isinstance(column.dtype, pd.CategoricalDtype) or column.dtype == object or column.dtype == bool:
        column = column.astype("category")
        categories = [str(c) for c in column.cat.categories]
        stored = adata.uns.get(f"{color}_colors")
        colors = (
            list(stored)
            if stored is not None and len(stored) >= len(categories)
            else list(categorical_colors(len(categories)))
        )
        return CellColors(color, column.astype(str), categories, dict(zip(categories, colors, strict=False)))
    values = column.astype(np.float64)
    finite = values[np.isfinite(values)]
    low, high = (float(finite.min()), float(finite.max())) if len(finite) else (0.0, 1.0)
    return CellColors(color, values, vmin=low, vmax=high if high > low else low + 1.0)
