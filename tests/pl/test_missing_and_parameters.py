"""Missing values drawn as scanpy draws them, and every plotting parameter checked before drawing."""

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import PathCollection
from matplotlib.colors import to_rgba

import pnmf

GREY = to_rgba("lightgray")


@pytest.fixture(scope="module")
def result(fitted_base):
    adata = fitted_base.copy()
    pnmf.tl.leiden(adata, 0.8, n_neighbors=5)
    labels = np.array(["a", "b", "c"])[np.arange(adata.n_obs) % 3].astype(object)
    labels[::4] = None
    adata.obs["group"] = pd.Categorical(labels)
    score = np.linspace(0.0, 1.0, adata.n_obs)
    score[::5] = np.nan
    adata.obs["score"] = score
    return adata


def facecolors(fig):
    """The colour of every point drawn (a single colour applies to all points of its collection)."""
    colors = []
    for ax in fig.axes:
        for collection in ax.collections:
            if isinstance(collection, PathCollection):
                face = collection.get_facecolors()
                colors.append(np.repeat(face, len(collection.get_offsets()), axis=0) if len(face) == 1 else face)
    return np.concatenate(colors)


def test_scales_draws_missing_categories_in_grey_with_an_na_legend_entry(result):
    fig = pnmf.pl.scales(result, "group", return_fig=True)
    colors = facecolors(fig)
    n_missing = int(result.obs["group"].isna().sum())
    assert np.sum(np.all(np.isclose(colors, GREY), axis=1)) == n_missing * len(fig.axes)
    labels = [t.get_text() for legend in fig.legends for t in legend.get_texts()]
    assert labels == ["a", "b", "c", "NA"]
    plt.close(fig)


def test_scales_draws_missing_numbers_in_grey(result):
    fig = pnmf.pl.scales(result, "score", which=[0], return_fig=True)
    colors = facecolors(fig)
    assert np.sum(np.all(np.isclose(colors, GREY), axis=1)) == int(result.obs["score"].isna().sum())
    plt.close(fig)


def test_cluster_tree_accepts_a_column_with_missing_values(result):
    fig = pnmf.pl.cluster_tree(result, "group", return_fig=True)
    assert fig.axes
    plt.close(fig)


def test_a_real_na_category_keeps_its_own_colour(result):
    adata = result.copy()
    labels = adata.obs["group"].astype(object).to_numpy()
    labels[1] = "NA"
    adata.obs["group"] = pd.Categorical(labels)
    fig = pnmf.pl.scales(adata, "group", which=[0], return_fig=True)
    labels = [t.get_text() for legend in fig.legends for t in legend.get_texts()]
    assert labels == ["NA", "a", "b", "c", "NA (missing)"]
    plt.close(fig)


def test_invalid_stored_palette_falls_back_to_the_default(result):
    adata = result.copy()
    adata.uns["group_colors"] = np.array(["not-a-colour", "red", "blue"])
    fig = pnmf.pl.scales(adata, "group", which=[0], return_fig=True)
    assert fig.axes
    plt.close(fig)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"ncols": 0}, ValueError, "ncols=0"),
        ({"size": -1.0}, ValueError, "size=-1.0"),
        ({"share_axes": "yes"}, TypeError, "share_axes must be True or False"),
        ({"which": []}, ValueError, "which is empty"),
        ({"which": "0"}, TypeError, "which must be a sequence"),
        ({"which": [0, 0]}, ValueError, "names a scale twice"),
        ({"which": [9]}, IndexError, "out of range"),
        ({"which": [0.5]}, TypeError, "scale must be an integer"),
        ({"factors": (0, 0)}, ValueError, "names one factor twice"),
        ({"factors": (0, 9)}, ValueError, "factors=9 is out of range"),
        ({"factors": 1}, TypeError, "factors must be a pair"),
        ({"show": "no"}, TypeError, "show must be True, False or None"),
        ({"return_fig": 1}, TypeError, "return_fig must be True or False"),
        ({"ax": "axes"}, TypeError, "ax must be a matplotlib Axes"),
        ({"color": 3}, TypeError, "color must be the name"),
        ({"color": "nope"}, KeyError, "color='nope' is neither"),
        ({"color": "gene_0", "layer": "nope"}, KeyError, "layer='nope'"),
        ({"basis": "umap", "factors": (0, 1)}, ValueError, "factors applies to basis='factors'"),
    ],
)
def test_scales_checks_its_parameters(result, kwargs, error, match):
    n_figures = len(plt.get_fignums())
    with pytest.raises(error, match=match) as raised:
        pnmf.pl.scales(result, **kwargs)
    assert isinstance(raised.value, pnmf.PnmfError)
    assert len(plt.get_fignums()) == n_figures  # no figure left open


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"factors": [99]}, IndexError, "factor 99 does not exist"),
        ({"factors": []}, ValueError, "factors is empty"),
        ({"factors": [1, 1]}, ValueError, "names a factor twice"),
        ({"factors": [True]}, TypeError, "integer factor indices"),
        ({"ncols": 0}, ValueError, "ncols=0"),
        ({"n_genes": 0}, ValueError, "n_genes=0"),
        ({"scale": 1.5}, TypeError, "scale must be an integer"),
        ({"scale": "best"}, ValueError, "scale='best' is not understood"),
        ({"return_fig": "y"}, TypeError, "return_fig must be"),
    ],
)
def test_loadings_checks_its_parameters(result, kwargs, error, match):
    with pytest.raises(error, match=match):
        pnmf.pl.loadings(result, **kwargs)


@pytest.mark.parametrize(
    ("draw", "kwargs", "error", "match"),
    [
        (pnmf.pl.persistence, {"kind": "bars"}, ValueError, "kind='bars'"),
        (pnmf.pl.persistence, {"show": 1}, TypeError, "show must be"),
        (pnmf.pl.convergence, {"return_fig": None}, TypeError, "return_fig must be"),
        (pnmf.pl.loadings_across_scales, {"factor": 99}, ValueError, "factor=99"),
        (pnmf.pl.loadings_across_scales, {"factor": 0, "ax": 1}, TypeError, "ax must be"),
    ],
)
def test_other_plots_check_their_parameters(result, draw, kwargs, error, match):
    with pytest.raises(error, match=match):
        draw(result, **kwargs)


def test_one_factor_result_is_drawn_as_a_strip(populations):
    pnmf.tl.pnmf(populations, 1, n_scales=2, max_iter=5, max_sweeps=1)
    fig = pnmf.pl.scales(populations, return_fig=True)
    assert fig.axes[0].get_ylabel() == "random spread"
    plt.close(fig)
    with pytest.raises(ValueError, match="single factor"):
        pnmf.pl.scales(populations, factors=(0, 1))
