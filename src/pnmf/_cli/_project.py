"""``pnmf project``: new cells on the scales, programs and clusters of a fitted reference."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from ._common import Progress, check_paths, check_writable, read_input
from ._files import Signals, write_outputs
from ._flags import add_output_flags, new_command

if TYPE_CHECKING:
    from anndata import AnnData

__all__ = ["add_project"]


def add_project(commands) -> None:
    """Add ``pnmf project``."""
    project = new_command(
        commands,
        "project",
        help="embed new cells on a fitted reference (no refit)",
        description=(
            "Embed the cells of QUERY at every scale of the pnmf result in REFERENCE with its gene programs fixed, "
            "transfer its Leiden clusters and UMAPs (pnmf.tl.project), and write QUERY with the result as a new "
            ".h5ad. REFERENCE is a fitted .h5ad or a reference written by pnmf.io.write_reference. Neither input is "
            "ever overwritten."
        ),
        examples=[
            "pnmf project new_sample.h5ad reference.h5ad -o new_sample_pnmf.h5ad",
            "pnmf project query.h5ad atlas_pnmf.h5ad -o query_pnmf.h5ad --use-rep X_pca_ingest --n-neighbors 30",
            "pnmf plot query_pnmf.h5ad --color cell_type --out figures   # then draw it",
        ],
    )
    project.add_argument("query", type=Path, help="input .h5ad with the new cells")
    project.add_argument("reference", type=Path, help="input .h5ad with a fitted pnmf result")
    project.add_argument("-o", "--output", type=Path, required=True, help="output .h5ad (must differ from the inputs)")
    project.add_argument("--key", default="pnmf", help="key_added of the reference's result (default: pnmf)")
    project.add_argument("--key-added", default=None, help="key of the query's result (default: the reference's --key)")
    project.add_argument(
        "--use-rep",
        default=None,
        help="obsm key with the query's coordinates in the reference's representation "
        "(default: place the cells with the reference's PCA)",
    )
    project.add_argument("--n-neighbors", type=int, default=15, help="reference neighbours per cell (default: 15)")
    project.add_argument(
        "--max-missing",
        type=float,
        default=0.1,
        help="largest share of the reference's genes the query may lack (default: 0.1)",
    )
    project.add_argument("--seed", type=int, default=0, help="random seed of the neighbour search (default: 0)")
    add_output_flags(project)
    project.set_defaults(handler=project_cells)


def project_cells(args: argparse.Namespace, signals: Signals) -> None:
    """Run ``pnmf project``: check, read both files, project, write, summarize."""
    from .._validation import check_int, check_key_added, check_random_state, check_real

    progress = Progress(5, enabled=not args.quiet)
    try:
        progress.step("checking the options")
        check_random_state("seed", args.seed)
        check_int("n_neighbors", args.n_neighbors, minimum=1)
        check_real("max_missing", args.max_missing)
        check_key_added(args.key)
        if args.key_added is not None:
            check_key_added(args.key_added)
        check_paths([args.query, args.reference], [args.output])
        check_writable(args.output.parent)
        progress.step(f"reading {args.query}")
        query = read_input(args.query)
        progress.step(f"reading {args.reference}")
        reference = read_input(args.reference)
        progress.step("projecting the cells")
        import pnmf

        key_added = args.key if args.key_added is None else args.key_added
        pnmf.tl.project(
            query,
            reference,
            key=args.key,
            use_rep=args.use_rep,
            n_neighbors=args.n_neighbors,
            max_missing=args.max_missing,
            random_state=args.seed,
            key_added=key_added,
        )
        progress.step(f"writing {args.output}")
        written = write_outputs({args.output: query}, signals)
    finally:
        progress.close()
    _print_summary(query, key_added, written)


def _print_summary(query: AnnData, key: str, written: list[Path]) -> None:
    from .._sections import Clustering, Projection, read_section, section_entries

    manifest = query.uns[key]
    projection = read_section(manifest, Projection)
    n_scales = len(manifest["obsm_keys"])
    print(
        f"{query.n_obs} cells embedded at {n_scales} scales onto {projection.n_reference_cells} reference cells "
        f"({projection.n_genes} genes, {projection.n_missing_genes} missing; placed by {projection.representation})"
    )
    for name, clustering in section_entries(manifest, Clustering).items():
        print(f"clusters {name!r} transferred: {', '.join(str(n) for n in clustering.n_clusters)} per scale")
    for path in written:
        print(f"wrote {path}")
