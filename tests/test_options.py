"""PnmfOptions: one validated object for the options of a fit, stored in the manifest without loss."""

import inspect
from dataclasses import fields, replace

import anndata as ad
import numpy as np
import pytest

import pnmf
from pnmf._options import HVG_IF_PRESENT, PnmfOptions

FIELDS = [f.name for f in fields(PnmfOptions)]


@pytest.mark.parametrize("tool", [pnmf.tl.pnmf, pnmf.tl.select_k], ids=["pnmf", "select_k"])
def test_tools_take_every_option_with_its_default(tool):
    params = inspect.signature(tool).parameters
    for name in FIELDS:
        assert name in params, f"{tool.__name__} lacks the option {name}"
        if name == "n_comps" or (tool is pnmf.tl.select_k and name == "tol"):
            continue  # select_k takes several k, and converges its runs further (test_select_k.py)
        assert params[name].default == getattr(PnmfOptions, name), name


OPTIONS = {
    "defaults": PnmfOptions(),
    "explicit scales": PnmfOptions(scales=[3.0, 0.5, 1.0], coupling_weight=0.0),
    "all genes, no seed": PnmfOptions(mask_var=None, random_state=None, normalize=False),
    "a column and inputs": PnmfOptions(
        7, n_scales=3, mask_var="highly_variable", layer="counts", n_pcs=20, neighbors_key="nn", use_rep="X_umap"
    ),
    "a mask": PnmfOptions(mask_var=np.array([True, False, True]), filtration="rips", scales="all"),
}


@pytest.mark.parametrize("options", OPTIONS.values(), ids=OPTIONS.keys())
def test_to_uns_and_back_is_lossless_also_through_h5ad(options, tmp_path):
    stored = options.to_uns()
    assert all(value is not None for value in stored.values())
    assert PnmfOptions.from_uns(stored) == options
    adata = ad.AnnData(np.zeros((2, 3)))
    adata.uns["params"] = stored
    adata.write_h5ad(tmp_path / "params.h5ad")
    assert PnmfOptions.from_uns(ad.read_h5ad(tmp_path / "params.h5ad").uns["params"]) == options


def test_given_values_are_normalized():
    options = PnmfOptions(scales=(3, 1), random_state=np.random.RandomState(0), n_comps=np.int64(4))
    assert options.scales == (1.0, 3.0)
    assert isinstance(options.random_state, int)
    assert type(options.n_comps) is int
    assert PnmfOptions().mask_var is HVG_IF_PRESENT
    assert PnmfOptions(mask_var=[True, False]).mask_var.dtype == bool


def test_other_manifest_entries_are_ignored_and_overrides_win():
    params = {**PnmfOptions(5).to_uns(), "expression": "adata.X", "n_genes": 10, "source": "pnmf"}
    assert PnmfOptions.from_uns(params) == PnmfOptions(5)
    assert PnmfOptions.from_uns(params, scales=(1.0,), graph_weight=0.0) == PnmfOptions(
        5, scales=(1.0,), graph_weight=0.0
    )


def test_params_written_before_the_thresholds_were_kept_need_them():
    legacy = {"n_comps": 3, "n_scales": 4, "scales": "explicit", "n_pcs": 10}
    with pytest.raises(pnmf.PnmfValueError, match="pass scales=<the manifest's thresholds>"):
        PnmfOptions.from_uns(legacy)
    assert PnmfOptions.from_uns(legacy, scales=(1.0, 2.0), n_scales=None).scales == (1.0, 2.0)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        # (tests/tl/test_pnmf.py checks the others through tl.pnmf)
        ({"n_scales": 3, "scales": [1.0]}, ValueError, "conflicts with"),
        ({"scales": np.array([np.inf])}, ValueError, "positive finite thresholds"),
        ({"max_sweeps": -1}, ValueError, "max_sweeps=-1 is out of range"),
        ({"n_pcs": 0}, ValueError, "n_pcs=0 is out of range"),
        ({"normalize": "yes"}, TypeError, "normalize must be True or False"),
        ({"random_state": -1}, ValueError, "random_state=-1 is out of range"),
    ],
)
def test_each_option_is_checked(kwargs, error, match):
    with pytest.raises(error, match=match) as raised:
        PnmfOptions(**kwargs)
    assert isinstance(raised.value, pnmf.PnmfError)


def test_replace_checks_again():
    with pytest.raises(pnmf.PnmfValueError, match=r"coupling_weight=-1\.0 is invalid"):
        replace(PnmfOptions(), coupling_weight=-1.0)


def test_collect_takes_the_options_by_name():
    arguments = {"adata": None, "n_comps": 4, "graph_weight": 2.0, "key_added": "x", "copy": False}
    assert PnmfOptions.collect(arguments, tol=1e-3) == PnmfOptions(4, graph_weight=2.0, tol=1e-3)
    assert set(PnmfOptions(4).as_kwargs()) == set(FIELDS)


def test_the_manifest_records_the_options_of_the_run(fitted):
    params = fitted.uns["pnmf"]["params"]
    # graph_weight='auto' is recorded as the weight chosen, so that the run can be repeated
    as_run = PnmfOptions(5, n_scales=3, max_iter=40, max_sweeps=2, graph_weight=params["graph_weight"])
    assert PnmfOptions.from_uns(params) == as_run
    assert params["graph_weight_rule"] == "cross-validated"
    assert {"expression", "n_genes", "representation", "graph"} <= set(params)


@pytest.mark.parametrize(("scales", "shown"), [(5, "5"), (5.0, "5.0"), (np.int64(3), "3"), (np.array(2.0), "2.0")])
def test_a_single_number_for_scales_is_refused_naming_n_scales(scales, shown):
    with pytest.raises(pnmf.PnmfTypeError, match=rf"scales={shown} is a single number.*pass n_scales={shown};"):
        PnmfOptions(scales=scales)


def test_a_params_value_that_no_longer_parses_is_refused_by_name():
    with pytest.raises(pnmf.PnmfTypeError, match=r"params\['scales'\]=None is not a value of the option scales"):
        PnmfOptions.from_uns({"scales": None})
    assert PnmfOptions.from_uns({"scales": None}, scales=(1.0,)).scales == (1.0,)  # an override is not read
