"""``matloop models``: the pre-trained model library (list with card highlights, full card)."""

from __future__ import annotations

import argparse
import textwrap


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``matloop models {list,info}`` to the top-level parser."""
    parser = subparsers.add_parser(
        "models",
        help="list the pre-trained model library and show model cards",
        description=textwrap.fill(
            "matloop ships composition models pre-trained on large DFT datasets (Materials Project, "
            "OQMD, AFLOW: formation energies, band gaps, moduli, magnetic moments, ...). Their hidden "
            "layers and predictions are descriptors for small data ('--transfer' of fit and validate). "
            "Each has a model card: data, split, size, test metrics, date, code version.", width=80),
        epilog="examples:\n  matloop models list\n  matloop models info mp_gap\n  matloop models info mp_gap --format json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.set_defaults(func=lambda args: _help(parser))
    actions = parser.add_subparsers(dest="action", metavar="ACTION", title="actions")
    p_list = actions.add_parser("list", help="one line per model: property, data, rows, test metric, size",
                                description="List the pre-trained models with the highlights of their cards.")
    p_list.add_argument("--format", choices=("table", "csv", "json"), default="table",
                        help="an aligned table (default), CSV or JSON with all columns")
    p_list.set_defaults(func=_list)
    p_info = actions.add_parser("info", help="the full model card of one model",
                                description="Print the full model card: data, split, rows, excluded "
                                            "compositions, architecture, training settings and time, test "
                                            "metrics, date, code version, weights hash.")
    p_info.add_argument("name", metavar="NAME", help="model name, e.g. mp_gap (see 'matloop models list'), or a "
                                                      "model file written by 'matloop fit' (its header: versions, "
                                                      "estimator, features, target; nothing is loaded)")
    p_info.add_argument("--format", choices=("text", "json"), default="text", help="readable text or the raw JSON")
    p_info.set_defaults(func=_info)


def _help(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 0


def _number(value, column: str) -> str:
    if value is None or value != value:  # None or NaN
        return ""
    if column in ("train_rows", "test_rows", "excluded", "parameters"):
        return f"{int(value):,}"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _table(frame) -> str:
    numeric = {"train_rows", "test_rows", "excluded", "value", "baseline", "r2", "size_kb", "train_s", "cpu_s"}
    cells = [[_number(v, c) for c, v in row.items()] for _, row in frame.iterrows()]
    widths = [max(len(str(c)), *(len(r[i]) for r in cells)) for i, c in enumerate(frame.columns)]

    def line(values):
        return "  ".join(v.rjust(w) if c in numeric else v.ljust(w)
                         for c, v, w in zip(frame.columns, values, widths, strict=True)).rstrip()

    return "\n".join([line([str(c) for c in frame.columns])] + [line(r) for r in cells])


def _list(args: argparse.Namespace) -> int:
    from matloop.models.pretrained import library_info, library_size, list_models

    table = list_models()
    if args.format == "csv":
        print(table.to_csv(index=False), end="")
        return 0
    if args.format == "json":
        print(table.to_json(orient="records", indent=1))
        return 0
    shown = table[["name", "property", "units", "train_rows", "excluded", "metric", "value", "baseline", "size_kb",
                   "cpu_s"]]
    print(_table(shown))
    info = library_info()
    total = (f", pre-trained in {info['total_cpu_s'] / 60:.1f} CPU-min ({info['total_time_s'] / 60:.1f} min wall, "
             f"{info.get('jobs', 1)} job(s))" if info.get("total_cpu_s") else "")
    print(f"\n{len(table)} models, {library_size() / 1e6:.1f} MB{total}. metric/value: test MAE in the "
          f"property's units (baseline: predicting the median) or ROC AUC. Full card: matloop models info NAME")
    return 0


def _info(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from matloop.models.pretrained import model_card

    if Path(args.name).is_file():  # a saved model: its validated header (matloop.models.read_model_metadata)
        from matloop.models.persistence import read_model_metadata

        header = read_model_metadata(args.name)
        if args.format == "json":
            print(json.dumps(header, indent=1))
        else:
            names = header.get("feature_names") or []
            shown = {k: v for k, v in header.items() if k not in ("feature_names", "metadata")}
            shown["features"] = f"{len(names)} ({', '.join(names[:5])}{', ...' if len(names) > 5 else ''})"
            shown.update({f"metadata.{k}": v for k, v in header["metadata"].items()})
            print("\n".join(f"{k:22s} {v}" for k, v in shown.items()))
        return 0
    card = model_card(args.name)
    if args.format == "json":
        print(json.dumps(card, indent=1))
        return 0
    print(format_card(card), end="")
    return 0


def format_card(card: dict) -> str:
    """A model card as readable text: a title, then one ``key: value`` line per field by section."""
    title = f"{card['name']}: {card.get('property', '')}"
    lines = [title, "=" * len(title), ""]
    top = ("task", "units", "target_transform", "prediction", "date", "code_version", "weights_sha256")
    lines += [f"{key:18s} {card[key]}" for key in top if key in card]
    for section in ("data", "model", "training", "test_metrics"):
        values = card.get(section)
        if not values:
            continue
        lines += ["", section.replace("_", " ").capitalize(), "-" * len(section)]
        for key, value in values.items():
            if isinstance(value, dict):
                value = ", ".join(f"{k}={v}" for k, v in value.items())
            text = textwrap.fill(str(value), width=100, initial_indent=" " * 25,
                                 subsequent_indent=" " * 25).lstrip()
            lines.append(f"  {key:22s} {text}")
    return "\n".join(lines) + "\n"
