"""get.top_genes and get.factor_similarity."""

import numpy as np

import pnmf


def test_top_genes_are_sorted_and_match_loadings(fitted):
    table = pnmf.get.top_genes(fitted, 1, 5)
    assert table.shape == (5 * 5, 4)
    loadings = pnmf.get.loadings(fitted, 1)
    for factor, rows in table.groupby("factor"):
        assert rows["loading"].is_monotonic_decreasing
        expected = loadings[f"factor_{factor}"].nlargest(5)
        np.testing.assert_allclose(rows["loading"].to_numpy(), expected.to_numpy())


def test_factor_similarity_table(fitted):
    table = pnmf.get.factor_similarity(fitted)
    assert len(table) == 2 * 5
    assert table["similarity"].between(0, 1 + 1e-9).all()
