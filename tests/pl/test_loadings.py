"""pl.loadings and pl.loadings_across_scales: top genes drawn, parameters checked."""

import pytest
from plot_checks import assert_drawn

import pnmf


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
def test_loadings_checks_its_parameters(annotated, kwargs, error, match):
    with pytest.raises(error, match=match):
        pnmf.pl.loadings(annotated, **kwargs)
