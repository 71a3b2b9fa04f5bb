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
