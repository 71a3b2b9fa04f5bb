"""The nested sections of a result's manifest ``adata.uns[key_added]``, each written and read by one class.

A section is a small frozen dataclass whose ``to_uns`` gives exactly what is stored
(values that survive ``write_h5ad``: arrays, numbers, strings, dicts of those) and whose
``from_uns`` reads it back, from a live AnnData or a file. Tools build a section and hand
it to :func:`with_section`; getters find it with :func:`read_section`. Field names live
here and in :class:`~pnmf._keys.Manifest`, nowhere else.

A *keyed* section (``KEYED = True``) holds one entry per name, e.g. one clustering per
``tl.leiden`` ``key_added`` under ``manifest['clusters']``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, TypeVar

import numpy as np
import pandas as pd

from ._errors import PnmfKeyError, PnmfValueError
from ._keys import Keys, Manifest
from ._validation import listed

__all__ = [
    "MIN_STABILITY",
    "Alignment",
    "Bars",
    "Clustering",
    "ConsensusScores",
    "Convergence",
    "CrossValidation",
    "GeneScores",
    "History",
    "PcaBasis",
    "Projection",
    "Scores",
    "Section",
    "Umap",
    "listed",
    "read_section",
    "section_entries",
    "with_section",
]


class Section(Protocol):
    """What every section class provides."""

    FIELD: ClassVar[str]
    KEYED: ClassVar[bool]

    def to_uns(self) -> dict[str, Any]: ...

    @classmethod
    def from_uns(cls, entry: Mapping[str, Any]) -> Any: ...


S = TypeVar("S", bound=Section)


def _array(value: object, dtype: type, ndim: int = 1) -> np.ndarray:
    """Return a stored array as ``dtype``, refusing one of another dimension (``ValueError``: a damaged section)."""
    array: np.ndarray = np.asarray(value, dtype=dtype)
    if array.ndim != ndim and not (ndim == 2 and array.size == 0):
        msg = f"expected a {ndim}-D array, got shape {array.shape}"
        raise ValueError(msg)
    return array


def _strings(values: Iterable[object]) -> np.ndarray:
    return np.array([str(v) for v in values], dtype=str)


@dataclass(frozen=True)
class Clustering:
    """``manifest['clusters'][cluster_key]``: a ``tl.leiden`` clustering of every scale."""

    FIELD: ClassVar[str] = Manifest.CLUSTERS
    KEYED: ClassVar[bool] = True

    obs_keys: tuple[str, ...]
    n_clusters: np.ndarray
    ari_consecutive: np.ndarray
    nesting: np.ndarray
    params: Mapping[str, Any] = field(default_factory=dict)
    confidence_keys: tuple[str, ...] = ()  # clusters transferred by tl.project: the share of votes per cell

    def to_uns(self) -> dict[str, Any]:
        """Return the entry as stored."""
        entry = {
            "obs_keys": _strings(self.obs_keys),
            "n_clusters": np.asarray(self.n_clusters, dtype=np.int64),
            "ari_consecutive": np.asarray(self.ari_consecutive, dtype=np.float64),
            "nesting": np.asarray(self.nesting, dtype=np.float64),
            "params": dict(self.params),
        }
        return entry | ({"confidence_keys": _strings(self.confidence_keys)} if self.confidence_keys else {})

    @classmethod
    def from_uns(cls, entry: Mapping[str, Any]) -> Clustering:
        """Read a stored entry; one whose per-scale fields disagree in length is refused (``ValueError``)."""
        found = cls(
            obs_keys=tuple(listed(entry, "obs_keys")),
            n_clusters=np.asarray(entry.get("n_clusters", []), dtype=np.int64).ravel(),
            ari_consecutive=np.asarray(entry.get("ari_consecutive", []), dtype=np.float64).ravel(),
            nesting=np.asarray(entry.get("nesting", []), dtype=np.float64).ravel(),
            params=dict(entry.get("params", {})),
            confidence_keys=tuple(listed(entry, "confidence_keys")),
        )
        n = len(found.obs_keys)
        lengths = (len(found.n_clusters), len(found.ari_consecutive), len(found.nesting), len(found.confidence_keys))
        if lengths[0] != n or lengths[1] not in (0, n - 1) or lengths[2] not in (0, n - 1) or lengths[3] not in (0, n):
            msg = f"its per-scale fields disagree: {n} columns, {lengths[0]} cluster counts, {lengths[1:3]} pairs of scales"
            raise ValueError(msg)
        return found

    @classmethod
    def listing(cls, entry: object) -> Clustering:
        """Read only the columns an entry names (its other fields empty): what it wrote, even from a damaged entry."""
        empty = np.empty(0)
        return cls(
            tuple(listed(entry, "obs_keys")),
            empty,
            empty,
            empty,
            confidence_keys=tuple(listed(entry, "confidence_keys")),
        )

    def written(self, keys: Keys, cluster_key: str) -> dict[str, list[str]]:
        """Return the entries this clustering wrote: its columns (only names of pnmf's form) and their colours."""
        obs = [name for name in self.obs_keys if keys.is_clusters(name, cluster_key)]
        confidence = [name for name in self.confidence_keys if keys.is_confidence(name, cluster_key)]
        return {"obs": obs + confidence, "uns": [Keys.colors(name) for name in obs]}


@dataclass(frozen=True)
class Umap:
    """``manifest['umap']``: the per-scale UMAPs of ``tl.umap``, ``obsm_keys[i]`` laid out from scale ``scales[i]``."""

    FIELD: ClassVar[str] = Manifest.UMAP
    KEYED: ClassVar[bool] = False

    obsm_keys: tuple[str, ...]
    scales: tuple[int, ...] = ()
    params: Mapping[str, Any] = field(default_factory=dict)

    def to_uns(self) -> dict[str, Any]:
        """Return the entry as stored."""
        return {
            "obsm_keys": _strings(self.obsm_keys),
            "scales": np.asarray(self.scales, dtype=np.int64),
            "params": dict(self.params),
        }

    @classmethod
    def from_uns(cls, entry: Mapping[str, Any]) -> Umap:
        """Read a stored entry (one written before ``scales`` existed has a UMAP of every scale, in order)."""
        obsm_keys = tuple(listed(entry, "obsm_keys"))
        scales = entry.get("scales")
        scales = tuple(int(t) for t in np.asarray(scales).ravel()) if scales is not None else range(len(obsm_keys))
        if len(scales) != len(obsm_keys):
            msg = f"{len(obsm_keys)} UMAPs for {len(scales)} scales"
            raise ValueError(msg)
        return cls(obsm_keys=obsm_keys, scales=tuple(scales), params=dict(entry.get("params", {})))

    def written(self, keys: Keys) -> dict[str, list[str]]:
        """Return the UMAPs this section names that have the form pnmf gives them."""
        return {"obsm": [name for name in self.obsm_keys if keys.is_umap(name)]}


@dataclass(frozen=True)
class Scores:
    """``manifest['scores'][labels_key]``: the table of ``tl.score_scales``, one row per scale and baseline."""

    FIELD: ClassVar[str] = Manifest.SCORES
    KEYED: ClassVar[bool] = True
    #: The table's columns, in order (files store them sorted by name).
    COLUMNS: ClassVar[tuple[str, ...]] = (
        "method",
        "scale",
        "n_connected",
        "ari_mean",
        "ari_std",
        "nmi_mean",
        "nmi_std",
        "leiden_ari",
        "recommended",
    )

    table: pd.DataFrame

    def to_uns(self) -> dict[str, Any]:
        """Return the table as stored: one array per column."""
        columns = {column: self.table[column].to_numpy() for column in self.table.columns}
        columns["method"] = columns["method"].astype(str)
        return columns

    @classmethod
    def from_uns(cls, entry: Mapping[str, Any]) -> Scores:
        """Read a stored table."""
        order = [c for c in cls.COLUMNS if c in entry] + [c for c in entry if c not in cls.COLUMNS]
        table = pd.DataFrame({column: np.asarray(entry[column]) for column in order})
        table["method"] = table["method"].astype(str)
        table["recommended"] = table["recommended"].astype(bool)
        return cls(table)


@dataclass(frozen=True)
class Convergence:
    """``manifest['convergence']``: how the solver stopped, per scale along the path and for the sweeps."""

    FIELD: ClassVar[str] = Manifest.CONVERGENCE
    KEYED: ClassVar[bool] = False

    n_iter: np.ndarray
    converged: np.ndarray
    n_sweeps: int
    sweeps_converged: bool
    objective: float
    terms: Mapping[str, float]

    def to_uns(self) -> dict[str, Any]:
        """Return the entry as stored."""
        return {
            "n_iter": np.asarray(self.n_iter, dtype=np.int64),
            "converged": np.asarray(self.converged, dtype=bool),
            "n_sweeps": self.n_sweeps,
            "sweeps_converged": self.sweeps_converged,
            "objective": self.objective,
            "terms": dict(self.terms),
        }

    @classmethod
    def from_uns(cls, entry: Mapping[str, Any]) -> Convergence:
        """Read a stored entry."""
        return cls(
            n_iter=_array(entry["n_iter"], np.int64),
            converged=_array(entry["converged"], bool),
            n_sweeps=int(entry["n_sweeps"]),
            sweeps_converged=bool(entry["sweeps_converged"]),
            objective=float(entry["objective"]),
            terms={str(name): float(value) for name, value in entry["terms"].items()},
        )


@dataclass(frozen=True)
class CrossValidation:
    """``manifest['cross_validation']``: the held-out errors behind λ1 and the recommended scale.

    ``graph_weights`` and ``graph_weight_errors``: the candidate λ1 and their relative
    held-out errors (empty when λ1 was given or there were too few genes to split).
    ``scale_errors`` and ``scale_standard_errors``: every scale's relative held-out error
    and the standard error of its difference to the smallest (empty with a single scale,
    ``scale_rule='single scale'``, and when the recommended scale fell back to the
    component-count rule, ``scale_rule='fallback'``).
    """

    FIELD: ClassVar[str] = Manifest.CROSS_VALIDATION
    KEYED: ClassVar[bool] = False
    ARRAYS: ClassVar[tuple[str, ...]] = (
        "scale_errors",
        "scale_standard_errors",
        "graph_weights",
        "graph_weight_errors",
    )

    scale_rule: str
    scale_errors: np.ndarray
    scale_standard_errors: np.ndarray
    graph_weights: np.ndarray
    graph_weight_errors: np.ndarray

    def to_uns(self) -> dict[str, Any]:
        """Return the entry as stored."""
        arrays = {name: np.asarray(getattr(self, name), dtype=np.float64) for name in self.ARRAYS}
        return {"scale_rule": self.scale_rule, **arrays}

    @classmethod
    def from_uns(cls, entry: Mapping[str, Any]) -> CrossValidation:
        """Read a stored entry."""
        return cls(
            scale_rule=str(entry["scale_rule"]),
            **{name: _array(entry[name], np.float64) for name in cls.ARRAYS},
        )


@dataclass(frozen=True)
class Bars:
    """``manifest['persistence']``: the H0 barcode, and ``top``, the threshold joining every edge."""

    FIELD: ClassVar[str] = Manifest.PERSISTENCE
    KEYED: ClassVar[bool] = False

    deaths: np.ndarray
    n_essential: int
    top: float

    def to_uns(self) -> dict[str, Any]:
        """Return the entry as stored."""
        return {"deaths": self.deaths, "n_essential": self.n_essential, "top": self.top}

    @classmethod
    def from_uns(cls, entry: Mapping[str, Any]) -> Bars:
        """Read a stored entry."""
        return cls(
            deaths=_array(entry["deaths"], np.float64),
            n_essential=int(entry["n_essential"]),
            top=float(entry["top"]),
        )


@dataclass(frozen=True)
class Alignment:
    """``manifest['alignment']``: how factors were matched across scales, and how similar they stay."""

    FIELD: ClassVar[str] = Manifest.ALIGNMENT
    KEYED: ClassVar[bool] = False

    method: str
    similarity: np.ndarray

    def to_uns(self) -> dict[str, Any]:
        """Return the entry as stored."""
        return {"method": self.method, "similarity": self.similarity}

    @classmethod
    def from_uns(cls, entry: Mapping[str, Any]) -> Alignment:
        """Read a stored entry."""
        return cls(method=str(entry["method"]), similarity=_array(entry["similarity"], np.float64, 2))


@dataclass(frozen=True)
class History:
    """``manifest['history']``: the objective after every iteration, one row each."""

    FIELD: ClassVar[str] = Manifest.HISTORY
    KEYED: ClassVar[bool] = False
    COLUMNS: ClassVar[tuple[str, ...]] = ("phase", "scale", "iteration", "objective")

    phase: np.ndarray
    scale: np.ndarray
    iteration: np.ndarray
    objective: np.ndarray

    @classmethod
    def from_columns(cls, columns: Mapping[str, Any]) -> History:
        """Build from the solver's lists (``phase``, ``scale``, ``iteration``, ``objective``)."""
        return cls(**{name: np.asarray(columns[name]) for name in cls.COLUMNS})

    def to_uns(self) -> dict[str, Any]:
        """Return the entry as stored."""
        return {name: getattr(self, name) for name in self.COLUMNS} | {"phase": np.asarray(self.phase).astype(str)}

    @classmethod
    def from_uns(cls, entry: Mapping[str, Any]) -> History:
        """Read a stored entry; its columns must be 1-D and of one length (``ValueError``)."""
        history = cls.from_columns(entry)
        if len({np.shape(getattr(history, name)) for name in cls.COLUMNS}) != 1 or np.ndim(history.phase) != 1:
            msg = "its columns differ in length"
            raise ValueError(msg)
        return history

    def to_frame(self) -> pd.DataFrame:
        """Return one row per iteration: ``phase``, ``scale``, ``iteration``, ``objective``."""
        table = pd.DataFrame({name: np.asarray(getattr(self, name)) for name in self.COLUMNS})
        table["phase"] = table["phase"].astype(str)  # whatever string dtype a file gave back
        return table


@dataclass(frozen=True)
class GeneScores:
    """``manifest['gene_scores']``: the scores of every gene per scale written by ``tl.gene_scores``."""

    FIELD: ClassVar[str] = Manifest.GENE_SCORES
    KEYED: ClassVar[bool] = False

    varm_keys: tuple[str, ...]
    params: Mapping[str, Any] = field(default_factory=dict)

    def to_uns(self) -> dict[str, Any]:
        """Return the entry as stored."""
        return {"varm_keys": _strings(self.varm_keys), "params": dict(self.params)}

    @classmethod
    def from_uns(cls, entry: Mapping[str, Any]) -> GeneScores:
        """Read a stored entry."""
        return cls(varm_keys=tuple(listed(entry, "varm_keys")), params=dict(entry.get("params", {})))

    def written(self, keys: Keys) -> dict[str, list[str]]:
        """Return the score arrays this section names that have the form pnmf gives them."""
        return {"varm": [name for name in self.varm_keys if keys.is_gene_scores(name)]}


@dataclass(frozen=True)
class Projection:
    """``manifest['projection']`` of a ``tl.project`` result: what was embedded onto which reference, and how."""

    FIELD: ClassVar[str] = Manifest.PROJECTION
    KEYED: ClassVar[bool] = False

    reference_key: str
    n_reference_cells: int
    n_genes: int
    n_missing_genes: int
    representation: str
    n_neighbors: int
    n_passes: np.ndarray  # coordinate-descent passes: median and largest over the query cells

    def to_uns(self) -> dict[str, Any]:
        """Return the entry as stored."""
        return {
            "reference_key": self.reference_key,
            "n_reference_cells": self.n_reference_cells,
            "n_genes": self.n_genes,
            "n_missing_genes": self.n_missing_genes,
            "representation": self.representation,
            "n_neighbors": self.n_neighbors,
            "n_passes": np.asarray(self.n_passes, dtype=np.int64),
        }

    @classmethod
    def from_uns(cls, entry: Mapping[str, Any]) -> Projection:
        """Read a stored entry."""
        return cls(
            reference_key=str(entry["reference_key"]),
            n_reference_cells=int(entry["n_reference_cells"]),
            n_genes=int(entry["n_genes"]),
            n_missing_genes=int(entry["n_missing_genes"]),
            representation=str(entry["representation"]),
            n_neighbors=int(entry["n_neighbors"]),
            n_passes=_array(entry["n_passes"], np.int64),
        )


@dataclass(frozen=True)
class PcaBasis:
    """``manifest['pca_basis']`` of a reference bundle: how to place new cells in the PCA that defined distances.

    A query cell's coordinates are ``(x − mean) @ components + center`` over ``genes``,
    ``components`` being ``varm['PCs']`` of the bundle (rows of ``genes``).
    """

    FIELD: ClassVar[str] = Manifest.PCA_BASIS
    KEYED: ClassVar[bool] = False

    genes: np.ndarray
    mean: np.ndarray
    center: np.ndarray
    residual: float  # relative RMS error of the basis on the reference's own cells

    def to_uns(self) -> dict[str, Any]:
        """Return the entry as stored."""
        return {
            "genes": _strings(self.genes),
            "mean": np.asarray(self.mean, dtype=np.float64),
            "center": np.asarray(self.center, dtype=np.float64),
            "residual": float(self.residual),
        }

    @classmethod
    def from_uns(cls, entry: Mapping[str, Any]) -> PcaBasis:
        """Read a stored entry."""
        return cls(
            genes=np.asarray(listed(entry, "genes"), dtype=object),
            mean=_array(entry["mean"], np.float64),
            center=_array(entry["center"], np.float64),
            residual=float(entry["residual"]),
        )


#: Stability from which a consensus program counts as reproducible (programs planted at the true k: 0.85 to 1;
#: arbitrary splits made with too many factors: 0.5 to 0.8).
MIN_STABILITY = 0.8


@dataclass(frozen=True)
class ConsensusScores:
    """``manifest['consensus']`` of a ``tl.consensus`` result: how each program reproduced, scales × k each."""

    FIELD: ClassVar[str] = Manifest.CONSENSUS
    KEYED: ClassVar[bool] = False

    stability: np.ndarray
    reproducibility: np.ndarray
    n_kept: np.ndarray

    def to_uns(self) -> dict[str, Any]:
        """Return the entry as stored."""
        return {
            "stability": self.stability,
            "reproducibility": self.reproducibility,
            "n_kept": np.asarray(self.n_kept, dtype=np.int64),
        }

    @classmethod
    def from_uns(cls, entry: Mapping[str, Any]) -> ConsensusScores:
        """Read a stored entry."""
        return cls(
            stability=_array(entry["stability"], np.float64, 2),
            reproducibility=_array(entry["reproducibility"], np.float64, 2),
            n_kept=_array(entry["n_kept"], np.int64, 2),
        )


def section_entries(manifest: Mapping[str, Any], section: type[S]) -> dict[str, S]:
    """Return every entry of a keyed section by name (nothing when absent or malformed; a damaged entry is refused)."""
    entries = manifest.get(section.FIELD, {})
    if not isinstance(entries, Mapping):
        return {}
    return {
        str(name): _from_uns(section, entry, str(name)) for name, entry in entries.items() if isinstance(entry, Mapping)
    }


def read_section(manifest: Mapping[str, Any], section: type[S], name: str | None = None, *, missing: str = "") -> S:
    """Return one section of a manifest (for a keyed section, its entry ``name``).

    ``missing`` is the message of the :class:`~pnmf.PnmfKeyError` raised when it is absent;
    it should say which tool writes the section. A section that is present but damaged
    (a field deleted or of the wrong type) raises a :class:`~pnmf.PnmfValueError`.
    """
    entry = manifest.get(section.FIELD)
    if section.KEYED:
        entry = entry.get(name) if isinstance(entry, Mapping) else None
    if not isinstance(entry, Mapping):
        where = f"{section.FIELD!r}" + (f"[{name!r}]" if section.KEYED else "")
        raise PnmfKeyError(missing or f"The manifest has no section {where}.")
    return _from_uns(section, entry, name)


def _from_uns(section: type[S], entry: Mapping[str, Any], name: str | None) -> S:
    """Read a stored section; a field deleted or of the wrong type is refused with the section's name."""
    try:
        return section.from_uns(entry)
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as error:
        where = f"{section.FIELD!r}" + (f"[{name!r}]" if section.KEYED else "")
        msg = (
            f"The manifest's section {where} is damaged ({type(error).__name__}: {error}); it was edited after it "
            "was written. Rerun the tool that wrote it, or read the result back from the file it was saved in."
        )
        raise PnmfValueError(msg) from error


def with_section(
    manifest: Mapping[str, Any], key: str, section: Section, name: str | None = None
) -> dict[str, dict[str, Any]]:
    """Return ``{key: a copy of the manifest with this section replaced}``, ready for ``Results(uns=...)``.

    For a keyed section the entry ``name`` is replaced and the other entries are kept.
    """
    updated = dict(manifest)
    if section.KEYED:
        entries = updated.get(section.FIELD, {})
        updated[section.FIELD] = {**(entries if isinstance(entries, Mapping) else {}), str(name): section.to_uns()}
    else:
        updated[section.FIELD] = section.to_uns()
    return {Keys(key).uns: updated}
