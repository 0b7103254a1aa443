"""Record real /metrics expositions from the local servers as unit-test fixtures.

    .venv/bin/python tests/integration/capture_fixtures.py [triton mlserver bentoml kserve]

Starts each server (cached venv), sends a few good and bad requests, and writes
``tests/fixtures/<kind>/captured-<package>-<version>.prom``.
"""

from __future__ import annotations

import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from inference_devtools import repo

REPO = Path(__file__).resolve().parents[2]
repo.use("deploy/local/servers")

import launch  # noqa: E402

SERVERS = ("triton", "mlserver", "bentoml", "kserve")
OK, FAILED = 5, 2


def capture(server: str, workdir: Path) -> Path:
    handle = launch.start(server, workdir)
    try:
        handle.send(ok=OK, failed=FAILED)
        time.sleep(1.0)  # let servers that refresh metrics periodically catch up
        with urllib.request.urlopen(handle.metrics_url, timeout=10) as resp:
            text = resp.read().decode()
    finally:
        handle.stop()
    out = REPO / "tests" / "fixtures" / server / f"captured-{handle.package}-{handle.version}.prom"
    out.parent.mkdir(parents=True, exist_ok=True)
    header = (
        f"# Captured from {handle.package} {handle.version} on CPU by "
        f"tests/integration/capture_fixtures.py: {OK} ok + {FAILED} failed requests\n"
    )
    out.write_text(header + text)
    print(f"{server}: ready in {handle.start_seconds:.1f} s, wrote {out.relative_to(REPO)}")
    return out


def main(argv: list[str]) -> int:
    with tempfile.TemporaryDirectory(prefix="capture-") as tmp:
        for server in argv or SERVERS:
            capture(server, Path(tmp) / server)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
