"""Development tooling shared by the whole repository (installed by ``make venv``, not shipped).

* ``repo``: where the repository is, and importing its script folders (the one place that
  touches ``sys.path``).
* ``prom``: a real Prometheus and promtool for tests and benchmarks.
* ``generated``: writing generated files (``make generate``); CI checks their freshness with
  ``make check-generated``.
* ``packconfig``: the rule pack's config (rules/config.yml), read by the rule generator and the
  dashboard generator alike, so SLO classes and dashboards cannot disagree.
* ``promql``: small PromQL helpers (the metric names an expression reads).
* ``slack``: the alerts listed in the messages the demo's Slack stand-in received.
* ``live_stack``: real model servers, the exporter and Prometheus with the rule pack, for the
  dashboard tests and figures.
"""
