"""``matloop serve``: the campaign server (REST API and dashboard) and its tokens.

``matloop serve [--db URL] [--host 127.0.0.1] [--port 8765]`` serves the ledger's campaigns with
uvicorn; on the first start (no token in the ledger yet) it creates an admin token, prints it once and
stores only its hash. ``matloop serve token create --role viewer|experimenter|admin`` prints a new
token; ``matloop serve token revoke ID`` revokes one; ``matloop serve token list`` lists them.
FastAPI and uvicorn are imported inside the command functions only.
"""

from __future__ import annotations

import argparse
import os

from matloop.cli.options import db_url, int_at_least, nonnegative_float, positive_float

DESCRIPTION = """\
Serve the campaigns of a ledger to a team and its instruments: a REST API (every request carries
'Authorization: Bearer TOKEN'; the OpenAPI document is at /api/openapi.json) and a web dashboard.

Roles: viewers read; experimenters also ask for batches and record results and failures; admins also
create campaigns, veto candidates and manage tokens. Results are recorded all or nothing per request;
a request sent again with the same Idempotency-Key header is recorded once.

The server binds 127.0.0.1 (only this machine can connect) unless --host says otherwise, and says so
when it starts. Start it with 'matloop serve --db lab.db' (it runs until stopped with Ctrl-C); on the
first start it prints an admin token once. --check does everything but serving, then exits.

examples:
  matloop serve --db lab.db --check
  matloop serve token create --role experimenter --label robot-1 --db lab.db
  matloop serve token list --db lab.db
"""

TOKEN_DESCRIPTION = """\
Tokens of 'matloop serve': 'mlt_<id>_<secret>'. Only a hash of each is stored, so a token is shown
once, when it is created; revoke a lost one with 'matloop serve token revoke ID'.

examples:
  matloop serve token create --role viewer --label "group meeting screen" --db lab.db
"""

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _db_argument(parser: argparse.ArgumentParser, default=None) -> None:
    parser.add_argument("--db", metavar="URL", type=db_url, default=default,
                        help="ledger: a SQLite file path or an SQLAlchemy URL (default: $MATLOOP_DB or ./matloop.db)")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``serve`` and ``serve token create|revoke|list``."""
    parser = subparsers.add_parser("serve", help="serve campaigns over HTTP (REST API and dashboard)",
                                   description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    _db_argument(parser)
    parser.add_argument("--host", default="127.0.0.1",
                        help="interface to listen on (default 127.0.0.1: this machine only; 0.0.0.0 for the network)")
    parser.add_argument("--port", type=int_at_least(1, 65535, name="port"), default=8765,
                        help="TCP port (default 8765)")
    parser.add_argument("--max-body-mb", type=positive_float, default=8.0, metavar="MB",
                        help="largest request body accepted, in MiB (default 8; more is refused with 413)")
    parser.add_argument("--read-only", action="store_true", help="refuse every write (403)")
    parser.add_argument("--form-wait", type=nonnegative_float, default=3.0, metavar="SECONDS",
                        help="how long the dashboard's 'ask for a batch' form waits for the fit (default 3); a "
                             "longer fit goes on in a worker and the page shows the batch when it is done")
    parser.add_argument("--check", action="store_true",
                        help="open the ledger, create the first admin token if needed, say where it would listen, "
                             "and exit without serving")
    parser.set_defaults(func=run_serve)
    sub = parser.add_subparsers(dest="serve_command", metavar="ACTION", title="actions")
    token = sub.add_parser("token", help="create, revoke or list tokens", description=TOKEN_DESCRIPTION,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    token.set_defaults(func=lambda args: token.print_help() or 0)
    actions = token.add_subparsers(dest="token_command", metavar="ACTION", title="actions")
    create = actions.add_parser("create", help="print a new token (shown once)")
    create.add_argument("--role", required=True, choices=("viewer", "experimenter", "admin"))
    create.add_argument("--label", default="", help="who or what holds it (stored with everything it records)")
    _db_argument(create, argparse.SUPPRESS)
    create.set_defaults(func=run_token_create)
    revoke = actions.add_parser("revoke", help="revoke a token for good")
    revoke.add_argument("id", type=int_at_least(1, name="token_id"), metavar="ID", help="the token's id")
    _db_argument(revoke, argparse.SUPPRESS)
    revoke.set_defaults(func=run_token_revoke)
    listing = actions.add_parser("list", help="every token's id, role, label and state (never a secret)")
    _db_argument(listing, argparse.SUPPRESS)
    listing.set_defaults(func=run_token_list)


def _db(args: argparse.Namespace) -> str:
    return getattr(args, "db", None) or os.environ.get("MATLOOP_DB", "matloop.db")


def _shown(url: str) -> str:
    """The ledger URL without a password."""
    from sqlalchemy.engine import make_url

    from matloop.design.ledger import ledger_url

    try:
        return make_url(ledger_url(url)).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - only for display
        return "the ledger"


def run_serve(args: argparse.Namespace) -> int:
    from matloop.serve import auth
    from matloop.serve.app import create_app
    from matloop.serve.settings import ServeSettings

    settings = ServeSettings(db=_db(args), host=args.host, port=args.port,
                             max_body_bytes=int(args.max_body_mb * 1024 * 1024), read_only=args.read_only,
                             form_wait_s=min(args.form_wait, 600.0))
    app = create_app(settings)  # opens (and creates) the ledger: a bad --db exits 2 here
    db = app.state.db
    if auth.count_tokens(db) == 0:
        tid, token = auth.create_token(db, "admin", "first admin", created_by="matloop serve (first start)")
        print(f"first start: created admin token {tid}; it is shown only now (only its hash is stored):")
        print(f"  {token}")
    host = settings.host
    reach = ("only this machine can connect" if host in LOOPBACK else
             "other machines can connect: anyone who can reach this port sees the login page")
    shown_host = f"[{host}]" if ":" in host else host
    print(f"{'would serve' if args.check else 'serving'} the campaigns of {_shown(settings.db)} on "
          f"http://{shown_host}:{settings.port}/ (API /api, OpenAPI /api/openapi.json)")
    print(f"bound to {host}: {reach}" + ("" if host not in LOOPBACK else " (--host 0.0.0.0 to serve the network)"))
    if args.check:
        db.close()
        return 0
    import sys

    import uvicorn

    sys.stdout.flush()
    uvicorn.run(app, host=host, port=settings.port, log_level="warning", access_log=False)
    return 0


def run_token_create(args: argparse.Namespace) -> int:
    from matloop.serve import auth
    from matloop.serve.db import open_db

    db = open_db(_db(args))
    try:
        tid, token = auth.create_token(db, args.role, args.label, created_by="matloop serve token create")
    finally:
        db.close()
    print(f"token {tid} ({args.role}{', ' + args.label if args.label else ''}); shown only now:")
    print(f"  {token}")
    return 0


def _existing(args: argparse.Namespace):
    """The server's ledger, which must exist already (a mistyped --db creates nothing)."""
    from matloop.design.ledger import open_engine
    from matloop.serve.db import open_db

    open_engine(_db(args), create=False).dispose()
    return open_db(_db(args))


def run_token_revoke(args: argparse.Namespace) -> int:
    from matloop.errors import InputError, error_table
    from matloop.serve import auth

    db = _existing(args)
    try:
        done = auth.revoke_token(db, args.id)
    finally:
        db.close()
    if not done:
        raise InputError(f"no unrevoked token {args.id}", error_table(
            [{"row": 0, "column": "ID", "value": args.id, "reason": "see 'matloop serve token list'"}]))
    print(f"revoked token {args.id}")
    return 0


def run_token_list(args: argparse.Namespace) -> int:
    from matloop.serve import auth

    db = _existing(args)
    try:
        rows = auth.list_tokens(db)
    finally:
        db.close()
    if not rows:
        print("no tokens")
    for r in rows:
        state = f"revoked {r['revoked_at']}" if r["revoked_at"] else "active"
        print(f"{r['id']:>4}  {r['role']:<12} {state:<10} {r['label']!r} (created {r['created_at']} by {r['created_by']})")
    return 0
