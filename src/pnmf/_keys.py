"""Every name that pnmf writes into an AnnData, derived from ``key_added`` in one place.

Readers (plots, getters) never rebuild these names: they look them up in the manifest
``adata.uns[key_added]``, whose fields are named here too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "DEFAULT_CLUSTER_KEY",
    "DEFAULT_CONSENSUS_KEY",
    "DEFAULT_KEY",
    "DEFAULT_K_KEY",
    "KSelection",
    "Keys",
    "Manifest",
]

#: Default ``key_added`` of ``tl.pnmf`` (the ``key`` that other functions read).
DEFAULT_KEY = "pnmf"
#: Default ``key_added`` of ``tl.leiden`` (the ``cluster_key`` that other functions read).
DEFAULT_CLUSTER_KEY = "leiden"
#: Default ``key_added`` of ``tl.select_k``.
DEFAULT_K_KEY = "pnmf_k"


@dataclass(frozen=True)
class Keys:
    """Names of the per-scale results of one ``tl.pnmf`` run."""

    key_added: str = DEFAULT_KEY

    @property
    def uns(self) -> str:
        """The manifest's key in ``adata.uns``."""
        return self.key_added

    def embedding(self, scale: int) -> str:
        """``adata.obsm`` key of the cells × k embedding at a scale."""
        return f"X_{self.key_added}_{scale}"

    def loadings(self, scale: int) -> str:
        """``adata.varm`` key of the genes × k loadings at a scale."""
        return f"{self.key_added}_loadings_{scale}"

    @property
    def populations(self) -> str:
        """``adata.obsm`` key of the cells × scales persistent populations (``-1``: in none at that scale)."""
        return f"{self.key_added}_populations"

    @property
    def consensus(self) -> str:
        """Default ``key_added`` of ``tl.consensus`` run on this result."""
        return f"{self.key_added}_consensus"

    def gene_scores(self, scale: int) -> str:
        """``adata.varm`` key of the genes × k scores of every gene at a scale (``tl.gene_scores``)."""
        return f"{self.key_added}_gene_scores_{scale}"

    def confidence(self, scale: int, cluster_key: str) -> str:
        """``adata.obs`` key of the confidence of the clusters transferred to new cells at a scale (``tl.project``)."""
        return f"{self.key_added}_{cluster_key}_confidence_{scale}"

    def umap(self, scale: int) -> str:
        """``adata.obsm`` key of the 2-D UMAP of a scale's embedding."""
        return f"X_{self.key_added}_umap_{scale}"

    def clusters(self, scale: int, cluster_key: str) -> str:
        """``adata.obs`` key of the clustering of a scale."""
        return f"{self.key_added}_{cluster_key}_{scale}"

    @staticmethod
    def colors(obs_key: str) -> str:
        """``adata.uns`` key of the colours of the categories of ``adata.obs[obs_key]``, as scanpy names it."""
        return f"{obs_key}_colors"

    def is_embedding(self, name: str) -> bool:
        """Whether ``name`` has the form of an embedding key of this result."""
        return _matches(f"X_{re.escape(self.key_added)}", name)

    def is_umap(self, name: str) -> bool:
        """Whether ``name`` has the form of a UMAP key of this result."""
        return _matches(f"X_{re.escape(self.key_added)}_umap", name)

    def is_loadings(self, name: str) -> bool:
        """Whether ``name`` has the form of a loadings key of this result."""
        return _matches(f"{re.escape(self.key_added)}_loadings", name)

    def is_gene_scores(self, name: str) -> bool:
        """Whether ``name`` has the form of a gene-scores key of this result."""
        return _matches(f"{re.escape(self.key_added)}_gene_scores", name)

    def is_confidence(self, name: str, cluster_key: str) -> bool:
        """Whether ``name`` has the form of an ``adata.obs`` key of the confidence of a transferred clustering."""
        return _matches(f"{re.escape(self.key_added)}_{re.escape(cluster_key)}_confidence", name)

    def is_clusters(self, name: str, cluster_key: str) -> bool:
        """Whether ``name`` has the form of an ``adata.obs`` key of the clustering ``cluster_key``."""
        return _matches(f"{re.escape(self.key_added)}_{re.escape(cluster_key)}", name)


#: Default ``key_added`` of ``tl.consensus`` (for the default ``key``).
DEFAULT_CONSENSUS_KEY = Keys(DEFAULT_KEY).consensus


def _matches(stem: str, name: str) -> bool:
    return re.fullmatch(rf"{stem}_[0-9]+", name) is not None


class Manifest:
    """Field names of the manifest ``adata.uns[key_added]``."""

    WRITER = "writer"  # 'pnmf <version>': marks a manifest that pnmf wrote
    OBSM_KEYS = "obsm_keys"
    VARM_KEYS = "varm_keys"
    THRESHOLDS = "thresholds"
    N_CONNECTED = "n_connected"
    N_EDGES = "n_edges"
    N_GROUPS = "n_groups"
    N_POOLED = "n_pooled"
    POPULATIONS = "populations"  # the adata.obsm key of every cell's persistent population per scale
    RECOMMENDED = "recommended_scale"
    CROSS_VALIDATION = "cross_validation"  # the held-out errors behind λ1 and the recommended scale
    PERSISTENCE = "persistence"
    CONVERGENCE = "convergence"
    HISTORY = "history"
    PARAMS = "params"
    TIMINGS = "timings"
    GENES = "genes"  # boolean mask over adata.var of the fitted genes
    GENE_NAMES = "gene_names"  # their names, in order: genes subset or reordered after the fit are found by name
    SCORES = "scores"
    UMAP = "umap"
    CLUSTERS = "clusters"
    ALIGNMENT = "alignment"
    BATCHES = "batches"  # fits with batch_key only: the batches integrated and their sizes
    CONSENSUS = "consensus"  # tl.consensus results only: how each program reproduced
    GENE_SCORES = "gene_scores"  # tl.gene_scores: scores of every gene per scale
    PROJECTION = "projection"  # tl.project results only: what was projected onto which reference
    PCA_BASIS = "pca_basis"  # io.write_reference files only: how new cells are placed in the representation


class KSelection:
    """The tables of a ``tl.select_k`` result ``adata.uns[key_added]`` and their columns."""

    BY_K = ("n_comps", "stability", "min_stability", "reproducibility", "error", "error_std")
    BY_SCALE = ("n_comps", "scale", "stability", "min_stability", "reproducibility", "error", "error_std")
    BY_FACTOR = ("n_comps", "scale", "factor", "stability", "reproducibility")
