"""pl.scale_scores: agreement per scale, baselines as lines, the recommended scale circled."""

import matplotlib.pyplot as plt
import pytest
from matplotlib.collections import PathCollection
from plot_checks import assert_drawn

import pnmf


@pytest.mark.parametrize("metric", ["ari", "nmi"])
def test_scores_are_drawn_per_scale_with_baselines_as_lines(scored_base, metric):
    fig = pnmf.pl.scale_scores(scored_base, "cell_type", metric=metric, return_fig=True)
    ax = fig.axes[0]
    table = pnmf.get.scale_scores(scored_base, "cell_type")
    scales = table[table["method"] == "pnmf"]
    baselines = [line for line in ax.lines if line.get_linestyle() == "--"]
    assert sorted(line.get_ydata()[0] for line in baselines) == pytest.approx(
        sorted(table.loc[table["method"] != "pnmf", f"{metric}_mean"])
    )
    circled = [c for c in ax.collections if isinstance(c, PathCollection)]
    assert len(circled[-1].get_offsets()) == 1  # the recommended scale
    assert ax.get_xscale() == "log"
    assert len(ax.lines[0].get_ydata()) == len(scales)
    assert_drawn(fig)


def test_into_given_axes_and_metric_checked(scored_base):
    fig, ax = plt.subplots()
    assert pnmf.pl.scale_scores(scored_base, "cell_type", ax=ax, show=False) is ax
    plt.close(fig)
    with pytest.raises(ValueError, match="metric='f1' is not supported"):
        pnmf.pl.scale_scores(scored_base, "cell_type", metric="f1")
