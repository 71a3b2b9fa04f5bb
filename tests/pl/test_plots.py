"""Every plot rendered for real with Agg, and what it drew checked."""

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.collections import LineCollection, PathCollection

import pnmf


def pixels(fig):
    fig.canvas.draw()
    image = np.asarray(fig.canvas.buffer_rgba())[..., :3]
    plt.close(fig)
    return image


def assert_drawn(fig):
    image = pixels(fig)
    non_white = np.mean(np.any(image < 240, axis=-1))
    assert non_white > 0.02, "the figure is (almost) blank"
    assert len(np.unique(image.reshape(-1, 3), axis=0)) > 10


@pytest.fixture(scope="module")
def result(populations_base):
    adata = populations_base.copy()
    pnmf.tl.pnmf(adata, 5, n_scales=4, max_iter=40, max_sweeps=2)
    pnmf.tl.leiden(adata, 0.8)
    return adata


def test_persistence_marks_the_chosen_scales(result):
    fig = pnmf.pl.persistence(result, return_fig=True)
    components, barcode = fig.axes[:2]
    marked = [c for c in components.collections if isinstance(c, PathCollection)]
    assert len(marked[0].get_offsets()) == 4  # one dot per scale
    np.testing.assert_allclose(np.asarray(marked[0].get_offsets())[:, 0], result.uns["pnmf"]["thresholds"])
    assert len(marked[1].get_offsets()) == 1  # the recommended scale
    assert len(barcode.lines) == 4  # one vertical line per threshold
    assert components.get_xscale() == "log"
    assert_drawn(fig)


def test_persistence_single_panel_into_given_axes(result):
    fig, ax = plt.subplots()
    returned = pnmf.pl.persistence(result, kind="barcode", ax=ax, show=False)
    assert returned is ax
    with pytest.raises(ValueError, match="draws 2 panels"):
        pnmf.pl.persistence(result, ax=ax, show=False)
    assert_drawn(fig)


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


def test_cluster_tree_draws_one_node_per_cluster(result):
    fig = pnmf.pl.cluster_tree(result, return_fig=True)
    ax = fig.axes[0]
    nodes = next(c for c in ax.collections if isinstance(c, PathCollection))
    n_clusters = int(result.uns["pnmf"]["clusters"]["leiden"]["n_clusters"].sum())
    assert len(nodes.get_offsets()) == n_clusters
    _, edges = pnmf.get.cluster_tree(result)
    lines = next(c for c in ax.collections if isinstance(c, LineCollection))
    assert len(lines.get_segments()) == int((edges["in_prop"] >= 0.1).sum())
    # coarsest scale is drawn on the top row
    assert max(np.asarray(nodes.get_offsets())[:, 1]) == 3
    assert_drawn(fig)


@pytest.mark.parametrize("color", ["cell_type", "total_counts"])
def test_cluster_tree_colour_by_obs(result, color):
    fig = pnmf.pl.cluster_tree(result, color, min_edge_share=0.3, return_fig=True)
    assert_drawn(fig)


def test_cluster_tree_needs_leiden(populations_base):
    adata = populations_base.copy()
    pnmf.tl.pnmf(adata, 3, n_scales=2, max_iter=5, max_sweeps=0)
    with pytest.raises(KeyError, match=r"run pnmf\.tl\.leiden"):
        pnmf.pl.cluster_tree(adata, show=False)


def test_loadings_plots(result):
    fig = pnmf.pl.loadings(result, 0, n_genes=4, return_fig=True)
    bars = [ax for ax in fig.axes if ax.get_visible() and ax.patches]
    assert len(bars) == 5
    assert all(len(ax.patches) == 4 for ax in bars)
    assert_drawn(fig)
    fig = pnmf.pl.loadings_across_scales(result, 2, n_genes=5, return_fig=True)
    image = fig.axes[0].images[0].get_array()
    assert image.shape[1] == 4
    assert image.shape[0] >= 5
    assert_drawn(fig)
    with pytest.raises(ValueError, match="factor=9 is out of range"):
        pnmf.pl.loadings_across_scales(result, 9, show=False)


def test_convergence_plot(result):
    fig = pnmf.pl.convergence(result, return_fig=True)
    path, sweeps = fig.axes[:2]
    assert len(path.lines) == 4
    history = pnmf.get.history(result)
    np.testing.assert_allclose(sweeps.lines[0].get_ydata(), history[history["phase"] == "sweep"]["objective"])
    assert_drawn(fig)


def test_show_false_returns_axes_and_no_global_state_change(result):
    import matplotlib as mpl

    before = dict(mpl.rcParams)
    axes = pnmf.pl.convergence(result, show=False)
    assert isinstance(axes, list)
    assert len(axes) == 2
    assert dict(mpl.rcParams) == before
    plt.close("all")


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
