"""Harmony's correction in pnmf's factor space: after pnmf's balanced averaging, or instead of it.

Usage::

    python benchmarks/harmony_factors.py --batch-data BATCH_DATA [--out results/harmony_factors.md]

The datasets and their preparation are those of ``benchmarks/integration.py``; the bars are
in ``results/integration.md``. cNMF corrects its factorization with Harmony, and Harmony is
the strongest fast method of that benchmark, so this asks whether running it on pnmf's
embedding (harmonypy, the ``bench`` extra, as ``integration.harmony`` runs it on the PCA)
integrates better than pnmf's own averaging. On each dataset pnmf is fitted with
``batch_key`` twice, with the default ``integration_steps`` and with 0 (the fitted
embedding, not averaged), and the recommended scale of each is scored with scib-metrics as
it is and after Harmony (its corrected coordinates, which can be negative, as they are).
"""

from __future__ import annotations

import numpy as np
from anndata import AnnData
from integration import harmony
from quantile_alignment import recommended, study


def corrected(adata: AnnData, embedding: np.ndarray) -> np.ndarray:
    """Harmony's correction of ``embedding`` across ``adata.obs['batch']``."""
    work = adata.copy()
    work.obsm["X_pca"] = np.asarray(embedding, dtype=np.float64)
    return harmony(work)


def with_harmony(adata: AnnData) -> dict[str, np.ndarray]:
    """Harmony on the PCA, pnmf's recommended scale averaged and not, and Harmony on each."""
    averaged = recommended(adata)
    fitted = recommended(adata, integration_steps=0)
    return {
        "Harmony (on the PCA)": harmony(adata),
        "pnmf (balanced averaging)": averaged,
        "pnmf averaged, then Harmony": corrected(adata, averaged),
        "pnmf not averaged": fitted,
        "pnmf not averaged, then Harmony": corrected(adata, fitted),
    }


if __name__ == "__main__":
    study(__doc__, "Harmony in pnmf's factor space", "harmony_factors.md", with_harmony)
