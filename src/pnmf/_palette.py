"""Colours for categories, the same ones scanpy would choose."""

from __future__ import annotations

import numpy as np
from scanpy.plotting import palettes

__all__ = ["categorical_colors"]


def categorical_colors(n: int) -> np.ndarray:
    """``n`` colours from scanpy's default palettes (20, 28 or 102 colours), grey beyond."""
    for palette in (palettes.default_20, palettes.default_28, palettes.default_102):
        if n <= len(palette):
            return np.array(palette[:n], dtype=str)
    return np.array(list(palettes.default_102) + ["#bbbbbb"] * (n - len(palettes.default_102)), dtype=str)
