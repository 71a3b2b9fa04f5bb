"""Checks of user input that raise real exceptions with a message naming the fix.

Importing this module loads NumPy and SciPy only (AnnData and scanpy when a check needs
them), so that ``_core`` and the command line can use the checks.
"""

from __future__ import annotations

import numbers
from collections.abc import Collection
from typing import TYPE_CHECKING, TypeVar

import numpy as np
from scipy import sparse

if TYPE_CHECKING:
    from anndata import AnnData

from ._errors import PnmfTypeError, PnmfValueError

T = TypeVar("T")

__all__ = [
    "check_anndata",
    "check_backed_copy",
    "check_bool",
    "check_choice",
    "check_in_memory",
    "check_int",
    "check_key_added",
    "check_n_jobs",
    "check_nonnegative_finite",
    "check_random_state",
    "check_real",
    "default_threads",
    "seed_from",
]


def check_key_added(key_added: object) -> str:
    """Check a key for ``adata.uns`` and the names derived from it: a non-empty string without '/'."""
    if not isinstance(key_added, str) or not key_added:
        msg = f"key_added must be a non-empty string, got {key_added!r}."
        raise PnmfTypeError(msg)
    if "/" in key_added:
        msg = f"key_added={key_added!r} contains '/', which h5ad and zarr files cannot store in a key; use e.g. {key_added.replace('/', '_')!r}."
        raise PnmfValueError(msg)
    return key_added


def check_int(name: str, value: object, *, minimum: int, maximum: int | None = None, hint: str = "") -> int:
    """Check an integer within bounds (booleans refused)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        msg = f"{name} must be an integer, got {value!r}."
        raise PnmfTypeError(msg)
    value = int(value)
    if value < minimum or (maximum is not None and value > maximum):
        bounds = f"≥ {minimum}" if maximum is None else f"between {minimum} and {maximum}"
        msg = f"{name}={value} is out of range: it must be {bounds}.{' ' + hint if hint else ''}"
        raise PnmfValueError(msg)
    return value


def check_real(name: str, value: object, *, minimum: float = 0.0, strict: bool = False) -> float:
    """Check a finite real number ≥ ``minimum`` (> when ``strict``)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        msg = f"{name} must be a number, got {value!r}."
        raise PnmfTypeError(msg)
    value = float(value)
    if not np.isfinite(value) or value < minimum or (strict and value == minimum):
        relation = ">" if strict else "≥"
        msg = f"{name}={value} is invalid: it must be a finite number {relation} {minimum}."
        raise PnmfValueError(msg)
    return value


def check_choice(name: str, value: T, choices: Collection[str]) -> T:
    """Check that a value is one of a few strings; return it with its type (e.g. a ``Literal``) kept."""
    if value not in choices:
        options = ", ".join(repr(c) for c in choices)
        msg = f"{name}={value!r} is not supported; choose one of {options}."
        raise PnmfValueError(msg)
    return value


def check_anndata(adata: object) -> None:
    """Refuse anything but an AnnData object (in memory or backed)."""
    from anndata import AnnData

    if not isinstance(adata, AnnData):
        msg = f"Expected an AnnData object, got {type(adata).__name__}."
        raise PnmfTypeError(msg)


def check_backed_copy(adata: AnnData, copy: bool) -> None:
    """Refuse ``copy=True`` on a backed AnnData: copying it would load its matrix into memory."""
    if copy and adata.isbacked:
        msg = (
            f"adata is backed by {adata.filename!s}; copy=True would load its whole matrix into memory. "
            "Pass copy=False: the results go to adata's annotations (obs, obsm, varm, uns), which a backed "
            "AnnData holds in memory (save them with adata.write_h5ad(new_path) or adata.to_memory())."
        )
        raise PnmfValueError(msg)


def check_in_memory(adata: AnnData) -> None:
    """Refuse a backed AnnData in the tools that need its matrix in memory.

    ``tl.pnmf`` streams the matrix instead; the tools that read only the embeddings take a
    backed AnnData as it is (:func:`check_anndata`).
    """
    from anndata import AnnData

    if not isinstance(adata, AnnData):
        msg = f"Expected an AnnData object, got {type(adata).__name__}."
        raise PnmfTypeError(msg)
    if adata.isbacked:
        msg = (
            f"adata is backed by {adata.filename!s} (opened with backed='r'); pnmf needs it in memory. "
            "Load it with adata = adata.to_memory() or anndata.read_h5ad(path) without backed."
        )
        raise PnmfValueError(msg)


def check_nonnegative_finite(X: np.ndarray | sparse.spmatrix, where: str) -> None:
    """Check that expression values are finite and nonnegative."""
    values = np.asarray(X.data if sparse.issparse(X) else X)
    if values.size == 0:
        return
    if not np.isfinite(values).all():
        n_bad = int((~np.isfinite(values)).sum())
        msg = (
            f"{where} contains {n_bad} NaN or infinite values; remove or impute them (e.g. np.nan_to_num) before pnmf."
        )
        raise PnmfValueError(msg)
    minimum = values.min()
    if minimum < 0:
        n_bad = int((values < 0).sum())
        msg = (
            f"{where} has {n_bad} negative values (minimum {minimum:.3g}), but pNMF factorizes nonnegative "
            "expression. Pass log-normalized values instead of scaled ones, e.g. layer='<name>' of a layer "
            "saved before sc.pp.scale, or adata.layers['lognorm'] = adata.raw[:, adata.var_names].X then layer='lognorm'."
        )
        raise PnmfValueError(msg)


def check_bool(name: str, value: object) -> bool:
    """Check a real boolean (``True``/``False`` or a NumPy bool), not a truthy string or number."""
    if not isinstance(value, bool | np.bool_):
        msg = f"{name} must be True or False, got {value!r}."
        raise PnmfTypeError(msg)
    return bool(value)


def check_random_state(name: str, value: object) -> int | np.random.RandomState | None:
    """Check a seed as scanpy accepts it: an integer in [0, 2**32), ``None`` or a ``numpy.random.RandomState``."""
    if value is None or isinstance(value, np.random.RandomState):
        return value
    if isinstance(value, np.random.Generator):
        msg = (
            f"{name} is a numpy Generator, which scanpy and scikit-learn (used here) do not accept; "
            "pass an integer seed, e.g. int(generator.integers(2**31)), or a numpy RandomState."
        )
        raise PnmfTypeError(msg)
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        msg = f"{name} must be an integer seed, None or a numpy RandomState, got {value!r}."
        raise PnmfTypeError(msg)
    if not 0 <= int(value) < 2**32:
        msg = f"{name}={value} is out of range: a seed must be between 0 and 2**32 - 1."
        raise PnmfValueError(msg)
    return int(value)


def seed_from(random_state: int | np.random.RandomState | None) -> int | None:
    """Return an integer seed (or None) for ``random_state``: a ``RandomState`` gives its next draw.

    Results record the seed in their manifest, which h5ad can only store as a number.
    """
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(0, 2**31 - 1))
    return random_state


def check_n_jobs(n_jobs: object) -> int | None:
    """Check a number of jobs as scanpy counts them: ``None``, -1 (all cores) or a positive integer."""
    if n_jobs is None:
        return None
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, numbers.Integral):
        msg = f"n_jobs must be a positive integer, -1 (all cores) or None, got {n_jobs!r}."
        raise PnmfTypeError(msg)
    if int(n_jobs) == 0 or int(n_jobs) < -1:
        msg = f"n_jobs={n_jobs} is invalid: pass a positive number of threads, -1 for all cores, or None."
        raise PnmfValueError(msg)
    return int(n_jobs)


def default_threads() -> int | None:
    """Return the thread limit that ``n_jobs=None`` means: ``scanpy.settings.n_jobs`` when set above 1 or to -1.

    ``None`` (scanpy's default of 1 left alone): every thread numba may use.
    """
    import scanpy as sc

    n_jobs = sc.settings.n_jobs
    if isinstance(n_jobs, numbers.Integral) and not isinstance(n_jobs, bool) and int(n_jobs) > 1:
        return int(n_jobs)
    return None


def check_selection(name: str, chosen: list[int], given: object, unit: str) -> list[int]:
    """Check that a selection of plot items (scales, factors) is non-empty and names each item once."""
    if not chosen:
        msg = f"{name} is empty; pass the {unit}s you want, or {name}=None for all."
        raise PnmfValueError(msg)
    if len(set(chosen)) < len(chosen):
        msg = f"{name}={list(given)!r} names a {unit} twice; pass each {unit} once."  # type: ignore[call-overload]
        raise PnmfValueError(msg)
    return chosen
