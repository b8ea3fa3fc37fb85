"""One module per top-level subcommand.

Each module defines ``register(subparsers)``, which adds its parser and sets ``func`` to a callable
taking the parsed ``argparse.Namespace`` and returning an exit code. Modules import heavy libraries
inside that callable only, so that ``matloop --help`` stays instant.
"""
