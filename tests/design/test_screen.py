"""Streaming screening: exact top-k, filters, penalties, domain, and a real local Dask cluster."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from matloop import datasets
from matloop.design.acquisition import Objective
from matloop.design.chemistry_rules import ChemistryRules
from matloop.design.enumerate import ElementSpace, integer_formulas
from matloop.design.screen import Filters, Penalties, screen, sustainability
from matloop.errors import InputError


@pytest.fixture(scope="module")
def model():
    """A small forest on magpie features of 200 experimental band gaps, with its domain."""
    from matloop.models.forest import RandomForestRegressor
    from matloop.models.pipeline import MaterialModel

    ds = datasets.load("matbench_expt_gap")
    frame = ds.frame.sample(200, random_state=0)
    forest = RandomForestRegressor(n_estimators=20, min_samples_leaf=2, noise="oob", random_state=0)
    return MaterialModel(forest, featurizer="magpie", recalibrate=False).fit(frame[ds.input], frame[ds.target])


@pytest.fixture(scope="module")
def space():
    return ElementSpace(["Li", "Fe", "Mn", "P", "O"], max_atoms=10)


@pytest.fixture(scope="module")
def cluster():
    """A real Dask scheduler and two worker processes on loopback."""
    distributed = pytest.importorskip("dask.distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as local:
        yield local


def _all_scored(model, space):
    """Brute force: every candidate passing the rules, predicted at once."""
    comps, raw = space.block(0, space.n_raw, return_index=True)
    ok = np.flatnonzero(ChemistryRules().valid(comps))
    mean, std = model.predict(comps.take(ok), return_std=True)
    return raw[ok], np.asarray(mean), np.asarray(std), comps.take(ok)


def test_top_k_is_exact_and_memory_is_per_chunk(model, space):
    result = screen(space, model, top=25, chunk_size=700)
    hits = result.hits
    ok, mean, std, passed = _all_scored(model, space)
    order = np.lexsort((ok, -mean))[:25]  # score desc, then candidate order
    assert hits["_id"].tolist() == ok[order].tolist()
    np.testing.assert_allclose(hits["prediction"], mean[order], rtol=1e-12)
    np.testing.assert_allclose(hits["std"], std[order], rtol=1e-9)
    assert hits["rank"].tolist() == list(range(1, 26))
    assert list(hits.columns[:8]) == ["rank", "_id", "formula", "prediction", "std", "in_domain",
                                      "domain_distance", "score"]
    assert {"hhi_production", "price_usd_per_kg", "toxic", "radioactive", "oxidation_states"} <= set(hits.columns)
    assert hits["formula"].tolist() == integer_formulas(passed.take(order))
    assert result.counts["candidates"] == space.count() and result.counts["passed_rules"] == len(ok)
    assert result.chunks == -(-space.n_raw // 700)
    flag, dist = model.in_domain(passed.take(order))
    assert hits["in_domain"].tolist() == list(flag)
    np.testing.assert_allclose(hits["domain_distance"], dist)


def test_result_does_not_depend_on_chunking_or_threads(model, space):
    a = screen(space, model, top=30, chunk_size=50_000).hits
    b = screen(space, model, top=30, chunk_size=333, n_jobs=2).hits
    pd.testing.assert_frame_equal(a, b)


def test_acquisitions_objectives_and_errors(model, space):
    ucb = screen(space, model, top=10, acquisition="ucb", chunk_size=2000).hits
    np.testing.assert_allclose(ucb["score"], ucb["prediction"] + 2.0 * ucb["std"])
    assert np.all(np.diff(ucb["score"]) <= 0)
    low = screen(space, model, top=10, objective=Objective("min")).hits
    _, mean, _, _ = _all_scored(model, space)
    assert low["prediction"].iloc[0] == pytest.approx(mean.min())
    window = screen(space, model, top=10, objective=Objective("range", 1.0, 1.5)).hits
    assert np.all((window["score"] >= 0) & (window["score"] <= 1))
    ei = screen(space, model, top=5, acquisition="ei", best=2.0).hits
    assert np.all(ei["score"] >= 0)
    with pytest.raises(InputError, match="best"):
        screen(space, model, top=5, acquisition="logei")
    with pytest.raises(InputError, match="novelty"):
        screen(space, model, top=5, acquisition="novelty")


def test_sustainability_filters_and_penalties(model):
    space = ElementSpace(["Li", "Ni", "Co", "Mn", "O"], max_atoms=8)
    everything = screen(space, model, top=10**6).hits  # every candidate passing the rules, ranked
    assert everything["toxic"].any() and (everything["hhi_production"] > 3000).any()
    safe = screen(space, model, top=20, filters=Filters(exclude_toxic=True, max_hhi=3000)).hits
    allowed = everything[~everything["toxic"] & (everything["hhi_production"] <= 3000)]
    assert safe["_id"].tolist() == allowed["_id"].head(20).tolist()
    assert not safe["formula"].str.contains("Ni").any()
    weighted = screen(space, model, top=20, penalties=Penalties(hhi=2.0, price=0.1)).hits
    expected = (weighted["prediction"] - 2.0 * weighted["hhi_production"] / 1e4
                - 0.1 * np.log10(weighted["price_usd_per_kg"]))
    np.testing.assert_allclose(weighted["score"], expected)
    from matloop.io.formula import parse_formulas

    s = sustainability(parse_formulas(["LiCoO2", "NiO", "Tc2O7"]))
    assert s["toxic"].tolist() == [False, True, False] and s["radioactive"].tolist() == [False, False, True]


def test_in_domain_only_and_formula_lists(model):
    formulas = datasets.load("matbench_expt_gap").frame["composition"].iloc[:1500].tolist()
    formulas += ["Li8Fe9", "U3O8", "HfTaWReOs"]  # odd ones, likely out of domain
    everything = screen(formulas, model, top=40).hits
    inside = screen(formulas, model, top=40, in_domain_only=True).hits
    assert inside["in_domain"].all() and len(inside) == 40
    assert set(inside["_id"]) >= set(everything.loc[everything["in_domain"], "_id"])
    assert "oxidation_states" not in everything.columns  # no rules for given formulas by default
    rules = screen(formulas, model, top=40, rules=ChemistryRules()).hits
    assert ChemistryRules().valid([formulas[i] for i in rules["_id"]]).all()


def test_bare_regressor_with_featurizer_and_domain(model, space):
    from matloop.models.domain import ApplicabilityDomain

    forest = model.estimator_
    train = model.features(datasets.load("matbench_expt_gap").frame["composition"].iloc[:200])
    domain = ApplicabilityDomain().fit(train.to_numpy())
    hits = screen(space, forest, featurizer="magpie", domain=domain, top=10).hits
    same = screen(space, model, top=10).hits
    assert hits["formula"].tolist() == same["formula"].tolist()
    from matloop.errors import MatloopError

    with pytest.raises(MatloopError, match="featurize"):
        screen(space, forest, top=10)
    with pytest.raises(InputError, match="itself"):
        screen(space, model, featurizer="magpie", top=10)


def test_dask_cluster_gives_the_in_process_result(model, space, cluster):
    from dask.distributed import Client

    kwargs = dict(top=20, chunk_size=1500, acquisition="thompson", seed=3,
                  filters=Filters(exclude_toxic=True), penalties=Penalties(hhi=0.5))
    here = screen(space, model, **kwargs)
    there = screen(space, model, scheduler=cluster.scheduler_address, **kwargs)
    pd.testing.assert_frame_equal(here.hits, there.hits)
    counts = {k: v for k, v in here.counts.items() if not k.startswith("seconds")}
    assert counts == {k: v for k, v in there.counts.items() if not k.startswith("seconds")}
    assert "Dask" in there.where
    formulas = [f for c in space.chunks(5000) for f in integer_formulas(c)][:2000]
    with Client(cluster.scheduler_address) as client:  # an existing client is used, not closed
        listed = screen(formulas, model, top=15, chunk_size=700, scheduler=client)
        assert client.status == "running"
    pd.testing.assert_frame_equal(listed.hits, screen(formulas, model, top=15, chunk_size=700).hits)


def test_safety_as_objectives_toxic_and_radioactive_penalties(model):
    from matloop.io.formula import parse_formulas

    formulas = ["LiCoO2", "NiO", "LiNiO2", "Tc2O7", "Li2O", "PbO", "CdTe"]
    plain = screen(formulas, model, top=7).hits
    weighted = screen(formulas, model, top=7, penalties=Penalties(toxic=5.0, radioactive=3.0)).hits
    s = sustainability(parse_formulas(weighted["formula"].tolist()))
    toxic = {"NiO": 0.5, "LiNiO2": 0.25, "PbO": 0.5, "CdTe": 0.5}  # atomic fraction of As/Be/Cd/Cr/Hg/Ni/Pb
    np.testing.assert_allclose(s["toxic_fraction"], [toxic.get(f, 0.0) for f in weighted["formula"]])
    np.testing.assert_allclose(s["radioactive_fraction"], [2 / 9 if f == "Tc2O7" else 0 for f in weighted["formula"]])
    expected = weighted["prediction"] - 5.0 * s["toxic_fraction"] - 3.0 * s["radioactive_fraction"]
    np.testing.assert_allclose(weighted["score"], expected)
    assert set(plain["formula"]) == set(weighted["formula"])
    safe_first = weighted["formula"].head(2).tolist()
    assert not set(safe_first) & set(toxic)  # the penalty of 2.5 eV pushes the half-toxic ones down
    assert "toxic_fraction" not in weighted.columns  # only the flags are written
    with pytest.raises(InputError, match="not negative"):
        Penalties(toxic=-1.0)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"acquisition": "nope"}, "unknown acquisition"),
    ({"acquisition": "window"}, "target range"),
    ({"acquisition": "ucb", "objective": Objective("range", 1.0, 2.0)}, "does not apply"),
    ({"acquisition": "pi"}, "best"),
])
def test_acquisition_problems_are_input_errors(model, kwargs, message):
    from matloop.design.screen import check_acquisition

    with pytest.raises(InputError, match=message):
        screen(["LiFePO4", "NaCl"], model, top=2, **kwargs)
    with pytest.raises(InputError, match=message):
        check_acquisition(kwargs["acquisition"], kwargs.get("objective"), None)
    assert check_acquisition("thompson", Objective("range", 1.0, 2.0)).name == "thompson"
