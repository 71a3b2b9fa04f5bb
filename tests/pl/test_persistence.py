"""pl.persistence: the components curve and the barcode, with the chosen scales marked."""

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.collections import PathCollection
from plot_checks import assert_drawn

import pnmf


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
