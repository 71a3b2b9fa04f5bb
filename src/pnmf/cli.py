"""The ``pnmf`` command: ``pnmf demo`` on scanpy's bundled PBMCs, ``pnmf run`` on an .h5ad file."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

__all__ = ["main"]


def _add_model_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("model")
    group.add_argument("--n-comps", type=int, default=20, help="factors per scale (default: 20)")
    group.add_argument("--n-scales", type=int, default=None, help="number of scales (default: 8)")
    group.add_argument(
        "--filtration",
        choices=("knn", "rips"),
        default="knn",
        help="persistence of the kNN graph or of all pairwise distances",
    )
    group.add_argument("--graph-weight", type=float, default=100.0, help="λ1, graph smoothness (default: 100)")
    group.add_argument(
        "--coupling-weight", type=float, default=1.0, help="λ2, similarity of consecutive scales (default: 1)"
    )
    group.add_argument("--anchor-weight", type=float, default=0.0, help="λ3, ridge on the embeddings (default: 0)")
    group.add_argument("--max-iter", type=int, default=200, help="iterations per scale (default: 200)")
    group.add_argument("--max-sweeps", type=int, default=10, help="coupled sweeps over all scales (default: 10)")
    group.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    group.add_argument("--key-added", default="pnmf", help="key of the results in the AnnData (default: pnmf)")
    parser.add_argument("--no-leiden", action="store_true", help="skip the per-scale Leiden clustering")
    parser.add_argument("--resolution", type=float, default=1.0, help="Leiden resolution (default: 1)")
    parser.add_argument("--color", default=None, help="obs column or gene to colour the figures by")
    parser.add_argument("--quiet", action="store_true", help="no progress or log output")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pnmf", description="Persistent NMF: embeddings and gene programs at every persistence scale."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="run on scanpy's bundled pbmc68k_reduced (no download)")
    demo.add_argument("--out", type=Path, default=Path("pnmf_demo"), help="output folder (default: ./pnmf_demo)")
    _add_model_options(demo)

    run = commands.add_parser("run", help="run on an .h5ad file")
    run.add_argument("input", type=Path, help="input .h5ad")
    run.add_argument("-o", "--output", type=Path, required=True, help="output .h5ad (must differ from the input)")
    run.add_argument("--figures", type=Path, default=None, help="folder for figures (default: next to the output)")
    run.add_argument("--layer", default=None, help="layer with nonnegative expression (default: X)")
    run.add_argument("--use-rep", default="X_pca", help="representation in obsm for distances (default: X_pca)")
    run.add_argument("--all-genes", action="store_true", help="use all genes, not only var['highly_variable']")
    _add_model_options(run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status (0 ok, 1 failed, 2 bad usage)."""
    import scanpy as sc

    args = _parser().parse_args(argv)
    verbosity = sc.settings.verbosity
    try:
        return _dispatch(args)
    except (OSError, ValueError, KeyError, TypeError, IndexError) as error:
        message = error.args[0] if isinstance(error, KeyError) and error.args else str(error)
        print(f"pnmf: error: {message}", file=sys.stderr)
        return 1
    finally:
        sc.settings.verbosity = verbosity


def _dispatch(args: argparse.Namespace) -> int:
    import scanpy as sc

    sc.settings.verbosity = 0 if args.quiet else 2
    if args.command == "demo":
        adata = _demo_data()
        output = args.out / "pbmc68k_pnmf.h5ad"
        figures = args.out
        layer, mask_var = "lognorm", None
        args.use_rep = "X_pca"
        args.color = args.color or "bulk_labels"
    else:
        adata = _read_input(args.input, args.output)
        output = args.output
        figures = args.figures if args.figures is not None else output.parent
        layer = args.layer
        mask_var = None if args.all_genes else _default_mask()
    _analyse(adata, args, layer=layer, mask_var=mask_var)
    _write_h5ad(adata, output)
    written = _figures(adata, args, figures, output.stem)
    _print_summary(adata, args.key_added, output, written)
    return 0


def _default_mask():
    from .tl._inputs import HVG_IF_PRESENT

    return HVG_IF_PRESENT


def _demo_data():
    import scanpy as sc

    adata = sc.datasets.pbmc68k_reduced()
    # X is scaled (negative values); raw holds the log-normalized expression of the same genes
    adata.layers["lognorm"] = adata.raw[:, adata.var_names].X
    # the stored graph is an old 10-NN one; use scanpy's current default, as users would
    sc.pp.neighbors(adata, n_neighbors=15, random_state=0)
    return adata


def _read_input(path: Path, output: Path):
    import anndata as ad

    if not path.is_file():
        msg = f"input file {str(path)!r} does not exist"
        raise FileNotFoundError(msg)
    if output.resolve() == path.resolve():
        msg = (
            f"the output {str(output)!r} is the input file; choose another output path (the input is never overwritten)"
        )
        raise ValueError(msg)
    try:
        return ad.read_h5ad(path)
    except Exception as error:  # h5py and anndata raise many types for a damaged file
        msg = f"cannot read {str(path)!r} as .h5ad ({type(error).__name__}: {error})"
        raise ValueError(msg) from error


def _analyse(adata, args: argparse.Namespace, *, layer: str | None, mask_var) -> None:
    from . import tl

    tl.pnmf(
        adata,
        args.n_comps,
        n_scales=args.n_scales,
        filtration=args.filtration,
        layer=layer,
        mask_var=mask_var,
        use_rep=args.use_rep,
        graph_weight=args.graph_weight,
        coupling_weight=args.coupling_weight,
        anchor_weight=args.anchor_weight,
        max_iter=args.max_iter,
        max_sweeps=args.max_sweeps,
        random_state=args.seed,
        key_added=args.key_added,
    )
    if not args.no_leiden:
        tl.leiden(adata, args.resolution, key=args.key_added, random_state=args.seed)


def _write_h5ad(adata, output: Path) -> None:
    """Write through a temporary file in the same folder, so a failure never leaves a truncated file."""
    output.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(suffix=".h5ad", dir=output.parent)
    os.close(handle)
    umask = os.umask(0)
    os.umask(umask)
    try:
        adata.write_h5ad(temporary)
        os.chmod(temporary, 0o666 & ~umask)  # mkstemp creates the file private; give it the usual mode
        os.replace(temporary, output)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def _figures(adata, args: argparse.Namespace, folder: Path, stem: str) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, draw in _summary_figures(args.key_added, leiden=not args.no_leiden, color=args.color).items():
        fig = draw(adata)
        path = folder / f"{stem}_{name}.png"
        fig.savefig(path, dpi=120)
        plt.close(fig)
        written.append(path)
    return written


def _summary_figures(key: str, *, leiden: bool, color: str | None) -> dict:
    """Name → function drawing one figure of a result (returns the Figure)."""
    from . import pl

    figures = {
        "persistence": lambda adata: pl.persistence(adata, key=key, return_fig=True),
        "scales": lambda adata: pl.scales(adata, color, key=key, return_fig=True),
        "loadings": lambda adata: pl.loadings(adata, key=key, return_fig=True),
        "convergence": lambda adata: pl.convergence(adata, key=key, return_fig=True),
    }
    if leiden:
        figures["cluster_tree"] = lambda adata: pl.cluster_tree(adata, color, key=key, return_fig=True)
    return figures


def _print_summary(adata, key: str, output: Path, figures: list[Path]) -> None:
    from . import get

    table = get.scales(adata, key=key)
    columns = ["threshold", "n_connected", "n_edges", "objective", "n_iter", "converged", "recommended"]
    manifest = adata.uns[key]
    if "leiden" in manifest.get("clusters", {}):
        table["n_clusters"] = manifest["clusters"]["leiden"]["n_clusters"]
        columns.append("n_clusters")
    print(table[columns].to_string(float_format=lambda v: f"{v:.4g}"))
    convergence = manifest["convergence"]
    sweeps = get.history(adata, key=key).query("phase == 'sweep'")["objective"].to_numpy()
    status = "converged" if convergence["sweeps_converged"] else "stopped at --max-sweeps"
    if len(sweeps) > 1:
        status += f"; the last sweep lowered it by {100 * (sweeps[-2] - sweeps[-1]) / sweeps[-2]:.3f} %"
    print(f"objective {convergence['objective']:.6g} after {convergence['n_sweeps']} coupled sweeps ({status})")
    print(f"wrote {output}")
    for path in figures:
        print(f"wrote {path}")


if __name__ == "__main__":
    sys.exit(main())
