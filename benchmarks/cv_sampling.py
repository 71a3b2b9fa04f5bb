"""Which cells the cross-validation sees above 20,000 cells: neighbourhoods of the graph against a uniform sample.

Usage::

    python benchmarks/cv_sampling.py --n 1000000 --out benchmarks/results/cv_sampling_1m.md

On the cached data of ``benchmarks/scaling.py`` (made by its ``prepare`` worker), the
problem and the start of ``pnmf.tl.pnmf(adata, 20)`` are computed once; the
cross-validation of λ1 and of the recommended scale then runs twice on the same start and
gene split: with the cells it uses (:func:`pnmf._core.cross_validation.sample_neighbourhoods`)
and with a uniform sample of as many cells. Per sample: the share of a sampled cell's
edges whose other end is sampled too (mean over the sampled cells), λ1 with every
candidate's held-out error, and the recommended scale.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _markdown import markdown_table, publish  # noqa: E402
from scaling import N_COMPS, cache_path  # noqa: E402

import pnmf._core.cross_validation as cross_validation  # noqa: E402
from pnmf._core import fit as core  # noqa: E402
from pnmf._core.init import nndsvda  # noqa: E402
from pnmf._options import PnmfOptions  # noqa: E402
from pnmf.tl._inputs import read_inputs  # noqa: E402


def uniform_sample(neighbours, size: int, rng: np.random.Generator, n_neighbourhoods: int = 0) -> np.ndarray:
    """As many cells drawn uniformly, with the same random stream (the comparison's baseline)."""
    return np.sort(rng.choice(len(neighbours.indptr) - 1, size=size, replace=False))


def kept_edges(problem: core.Problem, cells: np.ndarray) -> float:
    """Mean over the sampled cells of the share of their edges whose other end is sampled too."""
    edges = problem.edges
    inside = np.zeros(edges.n_nodes, dtype=bool)
    inside[cells] = True
    ends = np.concatenate([edges.rows, edges.cols])
    others = np.concatenate([edges.cols, edges.rows])
    degree = np.bincount(ends, minlength=edges.n_nodes)
    kept = np.bincount(ends, weights=inside[others], minlength=edges.n_nodes)
    return float(np.mean(kept[cells] / np.maximum(degree[cells], 1)))


def compare(n_cells: int, cache: Path) -> str:
    adata = ad.read_h5ad(cache_path(cache, n_cells))
    options = PnmfOptions(N_COMPS)
    inputs = read_inputs(adata, options)
    problem = core.prepare(inputs.X, inputs.points, inputs.edges, options)
    start = nndsvda(problem.expression, options.n_comps, options.random_state)
    rows = []
    for name, sampler in (("neighbourhoods", cross_validation.sample_neighbourhoods), ("uniform", uniform_sample)):
        cross_validation.sample_neighbourhoods = sampler  # GeneSplit.draw reads the module's sampler
        rng = np.random.default_rng(options.random_state)  # the draw's own first use of its stream
        cells = sampler(problem.graphs[-1].edges, cross_validation.MAX_CELLS, rng)
        began = time.perf_counter()
        weight, scales = core.cross_validate(problem, options, start)
        rows.append(
            {
                "sample": name,
                "edges kept": kept_edges(problem, cells),
                "seconds": time.perf_counter() - began,
                "λ1": weight.weight,
                "held-out error per λ1 (" + ", ".join(f"{c:g}" for c in weight.candidates) + ")": " ".join(
                    f"{e:.5f}" for e in weight.errors
                ),
                "recommended scale": scales.recommended,
                "held-out error per scale": " ".join(f"{e:.5f}" for e in scales.errors),
            }
        )
        print(rows[-1], file=sys.stderr, flush=True)
    header = (
        f"## Cross-validation's cells at {n_cells:,} cells ({cross_validation.MAX_CELLS:,} sampled, k = {N_COMPS})\n\n"
    )
    return header + markdown_table(pd.DataFrame(rows), index=False, digits=3) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--cache", type=Path, default=HERE / "results" / "cache")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "cv_sampling.md")
    args = parser.parse_args()
    publish(compare(args.n, args.cache), args.out)


if __name__ == "__main__":
    main()
