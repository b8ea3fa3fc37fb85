"""Command-line interface: a thin layer over the public Python API."""
