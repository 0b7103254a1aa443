"""The demo's fault-injection switchboard: one small JSON file, ``.demo/control.json``.

The running demo re-reads it about once a second, so writing it changes the demo live:

* ``error_share``  share of requests the traffic generator makes fail (0..1; default 0.0005:
  below the ranking class's 99.9% availability objective, so a quiet demo stays quiet).
* ``rate_factor``  multiplies the request rate (default 1.0).
* ``latency_seconds``  extra time the ranking model sleeps per request. The demo hands
  the file's path to the servers in ``RANKER_CONTROL_FILE``; the ranking model reads it
  where the server runs our code (Triton, BentoML, KServe; MLServer's stock scikit-learn
  runtime does not).
* ``down``  servers (by their demo name, e.g. ``["triton"]`` or ``["embedder"]``) the demo
  should stop; taking one off the list starts it again.
* ``model_version``  the ranking model version the servers serve (default 1). Changing
  it makes the demo restart the servers that can label a version (Triton, MLServer):
  a deploy of a new version, as the exporter and the version alerts see it.

Command line (what ``inject.sh`` wraps)::

    python deploy/local/control.py set error_share=0.3 latency_seconds=0.5
    python deploy/local/control.py set down=triton        # comma-separated list
    python deploy/local/control.py reset                   # faults off; the deployed version stays
    python deploy/local/control.py show
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

STATE_DIR = Path(__file__).resolve().parents[2] / ".demo"
ENV_VAR = "RANKER_CONTROL_FILE"
DEFAULTS = {"error_share": 0.0005, "rate_factor": 1.0, "latency_seconds": 0.0, "down": [], "model_version": 1}


def default_path() -> Path:
    return STATE_DIR / "control.json"


def read(path: Path) -> dict:
    """The current settings, defaults filled in; a missing or half-written file gives the defaults."""
    settings = dict(DEFAULTS)
    try:
        loaded = json.loads(path.read_text())
    except (OSError, ValueError):
        return settings
    if isinstance(loaded, dict):
        settings.update({k: v for k, v in loaded.items() if k in DEFAULTS})
    return settings


def write(path: Path, settings: dict) -> None:
    unknown = set(settings) - set(DEFAULTS)
    if unknown:
        raise ValueError(f"unknown setting(s) {sorted(unknown)}; known: {sorted(DEFAULTS)}")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(settings, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)  # readers never see a half-written file


def _parse(assignment: str) -> tuple[str, object]:
    key, sep, value = assignment.partition("=")
    if not sep or key not in DEFAULTS:
        raise ValueError(f"expected KEY=VALUE with KEY one of {sorted(DEFAULTS)}, got {assignment!r}")
    if key == "down":
        return key, [kind for kind in value.split(",") if kind]
    if key == "model_version":
        if not value.isdigit() or int(value) < 1:
            raise ValueError(f"model_version must be a whole number from 1, got {value}")
        return key, int(value)
    number = float(value)
    if key == "error_share" and not 0 <= number <= 1:
        raise ValueError(f"error_share must be between 0 and 1, got {value}")
    if number < 0:
        raise ValueError(f"{key} must not be negative, got {value}")
    return key, number


def main(argv: list[str]) -> int:
    path = Path(os.environ.get(ENV_VAR) or default_path())
    if not argv or argv[0] not in ("set", "reset", "show"):
        print(__doc__.split("Command line")[1], file=sys.stderr)
        return 2
    try:
        if argv[0] == "set":
            settings = read(path)
            settings.update(_parse(a) for a in argv[1:])
            write(path, settings)
        elif argv[0] == "reset":
            # A deploy is no fault: undoing it is a rollback (set model_version=1), not a reset.
            write(path, {**DEFAULTS, "model_version": read(path)["model_version"]})
    except ValueError as exc:
        print(f"control: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(read(path), sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
