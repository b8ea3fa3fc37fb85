"""``matloop featurize LIST.csv -o OUT.parquet`` for a plain list of formulas, without pandas.

The user's most common featurize run is a one-column file of formulas to Parquet. Through the
general path, 200,000 formulas took 1.6 s, of which the features were 0.35 s: importing pandas
(0.3 s), building and checking a DataFrame, and converting it to Arrow made up most of the rest.
:func:`run_fast` does the same work with numpy and pyarrow only:

- :func:`matloop.io.fast_formulas.read_formula_list` reads and validates the list (the same cells,
  rows and compositions as :func:`matloop.io.read_table`; ``None`` whenever the general reader
  might decide otherwise or has anything to report, e.g. a bad row);
- the featurizer writes each block of features straight into a reused array
  (``_featurize_into``, what ``transform`` calls), and :func:`stream_parquet` writes it as a row
  group, as :func:`matloop.cli.commands.featurize.write_parquet_stream` does;
- the table's own column gets the Arrow type and the ``pandas`` schema metadata that
  ``pyarrow.Table.from_pandas`` gives it (:func:`own_column`), so the file is byte for byte the one
  the general path writes (tests/cli/test_featurize_fast.py).

Anything else (targets, ``--duplicates mean``, other kinds or outputs, any doubt about the table)
returns ``None`` and the general path runs, with its messages.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from matloop.cli.commands import featurize as _command
from matloop.cli.commands.featurize import _compression, _feature_columns, _featurizer, column_major

__all__ = ["own_column", "run_fast", "stream_parquet"]


def run_fast(args: argparse.Namespace) -> int | None:
    """Featurize a formula list to Parquet without pandas; the exit status, or ``None`` when the
    general path must run (the table or the options are not those of a plain formula list)."""
    if getattr(args, "target", None) or getattr(args, "extra_inputs", None) \
            or getattr(args, "duplicates", "keep") == "mean" or getattr(args, "kind", None) not in (None, "composition"):
        return None
    output = Path(args.output)
    if not output.name.lower().endswith(".parquet"):
        return None
    from matloop.io.fast_formulas import read_formula_list
    from matloop.represent.base import CompositionFeaturizer

    t0 = time.perf_counter()
    table = read_formula_list(args.table, getattr(args, "input", None), getattr(args, "kind", None))
    if table is None:
        return None
    names, featurizer = _featurizer(args.featurizer, "composition")
    if not isinstance(featurizer, CompositionFeaturizer):  # pragma: no cover - composition names only
        return None
    t1 = time.perf_counter()
    from matloop.progress import say

    say(f"featurizing {len(table):,} rows with {', '.join(names)}")
    output.parent.mkdir(parents=True, exist_ok=True)
    feature_names = _feature_columns(featurizer.get_feature_names_out(), [table.column])
    own = own_column(table.column, table.cells)
    t_feat, t_write = stream_parquet(own, table.compositions, featurizer, feature_names, output)
    n_rows, n_feat = len(table), len(feature_names)
    t2 = t1 + t_feat
    t3 = t2 + t_write
    rate = f" ({n_rows / (t2 - t1):,.0f} rows/s)" if t2 > t1 and n_rows >= 1000 else ""
    print(f"featurized {n_rows} row{'s' if n_rows != 1 else ''} of compositions in column "
          f"'{table.column}' with {', '.join(names)}: {n_feat} features")
    print(f"time: read {t1 - t0:.2f} s, featurize {t2 - t1:.2f} s{rate}, write {t3 - t2:.2f} s")
    print(f"wrote {output} ({1 + n_feat} columns: 1 from the table + {n_feat} features)")
    return 0


def own_column(column: str, cells: list[str]):
    """The one-column Arrow table ``pyarrow.Table.from_pandas`` makes of the frame
    :func:`matloop.io.read_table` reads from these cells, its schema metadata included, without
    importing pandas: pandas 2 reads text as ``object`` (Arrow ``string``), pandas 3 as ``str``
    (Arrow ``large_string``). Built from buffers: ``pyarrow.array`` would import pandas to ask whether
    its argument is a pandas object."""
    import pyarrow as pa

    version = pandas_version()
    large = int(version.split(".", 1)[0]) >= 3
    arrow_type, pandas_type, numpy_type = (pa.large_string(), "object", "str") if large \
        else (pa.string(), "unicode", "object")
    meta = {"index_columns": [], "column_indexes": [],
            "columns": [{"name": column, "field_name": column, "pandas_type": pandas_type,
                         "numpy_type": numpy_type, "metadata": None}],
            "attributes": {}, "creator": {"library": "pyarrow", "version": pa.__version__},
            "pandas_version": version}
    joined = "".join(cells)
    if joined.isascii():  # one byte per character
        data, lengths = joined.encode("ascii"), map(len, cells)
    else:
        encoded = [c.encode("utf-8") for c in cells]
        data, lengths = b"".join(encoded), map(len, encoded)
    offsets = np.zeros(len(cells) + 1, dtype=np.int64 if large else np.int32)
    np.cumsum(np.fromiter(lengths, dtype=np.int64, count=len(cells)), out=offsets[1:])
    array = pa.Array.from_buffers(arrow_type, len(cells), [None, pa.py_buffer(offsets), pa.py_buffer(data)])
    schema = pa.schema([pa.field(column, arrow_type)], metadata={b"pandas": json.dumps(meta).encode("utf8")})
    return pa.Table.from_arrays([array], schema=schema)


def pandas_version() -> str:
    """The installed pandas' version, without importing it (``importlib.metadata`` costs 0.05 s at
    start-up; the ``pandas-X.dist-info`` folder beside the package names it)."""
    pandas = sys.modules.get("pandas")
    if pandas is not None:
        return pandas.__version__
    import importlib.util

    spec = importlib.util.find_spec("pandas")
    if spec is not None and spec.origin:
        found = list(Path(spec.origin).parent.parent.glob("pandas-*.dist-info"))
        if len(found) == 1:
            return found[0].name[len("pandas-"): -len(".dist-info")]
    from importlib.metadata import version

    return version("pandas")


def stream_parquet(own, comps, featurizer, names: list, output: Path) -> tuple[float, float]:
    """Write ``own`` (an Arrow table: the table's own columns) followed by the features of ``comps``
    as Parquet, block by block; returns the seconds spent featurizing, and the seconds the command
    waited for writing.

    A block of ``featurize.STREAM_BYTES`` of features is computed into one of two reused column-major
    arrays, by the featurizer itself where it can (``_featurize_columns_into``: magpie, xenonpy), else
    into a reused row-major array (``_featurize_into``, what ``transform`` calls, or ``_featurize``)
    then transposed (:func:`column_major`), and written as one row group; the
    features never exist whole (see :func:`matloop.cli.commands.featurize.write_parquet_stream`).
    Row groups are written in order by one background thread while the next block is computed
    (Arrow writes without holding Python's lock): on 200,000 formulas writing 211 MB took 0.15 s of
    the command's 0.8 s, and now hides behind featurizing where a second core is free. Written under
    a temporary name and renamed when complete, so a failure leaves no partial file; an error while
    writing is raised here, as it would be without the thread.
    """
    from concurrent.futures import ThreadPoolExecutor

    import pyarrow as pa
    import pyarrow.parquet as pq

    fields = [pa.field(str(name), pa.float64()) for name in names]
    schema = pa.schema(list(own.schema) + fields, metadata=own.schema.metadata)
    n, k = len(comps), len(names)
    step = max(1024, _command.STREAM_BYTES // (8 * max(k, 1)))  # (read here: tests make it small)
    rows = min(step, max(n, 1))
    values = np.empty((rows, k))  # (no memory touched unless the featurizer cannot write columns)
    buffers = [np.empty((k, rows)) for _ in range(2 if n > step else 1)]  # one being written, one filled
    featurizer.fit(comps)
    t_feat = t_wait = 0.0
    partial = output.with_name(output.name + ".partial")
    try:
        with pq.ParquetWriter(partial, schema, compression=_compression(own.column_names, schema.names),
                              use_dictionary=own.column_names, write_statistics=False) as writer:
            pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="matloop-parquet")
            writes: list = []
            failed: list[BaseException] = []

            def write(table) -> None:  # in order, on the pool's one thread; nothing after a failure
                if failed:
                    return
                try:
                    writer.write_table(table)
                except BaseException as exc:
                    failed.append(exc)
                    raise

            try:
                for b, start in enumerate(range(0, max(n, 1), step)):
                    if failed:  # raised below
                        break
                    stop = min(start + step, n)
                    t = time.perf_counter()
                    if b >= len(buffers):  # the row group that used this buffer must be on its way out
                        writes[b - len(buffers)].result()
                    t_wait += time.perf_counter() - t
                    t = time.perf_counter()
                    chunk, block = _rows(comps, start, stop), buffers[b % len(buffers)][:, : stop - start]
                    if not featurizer._featurize_columns_into(chunk, block):  # else: computed, then transposed
                        column_major(_features(featurizer, chunk, values[: stop - start]), out=block)
                    columns = [own.column(j).slice(start, stop - start) for j in range(own.num_columns)]
                    features = [pa.Array.from_buffers(pa.float64(), stop - start, [None, pa.py_buffer(row)])
                                for row in block]  # zero-copy (pyarrow.array would import pandas: see own_column)
                    table = pa.Table.from_arrays(columns + features, schema=schema)
                    t_feat += time.perf_counter() - t
                    writes.append(pool.submit(write, table))
                t = time.perf_counter()
                for write in writes:
                    write.result()
            finally:  # no write may still run when the file is closed or removed
                pool.shutdown(wait=True, cancel_futures=True)
        partial.replace(output)
        t_wait += time.perf_counter() - t  # the last writes, the footer and the rename
    finally:
        partial.unlink(missing_ok=True)
    return t_feat, t_wait


def _rows(comps, start: int, stop: int):
    from matloop.represent.base import slice_compositions

    return slice_compositions(comps, start, stop)


def _features(featurizer, comps, out: np.ndarray) -> np.ndarray:
    """``featurizer.transform(comps)``'s values, computed into ``out`` (C-contiguous, one row per
    composition) as ``transform`` computes them."""
    if not featurizer._featurize_into(comps, out):
        values = np.asarray(featurizer._featurize(comps), dtype=np.float64)
        if values.shape != out.shape:
            raise RuntimeError(f"{type(featurizer).__name__} gave features of shape {values.shape}, not {out.shape}")
        out[:] = values
    return out
