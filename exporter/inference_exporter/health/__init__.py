"""Health probes, model inventory, manifest checks and canaries: one module per concern.

``endpoints`` (each server kind's API), ``client`` (HTTP with the target's auth),
``probes`` (the per-target Source that runs everything), ``inventory``, ``manifest``,
``canary`` and ``settings`` (the config blocks).
"""
