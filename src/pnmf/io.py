"""Files for other tools and later analyses: gene programs as GMT gene sets, references to ship.

Every writer writes under a temporary name in the target's folder and renames the file when
it is complete, so a path holds either its previous file or the whole new one.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from ._errors import PnmfTypeError, PnmfValueError
from ._keys import DEFAULT_KEY

if TYPE_CHECKING:
    from anndata import AnnData

__all__ = ["read_gmt", "write_gmt", "write_reference"]


@contextlib.contextmanager
def _complete_or_absent(target: Path) -> Iterator[str]:
    """Yield a temporary path beside ``target``; rename it to ``target`` once the block has written it whole."""
    handle, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    os.close(handle)
    try:
        yield name
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(name, 0o666 & ~umask)  # mkstemp creates the file private; give it the usual mode
        os.replace(name, target)
    finally:
        with contextlib.suppress(OSError):
            os.remove(name)


def write_reference(adata: AnnData, path: str | os.PathLike, *, key: str = DEFAULT_KEY) -> Path:
    """Write a fitted result as a reference for :func:`pnmf.tl.project`, without the cells' expression.

    The file is an ``.h5ad`` holding the reference cells and only the genes the result used
    (and those of its PCA), with no ``X``: every scale's embeddings, loadings, UMAPs and
    cluster labels under the result's own names, the representation its scales were
    measured in (e.g. ``obsm['X_pca']``), the PCA loadings ``varm['PCs']``, and the
    manifest with the genes' means and the centre that place new cells in that PCA. Read it
    with :func:`anndata.read_h5ad` and pass it to :func:`pnmf.tl.project` as
    ``reference``: the projection is the same as onto ``adata``. It is typically a fifth
    of the fitted AnnData's file or less.

    Parameters
    ----------
    adata
        AnnData with a ``tl.pnmf`` result.
    path
        The ``.h5ad`` file to write.
    key
        ``key_added`` of the ``tl.pnmf`` result.

    Returns
    -------
    The path written.

    Examples
    --------
    >>> import anndata as ad
    >>> import scanpy as sc
    >>> import pnmf
    >>> adata = pnmf.datasets.nested_populations(400, 100)
    >>> sc.pp.pca(adata, n_comps=10)
    >>> sc.pp.neighbors(adata)
    >>> pnmf.tl.pnmf(adata, n_comps=4, n_scales=3)
    >>> path = pnmf.io.write_reference(adata, getfixture("tmp_path") / "reference.h5ad")
    >>> ad.read_h5ad(path).X is None
    True
    """
    from .tl._reference import bundle

    target = Path(path)
    reference = bundle(adata, key)
    with _complete_or_absent(target) as name:
        reference.write_h5ad(name)
    return target


def write_gmt(network: pd.DataFrame, path: str | os.PathLike, *, description: str = "pnmf program") -> Path:
    """Write the programs of a network (:func:`pnmf.get.network`) as gene sets in a GMT file.

    One line per ``source``: its name, ``description``, then its ``target`` genes in the
    table's order (largest weight first for a network from pnmf), tab-separated, as GSEA
    and decoupler read gene sets. A field that the format cannot hold is refused before
    anything is written: a tab or a line break (in names, genes or ``description``), a
    missing or empty name. :func:`read_gmt` gives the table back, its rows grouped by
    ``source`` in the order the sets first appear, with values as strings.

    Parameters
    ----------
    network
        A table with columns ``source`` and ``target``.
    path
        The file to write.
    description
        The second field of every line.

    Returns
    -------
    The path written.

    Examples
    --------
    >>> import pandas as pd
    >>> import pnmf
    >>> net = pd.DataFrame({"source": ["a", "a", "b"], "target": ["CD3E", "CD3D", "MS4A1"], "weight": [2.0, 1.0, 1.0]})
    >>> path = pnmf.io.write_gmt(net, getfixture("tmp_path") / "programs.gmt")
    >>> pnmf.io.read_gmt(path)["source"].tolist()
    ['a', 'a', 'b']
    """
    missing = {"source", "target"} - set(network.columns)
    if missing:
        msg = f"network needs the columns 'source' and 'target' (missing: {sorted(missing)}); pass a table from pnmf.get.network."
        raise PnmfValueError(msg)
    if not isinstance(description, str):
        msg = f"description must be a string, got {description!r}."
        raise PnmfTypeError(msg)
    _check_gmt_field("description", pd.Series([description]), empty=True)
    for column in ("source", "target"):
        _check_gmt_field(f"network[{column!r}]", network[column])
    lines = [
        "\t".join([str(source), description, *map(str, group["target"])])
        for source, group in network.groupby("source", sort=False)
    ]
    target = Path(path)
    with _complete_or_absent(target) as name, open(name, "w", encoding="utf-8") as file:
        file.write("\n".join(lines) + "\n")
    return target


def _check_gmt_field(name: str, values: pd.Series, *, empty: bool = False) -> None:
    """Refuse values that a GMT field cannot hold.

    Tabs and line breaks (the format's separators), missing values, text that UTF-8
    cannot encode, and (unless ``empty``) empty names, which GMT readers drop.
    """
    text = values.astype(str)
    problems = {
        "tabs or line breaks, the separators of the GMT format": text.str.contains(r"[\t\n\r]", regex=True),
        "missing values": values.isna(),
        "empty names, which GMT readers drop": text.eq("") & (not empty),
        "characters that UTF-8 cannot encode": ~text.map(_encodable).astype(bool),
    }
    for problem, bad in problems.items():
        if bad.any():
            msg = f"{name} holds {problem} (e.g. {text[bad.to_numpy()].iloc[0]!r}); rename those entries."
            raise PnmfValueError(msg)


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def read_gmt(path: str | os.PathLike) -> pd.DataFrame:
    """Read gene sets from a GMT file as a network: columns ``source``, ``target`` and ``weight`` (1).

    Parameters
    ----------
    path
        A GMT file: per line, a set's name, a description, then its genes, tab-separated.

    Returns
    -------
    One row per set and gene, in the file's order.
    """
    rows = []
    with open(path, encoding="utf-8") as file:
        for number, line in enumerate(file, start=1):
            fields = line.rstrip("\r\n").split("\t")
            if fields == [""]:
                continue
            if len(fields) < 2:
                msg = f"{path}, line {number}: a GMT line needs a name and a description before its genes."
                raise PnmfValueError(msg)
            rows += [(fields[0], gene, 1.0) for gene in fields[2:] if gene]
    return pd.DataFrame(rows, columns=["source", "target", "weight"])
