"""``matloop datasets fetch --optimade URL --filter F -o TABLE``: structures from any OPTIMADE provider."""

from __future__ import annotations

import argparse
import sys

from matloop.cli.options import int_at_least, output_file, positive_float

FETCH_EXAMPLE = ("matloop datasets fetch --optimade https://optimade.materialsproject.org "
                 "--filter 'elements HAS ALL \"Ba\",\"Ti\",\"O\"' -o ba_ti_o.csv")


def register_fetch(actions: argparse._SubParsersAction) -> None:
    """Add ``fetch`` to ``matloop datasets``."""
    p = actions.add_parser(
        "fetch", help="download structures and properties from OPTIMADE providers (MP, OQMD, AFLOW, COD, ...)",
        description="Send one OPTIMADE filter to one or more providers and write one table: the structures "
                    "inline (pymatgen JSON, usable as --input structure --kind structure), each provider's id, "
                    "the properties it returns, and provenance (provider, URL, retrieval date; a "
                    "FILE.provenance.json beside the table). Pages are followed, failed requests retried with "
                    "back-off, and every page is cached so that a second run works offline. Entries that are "
                    "not periodic structures keep their row with the reason in 'problem'. Exit status: 0 written, 1 a provider "
                    "failed or nothing matched, 2 a provider rejected the filter.",
        epilog="examples:\n  " + FETCH_EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--optimade", action="append", required=True, metavar="URL",
                   help="a provider's base URL (repeat for several providers)")
    p.add_argument("--filter", required=True, metavar="FILTER",
                   help="OPTIMADE filter, e.g. 'elements HAS ALL \"Li\",\"O\" AND nelements<=3'")
    p.add_argument("-o", "--output", required=True, type=output_file, metavar="FILE",
                   help="table to write (.csv, .tsv, .json, .parquet, .xlsx; .gz/.bz2/.xz for text formats)")
    p.add_argument("--response-fields", metavar="A,B",
                   help="properties to ask for besides the structure (default: all the provider sends)")
    p.add_argument("--max-results", type=int_at_least(1), default=10_000, metavar="N",
                   help="stop after N structures per provider (default 10000; the summary says if more exist)")
    p.add_argument("--page-size", type=int_at_least(1, 1000), default=100, metavar="N",
                   help="structures per request (default 100)")
    p.add_argument("--timeout", type=positive_float, default=30.0, metavar="S",
                   help="seconds to wait for one answer (default 30)")
    p.add_argument("--retries", type=int_at_least(0, 10), default=3, metavar="N",
                   help="further tries after a network error, time-out, 429 or 5xx (default 3; back-off doubles)")
    p.add_argument("--cache-dir", metavar="DIR",
                   help="page cache (default $MATLOOP_CACHE_DIR/optimade or ~/.cache/matloop/optimade)")
    fresh = p.add_mutually_exclusive_group()
    fresh.add_argument("--refresh", action="store_true", help="fetch again even if the pages are cached")
    fresh.add_argument("--offline", action="store_true", help="use cached pages only; never touch the network")
    p.add_argument("--allow-partial", action="store_true",
                   help="write what the other providers returned when one fails (default: fail, write nothing)")
    p.add_argument("-f", "--force", action="store_true", help="overwrite FILE if it exists")
    p.set_defaults(func=_fetch)


def _fetch(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from matloop.io.optimade import OptimadeQuery, fetch_structures
    from matloop.io.write import output_format, write_table

    out = Path(args.output)
    output_format(out)  # an unsupported file name fails now (exit 2), not after the download
    if out.exists() and not args.force:
        print(f"error: {out} exists; use --force to overwrite it", file=sys.stderr)
        return 2
    if not args.filter.strip():
        print("error: --filter is empty", file=sys.stderr)
        return 2
    fields = tuple(f.strip() for f in (args.response_fields or "").split(",") if f.strip())
    query = OptimadeQuery(base_urls=tuple(args.optimade), filter=args.filter, response_fields=fields,
                          page_size=args.page_size, max_results=args.max_results, timeout=args.timeout,
                          retries=args.retries)
    result = fetch_structures(query, cache_dir=Path(args.cache_dir) if args.cache_dir else None,
                              refresh=args.refresh, offline=args.offline)
    for error in result.errors:
        kind = "rejected the query" if error.bad_input else "failed"
        print(f"error: provider {error.provider} {kind}: {error.message}", file=sys.stderr)
    if result.errors and not (args.allow_partial and result.providers):
        print("nothing written" + ("" if not result.providers else
                                   " (--allow-partial writes what the other providers returned)"), file=sys.stderr)
        return 2 if all(e.bad_input for e in result.errors) else 1
    frame = result.frame()
    if frame.empty:
        print(f"no structure matched the filter at {', '.join(p['url'] for p in result.providers)}; nothing written",
              file=sys.stderr)
        return 1
    write_table(frame, out)
    provenance = {"query": {"filter": args.filter, "response_fields": list(fields), "max_results": args.max_results},
                  "providers": result.providers,
                  "failed": [{"provider": e.provider, "error": e.message} for e in result.errors],
                  "citation": "Andersen et al., OPTIMADE, an API for exchanging materials data, Sci. Data 8, 217 "
                              "(2021); cite each provider's own database as its terms ask"}
    Path(f"{out}.provenance.json").write_text(json.dumps(provenance, indent=1) + "\n")
    bad = int(frame["problem"].notna().sum())
    for p in result.providers:
        more = (f"; stopped at --max-results, the provider holds {p['available']:,}"
                if p["stopped_at_max_results"] and isinstance(p["available"], int) else "")
        cached = f", {p['pages_from_cache']} of {p['pages']} pages from the cache" if p["pages_from_cache"] else ""
        print(f"{p['provider']} ({p['url']}): {p['entries']:,} structures{more}{cached}")
    print(f"wrote {len(frame):,} rows to {out} (provenance: {out}.provenance.json)"
          + (f"; {bad} without a usable structure (reason in the 'problem' column)" if bad else ""))
    return 0
