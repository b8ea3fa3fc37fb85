"""``matloop serve``: a campaign server for a team and its instruments (REST API and web dashboard).

Layers: :mod:`~matloop.serve.settings` (configuration, built by the CLI or a test),
:mod:`~matloop.serve.auth` (bearer tokens, stored hashed), :mod:`~matloop.serve.service` (every read and
write, through :class:`~matloop.design.campaign.Campaign`), :mod:`~matloop.serve.app` (the FastAPI
factory) and ``routers/`` (HTTP only, no SQL). Nothing here is built at import: ``create_app(settings)``
makes each app on its own ledger.
"""
