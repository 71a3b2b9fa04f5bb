"""Colours for categories, the same ones scanpy would choose."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from matplotlib.colors import is_color_like
from scanpy.plotting import palettes

from ._keys import Keys

__all__ = ["categorical_colors", "stored_colors"]


def categorical_colors(n: int) -> np.ndarray:
    """``n`` colours from scanpy's default palettes (20, 28 or 102 colours), grey beyond."""
    for palette in (palettes.default_20, palettes.default_28, palettes.default_102):
        if n <= len(palette):
            return np.array(palette[:n], dtype=str)
    return np.array(list(palettes.default_102) + ["#bbbbbb"] * (n - len(palettes.default_102)), dtype=str)


def stored_colors(uns: Mapping[str, object], obs_key: str, n_categories: int) -> list[str] | None:
    """Return the colours stored for the categories of ``adata.obs[obs_key]``, as scanpy stores them.

    ``None`` when there are none to use: absent, not a sequence of colours (e.g. edited
    into a number or a single string), or fewer than the categories. Every reader of
    stored colours falls back to fresh ones then, as scanpy does.
    """
    stored = uns.get(Keys.colors(obs_key))
    if isinstance(stored, str | bytes) or not isinstance(stored, np.ndarray | list | tuple):
        return None
    colors = [str(c) for c in np.asarray(stored).ravel()]
    if len(colors) < n_categories or not all(is_color_like(c) for c in colors):
        return None
    return colors
