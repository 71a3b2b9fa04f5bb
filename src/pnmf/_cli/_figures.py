"""The summary figures of a result, drawn in memory; ``pnmf plot`` draws them from an existing result."""

from __future__ import annotations

import argparse
import io
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from ._common import Progress, check_color, check_paths, check_writable, read_input
from ._files import Signals, write_outputs
from ._flags import add_color_option, add_leiden_options, add_output_flags, add_umap_option, new_command

if TYPE_CHECKING:
    from anndata import AnnData
    from matplotlib.figure import Figure

__all__ = ["UMAP_MAX_CELLS", "add_plot", "describe_scales", "has_clusters", "png", "render_figures", "scales_basis"]

#: The figures of ``pnmf run`` and ``pnmf plot``, in the order they are drawn.
FIGURES = ("persistence", "scales", "loadings", "convergence", "cluster_tree")

#: ``--umap auto`` lays out a UMAP of every scale up to this many cells, two factors above: each
#: costs about one scanpy UMAP of the cells (about 10 s a scale at 10,000 cells on two cores).
UMAP_MAX_CELLS = 10_000

#: Neighbours of the kNN graph each per-scale UMAP is laid out from (``tl.umap``'s default).
UMAP_NEIGHBORS = 15

Basis = Literal["factors", "umap"]


def add_plot(commands) -> None:
    """Add ``pnmf plot``."""
    plot = new_command(
        commands,
        "plot",
        help="draw the figures of an existing result (no refit)",
        description=(
            "Draw the five figures of `pnmf run` (persistence, scales, loadings, convergence, cluster_tree) "
            "from an .h5ad that holds a pnmf result, without refitting. A result without Leiden clusters is "
            "clustered in memory for the cluster tree, and one without per-scale UMAPs gets them in memory for "
            f"the scales figure up to {UMAP_MAX_CELLS:,} cells (see --umap; the file is not changed); a projection "
            "has no convergence nor persistence figure. Figures are written as DIR/<input name>_<figure>.png."
        ),
        examples=[
            "pnmf plot data_pnmf.h5ad --out figures",
            "pnmf plot data_pnmf.h5ad --color cell_type --out figures",
            "pnmf plot query_projected.h5ad --key pnmf --color cell_type --layer lognorm --out figures/query",
        ],
    )
    plot.add_argument("input", type=Path, help="input .h5ad with a pnmf result")
    plot.add_argument("--out", type=Path, required=True, help="folder for the figures")
    plot.add_argument("--key", default="pnmf", help="key_added of the result to draw (default: pnmf)")
    plot.add_argument("--layer", default=None, help="layer to read gene values from for --color (default: X)")
    plot.add_argument(
        "--seed", type=int, default=0, help="random seed of the Leiden clustering and the UMAPs (default: 0)"
    )
    add_color_option(plot)
    add_leiden_options(plot)
    add_umap_option(plot, stored=False)
    add_output_flags(plot)
    plot.set_defaults(handler=plot_result)


def plot_result(args: argparse.Namespace, signals: Signals) -> None:
    """Run ``pnmf plot``: check, read, cluster if needed (in memory), draw, write the figures."""
    from .._validation import check_random_state, check_real

    progress = Progress(5, enabled=not args.quiet)
    try:
        progress.step("checking the options")
        check_random_state("seed", args.seed)
        check_real("resolution", args.resolution, strict=True)
        targets = {name: args.out / f"{args.input.stem}_{name}.png" for name in FIGURES}
        check_paths([args.input], list(targets.values()))
        check_writable(args.out)
        progress.step(f"reading {args.input}")
        adata = read_input(args.input)
        _check_result(adata, args.key)
        check_color(adata, args.color, args.layer)
        leiden = has_clusters(adata, args.key)
        if not leiden and not args.no_leiden:
            progress.step("Leiden clustering of every scale")
            import pnmf

            pnmf.tl.leiden(adata, args.resolution, key=args.key, random_state=args.seed)
            leiden = True
        basis = scales_basis(adata, args.key, args.umap, seed=args.seed, progress=progress)
        progress.step("drawing figures")
        images = render_figures(
            adata,
            args.key,
            leiden=leiden,
            color=args.color,
            layer=args.layer,
            fitted=not _projected(adata, args.key),
            basis=basis,
        )
        written = write_outputs({targets[name]: png for name, png in images.items()}, signals)
    finally:
        progress.close()
    print(describe_scales(adata, args.key, basis, args.umap, stored=False))
    for path in written:
        print(f"wrote {path}")


def scales_basis(adata: AnnData, key: str, umap: str, *, seed: int, progress: Progress | None = None) -> Basis:
    """Decide how the scales figure draws the scales (``--umap``), laying out the UMAPs it needs into ``adata``.

    ``'never'``: two factors. Otherwise the per-scale UMAPs the result already holds, or, for
    ``'always'`` or up to :data:`UMAP_MAX_CELLS` cells, a UMAP of every scale by :func:`pnmf.tl.umap`
    (each started from the previous scale's layout, so that populations keep their place and a
    merge shows); two factors above.
    """
    from .._keys import Manifest

    if umap == "never":
        return "factors"
    if Manifest.UMAP in adata.uns[key]:
        return "umap"
    if umap == "auto" and adata.n_obs > UMAP_MAX_CELLS:
        return "factors"
    if progress is not None:
        progress.step("a UMAP of every scale")
    import pnmf

    pnmf.tl.umap(adata, key=key, n_neighbors=min(UMAP_NEIGHBORS, max(adata.n_obs - 1, 2)), random_state=seed)
    return "umap"


def describe_scales(adata: AnnData, key: str, basis: Basis, umap: str, *, stored: bool) -> str:
    """One line saying how the scales figure was drawn (``basis``, chosen by :func:`scales_basis` from ``umap``)."""
    from .._keys import Manifest

    if basis == "umap":
        from ..get._scales import laid_out_scales

        laid_out = laid_out_scales(adata, key=key)
        every = len(laid_out) == len(adata.uns[key][Manifest.OBSM_KEYS])
        scales = "every scale" if every else f"scale{'s' * (len(laid_out) > 1)} {', '.join(map(str, laid_out))}"
        if Manifest.PROJECTION in adata.uns[key]:
            source = "the reference's, placed by pnmf.tl.project"
        else:
            source = "pnmf.tl.umap" + (f", kept as obsm['X_{key}_umap_<t>']" if stored else "")
        return f"scales figure: a UMAP of {scales} ({source})"
    if umap == "never":
        return "scales figure: two factors (--umap never)"
    return (
        f"scales figure: two factors ({adata.n_obs:,} cells, above the {UMAP_MAX_CELLS:,} of --umap auto; "
        "--umap always lays out a UMAP of every scale)"
    )


def _check_result(adata: AnnData, key: str) -> None:
    from .. import get

    get.scales(adata, key=key)  # a pnmf result under key, with its embeddings, or one line saying what to run


def has_clusters(adata: AnnData, key: str) -> bool:
    """Whether the result ``key`` has the default Leiden clustering of ``tl.leiden``."""
    from .._keys import DEFAULT_CLUSTER_KEY
    from .._sections import Clustering, section_entries

    return DEFAULT_CLUSTER_KEY in section_entries(adata.uns[key], Clustering)


def _projected(adata: AnnData, key: str) -> bool:
    """Whether the result ``key`` was made by ``tl.project`` (embedded onto a reference: nothing converged)."""
    from .._keys import Manifest

    return Manifest.PROJECTION in adata.uns[key]


def render_figures(
    adata: AnnData,
    key: str,
    *,
    leiden: bool,
    color: str | None,
    layer: str | None = None,
    fitted: bool = True,
    basis: Basis = "factors",
) -> dict[str, bytes]:
    """Draw every summary figure into memory as PNG bytes (nothing is written yet).

    Parameters
    ----------
    adata
        AnnData with a pnmf result.
    key
        ``key_added`` of the result.
    leiden
        Draw the cluster tree (the result has a ``tl.leiden`` clustering).
    color
        obs column or gene colouring the scales and the cluster tree.
    layer
        Layer to read a gene's values from.
    fitted
        The result is a fit, not a projection: draw its convergence and persistence (a
        projection has neither; the barcode is the reference's).
    basis
        How the scales figure draws the scales: ``'umap'``, the per-scale UMAPs of
        :func:`pnmf.tl.umap` (see :func:`scales_basis`), or ``'factors'``, two factors.

    Returns
    -------
    Figure name → PNG bytes, in the order of :data:`FIGURES`.
    """
    figures = _figures(key, leiden=leiden, color=color, layer=layer, fitted=fitted, basis=basis)
    return {name: png(draw(adata)) for name, draw in figures.items()}


def png(fig: Figure) -> bytes:
    """Return a figure as PNG bytes, and close it."""
    import matplotlib.pyplot as plt

    try:
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=120)
    finally:
        plt.close(fig)
    return buffer.getvalue()


def _figures(
    key: str, *, leiden: bool, color: str | None, layer: str | None, fitted: bool, basis: Basis
) -> dict[str, Callable]:
    """Name → function drawing one figure of a result (returns the Figure)."""
    from .. import pl

    figures = {
        "persistence": lambda adata: pl.persistence(adata, key=key, return_fig=True),
        "scales": lambda adata: pl.scales(adata, color, basis=basis, key=key, layer=layer, return_fig=True),
        "loadings": lambda adata: pl.loadings(adata, key=key, return_fig=True),
        "convergence": lambda adata: pl.convergence(adata, key=key, return_fig=True),
        "cluster_tree": lambda adata: pl.cluster_tree(adata, color, key=key, layer=layer, return_fig=True),
    }
    wanted = {"convergence": fitted, "persistence": fitted, "cluster_tree": leiden}
    drawn = {name for name, draw in wanted.items() if not draw}
    return {name: draw for name, draw in figures.items() if name not in drawn}
