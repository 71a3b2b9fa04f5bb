"""The flags that several subcommands share, and subcommands whose ``--help`` ends with examples."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

__all__ = [
    "add_color_option",
    "add_fit_options",
    "add_input_options",
    "add_leiden_options",
    "add_output_flags",
    "add_umap_option",
    "new_command",
]


def new_command(
    commands, name: str, *, help: str, description: str, examples: Sequence[str]
) -> argparse.ArgumentParser:
    """Add a subcommand whose ``--help`` ends with examples, one command line each."""
    lines = "\n".join(f"  {example}" for example in examples)
    return commands.add_parser(
        name,
        help=help,
        description=description,
        epilog=f"examples:\n{lines}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def add_output_flags(parser: argparse.ArgumentParser) -> None:
    """``--quiet``, ``--verbose`` and ``--debug``, which every subcommand takes."""
    output = parser.add_mutually_exclusive_group()
    output.add_argument("--quiet", action="store_true", help="no progress display (the summary still prints)")
    output.add_argument("--verbose", action="store_true", help="also show scanpy's log and warnings")
    parser.add_argument("--debug", action="store_true", help="show the full traceback of an error")


def add_input_options(parser: argparse.ArgumentParser) -> None:
    """Where the expression and the representation are read from."""
    parser.add_argument("--layer", default=None, help="layer with nonnegative expression (default: X)")
    parser.add_argument("--use-rep", default="X_pca", help="representation in obsm for distances (default: X_pca)")
    parser.add_argument("--all-genes", action="store_true", help="use all genes, not only var['highly_variable']")
    parser.add_argument(
        "--batch-key",
        default=None,
        help="obs column naming each cell's batch (sample, donor, protocol): integrate the batches (default: none)",
    )


def add_fit_options(parser: argparse.ArgumentParser, *, one_fit: bool) -> None:
    """Options of ``tl.pnmf`` as flags, with its defaults (those of :class:`~pnmf._options.PnmfOptions`).

    ``one_fit``: also the options of a single fit that ``tl.select_k`` sets itself
    (``--n-comps``, ``--n-jobs``, ``--key-added``).
    """
    from .._options import DEFAULT_N_SCALES
    from .._options import PnmfOptions as D

    group = parser.add_argument_group("model")
    if one_fit:
        group.add_argument("--n-comps", type=int, default=D.n_comps, help=f"factors per scale (default: {D.n_comps})")
    group.add_argument(
        "--n-scales", type=int, default=D.n_scales, help=f"number of scales (default: {DEFAULT_N_SCALES})"
    )
    group.add_argument(
        "--filtration",
        choices=("knn", "rips"),
        default=D.filtration,
        help="persistence of the kNN graph or of all pairwise distances",
    )
    group.add_argument(
        "--graph-weight",
        type=_weight,
        default=D.graph_weight,
        help=f"λ1, graph smoothness: a number, or 'auto' to cross-validate it over a split of the genes (default: {D.graph_weight})",
    )
    group.add_argument(
        "--coupling-weight",
        type=float,
        default=D.coupling_weight,
        help=f"λ2, similarity of consecutive scales (default: {D.coupling_weight:g})",
    )
    group.add_argument(
        "--anchor-weight",
        type=float,
        default=D.anchor_weight,
        help=f"λ3, ridge on the embeddings (default: {D.anchor_weight:g})",
    )
    group.add_argument(
        "--pooling-weight",
        type=float,
        default=D.pooling_weight,
        help=f"ρ, how much coarser each scale is (default: {D.pooling_weight:g}; 0: every scale alike)",
    )
    group.add_argument("--max-iter", type=int, default=D.max_iter, help=f"iterations per scale (default: {D.max_iter})")
    group.add_argument(
        "--max-sweeps", type=int, default=D.max_sweeps, help=f"coupled sweeps over all scales (default: {D.max_sweeps})"
    )
    group.add_argument("--seed", type=int, default=D.random_state, help=f"random seed (default: {D.random_state})")
    if one_fit:
        group.add_argument(
            "--n-jobs", type=int, default=None, help="threads of the solver (default: as many as the machine has free)"
        )
        group.add_argument("--key-added", default="pnmf", help="key of the results in the AnnData (default: pnmf)")


def add_leiden_options(parser: argparse.ArgumentParser) -> None:
    """``--no-leiden`` and ``--resolution`` of the per-scale Leiden clustering."""
    parser.add_argument("--no-leiden", action="store_true", help="skip the per-scale Leiden clustering")
    parser.add_argument("--resolution", type=float, default=1.0, help="Leiden resolution (default: 1)")


def add_color_option(parser: argparse.ArgumentParser) -> None:
    """``--color`` of the figures."""
    parser.add_argument("--color", default=None, help="obs column or gene to colour the figures by")


def add_umap_option(parser: argparse.ArgumentParser, *, stored: bool) -> None:
    """``--umap``: whether the scales figure draws every scale on its own UMAP or on two factors.

    ``stored``: the UMAPs laid out are kept in the output (``demo``, ``run``); otherwise
    (``plot``) they are laid out in memory and the UMAPs a result already holds are drawn.
    """
    from ._figures import UMAP_MAX_CELLS

    if stored:
        text = (
            "the scales figure: 'always' draws every scale on its own UMAP (pnmf.tl.umap, each started from the "
            "previous scale's layout, so that merging populations show; kept in the output as "
            "obsm['X_<key>_umap_<t>']; each costs about one scanpy UMAP of the cells), 'never' draws the scales "
            f"on two factors, 'auto' UMAPs up to {UMAP_MAX_CELLS:,} cells and two factors above (default: auto)"
        )
    else:
        text = (
            "the scales figure: 'auto' draws the per-scale UMAPs the result holds, else lays out a UMAP of every "
            f"scale in memory (pnmf.tl.umap; the file is not changed) up to {UMAP_MAX_CELLS:,} cells, else two "
            "factors; 'always' lays them out whatever the number of cells; 'never' draws two factors (default: auto)"
        )
    parser.add_argument("--umap", choices=("auto", "always", "never"), default="auto", help=text)


def _weight(text: str) -> float | str:
    """``--graph-weight``: ``auto`` or a number."""
    if text == "auto":
        return text
    try:
        return float(text)
    except ValueError:
        msg = f"expected 'auto' or a number, got {text!r}"
        raise argparse.ArgumentTypeError(msg) from None
