"""One cached virtualenv per local model server, keyed by its pinned requirements.

``ensure("mlserver")`` returns ``<repo>/.cache/venvs/mlserver-<sha256(requirements)[:12]>``
(``$INFERENCE_EXPORTER_VENV_CACHE`` replaces ``<repo>/.cache/venvs``), building it on first
use with the interpreter running this module (``sys.executable``) and reusing it while
``<server>/requirements.txt`` is unchanged. A file lock keeps two processes from building
the same one; a build that fails is removed, never half-used.

Command line (pre-warms caches, e.g. in CI before the tests)::

    python deploy/local/servers/venvs.py [triton mlserver bentoml kserve]
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

SERVERS_DIR = Path(__file__).resolve().parent
REPO = SERVERS_DIR.parents[2]
# CI clones the repository afresh each run; pointing this at a kept folder reuses the venvs.
CACHE = Path(os.environ.get("INFERENCE_EXPORTER_VENV_CACHE") or REPO / ".cache" / "venvs")
SERVERS = ("triton", "mlserver", "bentoml", "kserve")
# Written last: a venv folder without it is a build that did not finish.
MARKER = "inference-exporter-venv.json"


def requirements(server: str) -> Path:
    path = SERVERS_DIR / server / "requirements.txt"
    if not path.is_file():
        raise ValueError(f"unknown server {server!r}: no {path.relative_to(REPO)}")
    return path


def venv_path(server: str) -> Path:
    digest = hashlib.sha256(requirements(server).read_bytes()).hexdigest()[:12]
    return CACHE / f"{server}-{digest}"


def python(server: str) -> Path:
    """The venv's interpreter, building the venv first if needed."""
    return ensure(server) / "bin" / "python"


def _say(msg: str) -> None:
    print(f"[venvs] {msg}", file=sys.stderr, flush=True)


def _size_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink()) / 1e6


def ensure(server: str) -> Path:
    venv = venv_path(server)
    if (venv / MARKER).is_file():
        return venv
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(venv.with_name(venv.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a concurrent builder finishes first; then we reuse its venv
        if (venv / MARKER).is_file():
            return venv
        _build(server, venv)
    return venv


def _build(server: str, venv: Path) -> None:
    if venv.exists():
        _say(f"{venv.name}: removing an unfinished earlier build")
        shutil.rmtree(venv)
    log = venv.with_name(venv.name + ".log")
    _say(f"{venv.name}: building with {sys.executable} (log: {log})")
    start = time.monotonic()
    try:
        with open(log, "w") as out:
            for cmd in (
                [sys.executable, "-m", "venv", str(venv)],
                [
                    str(venv / "bin" / "python"),
                    "-m",
                    "pip",
                    "install",
                    "--no-input",
                    "--progress-bar",
                    "off",
                    "-r",
                    str(requirements(server)),
                ],
            ):
                out.write(f"$ {' '.join(cmd)}\n")
                out.flush()
                subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, check=True)
    except BaseException as exc:
        shutil.rmtree(venv, ignore_errors=True)
        tail = log.read_text(errors="replace").splitlines()[-25:] if log.exists() else []
        _say(f"{venv.name}: build failed ({exc!r}); removed it. Log tail:\n" + "\n".join(tail))
        raise
    seconds = time.monotonic() - start
    size = _size_mb(venv)
    info = {
        "server": server,
        "python": sys.executable,
        "build_seconds": round(seconds, 1),
        "size_mb": round(size),
    }
    (venv / MARKER).write_text(json.dumps(info, indent=2) + "\n")
    _say(f"{venv.name}: built in {seconds:.0f} s, {size:.0f} MB")


def main(argv: list[str]) -> int:
    servers = argv or list(SERVERS)
    # Builds mostly wait on downloads and unpacking, so they overlap well even on 2 cores.
    try:
        with ThreadPoolExecutor(max_workers=len(servers)) as pool:
            venvs = list(pool.map(ensure, servers))
    except (subprocess.CalledProcessError, ValueError) as e:
        _say(f"failed: {e}")  # the build's log tail is printed above
        return 1
    for venv in venvs:
        info = json.loads((venv / MARKER).read_text())
        print(f"{venv.name}: build {info['build_seconds']} s, {info['size_mb']} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
