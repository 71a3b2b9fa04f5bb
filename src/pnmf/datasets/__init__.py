"""Data to try pnmf on: the paper's concentric circles, nested single-cell populations and counts mixed from known gene programs (seeded, synthetic), and real control and stimulated PBMCs."""

from ._circles import concentric_circles
from ._pbmc_ifnb import pbmc_ifnb
from ._populations import nested_populations
from ._programs import gene_programs

__all__ = ["concentric_circles", "gene_programs", "nested_populations", "pbmc_ifnb"]
