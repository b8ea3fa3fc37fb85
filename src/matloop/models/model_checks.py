"""Checks that make a model file from a stranger safe to open: sizes, header schema, array shapes.

:mod:`matloop.models.persistence` loads model files with an allow-list of types, so a file cannot
run code. A crafted file can still (a) inflate to gigabytes when its zip members are decompressed
(a decompression bomb), (b) carry a header whose fields have the wrong types or values, and (c)
hold allowed objects whose arrays disagree with each other (an index outside the feature matrix, a
model expecting more columns than it is given), which fail deep inside NumPy or scikit-learn with
a traceback. This module refuses all three with a plain :class:`~matloop.models.persistence`
error, *before* the work they would cause:

* :func:`check_archive` reads only the zip central directory: member count, names, compression
  method, declared uncompressed sizes, their total and their ratio to the compressed sizes.
  ``zipfile`` never inflates a member beyond its declared size, so the declared limits bound the
  memory actually used; :func:`read_member` streams a member with the same cap on top.
* :func:`check_header` validates the JSON header field by field and its SHA-256
  (``header_sha256`` covers every other header field, as ``payload_sha256`` covers the payload;
  both detect damage and careless edits, not a determined forger, which is why everything that
  is read is also validated).
* :func:`check_model` validates the arrays of the loaded estimators (column indices inside the
  input width, statistics as long as the columns they describe, consistent input widths along the
  chain) and then runs a two-row prediction on the declared input width, so that a file which
  cannot predict is refused when it is loaded, not later with a traceback.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import warnings
import zipfile
from typing import Any

import numpy as np

#: Total uncompressed bytes a model file may hold (header + payload + the payload's own members);
#: raise it with the environment variable ``MATLOOP_MAX_MODEL_BYTES`` for an unusually large model.
DEFAULT_MAX_MODEL_BYTES = 4 * 2**30
#: A member larger than ``RATIO_FLOOR`` bytes may not inflate more than this many times.
MAX_COMPRESSION_RATIO = 200
RATIO_FLOOR = 1 << 20
MAX_MEMBERS = 200_000
ALLOWED_METHODS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)
KINDS = ("composition", "molecule", "structure", "parameters", "pattern")
TASKS = ("regression", "classification")
_HEX64 = re.compile(r"[0-9a-f]{64}")


def max_model_bytes() -> int:
    """The cap on a model file's total uncompressed size (bytes)."""
    value = os.environ.get("MATLOOP_MAX_MODEL_BYTES", "")
    return int(value) if value.strip().isdigit() else DEFAULT_MAX_MODEL_BYTES


def _refuse(message: str) -> None:
    from matloop.models.persistence import UntrustedModelError

    raise UntrustedModelError(message)


def check_archive(archive: zipfile.ZipFile, where: str, limit: int | None = None) -> int:
    """Refuse a zip whose central directory promises too much; returns the declared total size.

    Checked before any member is inflated: at most :data:`MAX_MEMBERS` members, only stored or
    deflated ones, a declared total below ``limit`` (default :func:`max_model_bytes`), and no
    member above 1 MiB that inflates more than :data:`MAX_COMPRESSION_RATIO` times.
    """
    limit = max_model_bytes() if limit is None else limit
    infos = archive.infolist()
    if len(infos) > MAX_MEMBERS:
        _refuse(f"{where} has {len(infos):,} members (at most {MAX_MEMBERS:,}); refusing to open it")
    total = 0
    for info in infos:
        if info.compress_type not in ALLOWED_METHODS:
            _refuse(f"{where}: member {info.filename[:80]!r} uses zip compression method {info.compress_type}; "
                    "model files use only stored or deflated members")
        size = int(info.file_size)
        if size > RATIO_FLOOR and size > MAX_COMPRESSION_RATIO * max(int(info.compress_size), 1):
            _refuse(f"{where}: member {info.filename[:80]!r} would inflate from {info.compress_size:,} to "
                    f"{size:,} bytes (more than {MAX_COMPRESSION_RATIO}x): a decompression bomb; refusing it")
        total += size
        if total > limit:
            _refuse(f"{where} would inflate to more than {limit:,} bytes (the limit for model files; set "
                    "MATLOOP_MAX_MODEL_BYTES to raise it for a model you trust); refusing to open it")
    return total


def read_member(archive: zipfile.ZipFile, name: str, limit: int, where: str) -> bytes:
    """The bytes of one member, streamed and never more than ``limit`` bytes."""
    chunks, size = [], 0
    with archive.open(name) as handle:
        while True:
            chunk = handle.read(1 << 20)
            if not chunk:
                break
            size += len(chunk)
            if size > limit:
                _refuse(f"{where}: member {name!r} inflates beyond {limit:,} bytes; refusing it")
            chunks.append(chunk)
    return b"".join(chunks)


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict:
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        repeated = sorted({k for k in keys if keys.count(k) > 1})
        raise ValueError(f"repeated key(s) {', '.join(map(repr, repeated[:5]))}")
    return dict(pairs)


def parse_header(data: bytes) -> Any:
    """JSON of the header: UTF-8, no repeated keys, bounded nesting (``ValueError`` otherwise)."""
    try:
        return json.loads(data.decode("utf-8"), object_pairs_hook=_no_duplicate_keys)
    except RecursionError as err:
        raise ValueError("the header is nested too deeply") from err


def header_digest(header: dict) -> str:
    """SHA-256 of the canonical JSON of every header field except ``header_sha256``."""
    body = {k: v for k, v in header.items() if k != "header_sha256"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _str_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def check_header(header: dict, where: str) -> None:
    """Refuse a header whose fields have the wrong type, a bad checksum, or unusable metadata."""
    types = {"matloop_version": str, "sklearn_version": str, "estimator": str, "payload_sha256": str,
             "metadata": dict}
    problems = [f"{key} must be a {t.__name__}, got {type(header.get(key)).__name__}"
                for key, t in types.items() if not isinstance(header.get(key), t)]
    version = header.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        problems.append(f"format_version must be a positive integer, got {str(version)[:20]!r}")
    if isinstance(header.get("payload_sha256"), str) and not _HEX64.fullmatch(header["payload_sha256"]):
        problems.append("payload_sha256 is not a SHA-256 hex digest")
    if header.get("feature_names") is not None and not _str_list(header["feature_names"]):
        problems.append("feature_names must be a list of strings")
    if header.get("target_name") is not None and not isinstance(header["target_name"], str):
        problems.append("target_name must be a string")
    digest = header.get("header_sha256")
    if digest is None and isinstance(header.get("format_version"), int) and header["format_version"] >= 2:
        problems.append("header_sha256 is missing")
    elif digest is not None and digest != header_digest(header):
        problems.append("header_sha256 does not match the header (the header was altered or damaged)")
    if isinstance(header.get("metadata"), dict):
        problems += metadata_problems(header["metadata"])
    if problems:
        _refuse(f"{where}: the model header is invalid: {'; '.join(problems)}; refusing to load it")


def metadata_problems(meta: dict) -> list[str]:
    """Problems with the fields ``matloop fit`` writes (and ``predict``/``screen``/``design`` read)."""
    out = []
    if meta.get("kind") is not None and meta["kind"] not in KINDS:
        out.append(f"metadata kind must be one of {', '.join(KINDS)}, got {str(meta['kind'])[:40]!r}")
    if meta.get("task") is not None and meta["task"] not in TASKS:
        out.append(f"metadata task must be regression or classification, got {str(meta['task'])[:40]!r}")
    for key in ("input", "target", "featurizer", "model", "transfer"):
        if meta.get(key) is not None and not isinstance(meta[key], str):
            out.append(f"metadata {key} must be a string")
    for key in ("parameter_columns", "extra_inputs"):
        if meta.get(key) is not None and not _str_list(meta[key]):
            out.append(f"metadata {key} must be a list of strings")
    if meta.get("kind") == "parameters" and not meta.get("parameter_columns"):
        out.append("metadata of a parameter model must list its parameter_columns")
    n_train = meta.get("n_train")
    if n_train is not None and (not isinstance(n_train, int) or isinstance(n_train, bool) or n_train < 0):
        out.append("metadata n_train must be a non-negative integer")
    return out


# ---------------------------------------------------------------------------- loaded models
def _index_array(values: Any, upper: int, name: str, problems: list[str], unique: bool = True) -> None:
    arr = np.asarray(values)
    if arr.ndim != 1 or arr.dtype.kind not in "iu":
        problems.append(f"{name} must be a 1-D integer array, got {arr.dtype} of shape {arr.shape}")
    elif arr.size and (arr.min() < 0 or arr.max() >= upper):
        problems.append(f"{name} holds column indices outside 0..{upper - 1}")
    elif unique and len(np.unique(arr)) != arr.size:
        problems.append(f"{name} repeats column indices")


def _vector(values: Any, length: int, name: str, problems: list[str]) -> None:
    arr = np.asarray(values)
    if arr.shape != (length,) or arr.dtype.kind not in "fiu":
        problems.append(f"{name} must be {length} numbers, got {arr.dtype} of shape {arr.shape}")


def _width(obj: Any) -> int | None:
    n = getattr(obj, "n_features_in_", None)
    return int(n) if isinstance(n, int | np.integer) and not isinstance(n, bool) else None


def _check_object(obj: Any, problems: list[str]) -> None:
    """Checks of the matloop types whose arrays index or describe feature columns."""
    from matloop.models.automodel import AutoModel
    from matloop.models.domain import ApplicabilityDomain
    from matloop.models.feature_selection import TopFeatures
    from matloop.models.preprocessing import FeatureCleaner

    name = type(obj).__name__
    n = getattr(obj, "n_features_in_", None)
    if n is not None and (_width(obj) is None or n < 1):
        problems.append(f"{name}.n_features_in_ must be a positive integer")
        return
    names = getattr(obj, "feature_names_in_", None)
    if names is not None and n is not None and np.shape(names) != (n,):
        problems.append(f"{name}.feature_names_in_ has {np.size(names)} names for {n} features")
    if isinstance(obj, FeatureCleaner) and hasattr(obj, "keep_"):
        _index_array(obj.keep_, int(n), f"{name}.keep_", problems)
        kept = int(np.size(obj.keep_))
        _vector(obj.medians_, kept, f"{name}.medians_", problems)
        for attr in ("mean_", "scale_"):
            if getattr(obj, attr, None) is not None or obj.scale:
                _vector(getattr(obj, attr, None), kept, f"{name}.{attr}", problems)
    elif isinstance(obj, ApplicabilityDomain) and hasattr(obj, "center_"):
        for attr in ("center_", "scale_", "sqrt_weights_"):
            _vector(getattr(obj, attr, None), int(n), f"{name}.{attr}", problems)
    elif isinstance(obj, TopFeatures) and hasattr(obj, "support_"):
        _index_array(obj.support_, int(n), f"{name}.support_", problems)
        if _width(obj.estimator_) != np.size(obj.support_):
            problems.append(f"{name} selects {np.size(obj.support_)} columns for a model of "
                            f"{_width(obj.estimator_)} columns")
    elif isinstance(obj, AutoModel) and hasattr(obj, "weights_"):
        _check_automodel(obj, problems)
    elif hasattr(obj, "inbag_counts_") and hasattr(obj, "estimators_"):  # the uncertain forests
        counts = np.asarray(obj.inbag_counts_)
        expected = (len(obj.estimators_), int(np.size(getattr(obj, "oob_prediction_", counts[:1]))))
        if counts.dtype.kind not in "iu" or counts.shape != expected or (counts.size and counts.min() < 0):
            problems.append(f"{name}.inbag_counts_ must be counts of shape {expected}, got {counts.dtype} "
                            f"of shape {counts.shape}")
    if not isinstance(obj, FeatureCleaner | AutoModel) and _width(obj) is not None \
            and _width(getattr(obj, "cleaner_", None)) not in (None, _width(obj)):
        problems.append(f"{name} has a cleaner for {_width(obj.cleaner_)} columns but {_width(obj)} inputs")


def _check_automodel(model: Any, problems: list[str]) -> None:
    kept = int(np.size(getattr(model.cleaner_, "keep_", [])))
    _index_array(model.selected_features_, kept, "AutoModel.selected_features_", problems)
    width = int(np.size(model.selected_features_))
    if not isinstance(model.weights_, dict) or not isinstance(model.variants_, dict) \
            or not isinstance(model.estimators_, dict) or not model.weights_:
        problems.append("AutoModel weights_, variants_ and estimators_ must be dicts")
        return
    for variant in model.weights_:
        member = model.variants_.get(variant)
        if not (isinstance(member, tuple | list) and len(member) == 2 and member[0] in model.estimators_
                and member[1] in (None, "median", "gate")):  # "gate": the hurdle model's alternative point
            problems.append(f"AutoModel ensemble member {str(variant)[:40]!r} has no fitted model")
    for key, est in model.estimators_.items():
        if _width(est) != width:
            problems.append(f"AutoModel member {str(key)[:40]!r} expects {_width(est)} columns, "
                            f"the ensemble gives it {width}")
    w = np.asarray(list(model.weights_.values()), dtype=object)
    if not all(isinstance(v, float | int) and np.isfinite(v) and v >= 0 for v in w):
        problems.append("AutoModel weights_ must be non-negative numbers")


def walk_objects(model: Any):
    """Every object reachable from ``model`` through attributes, containers and object arrays
    (scalars, strings, types and open files are not visited)."""
    seen: set[int] = set()
    stack = [model]
    while stack:
        obj = stack.pop()
        if id(obj) in seen or obj is None or isinstance(obj, str | bytes | int | float | np.generic | type
                                                        | io.IOBase):
            continue
        seen.add(id(obj))
        if isinstance(obj, np.ndarray):
            if obj.dtype == object:
                stack.extend(obj.ravel().tolist())
            continue
        yield obj
        if isinstance(obj, dict):
            stack.extend(obj.values())
        elif isinstance(obj, list | tuple | set | frozenset):
            stack.extend(obj)
        elif hasattr(obj, "__dict__"):
            stack.extend(vars(obj).values())


def check_model(model: Any, header: dict, where: str) -> None:
    """Refuse a loaded model whose arrays are inconsistent, or which cannot predict two rows."""
    problems: list[str] = []
    for obj in walk_objects(model):
        if hasattr(obj, "get_params") and hasattr(type(obj), "__module__") \
                and type(obj).__module__.startswith("matloop."):
            try:
                _check_object(obj, problems)
            except Exception as err:  # a malformed attribute of an unexpected type
                problems.append(f"{type(obj).__name__}: {type(err).__name__}: {str(err)[:200]}")
        if len(problems) >= 5:
            break
    from matloop.models.pipeline import MaterialModel

    if isinstance(model, MaterialModel) and not problems:
        problems += _material_model_problems(model, header)
    if not problems:
        problems += _smoke_problems(model, header)
    if problems:
        _refuse(f"{where}: the model's content is inconsistent: {'; '.join(problems[:5])} "
                "(the file was crafted or damaged, or written by a matloop whose model classes have changed since); "
                "refusing to load it")


def _extra_names(model: Any) -> list[str]:
    """The feature names of a model's extra inputs: the columns, or their encoded names."""
    encoding = getattr(model, "extra_encoding_", None)
    if encoding is None:
        return list(model.extra_inputs or [])
    from matloop.represent.parameter_encoder import ParameterEncoder

    return [str(c) for c in ParameterEncoder.from_dict(encoding).get_feature_names_out()]


def _material_model_problems(model: Any, header: dict) -> list[str]:
    out = []
    for attr in ("parameter_encoding_", "extra_encoding_"):  # plain data, checked before any use
        if getattr(model, attr, None) is not None:
            from matloop.represent.parameter_encoder import ParameterEncoder

            try:
                ParameterEncoder.from_dict(getattr(model, attr))
            except (ValueError, TypeError, KeyError, AttributeError) as err:
                return out + [f"MaterialModel.{attr} is malformed ({str(err)[:80]})"]
    if model.kind not in KINDS:
        out.append(f"MaterialModel.kind must be one of {', '.join(KINDS)}")
    if model.task not in TASKS:
        out.append("MaterialModel.task must be regression or classification")
    if model.featurizer is not None:
        from matloop.represent.registry import FEATURIZERS

        if model.featurizer not in FEATURIZERS:
            out.append(f"MaterialModel.featurizer {str(model.featurizer)[:40]!r} is not a registered featurizer")
    names = getattr(model, "feature_names_", None)
    if not _str_list(names) or not names:
        return out + ["MaterialModel.feature_names_ must be a non-empty list of strings"]
    if _width(model.estimator_) not in (None, len(names)):
        out.append(f"MaterialModel has {len(names)} features but its estimator expects {_width(model.estimator_)}")
    featurizer = getattr(model, "featurizer_", None)
    if featurizer is not None:
        try:
            made = [str(c) for c in featurizer.get_feature_names_out()] + _extra_names(model)
        except Exception as err:  # a featurizer whose state is not what its class builds
            made = None
            out.append(f"its featurizer cannot name its features ({type(err).__name__})")
        if made is not None and made != names:
            out.append(f"its featurizer makes {len(made)} features, the model was fitted on {len(names)} others")
    meta = header.get("metadata") or {}
    for key in ("kind", "task"):
        if meta.get(key) is not None and meta[key] != getattr(model, key):
            out.append(f"the header says {key} {meta[key]!r}, the model {getattr(model, key)!r}")
    if getattr(model, "domain_", None) is not None:
        cleaner = getattr(model, "cleaner_", None)
        if _width(cleaner) != len(names):
            out.append("MaterialModel.cleaner_ does not match its features")
        elif _width(model.domain_) != np.size(cleaner.keep_):
            out.append("MaterialModel.domain_ does not match its cleaned features")
    return out


def _smoke_problems(model: Any, header: dict) -> list[str]:
    """A two-row prediction on zeros of the declared width: a file that cannot predict is refused now."""
    import pandas as pd

    from matloop.models.pipeline import MaterialModel

    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            if isinstance(model, MaterialModel) and model.kind == "composition" and not model.extra_inputs:
                out = model.predict_table(pd.Series(["NaCl", "Fe2O3"]))  # the path 'matloop predict' takes
            elif isinstance(model, MaterialModel):
                F = pd.DataFrame(np.zeros((2, len(model.feature_names_))), columns=model.feature_names_)
                est = model.estimator_
                out = est.predict_proba(F) if model.task == "classification" else est.predict(F, return_std=True)
                model.in_domain(None, features=F)
            elif _width(model) is not None and callable(getattr(model, "predict", None)):
                names = getattr(model, "feature_names_in_", None)
                Z = np.zeros((2, _width(model)))
                out = model.predict(Z if names is None else pd.DataFrame(Z, columns=[str(c) for c in names]))
            else:
                return []
        first = np.asarray(out[0] if isinstance(out, tuple) else out.iloc[:, 0] if hasattr(out, "iloc") else out)
        if first.shape[:1] != (2,):
            return [f"a test prediction of 2 rows gives shape {first.shape}"]
    except Exception as err:
        import matloop

        saved = header.get("matloop_version")
        hint = (f"; it was saved by matloop {saved}, this is matloop {matloop.__version__}: re-fit the model"
                if saved != matloop.__version__ else "")
        return [f"a test prediction fails ({type(err).__name__}: {str(err)[:200]}){hint}"]
    return []
