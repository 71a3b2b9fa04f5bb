"""Checks of user input that raise real exceptions with a message naming the fix.

Importing this module loads NumPy and SciPy only (AnnData and scanpy when a check needs
them), so that ``_core`` and the command line can use the checks.
"""

from __future__ import annotations

import numbers
from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import numpy as np
from scipy import sparse

if TYPE_CHECKING:
    from anndata import AnnData

from ._errors import PnmfKeyError, PnmfTypeError, PnmfValueError
from ._keys import Manifest

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
    "check_result",
    "check_seed",
    "default_threads",
    "listed",
    "seed_from",
]


def check_key_added(key_added: object) -> str:
    """Check a key for ``adata.uns`` and the names derived from it: one that h5ad and zarr files can store.

    A non-empty string without '/' (a path separator in both formats) that is not made of
    dots only (``'.'`` and ``'..'`` name the group itself or its parent).
    """
    if not isinstance(key_added, str) or not key_added:
        msg = f"key_added must be a non-empty string, got {key_added!r}."
        raise PnmfTypeError(msg)
    if "/" in key_added:
        msg = f"key_added={key_added!r} contains '/', which h5ad and zarr files cannot store in a key; use e.g. {key_added.replace('/', '_')!r}."
        raise PnmfValueError(msg)
    if not key_added.strip("."):
        msg = f"key_added={key_added!r} is made of dots only, which h5ad and zarr files read as a folder, not a key; pass a name with letters, e.g. 'pnmf2'."
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


def check_seed(name: str, value: object) -> int | None:
    """Check a seed (:func:`check_random_state`) and return it as an integer or ``None`` (:func:`seed_from`).

    Every public function that takes a ``random_state`` reads it with this one check.
    """
    return seed_from(check_random_state(name, value))


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


# A fitted result against the AnnData it sits in: every reader of a result calls check_result.


def listed(entry: object, name: str) -> list[str]:
    """Return the names listed under ``name`` in a manifest entry, as strings; nothing when malformed.

    Used where a manifest may have been edited or damaged and must still be read safely,
    e.g. to find the entries a previous result wrote.
    """
    if not isinstance(entry, Mapping):
        return []
    values = entry.get(name, [])
    if isinstance(values, str | bytes) or not hasattr(values, "__iter__"):
        return []
    return [str(v) for v in values]


def check_result(
    adata: AnnData,
    key: str,
    manifest: Mapping[str, Any],
    *,
    loadings: bool = False,
    genes: bool = False,
    params: bool = False,
) -> dict[str, Any]:
    """Check a result's manifest against the AnnData it sits in; return the manifest as this AnnData reads it.

    Every reader checks the embeddings (``obsm_keys``: finite cells × k arrays with one k at
    every scale), the ``thresholds`` (one finite number per scale), ``recommended_scale`` (a
    scale) and the per-scale counts ``n_connected`` and ``n_edges`` where present (one per
    scale). Readers that need more ask for it:

    loadings
        ``varm_keys``: one finite genes × k array per scale.
    genes
        ``genes``, the mask of the fitted genes. A result that records the fitted genes'
        names (``gene_names``) is realigned by name to ``adata``'s genes, so that genes
        subset (to a superset of the fitted ones) or reordered after the fit read right; the
        returned copy holds the realigned mask, ``adata`` is not changed.
    params
        ``params``, the options of the fit, as a mapping.

    Anything else raises a :class:`~pnmf.PnmfError` that names the entry and how to refit
    or repair the result.
    """
    checked = dict(manifest)
    n_scales, k = _check_arrays(adata, key, manifest, "obsm", Manifest.OBSM_KEYS)
    _check_names(key, manifest, Manifest.VARM_KEYS, n_scales)
    for field in (Manifest.THRESHOLDS, Manifest.N_CONNECTED, Manifest.N_EDGES, Manifest.N_GROUPS, Manifest.N_POOLED):
        if field in manifest or field == Manifest.THRESHOLDS:
            _check_per_scale(key, manifest, field, n_scales)
    _check_recommended(key, manifest, n_scales)
    if loadings:
        _check_arrays(adata, key, manifest, "varm", Manifest.VARM_KEYS, shape=(n_scales, k))
    if genes:
        checked[Manifest.GENES] = _fitted_genes(adata, key, manifest)
    if params and not isinstance(manifest.get(Manifest.PARAMS), Mapping):
        _damaged(
            key, manifest, f"has no {Manifest.PARAMS!r} (the options of its fit) in adata.uns[{key!r}]", PnmfKeyError
        )
    return checked


def _damaged(key: str, manifest: Mapping[str, Any], what: str, error: type[Exception] = PnmfValueError) -> NoReturn:
    """Raise ``error`` saying what is wrong with the result and how to refit or repair it."""
    tool = (
        "tl.project"
        if Manifest.PROJECTION in manifest
        else "tl.consensus"
        if Manifest.CONSENSUS in manifest
        else "tl.pnmf"
    )
    msg = (
        f"The pnmf result {key!r} {what}: it was edited, or its AnnData was changed after the fit. "
        f"Rerun pnmf.{tool}(adata, key_added={key!r}) to write it again, or read it back from the file it was saved in."
    )
    raise error(msg)


def _check_names(key: str, manifest: Mapping[str, Any], field: str, n_scales: int | None = None) -> list[str]:
    """Check that ``field`` lists one key per scale (at least one when ``n_scales`` is ``None``); return them."""
    if field not in manifest:
        _damaged(key, manifest, f"has no {field!r} in adata.uns[{key!r}]", PnmfKeyError)
    names = listed(manifest, field)
    if not names or (n_scales is not None and len(names) != n_scales):
        expected = "at least one" if n_scales is None else f"{n_scales} (one per embedding)"
        _damaged(key, manifest, f"lists {len(names)} keys in {field!r}, expected {expected}")
    return names


def _check_arrays(
    adata: AnnData, key: str, manifest: Mapping[str, Any], attr: str, field: str, shape: tuple[int, int] | None = None
) -> tuple[int, int]:
    """Check the per-scale arrays that ``field`` names in ``adata.obsm`` or ``adata.varm``; return their number and width."""
    names = _check_names(key, manifest, field, None if shape is None else shape[0])
    stored = getattr(adata, attr)
    width = shape[1] if shape is not None else None
    for name in names:
        if name not in stored:
            _damaged(key, manifest, f"names adata.{attr}[{name!r}], which is missing", PnmfKeyError)
        problem = matrix_problem(stored[name], width)
        if problem:
            _damaged(key, manifest, f"has adata.{attr}[{name!r}] {problem}")
        width = stored[name].shape[1]
    return len(names), int(width or 0)


def matrix_problem(value: object, width: int | None = None) -> str:
    """Say what keeps ``value`` from being a result's finite 2-D array of numbers (with ``width`` columns); '' if nothing."""
    if not isinstance(value, np.ndarray) or value.dtype.kind not in "iuf" or value.ndim != 2:
        return f"as a {type(value).__name__} of dtype {getattr(value, 'dtype', '?')}, not the 2-D array of numbers pnmf wrote"
    if value.shape[1] < 1 or (width is not None and value.shape[1] != width):
        return f"with {value.shape[1]} columns, but {width} factors in the result's other arrays"
    if not all_finite(value):
        return "with NaN or infinite values"
    return ""


def all_finite(values: np.ndarray) -> bool:
    """Whether every value of a numeric array is finite (its sum first: no temporary array in the common case)."""
    with np.errstate(over="ignore", invalid="ignore"):
        if np.isfinite(np.sum(values, dtype=np.float64)):
            return True
    return bool(np.isfinite(values).all())


def _check_per_scale(key: str, manifest: Mapping[str, Any], field: str, n_scales: int) -> None:
    """Check a field holding one finite number per scale (``thresholds``, ``n_connected``, ``n_edges``)."""
    if field not in manifest:
        _damaged(key, manifest, f"has no {field!r} in adata.uns[{key!r}]", PnmfKeyError)
    values = np.asarray(manifest[field])
    if values.dtype.kind not in "iuf" or values.shape != (n_scales,) or not np.isfinite(values).all():
        _damaged(key, manifest, f"has {field}={values!r}, expected {n_scales} finite numbers (one per scale)")


def _check_recommended(key: str, manifest: Mapping[str, Any], n_scales: int) -> None:
    value = manifest.get(Manifest.RECOMMENDED)
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not 0 <= int(value) < n_scales:
        field = Manifest.RECOMMENDED
        _damaged(key, manifest, f"has {field}={value!r}, expected the index of one of its {n_scales} scales")


def _fitted_genes(adata: AnnData, key: str, manifest: Mapping[str, Any]) -> np.ndarray:
    """Return the mask of the fitted genes over ``adata.var``, realigned by name where the result records names."""
    if Manifest.GENES not in manifest:
        _damaged(key, manifest, f"has no {Manifest.GENES!r} (the mask of its fitted genes)", PnmfKeyError)
    mask = np.asarray(manifest[Manifest.GENES])
    if mask.dtype != bool or mask.ndim != 1 or not mask.any():
        _damaged(key, manifest, f"has genes={mask!r}, expected a boolean mask with at least one fitted gene")
    names = listed(manifest, Manifest.GENE_NAMES) if Manifest.GENE_NAMES in manifest else None
    if names is None:
        if mask.shape != (adata.n_vars,):
            _damaged(
                key,
                manifest,
                f"was fitted on a mask of {mask.shape[0]} genes, but adata has {adata.n_vars}; written before pnmf "
                "recorded the fitted genes' names, it cannot be matched to genes subset or reordered after the fit",
            )
        return mask
    if len(names) != int(mask.sum()):
        _damaged(
            key, manifest, f"names {len(names)} fitted genes in {Manifest.GENE_NAMES!r}, its mask {int(mask.sum())}"
        )
    if mask.shape == (adata.n_vars,) and np.array_equal(np.asarray(adata.var_names[mask], dtype=str), names):
        return mask
    return _realigned(adata, key, names)


def _realigned(adata: AnnData, key: str, names: list[str]) -> np.ndarray:
    """Return the mask of ``names`` among ``adata.var_names``, refusing when one is missing."""
    import pandas as pd

    if not adata.var_names.is_unique:
        msg = f"adata.var_names are not unique, so the genes of the pnmf result {key!r} cannot be found by name; run adata.var_names_make_unique()."
        raise PnmfValueError(msg)
    positions = adata.var_names.get_indexer(pd.Index(names))
    missing = [name for name, position in zip(names, positions, strict=True) if position < 0]
    if len(missing) == len(names):
        msg = (
            f"None of the {len(names)} genes the pnmf result {key!r} was fitted on (e.g. {missing[:3]}) are in "
            f"adata.var_names (e.g. {list(adata.var_names[:3])}): the genes were renamed after the fit (symbols and "
            "Ensembl IDs?). Give them back the fitted names, or refit on this AnnData."
        )
        raise PnmfKeyError(msg)
    if missing:
        msg = (
            f"adata lacks {len(missing)} of the {len(names)} genes the pnmf result {key!r} was fitted on "
            f"(e.g. {missing[:5]}): they were removed after the fit. Subset the fitted AnnData to a superset of "
            f"its genes, e.g. adata[:, adata.var_names.isin(adata.uns[{key!r}]['gene_names']) | keep], "
            "or refit on this AnnData."
        )
        raise PnmfKeyError(msg)
    mask = np.zeros(adata.n_vars, dtype=bool)
    mask[positions] = True
    return mask
