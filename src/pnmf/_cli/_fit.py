"""``pnmf demo`` and ``pnmf run``: fit, cluster, draw and write a result."""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import TYPE_CHECKING

from ._common import (
    Progress,
    check_against_data,
    check_color,
    check_fit_flags,
    check_paths,
    check_writable,
    fit_options,
    input_options,
    read_input,
)
from ._figures import UMAP_MAX_CELLS, describe_scales, render_figures, scales_basis
from ._files import Signals, write_outputs
from ._flags import (
    add_color_option,
    add_fit_options,
    add_input_options,
    add_leiden_options,
    add_output_flags,
    add_umap_option,
    new_command,
)

if TYPE_CHECKING:
    from anndata import AnnData

__all__ = ["add_demo", "add_run"]


def add_demo(commands) -> None:
    """Add ``pnmf demo``."""
    demo = new_command(
        commands,
        "demo",
        help="run on scanpy's bundled pbmc68k_reduced (no download)",
        description=(
            "Run the whole analysis on scanpy's bundled pbmc68k_reduced (no download): persistent NMF, Leiden "
            "clusters of every scale, a UMAP of every scale, five figures (the scales figure draws the eight "
            "UMAPs side by side, coloured by bulk_labels, so that populations merging from fine to coarse show); "
            "writes OUT/pbmc68k_pnmf.h5ad and the figures beside it."
        ),
        examples=[
            "pnmf demo --out pnmf_demo",
            "pnmf demo --out pnmf_demo --n-comps 10 --color louvain",
            "pnmf demo --out pnmf_demo --umap never   # the scales on two factors, no UMAP",
        ],
    )
    demo.add_argument("--out", type=Path, default=Path("pnmf_demo"), help="output folder (default: ./pnmf_demo)")
    _add_options(demo)
    demo.set_defaults(handler=fit_and_write)


def add_run(commands) -> None:
    """Add ``pnmf run``."""
    run = new_command(
        commands,
        "run",
        help="run on an .h5ad file",
        description=(
            "Fit persistent NMF to an .h5ad, cluster every scale with Leiden and write the result as a new .h5ad "
            "with five figures (next to the output, or in --figures). The scales figure draws every scale on its "
            f"own UMAP up to {UMAP_MAX_CELLS:,} cells (kept in the output) and on two factors above; see --umap. "
            "The input is never overwritten."
        ),
        examples=[
            "pnmf run data.h5ad -o data_pnmf.h5ad --layer lognorm --color cell_type",
            "pnmf run data.h5ad -o results/data_pnmf.h5ad --n-comps 10 --figures results/figures --quiet",
            "pnmf run big.h5ad -o big_pnmf.h5ad --umap always   # a UMAP of every scale, whatever the size",
        ],
    )
    run.add_argument("input", type=Path, help="input .h5ad")
    run.add_argument("-o", "--output", type=Path, required=True, help="output .h5ad (must differ from the input)")
    run.add_argument("--figures", type=Path, default=None, help="folder for figures (default: next to the output)")
    add_input_options(run)
    _add_options(run)
    run.set_defaults(handler=fit_and_write)


def _add_options(parser: argparse.ArgumentParser) -> None:
    add_fit_options(parser, one_fit=True)
    add_leiden_options(parser)
    add_color_option(parser)
    add_umap_option(parser, stored=True)
    add_output_flags(parser)


def fit_and_write(args: argparse.Namespace, signals: Signals) -> None:
    """Run ``pnmf demo`` or ``pnmf run``: check, read, fit, cluster, draw, write, summarize."""
    progress = Progress(7, enabled=not args.quiet)
    try:
        progress.step("checking the options")
        check_fit_flags(args)
        if args.command == "demo":
            output = args.out / "pbmc68k_pnmf.h5ad"
            figures = args.out
            progress.step("loading pbmc68k_reduced")
            adata = _demo_data(args.seed)
            inputs = {"layer": "lognorm", "mask_var": None, "use_rep": "X_pca"}
            color = args.color or "bulk_labels"
        else:
            output = args.output
            figures = args.figures if args.figures is not None else output.parent
            check_paths([args.input], [output])
            progress.step(f"reading {args.input}")
            adata = read_input(args.input)
            inputs = input_options(args)
            color = args.color
        check_writable(output.parent, figures)
        options = fit_options(args, **inputs)
        check_against_data(adata, options, largest_k=options.n_comps, key_added=args.key_added)
        check_color(adata, color, options.layer)
        progress.step("persistent NMF")
        import pnmf

        pnmf.tl.pnmf(adata, **options.as_kwargs(), n_jobs=args.n_jobs, key_added=args.key_added)
        if not args.no_leiden:
            progress.step("Leiden clustering of every scale")
            pnmf.tl.leiden(adata, args.resolution, key=args.key_added, random_state=args.seed)
        basis = scales_basis(adata, args.key_added, args.umap, seed=args.seed, progress=progress)
        progress.step("drawing figures")
        images = render_figures(
            adata, args.key_added, leiden=not args.no_leiden, color=color, layer=options.layer, basis=basis
        )
        progress.step(f"writing {output}")
        pngs = {figures / f"{output.stem}_{name}.png": png for name, png in images.items()}
        written = write_outputs({output: adata, **pngs}, signals)
    finally:
        progress.close()
    _print_summary(
        adata, args.key_added, written, scales=describe_scales(adata, args.key_added, basis, args.umap, stored=True)
    )


def _demo_data(seed: int) -> AnnData:
    import scanpy as sc

    adata = sc.datasets.pbmc68k_reduced()
    # X is scaled (negative values); raw holds the log-normalized expression of the same genes
    adata.layers["lognorm"] = adata.raw[:, adata.var_names].X
    # the stored graph is an old 10-NN one; use scanpy's current default, as users would
    sc.pp.neighbors(adata, n_neighbors=15, random_state=seed)
    return adata


def _print_summary(adata: AnnData, key: str, written: list[Path], *, scales: str) -> None:
    from .. import get
    from .._keys import DEFAULT_CLUSTER_KEY
    from .._sections import Clustering, Convergence, read_section, section_entries

    table = get.scales(adata, key=key)
    columns = ["threshold", "n_connected", "n_edges", "objective", "n_iter", "converged", "recommended"]
    manifest = adata.uns[key]
    clusterings = section_entries(manifest, Clustering)
    if DEFAULT_CLUSTER_KEY in clusterings:
        table["n_clusters"] = clusterings[DEFAULT_CLUSTER_KEY].n_clusters
        columns.append("n_clusters")
    print(table[columns].to_string(float_format=lambda v: f"{v:.4g}"))
    convergence = read_section(manifest, Convergence)
    sweeps = get.history(adata, key=key).query("phase == 'sweep'")["objective"].to_numpy()
    status = "converged" if convergence.sweeps_converged else "stopped at --max-sweeps"
    if len(sweeps) > 1 and math.isfinite(sweeps[-2]) and sweeps[-2] != 0:
        status += f"; the last sweep lowered it by {100 * (sweeps[-2] - sweeps[-1]) / sweeps[-2]:.3f} %"
    print(f"objective {convergence.objective:.6g} after {convergence.n_sweeps} coupled sweeps ({status})")
    print(scales)
    for path in written:
        print(f"wrote {path}")
