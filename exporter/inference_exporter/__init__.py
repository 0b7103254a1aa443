"""inference-exporter: one Prometheus metric schema for every model server."""

__version__ = "0.1.0"
