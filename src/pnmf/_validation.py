"""Checks of user input that raise real exceptions with a message naming the fix."""

from __future__ import annotations

import numbers
from collections.abc import Collection

import numpy as np
from anndata import AnnData
from scipy import sparse

__all__ = [
    "check_choice",
    "check_in_memory",
    "check_int",
    "check_key_added",
    "check_nonnegative_finite",
    "check_real",
]


def check_key_added(key_added: object) -> str:
    """Check a key for ``adata.uns`` and the names derived from it: a non-empty string without '/'."""
    if not isinstance(key_added, str) or not key_added:
        msg = f"key_added must be a non-empty string, got {key_added!r}."
        raise TypeError(msg)
    if "/" in key_added:
        msg = f"key_added={key_added!r} contains '/', which h5ad and zarr files cannot store in a key; use e.g. {key_added.replace('/', '_')!r}."
        raise ValueError(msg)
    return key_added


def check_int(name: str, value: object, *, minimum: int, maximum: int | None = None, hint: str = "") -> int:
    """Check an integer within bounds (booleans refused)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        msg = f"{name} must be an integer, got {value!r}."
        raise TypeError(msg)
    value = int(value)
    if value < minimum or (maximum is not None and value > maximum):
        bounds = f"≥ {minimum}" if maximum is None else f"between {minimum} and {maximum}"
        msg = f"{name}={value} is out of range: it must be {bounds}.{' ' + hint if hint else ''}"
        raise ValueError(msg)
    return value


def check_real(name: str, value: object, *, minimum: float = 0.0, strict: bool = False) -> float:
    """Check a finite real number ≥ ``minimum`` (> when ``strict``)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        msg = f"{name} must be a number, got {value!r}."
        raise TypeError(msg)
    value = float(value)
    if not np.isfinite(value) or value < minimum or (strict and value == minimum):
        relation = ">" if strict else "≥"
        msg = f"{name}={value} is invalid: it must be a finite number {relation} {minimum}."
        raise ValueError(msg)
    return value


def check_choice(name: str, value: object, choices: Collection[str]) -> str:
    """Check that a value is one of a few strings."""
    if value not in choices:
        options = ", ".join(repr(c) for c in choices)
        msg = f"{name}={value!r} is not supported; choose one of {options}."
        raise ValueError(msg)
    return value  # type: ignore[return-value]


def check_in_memory(adata: AnnData) -> None:
    """Refuse backed AnnData: its matrix lives on disk and results cannot be written safely."""
    if not isinstance(adata, AnnData):
        msg = f"Expected an AnnData object, got {type(adata).__name__}."
        raise TypeError(msg)
    if adata.isbacked:
        msg = (
            f"adata is backed by {adata.filename!s} (opened with backed='r'); pnmf needs it in memory. "
            "Load it with adata = adata.to_memory() or anndata.read_h5ad(path) without backed."
        )
        raise ValueError(msg)


def check_nonnegative_finite(X: np.ndarray | sparse.spmatrix, where: str) -> None:
    """Check that expression values are finite and nonnegative."""
    values = X.data if sparse.issparse(X) else np.asarray(X)
    if values.size == 0:
        return
    if not np.isfinite(values).all():
        n_bad = int((~np.isfinite(values)).sum())
        msg = (
            f"{where} contains {n_bad} NaN or infinite values; remove or impute them (e.g. np.nan_to_num) before pnmf."
        )
        raise ValueError(msg)
    minimum = values.min()
    if minimum < 0:
        n_bad = int((values < 0).sum())
        msg = (
            f"{where} has {n_bad} negative values (minimum {minimum:.3g}), but pNMF factorizes nonnegative "
            "expression. Pass log-normalized values instead of scaled ones, e.g. layer='<name>' of a layer "
            "saved before sc.pp.scale, or adata.layers['lognorm'] = adata.raw[:, adata.var_names].X then layer='lognorm'."
        )
        raise ValueError(msg)
