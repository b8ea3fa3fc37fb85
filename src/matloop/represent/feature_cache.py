"""An on-disk cache of per-row features, keyed by content, so a second run does not recompute.

Featurizing crystal structures (descriptors, CHGNet embeddings) costs milliseconds to seconds per
row; users rerun ``fit``, ``validate`` and ``predict`` on the same table many times. The
:func:`cached_transform` entry point featurizes only the rows it has not seen before:

- every input value gets a **content key** (SHA-256 of the inline text, of the file's bytes for a
  path, of the canonical JSON of a dict or pymatgen ``Structure``), so renaming or moving a file keeps
  its features and editing it invalidates them;
- the featurizer gets a **token** (class, constructor parameters, matloop version, fitted output
  columns and the featurizer's own ``cache_token()`` if it defines one, e.g. a weights checksum);
- rows are computed in batches of ``batch_size`` (each batch is stored as soon as it is done, so an
  interrupted run keeps its progress) in process or, with a Dask ``scheduler``, as tasks on a
  cluster (:mod:`matloop.represent.dask_map`, the bounded-window pattern of screening).

Storage is ``<cache dir>/features/v1/<token>/``: a ``meta.json`` and ``shard-*.npz`` files holding
``keys`` (unicode) and ``values`` (float64), read with ``allow_pickle=False``; nothing is ever
unpickled. The cache dir is ``$MATLOOP_CACHE_DIR`` or the platform's user cache directory
(``$XDG_CACHE_HOME/matloop``, ``~/.cache/matloop``, ``~/Library/Caches/matloop``,
``%LOCALAPPDATA%\\matloop\\Cache``); ``MATLOOP_CACHE_DIR=off`` disables caching. A damaged shard is
ignored (its rows are recomputed), never trusted blindly: keys and shapes are checked on load.

A featurizer whose ``fit`` learns something from the data (the sine Coulomb width of
:class:`~matloop.represent.structure_features.StructureFeaturizer`) may define
``get_cache_state() -> dict | None`` (JSON) and ``set_cache_state(state)``: ``cached_transform(...,
fit=True)`` then restores the fitted state of a table seen before instead of refitting.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import json
import os
import sys
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from matloop.errors import InputError
from matloop.io.rows import source_rows
from matloop.represent.content_keys import content_keys

__all__ = ["FeatureCache", "cache_root", "cached_transform", "content_keys", "featurizer_token", "options"]

ENV_VAR = "MATLOOP_CACHE_DIR"
_LAYOUT = "v1"
#: constructor parameters that do not change the features (where files are, how many threads)
_IGNORED_PARAMS = frozenset({"base_dir", "n_jobs", "verbose", "progress", "batch_size"})
_OPTIONS: contextvars.ContextVar[dict | None] = contextvars.ContextVar("matloop_feature_cache_options", default=None)


@contextlib.contextmanager
def options(**settings) -> Iterator[None]:
    """Defaults for :func:`cached_transform` inside a ``with`` block (e.g. a CLI ``--scheduler``).

    Keys: ``scheduler`` (Dask address or client), ``cache_dir``, ``batch_size``, ``progress``.
    """
    unknown = set(settings) - {"scheduler", "cache_dir", "batch_size", "progress"}
    if unknown:
        raise TypeError(f"unknown feature-cache options {sorted(unknown)}")
    token = _OPTIONS.set({**(_OPTIONS.get() or {}), **settings})
    try:
        yield
    finally:
        _OPTIONS.reset(token)


def cache_root(cache_dir: str | os.PathLike | None = None) -> Path | None:
    """The cache directory in use: ``cache_dir``, else ``$MATLOOP_CACHE_DIR``, else the user cache dir.

    Returns None when caching is off (``MATLOOP_CACHE_DIR`` set to ``off``, ``0``, ``none`` or empty).
    """
    if cache_dir is not None:
        return Path(cache_dir)
    env = os.environ.get(ENV_VAR)
    if env is not None:
        return None if env.strip().lower() in ("", "0", "off", "none", "false") else Path(env).expanduser()
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
        return base / "matloop" / "Cache"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "matloop"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "matloop"


def featurizer_token(featurizer) -> str:
    """A hex digest naming what ``featurizer`` computes: class, parameters, version, fitted columns."""
    import matloop

    cls = type(featurizer)
    parts = {"class": f"{cls.__module__}.{cls.__qualname__}", "matloop": matloop.__version__}
    get_params = getattr(featurizer, "get_params", None)
    if callable(get_params):
        params = get_params(deep=False)
        parts["params"] = {k: _param_text(v) for k, v in sorted(params.items()) if k not in _IGNORED_PARAMS}
    else:
        parts["repr"] = repr(featurizer)
    try:
        parts["columns"] = [str(c) for c in featurizer.get_feature_names_out()]
    except Exception:  # not fitted yet (or no names): the columns are checked when rows are stored
        parts["columns"] = None
    own = getattr(featurizer, "cache_token", None)
    if callable(own):
        parts["own"] = str(own())
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _param_text(value) -> object:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [_param_text(v) for v in value]
    if hasattr(value, "get_params"):
        return {"featurizer": featurizer_token(value)}
    return repr(value)


# ---------------------------------------------------------------------------------------- storage
class FeatureCache:
    """The stored rows of one featurizer token: ``lookup`` keys, ``store`` new rows."""

    def __init__(self, root: str | os.PathLike, token: str) -> None:
        self.directory = Path(root) / "features" / _LAYOUT / token
        self.token = token

    def columns(self) -> list[str] | None:
        """The feature names stored with this token (None when nothing is stored yet)."""
        try:
            meta = json.loads((self.directory / "meta.json").read_text(encoding="utf-8"))
            return [str(c) for c in meta["columns"]]
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def lookup(self, keys: Sequence[str | None]) -> dict[str, np.ndarray]:
        """Stored feature rows of the keys that are in the cache (key -> 1-D float array)."""
        wanted = {k for k in keys if k is not None}
        columns = self.columns()
        if not wanted or columns is None:
            return {}
        found: dict[str, np.ndarray] = {}
        for shard in sorted(self.directory.glob("shard-*.npz")):
            try:
                with np.load(shard, allow_pickle=False) as data:
                    shard_keys = data["keys"].tolist()  # members load lazily: values only when a key hits
                    hit = [i for i, k in enumerate(shard_keys) if k in wanted and k not in found]
                    if not hit:
                        continue
                    values = data["values"]
                    if values.ndim != 2 or values.shape != (len(shard_keys), len(columns)):
                        continue  # damaged or from another layout: recompute those rows
                    for i in hit:
                        found[shard_keys[i]] = values[i]
            except (OSError, ValueError, KeyError, EOFError):
                continue
            if len(found) == len(wanted):
                break
        return found

    def store(self, keys: Sequence[str], values: np.ndarray, columns: Sequence[str], about: dict | None = None) -> None:
        """Write rows as one new shard (atomically); a column mismatch with the stored meta is refused."""
        keys = list(keys)
        if not keys:
            return
        values = np.ascontiguousarray(values, dtype=np.float64)
        if values.shape != (len(keys), len(columns)):
            raise ValueError(f"{values.shape} values for {len(keys)} keys and {len(columns)} columns")
        self.directory.mkdir(parents=True, exist_ok=True)
        stored = self.columns()
        if stored is None:
            meta = {"columns": [str(c) for c in columns], "token": self.token, **(about or {})}
            _atomic_write(self.directory / "meta.json", json.dumps(meta, indent=1).encode())
        elif stored != [str(c) for c in columns]:
            return  # another featurizer state under the same token (should not happen): keep the cache clean
        name = f"shard-{hashlib.sha256(''.join(keys).encode()).hexdigest()[:24]}.npz"
        tmp = self.directory / f".{name}.{uuid.uuid4().hex}.tmp"
        with open(tmp, "wb") as handle:
            np.savez_compressed(handle, keys=np.asarray(keys, dtype=str), values=values)
        os.replace(tmp, self.directory / name)

    # ------------------------------------------------------------ fitted states of whole tables
    def load_state(self, table_key: str) -> dict | None:
        """The JSON fitted state stored for a table (see ``get_cache_state``)."""
        try:
            state = json.loads((self.directory / "states" / f"{table_key}.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return state if isinstance(state, dict) else None

    def store_state(self, table_key: str, state: dict) -> None:
        folder = self.directory / "states"
        folder.mkdir(parents=True, exist_ok=True)
        _atomic_write(folder / f"{table_key}.json", json.dumps(state).encode())


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


# ---------------------------------------------------------------------------------------- transform
def cached_transform(
    featurizer,
    structures_or_texts,
    *,
    fit: bool = False,
    cache_dir: str | os.PathLike | None = None,
    column: str | None = None,
    rows: Sequence[int] | None = None,
    base_dir: str | os.PathLike | None = None,
    batch_size: int | None = None,
    scheduler=None,
    progress: Callable[[int, int], None] | None = None,
) -> pd.DataFrame:
    """``featurizer.transform`` (``fit_transform`` with ``fit=True``) computing only uncached rows.

    Parameters
    ----------
    featurizer
        A transformer with ``transform`` returning one numeric row per input and
        ``get_feature_names_out``; fitted (or stateless) unless ``fit=True``.
    structures_or_texts : sequence, Series or one-column DataFrame
        Paths, inline CIF/POSCAR/JSON text, dicts or pymatgen structures (anything the featurizer reads).
    fit : bool
        Fit the featurizer on these rows first (restored from the cache when the featurizer has
        ``get_cache_state``/``set_cache_state`` and this exact table was seen).
    cache_dir : path, optional
        Cache root (default :func:`cache_root`; None there means caching is off).
    column, rows
        Column name and 1-based user rows for error reports (default: the Series' name and
        the source rows it carries, else ``1..n``).
    base_dir : path, optional
        Directory relative paths are resolved against (default: the featurizer's ``base_dir``).
    batch_size : int, optional
        Rows featurized per batch (default 256); each finished batch is stored at once.
    scheduler : str or dask.distributed.Client, optional
        Featurize the batches as tasks on this Dask cluster (paths must be readable by the workers).
    progress : callable, optional
        ``progress(done_rows, total_rows)`` after each batch.

    Returns
    -------
    pandas.DataFrame
        The features, one row per input, indexed like the input (a Series' index, else ``0..n-1``).

    Raises
    ------
    matloop.InputError
        Every bad row of every batch at once, named by the user's rows.
    """
    opts = _OPTIONS.get() or {}
    scheduler = scheduler if scheduler is not None else opts.get("scheduler")
    batch_size = int(batch_size or opts.get("batch_size") or 256)
    progress = progress or opts.get("progress")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    values, index, name, user_rows = _inputs(structures_or_texts, column, rows)
    root = cache_root(cache_dir if cache_dir is not None else opts.get("cache_dir"))
    base = base_dir if base_dir is not None else getattr(featurizer, "base_dir", None)
    keys = content_keys(values, base) if root is not None else [None] * len(values)

    if fit:
        done = _fit(featurizer, values, keys, root, name, user_rows, index)
        if done is not None:
            return done
    cache = FeatureCache(root, featurizer_token(featurizer)) if root is not None else None
    found = cache.lookup(keys) if cache is not None else {}
    columns = [str(c) for c in featurizer.get_feature_names_out()]
    missing = [i for i, k in enumerate(keys) if k is None or k not in found]
    computed = _compute(featurizer, values, missing, batch_size, scheduler, progress, name, user_rows,
                        cache, keys, columns)
    out = np.empty((len(values), len(columns)))
    for i, k in enumerate(keys):
        if k is not None and k in found:
            out[i] = found[k]
    if missing:
        out[missing] = computed
    return pd.DataFrame(out, columns=columns, index=index)


def _inputs(data, column, rows):
    if isinstance(data, pd.DataFrame):
        if data.shape[1] != 1:
            raise ValueError(f"cached_transform takes one column, got {data.shape[1]}")
        data = data.iloc[:, 0].rename(data.columns[0])
    if isinstance(data, pd.Series):
        values = list(data.to_numpy(dtype=object))
        index = data.index
        name = column or (str(data.name) if data.name is not None else "structure")
        user_rows = np.asarray(rows if rows is not None else source_rows(data, len(values)), dtype=np.int64)
    else:
        values = [data] if isinstance(data, (str, os.PathLike, dict)) else list(data)
        index = pd.RangeIndex(len(values))
        name = column or "structure"
        user_rows = np.asarray(rows if rows is not None else np.arange(1, len(values) + 1), dtype=np.int64)
    if len(user_rows) != len(values):
        raise ValueError(f"rows has {len(user_rows)} entries for {len(values)} values")
    return values, index, name, user_rows


def _table_key(keys: Sequence[str | None]) -> str | None:
    if any(k is None for k in keys):
        return None
    return hashlib.sha256("\n".join(keys).encode()).hexdigest()[:32]


def _fit(featurizer, values, keys, root, name, user_rows, index) -> pd.DataFrame | None:
    """Fit the featurizer (or restore its fitted state); returns the features when it computed them all."""
    stateful = callable(getattr(featurizer, "get_cache_state", None)) and callable(
        getattr(featurizer, "set_cache_state", None))
    table_key = _table_key(keys) if root is not None and stateful else None
    unfitted = FeatureCache(root, featurizer_token(featurizer)) if table_key else None
    if unfitted is not None:
        state = unfitted.load_state(table_key)
        if state is not None:
            try:
                featurizer.set_cache_state(state)
                return None  # fitted again without reading a row; transform reads the cache
            except Exception:  # a state from another version: refit
                pass
    cached_any = False
    if root is not None and stateful:
        cached_any = _anything_cached(root, featurizer, keys)
    if cached_any:
        _remapped(lambda: featurizer.fit(values), name, user_rows, np.arange(len(values)))
    else:  # nothing cached: one pass fits and featurizes (no row is read twice)
        frame = _remapped(lambda: featurizer.fit_transform(values), name, user_rows, np.arange(len(values)))
        result = _numeric(frame, len(values))
    if unfitted is not None:
        state = featurizer.get_cache_state()
        if state is not None:
            unfitted.store_state(table_key, state)
    if cached_any:
        return None  # the cached rows are read (and the others computed) by the transform step
    columns = [str(c) for c in featurizer.get_feature_names_out()]
    if root is not None:
        good = [i for i, k in enumerate(keys) if k is not None]
        FeatureCache(root, featurizer_token(featurizer)).store(
            [keys[i] for i in good], result[good], columns, _about(featurizer))
    return pd.DataFrame(result, columns=columns, index=index)


def _anything_cached(root, featurizer, keys) -> bool:
    """Whether some rows are cached under the state a refit would most likely give (same columns)."""
    folder = Path(root) / "features" / _LAYOUT
    if not folder.is_dir():
        return False
    cls = f"{type(featurizer).__module__}.{type(featurizer).__qualname__}"
    wanted = {k for k in keys if k is not None}
    for meta in folder.glob("*/meta.json"):
        try:
            info = json.loads(meta.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if info.get("class") != cls:
            continue
        if FeatureCache(meta.parent.parent, meta.parent.name).lookup(list(wanted)[:50]):
            return True
    return False


def _about(featurizer) -> dict:
    cls = type(featurizer)
    return {"class": f"{cls.__module__}.{cls.__qualname__}"}


def _numeric(frame, n: int):
    array = np.asarray(frame.to_numpy() if isinstance(frame, pd.DataFrame) else frame)
    if array.ndim != 2 or array.shape[0] != n:
        raise ValueError(f"featurizer returned shape {array.shape} for {n} rows")
    try:
        return array.astype(np.float64)
    except (TypeError, ValueError):
        raise TypeError("featurizer output is not numeric; it cannot be cached") from None


def _remapped(call, name, user_rows, positions):
    """Run ``call``; an InputError's positional rows (1..len(positions)) become the user's rows."""
    try:
        return call()
    except InputError as exc:
        raise _remap_error(exc, name, user_rows, positions) from None


def _remap_error(exc: InputError, name, user_rows, positions) -> InputError:
    table = exc.table.copy()
    if len(table):
        mapped = []
        for r in table["row"]:
            try:
                k = int(r) - 1
                mapped.append(int(user_rows[positions[k]]) if 0 <= k < len(positions) else r)
            except (TypeError, ValueError):
                mapped.append(r)
        table["row"] = mapped
        table["column"] = name
    return InputError(exc.message, table)


def _compute(featurizer, values, missing, batch_size, scheduler, progress, name, user_rows, cache, keys,
             columns) -> np.ndarray:
    """Featurize the rows ``missing`` in batches (in process or on Dask), storing each batch."""
    out = np.empty((len(missing), len(columns)))
    if not missing:
        return out
    batches = [missing[s:s + batch_size] for s in range(0, len(missing), batch_size)]
    errors: list[pd.DataFrame] = []
    state = {"done": 0}
    offsets = {id(b): s for b, s in zip(batches, range(0, len(missing), batch_size), strict=True)}

    def collect(batch: list[int], result) -> None:
        if isinstance(result, InputError):
            errors.append(_remap_error(result, name, user_rows, batch).table)
        else:
            array = _numeric(result, len(batch))
            if array.shape[1] != len(columns):
                raise ValueError(f"featurizer returned {array.shape[1]} columns, expected {len(columns)}")
            start = offsets[id(batch)]
            out[start:start + len(batch)] = array
            if cache is not None:
                good = [j for j, i in enumerate(batch) if keys[i] is not None]
                cache.store([keys[batch[j]] for j in good], array[good], columns, _about(featurizer))
        state["done"] += len(batch)
        if progress is not None:
            progress(state["done"], len(missing))

    if scheduler is not None:
        from matloop.represent.dask_map import map_batches

        map_batches(scheduler, transform_batch, featurizer, batches, lambda b: [values[i] for i in b], collect)
    else:
        for batch in batches:
            collect(batch, transform_batch(featurizer, [values[i] for i in batch]))
    if errors:
        table = pd.concat(errors, ignore_index=True)
        raise InputError(f"could not featurize {len(table)} of {len(values)} rows", table)
    return out


def transform_batch(featurizer, values: list):
    """One batch: the features, or the InputError (returned, so a Dask task reports it as data)."""
    try:
        return featurizer.transform(values)
    except InputError as exc:
        return exc
