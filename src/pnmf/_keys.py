"""Every name that pnmf writes into an AnnData, derived from ``key_added`` in one place.

Readers (plots, getters) never rebuild these names: they look them up in the manifest
``adata.uns[key_added]``, whose fields are named here too.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DEFAULT_KEY", "Keys", "Manifest"]

DEFAULT_KEY = "pnmf"


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

    def umap(self, scale: int) -> str:
        """``adata.obsm`` key of the 2-D UMAP of a scale's embedding."""
        return f"X_{self.key_added}_umap_{scale}"

    def clusters(self, scale: int, cluster_key: str) -> str:
        """``adata.obs`` key of the clustering of a scale."""
        return f"{self.key_added}_{cluster_key}_{scale}"


class Manifest:
    """Field names of the manifest ``adata.uns[key_added]``."""

    OBSM_KEYS = "obsm_keys"
    VARM_KEYS = "varm_keys"
    THRESHOLDS = "thresholds"
    N_CONNECTED = "n_connected"
    N_EDGES = "n_edges"
    RECOMMENDED = "recommended_scale"
    PERSISTENCE = "persistence"
    CONVERGENCE = "convergence"
    HISTORY = "history"
    PARAMS = "params"
    TIMINGS = "timings"
    GENES = "genes"
    SCORES = "scores"
    UMAP = "umap"
    CLUSTERS = "clusters"
    ALIGNMENT = "alignment"
