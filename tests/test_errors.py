"""User mistakes raise pnmf's error types (also the built-in ones), with a message naming the fix."""

import numpy as np
import pytest

import pnmf


def test_error_types_are_also_the_builtin_ones():
    assert issubclass(pnmf.PnmfValueError, ValueError)
    assert issubclass(pnmf.PnmfValueError, pnmf.PnmfError)
    assert issubclass(pnmf.PnmfKeyError, KeyError)
    assert issubclass(pnmf.PnmfKeyError, pnmf.PnmfError)
    assert issubclass(pnmf.PnmfTypeError, TypeError)
    assert issubclass(pnmf.PnmfIndexError, IndexError)
    assert str(pnmf.PnmfKeyError("a sentence")) == "a sentence"  # not quoted like a key


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"normalize": "yes"}, TypeError, "normalize must be True or False"),
        ({"copy": 1}, TypeError, "copy must be True or False"),
        ({"random_state": 1.5}, TypeError, "random_state must be an integer seed"),
        ({"random_state": -1}, ValueError, "random_state=-1 is out of range"),
        ({"random_state": np.random.default_rng(0)}, TypeError, "numpy Generator"),
        ({"n_jobs": 0}, ValueError, "n_jobs=0"),
        ({"key_added": 3}, TypeError, "key_added must be a non-empty string"),
        ({"max_iter": True}, TypeError, "max_iter must be an integer"),
        ({"tol": float("nan")}, ValueError, "tol=nan"),
        ({"layer": "nope"}, KeyError, "layer='nope'"),
    ],
)
def test_tl_pnmf_user_mistakes(populations, kwargs, error, match):
    with pytest.raises(error, match=match) as raised:
        pnmf.tl.pnmf(populations, 3, **kwargs)
    assert isinstance(raised.value, pnmf.PnmfError)


def test_random_state_accepts_a_randomstate_and_records_a_seed(populations):
    pnmf.tl.pnmf(populations, 3, n_scales=2, max_iter=5, max_sweeps=1, random_state=np.random.RandomState(0))
    assert isinstance(populations.uns["pnmf"]["params"]["random_state"], int)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"n_neighbors": 1}, ValueError, "n_neighbors=1"),
        ({"min_dist": -1.0}, ValueError, "min_dist=-1.0"),
        ({"init_pos": "paga"}, ValueError, "init_pos='paga'"),
        ({"random_state": "a"}, TypeError, "random_state must be an integer seed"),
        ({"copy": "no"}, TypeError, "copy must be True or False"),
        ({"key": 5}, TypeError, "key must be the key_added"),
        ({"key": "nope"}, KeyError, "No pnmf result under key 'nope'"),
        ({"which": 0}, TypeError, "which must be a sequence of scale indices"),
        ({"which": []}, ValueError, "which is empty"),
        ({"which": [0, 0]}, ValueError, "names a scale twice"),
        ({"which": [99]}, IndexError, "scale=99 is out of range"),
    ],
)
def test_tl_umap_user_mistakes(fitted, kwargs, error, match):
    with pytest.raises(error, match=match) as raised:
        pnmf.tl.umap(fitted, **kwargs)
    assert isinstance(raised.value, pnmf.PnmfError)


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda a: pnmf.get.embedding(a, 1.5), TypeError, "scale must be an integer"),
        (lambda a: pnmf.get.embedding(a, 7), IndexError, "out of range"),
        (lambda a: pnmf.get.loadings(a, True), TypeError, "scale must be an integer"),
        (lambda a: pnmf.get.top_genes(a, n_genes=0), ValueError, "n_genes=0"),
        (lambda a: pnmf.get.scales(a, key=["pnmf"]), TypeError, "key must be the key_added"),
        (lambda a: pnmf.get.history(a.X), TypeError, "Expected an AnnData"),
        (lambda a: pnmf.get.scale_scores(a, "nope"), KeyError, "No scores against 'nope'"),
    ],
)
def test_getters_user_mistakes(fitted, call, error, match):
    with pytest.raises(error, match=match) as raised:
        call(fitted)
    assert isinstance(raised.value, pnmf.PnmfError)
