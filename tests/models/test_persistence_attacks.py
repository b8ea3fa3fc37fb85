"""Crafted model files: decompression bombs, bad headers and inconsistent arrays are refused cleanly.

Each crafted file must give a :class:`ModelFileError` (an ``InputError``: ``matloop predict`` exits
2 with one message), never a traceback, a crash or gigabytes of memory. The property test mutates
fields and bytes of a real saved model (re-computing both checksums, as a forger would) and asserts
a clean refusal or the very same predictions.
"""

from __future__ import annotations

import hashlib
import io
import json
import struct
import tracemalloc
import zipfile
import zlib

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from matloop import InputError
from matloop.cli.main import main
from matloop.models import ModelFileError, RandomForestRegressor, load_model, save_model
from matloop.models.model_checks import header_digest
from matloop.models.pipeline import MaterialModel

FORMULAS = ["Fe2O3", "NiO", "ZnO", "GaAs", "TiO2", "Al2O3", "SiO2", "MgO", "CaO", "CuO", "Cu2O", "SnO2",
            "In2O3", "GaN", "AlN", "InP", "CdS", "ZnS", "PbS", "CdTe", "Si", "Ge", "C", "BN", "MoS2", "WS2"]
NEW = ["Fe3O4", "CoO", "ZnSe", "GaP"]


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A real fitted MaterialModel (5-tree forest on compositions), its file and predictions."""
    folder = tmp_path_factory.mktemp("attacks")
    y = np.linspace(0.0, 5.0, len(FORMULAS))
    model = MaterialModel(RandomForestRegressor(5, random_state=0), kind="composition",
                          recalibrate=False).fit(pd.Series(FORMULAS), y)
    path = folder / "good.model"
    save_model(model, path, {"input": "formula", "kind": "composition", "target": "gap", "task": "regression",
                             "parameter_columns": None, "extra_inputs": [], "n_train": len(FORMULAS),
                             "model": "rf", "transfer": "none"})
    pd.DataFrame({"formula": NEW}).to_csv(folder / "new.csv", index=False)
    return {"model": model, "path": path, "folder": folder,
            "table": model.predict_table(pd.Series(NEW)), "new": folder / "new.csv"}


def parts(path) -> tuple[dict, bytes]:
    with zipfile.ZipFile(path) as archive:
        return json.loads(archive.read("matloop.json")), archive.read("model.skops")


def forge(path, header: dict, payload: bytes) -> None:
    """Write a container with both checksums recomputed (what a deliberate forger does)."""
    header = dict(header, payload_sha256=hashlib.sha256(payload).hexdigest())
    header["header_sha256"] = header_digest(header)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("matloop.json", json.dumps(header))
        archive.writestr("model.skops", payload)


def assert_refused(path, capsys, new_table) -> None:
    """load_model raises ModelFileError and `matloop predict` exits 2 with one error line, no traceback."""
    with pytest.raises(ModelFileError):
        load_model(path)
    capsys.readouterr()
    assert main(["predict", str(path), str(new_table), "-o", str(path) + ".csv"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err and len(err) < 2000


def assert_header_refused(path, capsys) -> None:
    """`matloop models info FILE` (which reads only the header) exits 2 too."""
    capsys.readouterr()
    assert main(["models", "info", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err and len(err) < 2000


# ------------------------------------------------------------------------------------- bombs
def raw_zip(members: list[tuple[str, bytes, int, int]]) -> bytes:
    """A zip written by hand: (name, deflated bytes, declared uncompressed size, crc) per member.

    Lets a test declare any size and reuse one compressed stream for many members, so that a
    6.8 GB bomb costs a few MB and a fraction of a second to build.
    """
    out, central = io.BytesIO(), []
    for name, data, size, crc in members:
        offset = out.tell()
        encoded = name.encode()
        out.write(struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0, crc, len(data), size, len(encoded), 0))
        out.write(encoded + data)
        central.append(struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 8, 0, 0, crc, len(data), size,
                                   len(encoded), 0, 0, 0, 0, 0, offset) + encoded)
    start = out.tell()
    for entry in central:
        out.write(entry)
    out.write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(central), len(central), out.tell() - start, start, 0))
    return out.getvalue()


def deflated_zeros(n: int) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    return packer.compress(bytes(n)) + packer.flush()


@pytest.fixture(scope="module")
def zeros_100mb():
    return deflated_zeros(100 * 2**20), zlib.crc32(bytes(100 * 2**20))


def assert_refused_in_little_memory(path, match: str | None = None) -> None:
    """``load_model`` refuses ``path`` while allocating under 50 MB (a bomb is judged before it inflates)."""
    tracemalloc.start()
    try:
        with pytest.raises(ModelFileError, match=match):
            load_model(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 50 * 2**20


def test_outer_bomb_of_6_8_gb_is_refused_before_inflating(saved, zeros_100mb, capsys):
    header, _ = parts(saved["path"])
    data, crc = zeros_100mb
    members = [(f"model.skops{i or ''}", data, 100 * 2**20, crc) for i in range(68)]
    members.insert(0, ("matloop.json", zlib.compress(json.dumps(header).encode())[2:-4],
                       len(json.dumps(header).encode()), zlib.crc32(json.dumps(header).encode())))
    path = saved["folder"] / "outer_bomb.model"
    path.write_bytes(raw_zip(members))
    assert path.stat().st_size < 10_000_000  # a few MB on disk, 6.8 GB declared
    assert_refused_in_little_memory(path, match="decompression bomb|inflate")
    assert_refused(path, capsys, saved["new"])
    assert_header_refused(path, capsys)


def test_inner_skops_bomb_is_refused_before_skops_reads_it(saved, zeros_100mb, capsys):
    header, payload = parts(saved["path"])
    data, crc = zeros_100mb
    with zipfile.ZipFile(io.BytesIO(payload)) as inner:
        schema = inner.read("schema.json")
    bomb = raw_zip([("schema.json", zlib.compress(schema)[2:-4], len(schema), zlib.crc32(schema))]
                   + [(f"{i}.npy", data, 100 * 2**20, crc) for i in range(68)])
    path = saved["folder"] / "inner_bomb.model"
    forge(path, header, bomb)
    assert_refused_in_little_memory(path, match="decompression bomb")
    assert_refused(path, capsys, saved["new"])


def test_a_member_that_lies_about_its_size_is_cut_off_at_the_declared_size(saved, capsys):
    """Declared 2 KB, inflates to 300 MB: never more than the declared bytes are produced."""
    header, _ = parts(saved["path"])
    head = json.dumps(header).encode()
    big = deflated_zeros(300 * 2**20)
    path = saved["folder"] / "liar.model"
    path.write_bytes(raw_zip([("matloop.json", zlib.compress(head)[2:-4], len(head), zlib.crc32(head)),
                              ("model.skops", big, 2048, 0)]))
    assert_refused_in_little_memory(path)
    assert_refused(path, capsys, saved["new"])


def test_total_limit_is_settable(saved, monkeypatch):
    monkeypatch.setenv("MATLOOP_MAX_MODEL_BYTES", "1000")
    with pytest.raises(ModelFileError, match="MATLOOP_MAX_MODEL_BYTES"):
        load_model(saved["path"])
    monkeypatch.delenv("MATLOOP_MAX_MODEL_BYTES")
    assert isinstance(load_model(saved["path"]), MaterialModel)


# ------------------------------------------------------------------------------------- headers
HEADER_EDITS = {
    "kind_bogus": lambda h: h["metadata"].update(kind="bogus"),
    "metadata_list": lambda h: h.update(metadata=[1, 2]),
    "metadata_string": lambda h: h.update(metadata="x"),
    "parameters_without_columns": lambda h: h["metadata"].update(kind="parameters", parameter_columns=None),
    "extra_inputs_number": lambda h: h["metadata"].update(extra_inputs=5),
    "input_dict": lambda h: h["metadata"].update(input={"a": 1}),
    "task_bogus": lambda h: h["metadata"].update(task="ranking"),
    "feature_names_number": lambda h: h.update(feature_names=3),
    "estimator_list": lambda h: h.update(estimator=["x"]),
    "kind_mismatch": lambda h: h["metadata"].update(kind="molecule"),
    "format_version_text": lambda h: h.update(format_version="1"),
}


@pytest.mark.parametrize("edit", sorted(HEADER_EDITS))
def test_crafted_headers_are_refused_with_exit_2(saved, edit, capsys):
    header, payload = parts(saved["path"])
    HEADER_EDITS[edit](header)
    path = saved["folder"] / f"header_{edit}.model"
    forge(path, header, payload)
    assert_refused(path, capsys, saved["new"])
    if edit != "kind_mismatch":  # a valid header that disagrees with the payload: found when loading
        assert_header_refused(path, capsys)


def test_header_edited_without_its_checksum_is_refused(saved, capsys):
    header, payload = parts(saved["path"])
    header["target_name"] = "something else"
    path = saved["folder"] / "edited.model"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("matloop.json", json.dumps(header))
        archive.writestr("model.skops", payload)
    with pytest.raises(ModelFileError, match="header_sha256 does not match"):
        load_model(path)
    assert_refused(path, capsys, saved["new"])


@pytest.mark.parametrize("text", [b'{"format": "matloop-model", "format": "x"}', b"[" * 100_000 + b"]" * 100_000,
                                  b"\xff\xfe{}", b'{"format": "matloop-model", "format_version": 1} trailing'])
def test_unparsable_headers_are_refused(saved, text, capsys):
    path = saved["folder"] / "bad_json.model"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("matloop.json", text)
        archive.writestr("model.skops", b"")
    assert_refused(path, capsys, saved["new"])
    assert_header_refused(path, capsys)


# ------------------------------------------------------------------------------------- payload arrays
def _keep_out_of_range(m):
    m.cleaner_.keep_ = m.cleaner_.keep_ + 1000


def _keep_negative(m):
    m.cleaner_.keep_ = -m.cleaner_.keep_ - 1


def _keep_float(m):
    m.cleaner_.keep_ = m.cleaner_.keep_.astype(float)


def _forest_keep(m):
    m.estimator_.cleaner_.keep_ = np.asarray([10**6])


def _spoofed_width(m):
    m.estimator_.n_features_in_ = m.estimator_.n_features_in_ + 7


def _spoofed_tree_width(m):
    for tree in m.estimator_.estimators_:
        tree.n_features_in_ += 3


def _medians_short(m):
    m.estimator_.cleaner_.medians_ = m.estimator_.cleaner_.medians_[:2]


def _domain_center(m):
    m.domain_.center_ = np.zeros(3)


def _feature_names(m):
    m.feature_names_ = m.feature_names_[:-4]


def _inbag(m):
    m.estimator_.inbag_counts_ = m.estimator_.inbag_counts_[:, :3]


def _bogus_kind(m):
    m.kind = "bogus"


def _bogus_featurizer(m):
    m.featurizer = "nonexistent"


def _other_featurizer(m):
    from matloop.represent.registry import get_featurizer

    m.featurizer, m.featurizer_ = "magpie", get_featurizer("magpie")


PAYLOAD_EDITS = [_keep_out_of_range, _keep_negative, _keep_float, _forest_keep, _spoofed_width, _spoofed_tree_width,
                 _medians_short, _domain_center, _feature_names, _inbag, _bogus_kind, _bogus_featurizer,
                 _other_featurizer]


@pytest.mark.parametrize("edit", PAYLOAD_EDITS, ids=lambda f: f.__name__.strip("_"))
def test_inconsistent_arrays_are_refused_at_load(saved, edit, capsys):
    header, _ = parts(saved["path"])
    model = load_model(saved["path"])
    edit(model)
    path = saved["folder"] / f"payload{edit.__name__}.model"
    forge(path, header, sio.dumps(model, compression=zipfile.ZIP_DEFLATED))
    assert_refused(path, capsys, saved["new"])


def test_models_info_shows_a_saved_models_header(saved, capsys):
    capsys.readouterr()
    assert main(["models", "info", str(saved["path"])]) == 0
    out = capsys.readouterr().out
    assert "matloop.models.pipeline.MaterialModel" in out and "metadata.kind" in out and "composition" in out


def test_the_real_file_still_loads_and_predicts_identically(saved, capsys):
    pd.testing.assert_frame_equal(load_model(saved["path"]).predict_table(pd.Series(NEW)), saved["table"])
    assert main(["predict", str(saved["path"]), str(saved["new"]), "-o", str(saved["folder"] / "ok.csv")]) == 0
    assert issubclass(ModelFileError, InputError)


# ------------------------------------------------------------------------------------- fuzzing
def _mutate_schema(schema: bytes, pick: int, value) -> bytes:
    """Replace the ``pick``-th scalar of the skops schema (a number, string or bool) by ``value``."""
    tree = json.loads(schema)
    slots = []

    def visit(node):
        items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else []
        for key, child in items:
            if isinstance(child, dict | list):
                visit(child)
            else:
                slots.append((node, key))

    visit(tree)
    node, key = slots[pick % len(slots)]
    node[key] = value
    return json.dumps(tree).encode()


def _rezip(payload: bytes, replace: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(payload)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, replace.get(info.filename, src.read(info.filename)))
    return out.getvalue()


def _outcome(saved, path):
    """Refused cleanly (None) or the loaded model's predictions."""
    try:
        model = load_model(path)
    except ModelFileError:
        return None
    return model.predict_table(pd.Series(NEW))


def _same_or_refused(saved, path) -> None:
    table = _outcome(saved, path)
    if table is not None:  # accepted: then it must predict exactly as the saved model
        pd.testing.assert_frame_equal(table, saved["table"])


SCALARS = st.one_of(st.integers(-2**40, 2**40), st.floats(allow_nan=True), st.text(max_size=30), st.booleans(),
                    st.none())


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(pick=st.integers(0, 10**6), value=SCALARS)
def test_fuzzed_schema_fields_are_refused_or_harmless(saved, tmp_path_factory, pick, value):
    header, payload = parts(saved["path"])
    with zipfile.ZipFile(io.BytesIO(payload)) as inner:
        schema = inner.read("schema.json")
    path = tmp_path_factory.mktemp("fuzz") / "m.model"
    forge(path, header, _rezip(payload, {"schema.json": _mutate_schema(schema, pick, value)}))
    _same_or_refused(saved, path)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(member=st.integers(0, 10**6), offset=st.integers(0, 10**9), byte=st.integers(0, 255))
def test_fuzzed_array_bytes_are_refused_or_harmless(saved, tmp_path_factory, member, offset, byte):
    header, payload = parts(saved["path"])
    with zipfile.ZipFile(io.BytesIO(payload)) as inner:
        names = sorted(n for n in inner.namelist() if n.endswith(".npy"))
        name = names[member % len(names)]
        data = bytearray(inner.read(name))
    data[offset % len(data)] = byte
    path = tmp_path_factory.mktemp("fuzz") / "m.model"
    forge(path, header, _rezip(payload, {name: bytes(data)}))
    try:
        _same_or_refused(saved, path)
    except AssertionError:
        # a changed threshold or leaf value is a different, valid model: it must still load and
        # predict finite numbers for every row (no crash, no traceback)
        table = _outcome(saved, path)
        assert table is not None and len(table) == len(NEW)


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(offset=st.integers(0, 10**9), byte=st.integers(0, 255))
def test_fuzzed_file_bytes_are_refused_or_harmless(saved, tmp_path_factory, offset, byte):
    data = bytearray(saved["path"].read_bytes())
    data[offset % len(data)] = byte
    path = tmp_path_factory.mktemp("fuzz") / "m.model"
    path.write_bytes(bytes(data))
    _same_or_refused(saved, path)
