"""Saving and loading fitted models in a format that is safe to load from an untrusted file.

A model file is a zip archive with two members:

* ``matloop.json``: a header (format name and version, matloop/scikit-learn/numpy/skops
  versions, estimator class, feature names, target name, creation time, user metadata and the
  SHA-256 of the payload), readable without loading anything: :func:`read_model_metadata`;
* ``model.skops``: the estimator in the skops format (JSON schema plus ``.npy`` arrays, loaded
  with ``allow_pickle=False``). Neural-network weights are plain NumPy arrays inside it; no
  pickle and no ``torch.load`` are ever involved.

Loading (:func:`load_model`) refuses, with a :class:`ModelFileError` subclass and a plain
message: a file that is not a matloop model (a pickle, an arbitrary zip, a bare skops file:
:class:`ForeignModelFileError`); a file from a newer format or another scikit-learn minor
version (:class:`ModelVersionError`); and a file whose payload was altered or names any type
outside an explicit allow-list (:class:`UntrustedModelError`). The allow-list holds the
estimators defined in ``matloop`` and scikit-learn estimators, kernels and CV splitters, plus
the few internal scikit-learn types our models contain; skops itself trusts numpy arrays and
builtin containers. ``trusted=True`` is never passed to skops: unknown types are reported.

Before anything is inflated or rebuilt, the zip central directories of the file and of its payload
are checked against size limits (a decompression bomb is refused from its declared sizes), the
header is validated field by field and against its own SHA-256 (``header_sha256``), and after
rebuilding, every array that indexes or describes feature columns is checked and a two-row test
prediction is run (:mod:`matloop.models.model_checks`). Every refusal is a
:class:`ModelFileError`, which is an :class:`matloop.InputError`: the CLI exits with status 2.

Lists of fitted trees (the forests) are saved packed (model format 3, :mod:`matloop.models.tree_codec`:
one xz-compressed stream of node columns per forest, rebuilt bit for bit): the trees are rebuilt right
after skops has loaded the payload, within what the size limit leaves, and then checked as below.
Files without packed trees are written as format 2, and every format 1-2 file still loads.

Some allowed types, scikit-learn's decision-tree node storage, histogram-boosting predictors and
KD/ball trees of nearest-neighbour models, hold raw indices that scikit-learn follows without
bounds checks (a crafted file could crash the process at ``predict``). After loading, every such
tree is therefore checked: children point forward and inside the tree, features inside the
model's input width, sample indices inside the data.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import importlib
import io
import json
import os
import platform
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import sklearn
from sklearn.base import BaseEstimator

import matloop
from matloop.errors import InputError
from matloop.models import model_checks

FORMAT = "matloop-model"
#: 2: the header carries header_sha256 (format 1 files, without it, still load); 3: lists of trees may be
#: packed (:mod:`matloop.models.tree_codec`). A file is written as format 3 only when it holds packed trees.
FORMAT_VERSION = 3
HEADER_NAME = "matloop.json"
PAYLOAD_NAME = "model.skops"
MAX_HEADER_BYTES = 10_000_000

#: Internal scikit-learn types found inside matloop models (the trees are checked after loading).
SKLEARN_INTERNAL_TYPES = frozenset({
    "sklearn.tree._tree.Tree",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.neighbors._kd_tree.KDTree",
    "sklearn.neighbors._ball_tree.BallTree",
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
    # distance metrics without parameter arrays (used by nearest-neighbour trees)
    *(f"sklearn.metrics._dist_metrics.{name}Distance{bits}"
      for name in ("Euclidean", "Manhattan", "Chebyshev") for bits in (64, 32)),
})
# classes that moved module keep loading from files saved before the move (their old path is a re-export)
_registered: set[str] = {"matloop.models.automodel.AutoClassifier"}


class ModelFileError(InputError):
    """A model file cannot be loaded (base class of the specific errors below); bad input, exit 2."""


class ForeignModelFileError(ModelFileError):
    """The file is not a matloop model file (e.g. a pickle, an arbitrary zip, a bare skops file)."""


class ModelVersionError(ModelFileError):
    """The file was written by an incompatible format or library version."""


class UntrustedModelError(ModelFileError):
    """The file names types outside the allow-list, or its content was altered or is malformed."""


def register_trusted_types(*names: str) -> None:
    """Allow more fully qualified type names in model files, e.g. ``"sklearn.neighbors._kd_tree.KDTree"``.

    Meant for matloop modules whose models hold other reviewed types; every name registered
    here can be instantiated from any file loaded afterwards, so register only types whose
    loading runs no code and whose state cannot make later calls unsafe.
    """
    _registered.update(names)


def save_model(model: Any, path: str | os.PathLike, metadata: dict | None = None, *, compact: bool = True,
               pack_trees: bool = True) -> Path:
    """Save a fitted estimator to ``path`` (a zip with a JSON header and a skops payload).

    ``metadata`` is any JSON-serialisable dict; its ``feature_names`` and ``target_name`` (if
    given) go to the header, ``feature_names`` defaulting to the model's ``feature_names_in_``.
    Refuses models holding types that :func:`load_model` would refuse, so every saved file loads.
    ``compact`` (default) saves :func:`matloop.models.shrink.compact_model`'s copy: the same
    predictions, without the AutoModel candidates the ensemble did not select (``member_predictions``
    of the loaded model then lists the selected ones), in a smaller file; ``model`` is not modified.
    ``pack_trees`` (default) stores every list of fitted scikit-learn trees (the forests) in
    :mod:`matloop.models.tree_codec`'s exact compressed encoding (model format 3; 44.9 MB -> 9.9 MB for a
    4-forest ensemble on Matbench expt_gap); ``False`` writes format 2, which older matloop reads.
    """
    import skops.io as sio
    from sklearn.utils.validation import check_is_fitted

    if not isinstance(model, BaseEstimator):
        raise ModelFileError(f"only scikit-learn style estimators can be saved, got {type(model).__name__}")
    try:
        check_is_fitted(model)
    except Exception as err:
        raise ModelFileError(f"{type(model).__name__} is not fitted; fit it before saving") from err
    metadata = dict(metadata or {})
    feature_names = metadata.pop("feature_names", None)
    target_name = metadata.pop("target_name", None)
    if feature_names is None and hasattr(model, "feature_names_in_"):
        feature_names = [str(f) for f in model.feature_names_in_]
    if compact:
        from matloop.models.shrink import compact_model

        model = compact_model(model)
    version = 2
    if pack_trees:
        from matloop.models.tree_codec import PackedTrees, pack_model

        model = pack_model(model)
        if any(isinstance(obj, PackedTrees) for obj in model_checks.walk_objects(model)):
            version = 3
    try:
        payload = sio.dumps(model, compression=zipfile.ZIP_DEFLATED)
    except Exception as err:  # e.g. a lambda or an open file inside the model
        raise ModelFileError(f"{type(model).__name__} cannot be saved safely: {err}") from err
    refused = _refused_types(sio.get_untrusted_types(data=payload), ())
    if refused:
        raise UntrustedModelError(f"{type(model).__name__} holds types that load_model would refuse: "
                                  f"{', '.join(refused)}; register them with register_trusted_types if they are safe")
    header = {
        "format": FORMAT,
        "format_version": version,
        "matloop_version": matloop.__version__,
        "sklearn_version": sklearn.__version__,
        "numpy_version": np.__version__,
        "skops_version": importlib.import_module("skops").__version__,
        "python_version": platform.python_version(),
        "estimator": _type_name(type(model)),
        "feature_names": None if feature_names is None else [str(f) for f in feature_names],
        "target_name": None if target_name is None else str(target_name),
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "payload_sha256": hashlib.sha256(payload).hexdigest(),
        "metadata": metadata,
    }
    try:
        header["header_sha256"] = model_checks.header_digest(header)
        header_bytes = json.dumps(header, indent=2).encode()
    except (TypeError, ValueError) as err:
        raise ModelFileError(f"metadata must be JSON-serialisable: {err}") from err
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as archive:
            archive.writestr(HEADER_NAME, header_bytes)
            archive.writestr(PAYLOAD_NAME, payload)
        os.replace(tmp, path)  # a crash mid-write never leaves a half-written model under `path`
    except OSError as err:
        raise ModelFileError(f"cannot write model file {path}: {err.strerror or err}") from err
    return path


def read_model_metadata(path: str | os.PathLike) -> dict:
    """The JSON header of a model file (versions, estimator, features, target, metadata).

    Reads no model, so it is safe on any file; raises :class:`ForeignModelFileError` if the
    file is not a matloop model.
    """
    header, _ = _read_container(Path(path), with_payload=False)
    return header


def load_model(path: str | os.PathLike, *, trusted: tuple[str, ...] | list[str] = (),
               allow_version_mismatch: bool = False) -> Any:
    """Load a model saved by :func:`save_model`, refusing anything unsafe or incompatible.

    Parameters
    ----------
    path : str or path
    trusted : sequence of str
        Extra fully qualified type names you have reviewed and trust for this call.
    allow_version_mismatch : bool, default=False
        Load a file saved with another scikit-learn minor version (with a warning instead of a
        :class:`ModelVersionError`); predictions may then differ or fail.
    """
    import skops.io as sio

    path = Path(path)
    header, payload = _read_container(path, with_payload=True)
    _check_versions(header, path, allow_version_mismatch)
    if hashlib.sha256(payload).hexdigest() != header.get("payload_sha256"):
        raise UntrustedModelError(f"{path}: the model payload does not match the checksum in its header "
                                  "(the file was altered or damaged); refusing to load it")
    try:
        with zipfile.ZipFile(io.BytesIO(payload)) as inner:  # the skops payload: sizes before inflating
            inflated = model_checks.check_archive(inner, f"{path} ({PAYLOAD_NAME})",
                                                  limit=model_checks.max_model_bytes() - len(payload))
        untrusted = sio.get_untrusted_types(data=payload)
    except ModelFileError:
        raise
    except Exception as err:
        raise UntrustedModelError(f"{path}: the model payload is malformed "
                                  f"({type(err).__name__}: {str(err)[:300]})") from err
    refused = _refused_types(untrusted, tuple(trusted))
    if refused:
        raise UntrustedModelError(f"{path}: refusing to load: the file names types that are not on matloop's "
                                  f"allow-list: {', '.join(refused)}. Only load files from sources you trust; "
                                  "pass trusted=[...] for types you have reviewed.")
    try:
        model = sio.loads(payload, trusted=list(untrusted))
    except Exception as err:
        raise UntrustedModelError(f"{path}: the model payload could not be rebuilt "
                                  f"({type(err).__name__}: {str(err)[:300]})") from err
    if _type_name(type(model)) != header.get("estimator"):
        raise UntrustedModelError(f"{path}: the payload holds a {_type_name(type(model))}, "
                                  f"but the header says {header.get('estimator')}")
    _unpack_trees(model, path, model_checks.max_model_bytes() - len(payload) - inflated)
    try:
        check_tree_structures(model)
    except ModelFileError:
        raise
    except Exception as err:  # an allowed type whose state is not what its class builds
        raise UntrustedModelError(f"{path}: the model's trees are malformed "
                                  f"({type(err).__name__}: {str(err)[:300]})") from err
    model_checks.check_model(model, header, str(path))
    return model


def _unpack_trees(model: Any, path: Path, limit: int) -> None:
    """Rebuild packed lists of trees (format 3) in place; the trees may take ``limit`` bytes (what the
    model-file size limit leaves after the payload's declared members)."""
    from matloop.models.tree_codec import unpack_model

    limit = max(limit, 0)
    try:
        unpack_model(model, limit)
    except MemoryError as err:
        raise UntrustedModelError(f"{path}: its packed trees would inflate to more than {limit:,} bytes (what the "
                                  f"limit for model files, {model_checks.max_model_bytes():,} bytes, leaves; set "
                                  "MATLOOP_MAX_MODEL_BYTES to raise it for a model you trust); "
                                  "refusing to load it") from err
    except Exception as err:  # lzma.LZMAError, ValueError, IndexError...: a crafted or damaged stream
        raise UntrustedModelError(f"{path}: the model's packed trees are malformed or out-of-range "
                                  f"({type(err).__name__}: {str(err)[:300]}); refusing to load it") from err


def _read_container(path: Path, with_payload: bool) -> tuple[dict, bytes | None]:
    try:
        with open(path, "rb") as handle:
            start = handle.read(4)
    except OSError as err:
        raise ModelFileError(f"cannot read model file {path}: {err.strerror or err}") from err
    if not start.startswith(b"PK"):
        if start[:1] == b"\x80" or start[:1] in (b"(", b"c", b"]", b"}"):
            raise ForeignModelFileError(
                f"{path} looks like a Python pickle, not a matloop model. matloop never loads pickles: "
                "unpickling a file can run arbitrary code. Re-save the model with matloop.models.save_model.")
        raise ForeignModelFileError(f"{path} is not a matloop model file (not a zip archive)")
    limit = model_checks.max_model_bytes()
    try:
        with zipfile.ZipFile(path) as archive:
            model_checks.check_archive(archive, str(path), limit)
            names = set(archive.namelist())
            if HEADER_NAME not in names:
                hint = (" It is a bare skops file; matloop models carry a header with versions, "
                        "save them with matloop.models.save_model.") if "schema.json" in names else ""
                raise ForeignModelFileError(f"{path} is a zip archive but not a matloop model file "
                                            f"(no {HEADER_NAME}).{hint}")
            if archive.getinfo(HEADER_NAME).file_size > MAX_HEADER_BYTES:
                raise UntrustedModelError(f"{path}: the model header is implausibly large")
            header = model_checks.parse_header(
                model_checks.read_member(archive, HEADER_NAME, MAX_HEADER_BYTES, str(path)))
            if not isinstance(header, dict) or header.get("format") != FORMAT:
                raise ForeignModelFileError(f"{path} is not a matloop model file (its {HEADER_NAME} "
                                            f"does not declare format {FORMAT!r})")
            if isinstance(header.get("format_version"), int) and header["format_version"] > FORMAT_VERSION:
                _check_versions(header, path, allow_mismatch=False)  # "upgrade matloop", before the schema
            model_checks.check_header(header, str(path))
            payload = None
            if with_payload:
                if PAYLOAD_NAME not in names:
                    raise UntrustedModelError(f"{path}: the model file has no {PAYLOAD_NAME} payload")
                payload = model_checks.read_member(archive, PAYLOAD_NAME, limit, str(path))
    except ModelFileError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError, OSError, NotImplementedError,
            RuntimeError) as err:  # JSON/UTF-8 errors are ValueErrors; RuntimeError: encrypted members
        raise ForeignModelFileError(f"{path} is not a readable matloop model file "
                                    f"({type(err).__name__}: {str(err)[:300]})") from err
    return header, payload


def _minor(version: str) -> tuple[str, ...]:
    return tuple(str(version).split(".")[:2])


def _check_versions(header: dict, path: Path, allow_mismatch: bool) -> None:
    version = header.get("format_version")
    if not isinstance(version, int) or version < 1:
        raise ForeignModelFileError(f"{path}: invalid format_version {version!r} in the model header")
    if version > FORMAT_VERSION:
        raise ModelVersionError(f"{path} was written in model format {version} by matloop "
                                f"{header.get('matloop_version')}; this matloop ({matloop.__version__}) reads "
                                f"format {FORMAT_VERSION} and older. Upgrade matloop to load it.")
    saved = str(header.get("sklearn_version"))
    if _minor(saved) != _minor(sklearn.__version__):
        message = (f"{path} was saved with scikit-learn {saved}, this environment has {sklearn.__version__}. "
                   "Fitted models are not portable across scikit-learn versions: re-fit the model, or install "
                   f"scikit-learn=={saved}")
        if not allow_mismatch:
            raise ModelVersionError(message + " (or pass allow_version_mismatch=True at your own risk).")
        import warnings

        warnings.warn(message, UserWarning, stacklevel=3)


def _type_name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _refused_types(untrusted: list[str], extra: tuple[str, ...]) -> list[str]:
    return sorted(name for name in untrusted if not _type_allowed(name, extra))


def _type_allowed(name: str, extra: tuple[str, ...]) -> bool:
    """Explicitly listed, or a class defined in matloop/scikit-learn of a reviewed kind."""
    if name in extra or name in _registered or name in SKLEARN_INTERNAL_TYPES:
        return True
    module_name, _, attr = name.rpartition(".")
    if module_name.split(".")[0] not in ("matloop", "sklearn") or not attr.isidentifier():
        return False
    try:
        obj = getattr(importlib.import_module(module_name), attr, None)
    except Exception:  # a module that does not exist or fails to import: refuse
        return False
    if not isinstance(obj, type) or obj.__module__ != module_name:  # re-exports (os, subprocess...) refused
        return False
    if module_name.startswith("matloop."):
        return issubclass(obj, BaseEstimator | _light_transformer())
    from sklearn.gaussian_process.kernels import Kernel
    from sklearn.model_selection import BaseCrossValidator, BaseShuffleSplit

    return issubclass(obj, BaseEstimator | Kernel | BaseCrossValidator | BaseShuffleSplit)


def _light_transformer() -> type:
    """matloop's featurizer base that follows scikit-learn's contract without subclassing BaseEstimator."""
    try:
        from matloop.represent.estimator import LightTransformer
    except ImportError:
        return BaseEstimator
    return LightTransformer


def check_tree_structures(model: Any) -> None:
    """Check every decision tree and boosting predictor reachable from ``model`` (see module docs).

    Raises :class:`UntrustedModelError` when a child index, feature index or categorical split
    could make scikit-learn read outside its arrays.
    """
    from sklearn.ensemble._hist_gradient_boosting.gradient_boosting import BaseHistGradientBoosting
    from sklearn.neighbors import BallTree, KDTree
    from sklearn.tree import BaseDecisionTree
    from sklearn.tree._tree import Tree

    for obj in model_checks.walk_objects(model):
        if isinstance(obj, BaseDecisionTree) and hasattr(obj, "tree_"):
            _check_tree(obj.tree_, int(obj.n_features_in_))
        elif isinstance(obj, Tree):
            _check_tree(obj, int(obj.n_features))
        elif isinstance(obj, KDTree | BallTree):
            _check_binary_tree(obj, 2 if isinstance(obj, KDTree) else 1)
        elif isinstance(obj, BaseHistGradientBoosting) and hasattr(obj, "_predictors"):
            if getattr(obj, "is_categorical_", None) is not None:
                raise UntrustedModelError("refusing a histogram boosting model with categorical splits")
            for predictors in obj._predictors:
                for predictor in predictors:
                    _check_nodes(predictor.nodes, "left", "right", "feature_idx", predictor.nodes["is_leaf"] == 1,
                                 int(obj.n_features_in_))
                    if np.any(predictor.nodes["is_categorical"]):
                        raise UntrustedModelError("refusing a boosting predictor with categorical splits")


def _check_tree(tree, n_features: int) -> None:
    if int(tree.n_features) != n_features:
        raise UntrustedModelError(f"a decision tree expects {tree.n_features} features, its model {n_features}")
    nodes = tree.__getstate__()["nodes"][: tree.node_count]
    _check_nodes(nodes, "left_child", "right_child", "feature", nodes["left_child"] == -1, n_features)


def _check_binary_tree(tree, n_bounds: int) -> None:
    """A KD or ball tree: implicit children ``2i+1, 2i+2`` inside the node array, sample ranges and
    the index permutation inside the data, bounds of the right shape."""
    (data, idx_array, node_data, node_bounds, leaf_size, n_levels, n_nodes, *_, sample_weight) = tree.__getstate__()
    n = data.shape[0] if data.ndim == 2 else -1
    expected_levels = int(np.log2(max(1.0, (n - 1) / leaf_size)) + 1) if n > 0 and leaf_size > 0 else -1
    internal = np.flatnonzero(node_data["is_leaf"] == 0) if len(node_data) else np.zeros(0, int)
    start, end = node_data["idx_start"], node_data["idx_end"]
    ok = (n > 0 and n_levels == expected_levels and n_nodes == 2**n_levels - 1 and len(node_data) == n_nodes
          and idx_array.ndim == 1 and len(idx_array) == n and np.array_equal(np.sort(idx_array), np.arange(n))
          and (start >= 0).all() and (start <= end).all() and (end <= n).all()
          and (2 * internal + 2 < n_nodes).all()
          and node_bounds.shape == (n_bounds, n_nodes, data.shape[1])
          and (sample_weight is None or np.shape(sample_weight) == (n,)))
    if not ok:
        raise UntrustedModelError("a nearest-neighbour tree in the model file is inconsistent "
                                  "(out-of-range node or sample indices); refusing to load it")


def _check_nodes(nodes: np.ndarray, left: str, right: str, feature: str, leaf: np.ndarray, n_features: int) -> None:
    """Children of internal nodes point forward inside the array; features inside the input width."""
    n = len(nodes)
    index = np.arange(n)
    internal = ~np.asarray(leaf, dtype=bool)
    lo, hi, feat = (nodes[f].astype(np.int64)[internal] for f in (left, right, feature))
    at = index[internal]
    ok = (n > 0 and (lo > at).all() and (hi > at).all() and (lo < n).all() and (hi < n).all()
          and (feat >= 0).all() and (feat < n_features).all())
    if not ok:
        raise UntrustedModelError("a decision tree in the model file has out-of-range node or feature indices "
                                  "(the file was crafted or damaged); refusing to load it")
