"""``matloop featurize TABLE -o OUT``: add feature columns to a table of materials."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from matloop.cli.common import add_quiet_argument, add_table_arguments

DESCRIPTION = """\
Read a table of materials, compute features for its input column (formulas, SMILES or structure
files) and write every original column followed by the features, one row per material.

Without --featurizer the default for the input kind is used: for formulas 'default' (magpie element
statistics + stoichiometry + valence orbitals + ion properties + element fractions, 267 columns),
for structures 'structure', for SMILES 'molecule'. Several --featurizer names are concatenated in
order.

featurizers by input kind:
  formulas:    default, magpie, xenonpy, stoichiometry, valence_orbital, ion, element_fraction,
               sustainability
  structures:  structure, soap
  SMILES:      molecule, morgan, rdkit2d, maccs

examples:
  matloop featurize expt_gap.csv -o features.parquet
  matloop featurize steels.xlsx --input composition --featurizer magpie --featurizer sustainability -o f.csv
  matloop featurize esol.csv --featurizer morgan,maccs -o fp.parquet

Exit status: 0 on success, 2 on bad input (every bad row is listed on stderr with its row number,
column, value and reason; --skip-invalid leaves such rows out and writes them to a side file).
"""

OUTPUT_FORMATS = (".csv", ".csv.gz", ".parquet")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``featurize`` subcommand."""
    parser = subparsers.add_parser(
        "featurize", help="add feature columns (magpie, fingerprints, structure features, ...) to a table",
        description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_table_arguments(parser, target_required=False)
    group = parser.add_argument_group("features and output")
    group.add_argument(
        "--featurizer", metavar="NAME", action="append", default=None,
        help="featurizer name, see the list above; repeat the option or separate names with commas for "
             "several (default: the input kind's default)",
    )
    group.add_argument(
        "-o", "--output", metavar="OUT", required=True,
        help="output file: .csv, .csv.gz or .parquet (parquet is smaller, faster and exact; CSV features are "
             "written to 6 significant digits, the table's own columns as read)",
    )
    group.add_argument("--scheduler", metavar="ADDRESS",
                       help="featurize structures and diffraction patterns in batches on a Dask cluster "
                            "(dask.distributed; files must be readable by the workers), e.g. tcp://127.0.0.1:8786")
    add_quiet_argument(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Read, featurize, write; print rows, features and timings. Bad input raises InputError (exit 2)."""
    from matloop.cli.common import load_table
    from matloop.errors import InputError

    output = Path(args.output)
    if not any(output.name.lower().endswith(ext) for ext in OUTPUT_FORMATS):
        raise InputError(f"cannot write {output.name}: the output must end in {', '.join(OUTPUT_FORMATS)}")
    from matloop.cli.commands._featurize_fast import run_fast

    code = run_fast(args)  # a plain formula list to Parquet: no pandas (None: anything else)
    if code is not None:
        return code
    import matloop.represent.base  # noqa: F401  (pandas and numpy: imported before the clocks start)

    t0 = time.perf_counter()
    from matloop.io.validate import keep_parsed

    with keep_parsed():  # the parsed formulas are reused below instead of parsed again
        dataset = load_table(args)
    if dataset.kind == "parameters":
        raise InputError(
            f"{Path(args.table).name} has no formula, SMILES or structure column, so there is nothing to "
            "featurize (a parameter table's numeric columns are already its features); name the material "
            "column with --input COL"
        )
    names, featurizer = _featurizer(args.featurizer, dataset.kind)
    t1 = time.perf_counter()
    X = dataset.X
    if dataset.kind == "composition":
        from matloop.io.validate import take_parsed

        parsed = take_parsed(X, dataset.rows)  # the compositions validation parsed: no second parse
        X = X if parsed is None else parsed
    from matloop.progress import say

    say(f"featurizing {len(dataset):,} rows with {', '.join(names) if isinstance(names, list) else names}")
    output.parent.mkdir(parents=True, exist_ok=True)
    if output.name.lower().endswith(".parquet") and _streams(X, featurizer):
        feature_names = _feature_columns(featurizer.get_feature_names_out(), dataset.frame.columns)
        t_feat, t_write = write_parquet_stream(dataset.frame, X, featurizer, feature_names, output)
        n_rows, n_feat = len(X), len(feature_names)
        t2, t3 = t1 + t_feat, t1 + t_feat + t_write
    else:
        from matloop.represent.feature_cache import options

        with options(**({"scheduler": args.scheduler} if getattr(args, "scheduler", None) else {})):
            features = _fit_transform(featurizer, X, dataset.kind)
        t2 = time.perf_counter()
        say(f"{features.shape[1]} features in {t2 - t1:.1f} s; writing {output.name}")
        features.index = dataset.frame.index
        features.columns = _feature_columns(features.columns, dataset.frame.columns)
        if output.name.lower().endswith(".parquet"):
            write_parquet(dataset.frame, features, output)
        else:
            import pandas as pd

            from matloop.io.write import write_table

            write_table(pd.concat([dataset.frame, features], axis=1), output, round_columns=list(features.columns))
        t3 = time.perf_counter()
        n_rows, n_feat = len(features), features.shape[1]
    rate = f" ({n_rows / (t2 - t1):,.0f} rows/s)" if t2 > t1 and n_rows >= 1000 else ""
    print(f"featurized {n_rows} row{'s' if n_rows != 1 else ''} of {dataset.kind}s in column "
          f"'{dataset.input}' with {', '.join(names)}: {n_feat} features")
    print(f"time: read {t1 - t0:.2f} s, featurize {t2 - t1:.2f} s{rate}, write {t3 - t2:.2f} s")
    print(f"wrote {output} ({dataset.frame.shape[1] + n_feat} columns: {dataset.frame.shape[1]} from the table + "
          f"{n_feat} features)")
    return 0


def _feature_columns(names, table_columns) -> list:
    """Feature names, those equal to a column of the table written as ``NAME (feature)`` (with a note)."""
    names = list(names)
    clash = [c for c in names if c in table_columns]
    if clash:
        print(f"note: {len(clash)} feature name(s) equal a column of the table and were written as "
              f"'NAME (feature)': {', '.join(map(str, clash[:5]))}", file=sys.stderr)
        return [f"{c} (feature)" if c in clash else c for c in names]
    return names


def _streams(X, featurizer) -> bool:
    """Whether the features can be computed and written block by block: parsed compositions and a
    composition featurizer (float64 out, one row per composition, nothing learnt in ``fit``)."""
    from matloop.io.formula import Compositions
    from matloop.represent.base import CompositionFeaturizer

    return isinstance(X, Compositions) and isinstance(featurizer, CompositionFeaturizer)


#: bytes of features computed and written at once by write_parquet_stream (one Parquet row group)
STREAM_BYTES = 16 << 20


def write_parquet_stream(frame, comps, featurizer, names: list, output: Path) -> tuple[float, float]:
    """Featurize ``comps`` block by block and write each block as a row group of ``output``, after
    ``frame``'s own columns; returns the seconds spent featurizing and writing.

    The same file, values and dtypes as :func:`write_parquet` on the whole feature table, but the
    features never exist whole: a block of ``STREAM_BYTES`` is computed, transposed into a reused
    column-major buffer and written. On 200,000 formulas x 132 features this avoids two fresh
    211 MB arrays (peak memory 742 -> 283 MB), whose page faults cost as much CPU as computing the
    features on the 2-core machine of benchmarks/results/featurize_speed.md. The file is
    written under a temporary name and renamed when complete, so a failure leaves no partial file.
    """
    import pyarrow as pa

    from matloop.cli.commands._featurize_fast import stream_parquet

    own = pa.Table.from_pandas(frame.reset_index(drop=True), preserve_index=False)
    return stream_parquet(own, comps, featurizer, names, output)


def _compression(own: list[str], names: list[str]) -> dict[str, str]:
    """Snappy for the table's own columns (text compresses well, cheaply), none for the features
    (10^7 mostly distinct floats: snappy makes the file 2.5x smaller and the write 2.5x slower)."""
    own_set = set(own)
    return {name: "snappy" if name in own_set else "none" for name in names}


def write_parquet(frame, features, output: Path) -> None:
    """The table's columns then the features, as Parquet, values exact (float64 stays float64).

    No concatenated copy; float features handed to Arrow column by column from one column-major
    block (see :func:`column_major`); features neither compressed nor dictionary-encoded, the
    table's own columns dictionary-encoded and snappy-compressed; no min/max statistics. Used for
    SMILES and structures; parsed formulas go through :func:`write_parquet_stream`."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(frame.reset_index(drop=True), preserve_index=False)
    own = [str(c) for c in frame.columns]
    names = [str(c) for c in features.columns]
    if set(features.dtypes) == {np.dtype(np.float64)}:
        block = column_major(features.to_numpy(dtype=np.float64))
        columns = [pa.array(block[j]) for j in range(block.shape[0])]  # zero-copy views
    else:
        part = pa.Table.from_pandas(features.reset_index(drop=True), preserve_index=False)
        columns = [part.column(j) for j in range(part.num_columns)]
    for name, column in zip(names, columns, strict=True):
        table = table.append_column(name, column)
    pq.write_table(table, output, compression=_compression(own, table.column_names), use_dictionary=own,
                   write_statistics=False)


def column_major(values, block_rows: int = 512, out=None):
    """``values.T`` as a C-contiguous array (one feature per row), copied in blocks of rows that fit
    in the CPU cache (a plain transposed copy of 200,000 x 132 floats misses the cache on every
    read, and is 5x slower). ``out``, when given, receives it (shape ``values.T.shape``)."""
    import numpy as np

    if out is None:
        if values.T.flags.c_contiguous:
            return values.T
        out = np.empty(values.shape[::-1], dtype=values.dtype)
    for start in range(0, values.shape[0], block_rows):
        out[:, start:start + block_rows] = values[start:start + block_rows].T
    return out


def _featurizer(requested: list[str] | None, kind: str):
    """The names used and one transformer for them; unknown names or the wrong kind raise InputError."""
    from matloop.errors import InputError
    from matloop.represent.registry import DEFAULT_FOR_KIND, FEATURIZERS, get_featurizer

    split = [part.strip() for item in requested or [] for part in item.split(",") if part.strip()]
    names = list(dict.fromkeys(split or [DEFAULT_FOR_KIND[kind]]))
    unknown = [n for n in names if n not in FEATURIZERS]
    if unknown:
        import difflib

        hints = [f"{n!r}" + (f" (did you mean {m[0]!r}?)" if (m := difflib.get_close_matches(n, FEATURIZERS, 1)) else "")
                 for n in unknown]
        raise InputError(f"unknown featurizer {', '.join(hints)}; known: {', '.join(sorted(FEATURIZERS))}")
    wrong = [n for n in names if _kind_of(FEATURIZERS[n]) != kind]
    if wrong:
        raise InputError(
            f"featurizer {', '.join(map(repr, wrong))} does not work on {kind}s, which the input column holds; "
            f"for {kind}s use: {', '.join(n for n in sorted(FEATURIZERS) if _kind_of(FEATURIZERS[n]) == kind)}"
        )
    if kind == "composition" and len(names) == 1:
        return names, get_featurizer(names[0])
    if kind == "composition":
        from matloop.represent.composition import CompositeFeaturizer

        return names, CompositeFeaturizer(names)
    return names, _Concat([get_featurizer(n) for n in names])


def _kind_of(target: str) -> str:
    module = target.split(":")[0].rsplit(".", 1)[-1]
    if module.startswith(("pattern", "diffraction")):  # diffraction patterns (represent.pattern_features)
        return "pattern"
    return "structure" if module.startswith("structure") or ".potentials." in target else "molecule" if module.startswith("molecule") \
        else "composition"


def _fit_transform(featurizer, X, kind: str):
    """Structures go through the row cache (represent.feature_cache: a second run does not recompute)."""
    if kind != "structure":
        return featurizer.fit_transform(X)
    from matloop.represent.feature_cache import cached_transform

    if isinstance(featurizer, _Concat):
        return featurizer.fit_transform(X, each=lambda f: cached_transform(f, X, fit=True))
    return cached_transform(featurizer, X, fit=True)


class _Concat:
    """Several structure or molecule featurizers side by side (each reads the inputs itself)."""

    def __init__(self, featurizers: list):
        self.featurizers = featurizers

    def fit_transform(self, X, each=None):
        import pandas as pd

        from matloop.errors import InputError

        parts = [each(f) if each is not None else f.fit_transform(X) for f in self.featurizers]
        frame = pd.concat(parts, axis=1) if len(parts) > 1 else parts[0]
        dupes = frame.columns[frame.columns.duplicated()].unique().tolist()
        if dupes:
            raise InputError(f"the featurizers produce the same columns ({dupes[:5]}); give each one once, "
                             "e.g. 'molecule' already includes 'morgan'")
        return frame
