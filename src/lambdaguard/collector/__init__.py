"""The collector side: receive what the layer emits, store it, judge it.

- :mod:`.server` — ``start_collector(config) -> CollectorHandle``: OTLP/HTTP
  and OTLP/gRPC receivers (``lambdaguard serve``).
- :mod:`.store` — ``open_store(url) -> Store``: the SQLite/PostgreSQL store and
  its typed read methods (``functions``, ``calls``, ``hosts``, ``invocations``).
- :mod:`.settings` — ``CollectorConfig`` and the environment variable names.
- :mod:`.otlp`, :mod:`.spans`, :mod:`.forward` — decoding, reduction to facts,
  forwarding upstream.

Nothing here is imported by :mod:`lambdaguard.agent`.
"""
