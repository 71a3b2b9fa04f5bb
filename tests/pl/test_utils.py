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
