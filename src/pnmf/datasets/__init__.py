"""Seeded synthetic data: the paper's concentric circles, nested single-cell populations, and counts mixed from known gene programs."""

from ._circles import concentric_circles
from ._populations import nested_populations
from ._programs import gene_programs

__all__ = ["concentric_circles", "gene_programs", "nested_populations"]
