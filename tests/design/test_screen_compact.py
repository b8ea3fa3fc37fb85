"""The compact screening model (MODEL.screen), lazy chunks and the refusal of hopeless spaces."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from matloop import datasets
from matloop.design.enumerate import ElementSpace
from matloop.design.screen import _tasks, check_feasible, screen
from matloop.errors import InputError
from matloop.models.compact import (
    fit_screening_model,
    load_screening_model,
    save_screening_model,
    screening_model_path,
    supports_screening_model,
    write_for_screening,
)
from matloop.models.persistence import save_model

BIG = ["Li", "O", "Fe", "S", "Mg", "N", "Ti", "F", "Cu", "P", "Zn", "Cl", "Na", "Se", "Mn", "Si", "Ca", "Br", "Co", "B"]


@pytest.fixture(scope="module")
def fitted():
    """A full model (60-tree forest with the default local noise) on 400 band gaps, and its inputs."""
    from matloop.models.forest import RandomForestRegressor
    from matloop.models.pipeline import MaterialModel

    ds = datasets.load("matbench_expt_gap")
    frame = ds.frame.sample(400, random_state=1)
    forest = RandomForestRegressor(n_estimators=60, random_state=0)
    model = MaterialModel(forest, featurizer="magpie", recalibrate=False).fit(frame[ds.input], frame[ds.target])
    return model, frame[ds.input]


@pytest.fixture(scope="module")
def saved(fitted, tmp_path_factory):
    model, X = fitted
    path = tmp_path_factory.mktemp("m") / "gap.model"
    save_model(model, path)
    note = write_for_screening(model, X, path)
    assert note and "gap.model.screen" in note
    return path


def test_compact_model_imitates_the_full_model(fitted):
    model, X = fitted
    compact = fit_screening_model(model, X, n_synthetic=400)
    held = ElementSpace(["Li", "Fe", "Mn", "P", "O", "S"], max_atoms=8).block(0, 3000)
    F = model.features(held)
    full = model.estimator_.predict(F)
    err = np.abs(compact.predict(F) - full)
    spread = np.abs(full - full.mean())
    assert err.mean() < 0.5 * spread.mean()  # far closer to the full model than a constant is
    assert np.corrcoef(compact.predict(F), full)[0, 1] > 0.8


def test_screen_with_compact_reports_full_model_values(fitted, saved):
    model, _ = fitted
    compact, why = load_screening_model(saved)
    assert compact is not None, why
    space = ElementSpace(["Li", "Fe", "Mn", "P", "O", "S"], max_atoms=8)
    exact = screen(space, model, top=20, rules=None, chunk_size=2000).hits
    fast = screen(space, model, top=20, rules=None, chunk_size=2000, compact=compact, shortlist=200)
    hits = fast.hits
    assert fast.counts["shortlisted"] < fast.counts["passed_filters"]  # the full model saw a shortlist only
    comps = space.block(0, space.n_raw, return_index=True)
    pos = np.searchsorted(comps[1], hits["_id"].to_numpy())
    mean, std = model.predict(comps[0].take(pos), return_std=True)
    np.testing.assert_allclose(hits["prediction"], mean, rtol=1e-12)  # the full model's numbers
    np.testing.assert_allclose(hits["std"], std, rtol=1e-9)
    assert np.all(np.diff(hits["score"].to_numpy()) <= 0)
    recall = len(set(hits["_id"]) & set(exact["_id"])) / len(exact)
    assert recall >= 0.7
    assert "re-scored by the full model" in fast.summary()


def test_stale_or_missing_compact_model_is_ignored(fitted, saved, tmp_path):
    model, X = fitted
    other = tmp_path / "other.model"
    assert load_screening_model(other)[0] is None  # none beside it
    save_model(model, other, metadata={"note": "refitted"})
    compact = fit_screening_model(model, X, n_synthetic=100)
    save_screening_model(compact, saved)  # bound to gap.model ...
    screening_model_path(saved).replace(screening_model_path(other))  # ... but moved beside another model
    save_model(model, other, metadata={"note": "changed"})
    got, why = load_screening_model(other)
    assert got is None and "another model" in why
    assert not supports_screening_model(compact)  # a bare forest gets no compact model of its own
    assert write_for_screening(compact, X, other) is None
    assert not screening_model_path(other).exists()  # and a stale one is removed


def test_chunks_are_generated_lazily():
    space = ElementSpace(BIG, max_atoms=30)  # ~1e14 raw indices: the list of bounds would be ~60 GB
    tracemalloc.start()
    tasks = _tasks(space, 100_000)
    first = [next(tasks) for _ in range(3)]
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert first[0] == ("space", 0, 100_000) and first[2] == ("space", 200_000, 300_000)
    assert peak < 1_000_000


def test_hopeless_space_is_refused_with_its_size(fitted):
    model, _ = fitted
    space = ElementSpace(BIG, max_atoms=50)
    with pytest.raises(InputError, match=r"161,884,603,662,656,875 .*years"):
        screen(space, model, top=5)
    check_feasible(ElementSpace(BIG[:8], max_atoms=12))  # an ordinary space passes
