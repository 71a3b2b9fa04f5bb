"""What every subcommand shares: the checks made before computing, reading the input, progress, errors."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from anndata import AnnData

    from .._options import PnmfOptions

__all__ = [
    "Progress",
    "check_against_data",
    "check_color",
    "check_fit_flags",
    "check_paths",
    "check_writable",
    "fit_options",
    "input_options",
    "one_line",
    "quiet_libraries",
    "read_input",
]


def fit_options(args: argparse.Namespace, **inputs: Any) -> PnmfOptions:
    """Build the fit's options from the flags (``inputs``: the options that depend on the command)."""
    from .._options import PnmfOptions

    # messages name the options as tl.pnmf's parameters (n_comps=0), which the flags mirror
    return PnmfOptions(
        n_comps=getattr(args, "n_comps", PnmfOptions.n_comps),
        n_scales=args.n_scales,
        filtration=args.filtration,
        graph_weight=args.graph_weight,
        coupling_weight=args.coupling_weight,
        anchor_weight=args.anchor_weight,
        pooling_weight=args.pooling_weight,
        max_iter=args.max_iter,
        max_sweeps=args.max_sweeps,
        random_state=args.seed,
        **inputs,
    )


def input_options(args: argparse.Namespace) -> dict[str, Any]:
    """``layer``, ``mask_var``, ``use_rep`` and ``batch_key`` from ``--layer``, ``--all-genes``, ``--use-rep`` and ``--batch-key``."""
    from .._options import HVG_IF_PRESENT

    return {
        "layer": args.layer,
        "mask_var": None if args.all_genes else HVG_IF_PRESENT,
        "use_rep": args.use_rep,
        "batch_key": args.batch_key,
    }


def check_fit_flags(args: argparse.Namespace) -> None:
    """Check every fit option that does not need the data, before anything is read or computed."""
    from .._validation import check_key_added, check_n_jobs, check_random_state, check_real

    check_random_state("seed", args.seed)  # named as the flag; the other options as tl.pnmf's parameters
    fit_options(args)
    if hasattr(args, "n_jobs"):
        check_n_jobs(args.n_jobs)
    if hasattr(args, "key_added"):
        check_key_added(args.key_added)
    if hasattr(args, "resolution"):
        check_real("resolution", args.resolution, strict=True)


def check_paths(inputs: Sequence[Path], outputs: Sequence[Path]) -> None:
    """Check that every input file exists and that no output is an input or an existing folder."""
    from .._errors import PnmfValueError

    for path in inputs:
        if not path.is_file():
            msg = f"input file {str(path)!r} does not exist"
            raise FileNotFoundError(2, msg)
    for output in outputs:
        if any(output.resolve() == path.resolve() for path in inputs):
            msg = f"the output {str(output)!r} is the input file; choose another output path (the input is never overwritten)"
            raise PnmfValueError(msg)
        if output.is_dir():
            msg = f"the output {str(output)!r} is a folder; pass the path of the file to write"
            raise PnmfValueError(msg)


def check_writable(*folders: Path) -> None:
    """Fail now, not after the computation, if an output folder cannot be written (folders are not created yet)."""
    from .._errors import PnmfValueError

    for folder in set(folders):
        existing = folder
        while not existing.exists():
            existing = existing.parent
        if not existing.is_dir():
            msg = f"cannot write into {str(folder)!r}: {str(existing)!r} is a file, not a folder"
            raise PnmfValueError(msg)
        if not os.access(existing, os.W_OK | os.X_OK):
            raise PermissionError(13, "Permission denied", str(existing))


def read_input(path: Path) -> AnnData:
    """Read an ``.h5ad`` file; a damaged or foreign file is one :class:`~pnmf.PnmfValueError`."""
    import anndata as ad

    from .._errors import PnmfValueError

    try:
        return ad.read_h5ad(path)
    except Exception as error:  # h5py and anndata raise many types for a damaged file
        msg = f"cannot read {str(path)!r} as .h5ad ({type(error).__name__}: {error})"
        raise PnmfValueError(msg) from error


def check_against_data(adata: AnnData, options: PnmfOptions, *, largest_k: int, key_added: str | None) -> None:
    """Check the options that depend on the data (layer, genes, sizes, representation, key) before computing."""
    from .._errors import PnmfKeyError
    from .._manifest import check_result_key
    from .._validation import check_in_memory
    from ..tl._inputs import check_n_comps, gene_mask, read_batches, read_expression

    check_in_memory(adata)
    mask = gene_mask(adata, options.mask_var)
    X, _ = read_expression(adata, options.layer, mask)
    check_n_comps(largest_k, X)
    read_batches(adata, options.batch_key, largest_k)
    if options.use_rep not in ("X", "X_pca") and options.use_rep not in adata.obsm:
        msg = (
            f"--use-rep {options.use_rep!r} is not in adata.obsm (available: {list(adata.obsm)}); "
            "pass --use-rep X_pca or an existing key."
        )
        raise PnmfKeyError(msg)
    if key_added is not None:
        check_result_key(adata, key_added)


def check_color(adata: AnnData, color: str | None, layer: str | None) -> None:
    """Check that ``--color`` names an obs column or a gene, before anything is drawn."""
    if color is not None:
        from ..pl._colors import cell_colors

        cell_colors(adata, color, layer=layer)


class Progress:
    """One progress display for the whole job, on stderr, drawn on terminals only."""

    def __init__(self, steps: int, *, enabled: bool) -> None:
        from tqdm import tqdm

        # disable=None: drawn only on a terminal, never as \r-garbage in a batch job's log
        self._bar = tqdm(
            total=steps, disable=None if enabled else True, leave=False, file=sys.stderr, desc="pnmf", unit="step"
        )
        self._started = False

    def step(self, description: str) -> None:
        """Finish the previous step and show the next one."""
        if self._started:
            self._bar.update()
        self._started = True
        self._bar.set_postfix_str(description)

    def close(self) -> None:
        """Remove the display."""
        self._bar.close()


def one_line(error: BaseException) -> str:
    """Return an error's message as one line (an OSError as its reason, file and number)."""
    if isinstance(error, OSError) and error.strerror:
        where = f": {error.filename!s}" if error.filename else ""
        return f"{error.strerror}{where}" + ("" if error.errno is None else f" (errno {error.errno})")
    text = str(error).strip() or type(error).__name__
    return " ".join(text.split())


@contextlib.contextmanager
def quiet_libraries(*, verbose: bool) -> Iterator[None]:
    """Keep scanpy's log and library warnings off the terminal unless ``--verbose``; restore afterwards."""
    import scanpy as sc

    verbosity = sc.settings.verbosity
    with warnings.catch_warnings():
        if verbose:
            sc.settings.verbosity = 3
        else:
            sc.settings.verbosity = 0
            warnings.simplefilter("ignore")
        try:
            yield
        finally:
            sc.settings.verbosity = verbosity
