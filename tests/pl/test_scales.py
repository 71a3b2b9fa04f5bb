"""pl.scales: every scale drawn in the same colours, missing values as scanpy draws them, every parameter checked."""

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import scanpy as sc
from matplotlib.collections import PathCollection
from matplotlib.colors import to_rgba
from plot_checks import assert_drawn

import pnmf

GREY = to_rgba("lightgray")


def test_scales_grid_colours_by_category_and_gene(result):
    fig = pnmf.pl.scales(result, color="subtype", return_fig=True)
    panels = [ax for ax in fig.axes if ax.get_title().startswith("scale")]
    assert len(panels) == 4
    for ax in panels:
        assert len(ax.collections[0].get_offsets()) == result.n_obs
    assert "recommended" in " ".join(ax.get_title() for ax in panels)
    assert fig.legends  # categorical legend
    assert_drawn(fig)
    gene = result.var_names[0]
    fig = pnmf.pl.scales(result, color=gene, which=[0, -1], factors=(0, 1), return_fig=True)
    assert len([ax for ax in fig.axes if ax.get_title().startswith("scale")]) == 2
    assert any(ax.get_label() == "<colorbar>" for ax in fig.axes)
    assert_drawn(fig)


def test_scales_share_axes_by_default(result):
    fig = pnmf.pl.scales(result, return_fig=True)
    panels = [ax for ax in fig.axes if ax.get_title().startswith("scale")]
    assert len({ax.get_xlim() for ax in panels}) == 1
    assert len({ax.get_ylim() for ax in panels}) == 1
    plt.close(fig)
    fig = pnmf.pl.scales(result, share_axes=False, return_fig=True)
    panels = [ax for ax in fig.axes if ax.get_title().startswith("scale")]
    assert len({ax.get_xlim() for ax in panels}) > 1
    plt.close(fig)


def test_scales_rejects_unknown_colour(result):
    with pytest.raises(KeyError, match=r"neither a column of adata\.obs nor a gene"):
        pnmf.pl.scales(result, color="nope", show=False)


def test_scatter_is_rasterized(result):
    fig = pnmf.pl.scales(result, return_fig=True)
    assert all(ax.collections[0].get_rasterized() for ax in fig.axes if ax.get_visible() and ax.collections)
    plt.close(fig)


def test_scales_on_per_scale_umaps(result):
    adata = result.copy()
    with pytest.raises(KeyError, match=r"run pnmf\.tl\.umap"):
        pnmf.pl.scales(adata, basis="umap", show=False)
    pnmf.tl.umap(adata)
    umap_keys = list(adata.uns["pnmf"]["umap"]["obsm_keys"])
    assert umap_keys == [f"X_pnmf_umap_{t}" for t in range(4)]
    fig = pnmf.pl.scales(adata, "subtype", basis="umap", return_fig=True)
    panels = [ax for ax in fig.axes if ax.get_title().startswith("scale")]
    assert len(panels) == 4
    np.testing.assert_allclose(panels[2].collections[0].get_offsets(), adata.obsm["X_pnmf_umap_2"])
    assert panels[0].get_xlabel() == "UMAP 1"
    assert_drawn(fig)
    # a new pnmf run removes the UMAPs of the old one
    pnmf.tl.pnmf(adata, 3, n_scales=2, max_iter=5, max_sweeps=0)
    assert not [k for k in adata.obsm if "umap" in k]


def test_umap_of_chosen_scales_replaces_the_earlier_ones_and_is_drawn_by_default(result):
    adata = result.copy()
    pnmf.tl.umap(adata)
    pnmf.tl.umap(adata, which=[-1, 1])
    section = adata.uns["pnmf"]["umap"]
    scales = [int(t) for t in section["scales"]]
    assert scales == [3, 1]
    assert sorted(k for k in adata.obsm if "umap" in k) == sorted(f"X_pnmf_umap_{t}" for t in scales)
    fig = pnmf.pl.scales(adata, basis="umap", return_fig=True)
    panels = [ax for ax in fig.axes if ax.get_title().startswith("scale")]
    assert [ax.get_title().split(":")[0] for ax in panels] == ["scale 3", "scale 1"]
    plt.close(fig)
    missing = next(t for t in range(4) if t not in scales)
    with pytest.raises(KeyError, match=rf"No UMAP of scales \[{missing}\].*which=\[{missing}\]"):
        pnmf.pl.scales(adata, basis="umap", which=[missing], show=False)


def test_the_umaps_are_drawn_by_default_where_every_scale_to_draw_has_one(result):
    adata = result.copy()

    def x_labels(**kwargs) -> set[str]:
        fig = pnmf.pl.scales(adata, return_fig=True, **kwargs)
        labels = {ax.get_xlabel() for ax in fig.axes if ax.get_title().startswith("scale")}
        plt.close(fig)
        return labels

    assert x_labels() <= {f"factor {j}" for j in range(5)}  # no UMAP yet
    pnmf.tl.umap(adata, which=[-1, 1])
    assert x_labels() != {"UMAP 1"}  # scales 0 and 2 have none: the factors, for every scale
    assert x_labels(which=[1, 3]) == {"UMAP 1"}
    pnmf.tl.umap(adata)
    assert x_labels() == {"UMAP 1"}
    assert x_labels(factors=(0, 1)) == {"factor 0"}  # factors asked for: the factors


@pytest.mark.parametrize("verbosity", [0, 2])
def test_umap_shows_a_bar_over_the_scales_at_info_verbosity_only(result, verbosity, capfd):
    import scanpy as sc

    before = sc.settings.verbosity
    sc.settings.verbosity = verbosity
    try:
        pnmf.tl.umap(result, which=[0, 1], copy=True)
    finally:
        sc.settings.verbosity = before
    err = capfd.readouterr().err
    assert ("UMAP:" in err and "2/2" in err) == bool(verbosity)


def test_each_umap_starts_from_the_previous_scales_layout(result):
    """The coarsest scale's UMAP is scanpy's UMAP of its kNN graph started from the finest scale's layout."""
    chained, alone = result.copy(), result.copy()
    pnmf.tl.umap(chained, which=[0, 3])
    pnmf.tl.umap(alone, which=[3])
    scratch = sc.AnnData(obsm={"rep": result.obsm["X_pnmf_3"]}, shape=(result.n_obs, 0))
    sc.pp.neighbors(scratch, n_neighbors=15, use_rep="rep", random_state=0)
    sc.tl.umap(scratch, min_dist=0.5, init_pos=chained.obsm["X_pnmf_umap_0"], random_state=0)
    np.testing.assert_allclose(chained.obsm["X_pnmf_umap_3"], scratch.obsm["X_umap"])
    assert not np.allclose(chained.obsm["X_pnmf_umap_3"], alone.obsm["X_pnmf_umap_3"])


def test_the_first_layout_starts_from_the_spectral_layout_up_to_10000_cells_and_the_pca_above(result):
    """``init_pos='auto'`` is scanpy's spectral start here (few cells); a forced start is scanpy's UMAP from it."""
    auto, pca = result.copy(), result.copy()
    pnmf.tl.umap(auto, which=[0])
    pnmf.tl.umap(pca, which=[0], init_pos="pca")
    assert auto.uns["pnmf"]["umap"]["params"]["init_pos"] == "spectral"
    assert pca.uns["pnmf"]["umap"]["params"]["init_pos"] == "pca"
    for init, laid_out in (("spectral", auto), ("pca", pca)):
        scratch = sc.AnnData(obsm={"rep": result.obsm["X_pnmf_0"]}, shape=(result.n_obs, 0))
        sc.pp.neighbors(scratch, n_neighbors=15, use_rep="rep", random_state=0)
        sc.tl.umap(scratch, min_dist=0.5, init_pos=init, random_state=0)
        np.testing.assert_allclose(laid_out.obsm["X_pnmf_umap_0"], scratch.obsm["X_umap"])
    assert not np.allclose(auto.obsm["X_pnmf_umap_0"], pca.obsm["X_pnmf_umap_0"])


def facecolors(fig):
    """The colour of every point drawn (a single colour applies to all points of its collection)."""
    colors = []
    for ax in fig.axes:
        for collection in ax.collections:
            if isinstance(collection, PathCollection):
                face = collection.get_facecolors()
                colors.append(np.repeat(face, len(collection.get_offsets()), axis=0) if len(face) == 1 else face)
    return np.concatenate(colors)


def test_scales_draws_missing_categories_in_grey_with_an_na_legend_entry(annotated):
    fig = pnmf.pl.scales(annotated, "group", return_fig=True)
    colors = facecolors(fig)
    n_missing = int(annotated.obs["group"].isna().sum())
    assert np.sum(np.all(np.isclose(colors, GREY), axis=1)) == n_missing * len(fig.axes)
    labels = [t.get_text() for legend in fig.legends for t in legend.get_texts()]
    assert labels == ["a", "b", "c", "NA"]
    plt.close(fig)


def test_scales_draws_missing_numbers_in_grey(annotated):
    fig = pnmf.pl.scales(annotated, "score", which=[0], return_fig=True)
    colors = facecolors(fig)
    assert np.sum(np.all(np.isclose(colors, GREY), axis=1)) == int(annotated.obs["score"].isna().sum())
    plt.close(fig)


def test_a_real_na_category_keeps_its_own_colour(annotated):
    adata = annotated.copy()
    labels = adata.obs["group"].astype(object).to_numpy()
    labels[1] = "NA"
    adata.obs["group"] = pd.Categorical(labels)
    fig = pnmf.pl.scales(adata, "group", which=[0], return_fig=True)
    labels = [t.get_text() for legend in fig.legends for t in legend.get_texts()]
    assert labels == ["NA", "a", "b", "c", "NA (missing)"]
    plt.close(fig)


def test_invalid_stored_palette_falls_back_to_the_default(annotated):
    adata = annotated.copy()
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
def test_scales_checks_its_parameters(annotated, kwargs, error, match):
    n_figures = len(plt.get_fignums())
    with pytest.raises(error, match=match) as raised:
        pnmf.pl.scales(annotated, **kwargs)
    assert isinstance(raised.value, pnmf.PnmfError)
    assert len(plt.get_fignums()) == n_figures  # no figure left open


def test_one_factor_result_is_drawn_as_a_strip(populations):
    pnmf.tl.pnmf(populations, 1, n_scales=2, max_iter=5, max_sweeps=1)
    fig = pnmf.pl.scales(populations, return_fig=True)
    assert fig.axes[0].get_ylabel() == "random spread"
    plt.close(fig)
    with pytest.raises(ValueError, match="single factor"):
        pnmf.pl.scales(populations, factors=(0, 1))
