"""GMT files: any table the format can hold round-trips exactly; anything else is refused before a file is written."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pnmf

#: Text a GMT field can hold: no tab, no line break, not empty.
FIELD = st.text(st.characters(blacklist_characters="\t\n\r", blacklist_categories=("Cs",)), min_size=1, max_size=8)
SEPARATORS = st.sampled_from(["\t", "\n", "\r", "\r\n"])
GMT = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


def grouped(network: pd.DataFrame) -> pd.DataFrame:
    """The rows as a GMT file holds them: grouped by source in the order the sources first appear."""
    order = {source: i for i, source in enumerate(pd.unique(network["source"]))}
    ranked = network.assign(_set=network["source"].map(order))
    return ranked.sort_values("_set", kind="stable")[["source", "target"]].reset_index(drop=True)


@GMT
@given(rows=st.lists(st.tuples(FIELD, FIELD), max_size=12), description=FIELD | st.just(""))
def test_any_table_without_separators_round_trips(tmp_path, rows, description):
    network = pd.DataFrame(rows, columns=["source", "target"])
    path = pnmf.io.write_gmt(network, tmp_path / "sets.gmt", description=description)
    back = pnmf.io.read_gmt(path)
    pd.testing.assert_frame_equal(
        back[["source", "target"]], grouped(network), check_dtype=False, check_index_type=False
    )
    assert (back["weight"] == 1.0).all()


@GMT
@given(
    rows=st.lists(st.tuples(FIELD, FIELD), min_size=1, max_size=6),
    where=st.sampled_from(["source", "target", "description"]),
    before=FIELD,
    separator=SEPARATORS,
)
def test_a_separator_anywhere_is_refused_and_nothing_is_written(tmp_path, rows, where, before, separator):
    network = pd.DataFrame(rows, columns=["source", "target"])
    description = "pnmf program"
    if where == "description":
        description = before + separator
    else:
        network.loc[len(network) - 1, where] = before + separator
    target = tmp_path / "refused.gmt"
    with pytest.raises(pnmf.PnmfValueError, match=r"holds tabs or line breaks, the separators of the GMT format"):
        pnmf.io.write_gmt(network, target, description=description)
    assert not target.exists()


@pytest.mark.parametrize(
    ("network", "description", "match"),
    [
        (pd.DataFrame({"source": ["a"], "target": ["g"]}), "a\tb", r"description holds tabs or line breaks"),
        (pd.DataFrame({"source": ["a"], "target": ["g"]}), "line\nbreak", r"description holds tabs or line breaks"),
        (pd.DataFrame({"source": [""], "target": ["g"]}), "d", r"network\['source'\] holds empty names"),
        (pd.DataFrame({"source": ["a"], "target": [None]}), "d", r"network\['target'\] holds missing values"),
        (pd.DataFrame({"source": ["a"], "target": ["\ud800"]}), "d", r"characters that UTF-8 cannot encode"),
    ],
)
def test_what_a_gmt_field_cannot_hold_is_refused(tmp_path, network, description, match):
    with pytest.raises(pnmf.PnmfValueError, match=match):
        pnmf.io.write_gmt(network, tmp_path / "x.gmt", description=description)
    assert not (tmp_path / "x.gmt").exists()


def test_a_description_that_is_not_text_is_refused(tmp_path):
    with pytest.raises(pnmf.PnmfTypeError, match=r"description must be a string, got 3"):
        pnmf.io.write_gmt(pd.DataFrame({"source": ["a"], "target": ["g"]}), tmp_path / "x.gmt", description=3)
