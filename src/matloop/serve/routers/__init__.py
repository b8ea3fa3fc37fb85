"""HTTP routers of ``matloop serve``: one module per resource; they call :mod:`matloop.serve.service` only."""
