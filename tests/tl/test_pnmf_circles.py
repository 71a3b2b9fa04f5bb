"""The paper's synthetic experiment: coarser scales collapse the inner circles one after another."""

import numpy as np
import pytest

import pnmf


def relative_spreads(adata):
    """Per scale, the spread of each inner circle divided by the outer circle's."""
    labels = adata.obs["circle"].astype(str).to_numpy()
    circles = list(adata.obs["circle"].cat.categories)
    rows = []
    for key in adata.uns["pnmf"]["obsm_keys"]:
        U = np.asarray(adata.obsm[str(key)])
        spread = [np.linalg.norm(U[labels == c] - U[labels == c].mean(axis=0), axis=1).mean() for c in circles]
        rows.append(np.array(spread[:-1]) / spread[-1])
    return np.array(rows)


@pytest.mark.parametrize("graph_weight", [10.0, 100.0])
def test_inner_circles_contract_innermost_first(graph_weight):
    adata = pnmf.datasets.concentric_circles(random_state=3)
    pnmf.tl.pnmf(
        adata,
        2,
        filtration="rips",
        scales="all",
        use_rep="X",
        mask_var=None,
        normalize=False,
        graph_weight=graph_weight,
    )
    ratios = relative_spreads(adata)
    # every inner circle contracts relative to the outer one somewhere along the path
    assert (ratios.min(axis=0) < 0.5 * ratios[0]).all()
    # innermost first: the scales at which the circles reach half of their finest relative spread come in order
    first = [int(np.argmax(ratios[:, i] < 0.5 * ratios[0, i])) for i in range(ratios.shape[1])]
    assert first[0] < first[1] < first[2]
    assert ratios.min(axis=0)[0] < 0.05
