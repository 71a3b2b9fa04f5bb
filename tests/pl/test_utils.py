"""What every plot does the same way: options checked before drawing, scanpy's return conventions."""

import matplotlib.pyplot as plt
import pytest

import pnmf


def test_show_false_returns_axes_and_no_global_state_change(result):
    import matplotlib as mpl

    before = dict(mpl.rcParams)
    axes = pnmf.pl.convergence(result, show=False)
    assert isinstance(axes, list)
    assert len(axes) == 2
    assert dict(mpl.rcParams) == before
    plt.close("all")


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
def test_other_plots_check_their_parameters(annotated, draw, kwargs, error, match):
    with pytest.raises(error, match=match):
        draw(annotated, **kwargs)


@pytest.mark.parametrize(
    ("draw", "kwargs"),
    [
        (pnmf.pl.loadings, {"factors": [99]}),
        (pnmf.pl.loadings, {"n_genes": 0}),
        (pnmf.pl.loadings, {"scale": "best"}),
        (pnmf.pl.loadings_across_scales, {"factor": 99}),
        (pnmf.pl.persistence, {"kind": "bars"}),
        (pnmf.pl.convergence, {"kind": "all"}),
        (pnmf.pl.cluster_tree, {"color": "nope"}),
        (pnmf.pl.cluster_tree, {"min_edge_share": -1.0}),
    ],
)
def test_no_figure_is_opened_before_the_options_are_checked(annotated, draw, kwargs):
    n_figures = len(plt.get_fignums())
    with pytest.raises(pnmf.PnmfError):
        draw(annotated, **kwargs)
    assert len(plt.get_fignums()) == n_figures


@pytest.mark.parametrize("kind", ["path", "sweeps"])
def test_convergence_draws_one_panel_into_given_axes(result, kind):
    fig, ax = plt.subplots()
    assert pnmf.pl.convergence(result, kind=kind, ax=ax, show=False) is ax
    assert ax.lines
    with pytest.raises(ValueError, match="draws 2 panels"):
        pnmf.pl.convergence(result, ax=ax, show=False)
    plt.close(fig)


#: Every plot of pnmf.pl, asked for one panel, with the fixture it draws from.
ONE_PANEL = {
    "cluster_tree": ("annotated", lambda adata, **kw: pnmf.pl.cluster_tree(adata, "group", **kw)),
    "convergence": ("annotated", lambda adata, **kw: pnmf.pl.convergence(adata, kind="sweeps", **kw)),
    "k_selection": ("selected_base", lambda adata, **kw: pnmf.pl.k_selection(adata, **kw)),
    "loadings": ("annotated", lambda adata, **kw: pnmf.pl.loadings(adata, factors=[1], **kw)),
    "loadings_across_scales": ("annotated", lambda adata, **kw: pnmf.pl.loadings_across_scales(adata, 0, **kw)),
    "persistence": ("annotated", lambda adata, **kw: pnmf.pl.persistence(adata, kind="components", **kw)),
    "scale_scores": ("scored_base", lambda adata, **kw: pnmf.pl.scale_scores(adata, "cell_type", **kw)),
    "scales": ("annotated", lambda adata, **kw: pnmf.pl.scales(adata, "group", which=[1], **kw)),
}


def test_every_plot_is_checked_in_a_users_figure():
    assert set(ONE_PANEL) == set(pnmf.pl.__all__)


def axes_state(ax):
    return (
        ax.get_title(),
        ax.get_xlim(),
        ax.get_ylim(),
        tuple(ax.get_position().bounds),
        len(ax.get_children()),
        ax.get_legend(),
    )


@pytest.mark.parametrize("name", sorted(ONE_PANEL))
def test_draws_into_one_axes_of_a_users_figure(request, name):
    from plot_checks import drawn_share

    fixture, draw = ONE_PANEL[name]
    adata = request.getfixturevalue(fixture)
    fig, axs = plt.subplots(1, 2, figsize=(10, 4))
    fig.suptitle("the user's figure")
    axs[1].plot([0, 1], [1, 0], color="k")
    axs[1].set_title("the user's other panel")
    theirs = axes_state(axs[1])
    empty_share, _ = drawn_share(fig, axs[0])
    try:
        assert draw(adata, ax=axs[0], show=False, return_fig=True) is fig
        share, n_colors = drawn_share(fig, axs[0])
        assert share > empty_share + 0.01, f"{name} drew (almost) nothing into the given axes"
        assert n_colors > 3
        assert axes_state(axs[1]) == theirs
        assert fig.get_suptitle() == "the user's figure"
        assert not fig.legends
    finally:
        plt.close(fig)


@pytest.mark.parametrize(
    ("draw", "match"),
    [
        (lambda adata, ax: pnmf.pl.persistence(adata, ax=ax), "kind='components'"),
        (lambda adata, ax: pnmf.pl.convergence(adata, ax=ax), "kind='path'"),
        (lambda adata, ax: pnmf.pl.loadings(adata, ax=ax), r"factors=\[<one factor>\]"),
        (lambda adata, ax: pnmf.pl.scales(adata, ax=ax), r"which=\[<one scale>\]"),
    ],
)
def test_a_plot_of_several_panels_says_how_to_ask_for_one(annotated, draw, match):
    fig, ax = plt.subplots()
    try:
        with pytest.raises(pnmf.PnmfValueError, match=match):
            draw(annotated, ax)
    finally:
        plt.close(fig)
