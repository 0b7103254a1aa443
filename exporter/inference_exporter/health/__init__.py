"""Health probes, model inventory, manifest checks and canaries: one module per concern.

``client`` (HTTP with the target's auth), ``probes`` (the per-target checker the
exporter runs as a source), ``inventory``, ``manifest``, ``canary`` and ``settings`` (the
config blocks). Each server kind's API (paths, inventory and config readers) is declared
in its module under ``servers/``.
"""
