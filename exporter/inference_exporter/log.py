"""Structured logging in logfmt or JSON, as Prometheus exporters do (--log.format)."""

from __future__ import annotations

import json
import logging
import sys
import threading
import time

from .redaction import scrub

# Attributes every LogRecord has; anything else passed via extra= is a field.
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


def _fields(record: logging.LogRecord) -> dict:
    """The record's fields; every text passes redaction.scrub (no secret, no URL query value)."""
    out = {
        "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
        "level": record.levelname.lower(),
        "logger": record.name.rsplit(".", 1)[-1],
        "msg": record.getMessage(),
    }
    for key, value in record.__dict__.items():
        if key not in _STANDARD and not key.startswith("_"):
            out[key] = value
    if record.exc_info and record.levelno >= logging.ERROR:
        out["err"] = "".join(logging.Formatter().formatException(record.exc_info).splitlines()[-1:])
    return {k: scrub(v) if isinstance(v, str) else v for k, v in out.items()}


def _logfmt_value(value) -> str:
    text = str(value)
    if text == "" or any(c in text for c in ' ="\n\t'):
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    return text


class LogfmtFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return " ".join(f"{k}={_logfmt_value(v)}" for k, v in _fields(record).items())


class JSONFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(_fields(record), default=str)


def setup(level: str = "info", fmt: str = "logfmt", stream=None) -> None:
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JSONFormatter() if fmt == "json" else LogfmtFormatter())
    root = logging.getLogger("inference_exporter")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False
    threading.excepthook = _log_uncaught


def _log_uncaught(args) -> None:
    """An exception escaping a thread: one log line in the chosen format, never a raw traceback."""
    if args.exc_type is SystemExit:
        return
    logging.getLogger("inference_exporter").error(
        "uncaught exception in a thread",
        extra={
            "thread": getattr(args.thread, "name", ""),
            "err": f"{args.exc_type.__name__}: {args.exc_value}",
        },
    )
