"""The on-disk feature cache: content keys, no recomputation, per-row errors, safe files, Dask batches."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from matloop.errors import InputError
from matloop.represent.feature_cache import (
    FeatureCache,
    cache_root,
    cached_transform,
    content_keys,
    featurizer_token,
    options,
)

CIF = """data_NaCl
_cell_length_a 5.64
_cell_length_b 5.64
_cell_length_c 5.64
_cell_angle_alpha 90
_cell_angle_beta 90
_cell_angle_gamma 90
_symmetry_space_group_name_H-M 'F m -3 m'
_symmetry_Int_Tables_number 225
loop_
_symmetry_equiv_pos_as_xyz
x,y,z
loop_
_atom_site_label
_atom_site_type_symbol
_atom_site_fract_x
_atom_site_fract_y
_atom_site_fract_z
_atom_site_occupancy
Na1 Na 0 0 0 1
Cl1 Cl 0.5 0.5 0.5 1
"""


class CountingFeaturizer:
    """Length and line count of each text; counts the rows it computes. 'bad' rows are input errors."""

    def __init__(self, scale: float = 1.0):
        self.scale = scale
        self.seen: list[str] = []

    def get_params(self, deep: bool = False) -> dict:
        return {"scale": self.scale}

    def fit(self, X, y=None):
        return self

    def fit_transform(self, X, y=None):
        return self.fit(X).transform(X)

    def get_feature_names_out(self):
        return np.array(["chars", "lines"], dtype=object)

    def transform(self, X):
        from matloop.errors import error_table

        values = list(X)
        bad = [{"row": i + 1, "column": "s", "value": v, "reason": "bad text"}
               for i, v in enumerate(values) if "bad" in str(v)]
        if bad:
            raise InputError("bad rows", error_table(bad))
        self.seen.extend(values)
        return pd.DataFrame([[len(v) * self.scale, v.count("\n")] for v in values], columns=["chars", "lines"])


def _texts(n: int) -> list[str]:
    return [f"structure {i}\nline\n" + "x\n" * (i % 5) for i in range(n)]


def test_second_run_reads_the_cache_and_equals_the_first(tmp_path):
    texts = _texts(30)
    first = CountingFeaturizer()
    a = cached_transform(first, texts, cache_dir=tmp_path, batch_size=7)
    assert len(first.seen) == 30
    second = CountingFeaturizer()
    b = cached_transform(second, pd.Series(texts, index=range(100, 130)), cache_dir=tmp_path)
    assert second.seen == []  # nothing recomputed
    np.testing.assert_array_equal(a.to_numpy(), b.to_numpy())
    assert list(b.index) == list(range(100, 130)) and list(b.columns) == ["chars", "lines"]
    # only new rows are computed; a changed parameter is a different featurizer
    third = CountingFeaturizer()
    cached_transform(third, texts[:10] + ["structure new\ny"], cache_dir=tmp_path)
    assert third.seen == ["structure new\ny"]
    scaled = CountingFeaturizer(scale=2.0)
    c = cached_transform(scaled, texts, cache_dir=tmp_path)
    assert len(scaled.seen) == 30 and c["chars"].iloc[0] == 2 * a["chars"].iloc[0]


def test_files_are_keyed_by_content_not_name(tmp_path):
    one, two = tmp_path / "a.cif", tmp_path / "b.cif"
    one.write_text(CIF)
    two.write_text(CIF)
    keys = content_keys([str(one), str(two), CIF, "missing.cif", None, float("nan")])
    assert keys[0] == keys[1] and keys[0] is not None and keys[2] is not None
    assert keys[3:] == [None, None, None]
    two.write_text(CIF.replace("5.64", "5.70"))
    assert content_keys([str(two)])[0] != keys[0]
    assert content_keys(["a.cif"], base_dir=tmp_path) == [keys[0]]


def test_bad_rows_of_all_batches_are_reported_with_user_rows(tmp_path):
    texts = _texts(10)
    texts[2] = "bad one\nx"
    texts[8] = "bad two\nx"
    series = pd.Series(texts, name="cif")
    with pytest.raises(InputError) as info:
        cached_transform(CountingFeaturizer(), series, cache_dir=tmp_path, batch_size=3, rows=range(11, 21))
    table = info.value.table
    assert list(table["row"]) == [13, 19] and set(table["column"]) == {"cif"}
    # the good batches (rows 4-6 and 10) were stored: only the batches that failed are computed again
    texts[2], texts[8] = "fixed one\nx", "fixed two\nx"
    again = CountingFeaturizer()
    cached_transform(again, texts, cache_dir=tmp_path, batch_size=3)
    assert again.seen == [texts[i] for i in (0, 1, 2, 6, 7, 8)]


def test_damaged_or_foreign_shards_are_ignored_and_files_are_safe(tmp_path):
    texts = _texts(5)
    featurizer = CountingFeaturizer()
    cached_transform(featurizer, texts, cache_dir=tmp_path)
    cache = FeatureCache(tmp_path, featurizer_token(featurizer))
    shards = list(cache.directory.glob("shard-*.npz"))
    assert len(shards) == 1 and json.loads((cache.directory / "meta.json").read_text())["columns"] == ["chars", "lines"]
    with np.load(shards[0], allow_pickle=False) as data:  # plain arrays: no object dtype
        assert data["keys"].dtype.kind == "U" and data["values"].dtype == np.float64
    shards[0].write_bytes(b"not an npz file")
    again = CountingFeaturizer()
    out = cached_transform(again, texts, cache_dir=tmp_path)
    assert len(again.seen) == 5 and out.shape == (5, 2)


def test_cache_location_and_switch(tmp_path, monkeypatch):
    monkeypatch.setenv("MATLOOP_CACHE_DIR", str(tmp_path / "c"))
    assert cache_root() == tmp_path / "c"
    featurizer = CountingFeaturizer()
    cached_transform(featurizer, _texts(3))
    assert any((tmp_path / "c").rglob("shard-*.npz"))
    monkeypatch.setenv("MATLOOP_CACHE_DIR", "off")
    assert cache_root() is None
    off = CountingFeaturizer()
    cached_transform(off, _texts(3))
    cached_transform(off, _texts(3))
    assert len(off.seen) == 6
    with options(cache_dir=tmp_path / "d"):
        cached_transform(CountingFeaturizer(), _texts(2))
    assert any((tmp_path / "d").rglob("shard-*.npz"))


def test_structure_featurizer_second_fit_reads_nothing(tmp_path, monkeypatch):
    pytest.importorskip("pymatgen.core")
    from matloop.represent import structure_features
    from matloop.represent.structure import StructureFeaturizer

    poscars = [
        f"Cu\n1.0\n0 {a} {a}\n{a} 0 {a}\n{a} {a} 0\nCu\n1\ndirect\n0 0 0\n" for a in (1.75, 1.80, 1.85)
    ] + [CIF]
    first = cached_transform(StructureFeaturizer(), poscars, fit=True, cache_dir=tmp_path)
    reference = StructureFeaturizer().fit_transform(poscars)
    np.testing.assert_array_equal(first.to_numpy(), reference.to_numpy())

    def fail(*args, **kwargs):
        raise AssertionError("structures were read again")

    monkeypatch.setattr(structure_features, "read_structures", fail)
    again = StructureFeaturizer()
    second = cached_transform(again, poscars, fit=True, cache_dir=tmp_path)
    np.testing.assert_array_equal(second.to_numpy(), first.to_numpy())
    assert list(again.get_feature_names_out()) == list(reference.columns)


def test_batches_on_a_local_dask_cluster(tmp_path):
    distributed = pytest.importorskip("dask.distributed")
    texts = _texts(23)
    texts[17] = "bad\nx"
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        with pytest.raises(InputError) as info:
            cached_transform(CountingFeaturizer(), texts, cache_dir=tmp_path, batch_size=4, scheduler=client)
        assert list(info.value.table["row"]) == [18]
        texts[17] = "good\nx"
        out = cached_transform(CountingFeaturizer(), texts, cache_dir=tmp_path, batch_size=4,
                               scheduler=cluster.scheduler_address)
    local = CountingFeaturizer().transform(texts)
    np.testing.assert_array_equal(out.to_numpy(), local.to_numpy())
