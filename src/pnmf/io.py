"""Gene programs to and from GMT files, the gene-set format of GSEA, decoupler and most enrichment tools."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

import pandas as pd

from ._errors import PnmfValueError

__all__ = ["read_gmt", "write_gmt"]


def write_gmt(network: pd.DataFrame, path: str | os.PathLike, *, description: str = "pnmf program") -> Path:
    """Write the programs of a network (:func:`pnmf.get.network`) as gene sets in a GMT file.

    One line per ``source``: its name, ``description``, then its ``target`` genes in the
    table's order (largest weight first for a network from pnmf). The file is written
    under a temporary name and renamed when complete, so ``path`` holds either the
    previous file or the whole new one.

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
    for column in ("source", "target"):
        if network[column].astype(str).str.contains(r"[\t\n\r]").any():
            msg = f"network[{column!r}] holds tabs or line breaks, which the GMT format cannot store; rename those entries."
            raise PnmfValueError(msg)
    lines = [
        "\t".join([str(source), description, *map(str, group["target"])])
        for source, group in network.groupby("source", sort=False)
    ]
    target = Path(path)
    handle, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write("\n".join(lines) + "\n")
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(name, 0o666 & ~umask)  # mkstemp creates the file private; give it the usual mode
        os.replace(name, target)
    finally:
        with contextlib.suppress(OSError):
            os.remove(name)
    return target


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
