"""Seeded synthetic data: the paper's concentric circles and nested single-cell populations."""

from ._circles import concentric_circles
from ._populations import nested_populations

__all__ = ["concentric_circles", "nested_populations"]
