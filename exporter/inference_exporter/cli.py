"""Command line: run the exporter; the other subcommands live in ``commands/``.

    inference-exporter --config.file=config.yml [--web.listen-address=:9072]
    inference-exporter check-config config.yml
    inference-exporter probe http://127.0.0.1:8002/metrics [--kind triton]
    inference-exporter events [--follow] [--since 1h] [--type target_down] [--journal.path DIR]

Bad input gives one line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import signal
import sys
import threading

from . import __version__, collectors
from . import log as logsetup
from .commands import ArgumentParser, fail, journal_path_flag
from .journal import DEFAULT_MAX_BYTES, DEFAULT_MAX_FILES
from .scheduler import DEFAULT_WORKERS

DEFAULT_PORT = 9072
RESERVED_PATHS = ("/", "/-/healthy", "/-/ready", "/-/reload", "/events", "/config")

log = logging.getLogger("inference_exporter.cli")


def _run_parser() -> argparse.ArgumentParser:
    p = ArgumentParser(
        prog="inference-exporter",
        description="Prometheus exporter translating model-server metrics into one schema. Subcommands: "
        "check-config FILE, probe URL, events, backtest (run 'inference-exporter SUBCOMMAND --help').",
    )
    p.add_argument(
        "--config.file",
        dest="config_file",
        default="inference-exporter.yml",
        help="path to the YAML config (default: %(default)s)",
    )
    p.add_argument(
        "--web.listen-address",
        dest="listen_address",
        default=f":{DEFAULT_PORT}",
        help="address to serve on (default: %(default)s)",
    )
    p.add_argument(
        "--web.config.file",
        dest="web_config_file",
        default="",
        help="exporter-toolkit web config: TLS, client certificates, basic auth, headers "
        "(docs/security.md; re-read on reload)",
    )
    p.add_argument(
        "--web.enable-lifecycle",
        dest="enable_lifecycle",
        action="store_true",
        help="answer POST /-/reload (off by default, as in Prometheus; SIGHUP always reloads)",
    )
    p.add_argument(
        "--web.read-timeout",
        dest="read_timeout",
        default="10s",
        help="a request's head and body must arrive within this; so must a TLS handshake "
        "(default: %(default)s)",
    )
    p.add_argument(
        "--web.max-connections",
        dest="max_connections",
        type=int,
        default=128,
        help="open connections at most; beyond, the one idle the longest is closed (default: %(default)s)",
    )
    p.add_argument(
        "--web.telemetry-path",
        dest="telemetry_path",
        default="/metrics",
        help="path of the metrics endpoint (default: %(default)s)",
    )
    p.add_argument(
        "--shard",
        default="",
        help="collect only this replica's share of the targets: INDEX/COUNT keeps the targets whose "
        "name hashes to INDEX modulo COUNT (Prometheus' hashmod); INDEX may be a StatefulSet pod "
        "name such as inference-exporter-2 (its ordinal is used)",
    )
    p.add_argument(
        "--collection.workers",
        dest="workers",
        type=int,
        default=DEFAULT_WORKERS,
        help="threads that collect at most, however many targets (default: %(default)s); targets "
        "whose last collection timed out get half as many more of their own, so they never hold "
        "up healthy ones",
    )
    group = p.add_argument_group("local collectors")
    for name, registration in collectors.registrations().items():  # one flag per collector module
        group.add_argument(
            f"--collector.{name}",
            dest=f"collector_{name}",
            default=True,
            action=argparse.BooleanOptionalAction,
            help=f"collect {registration.help} (default: on)",
        )
    group.add_argument("--path.procfs", dest="procfs", default="/proc", help="procfs mount point")
    group.add_argument("--path.sysfs", dest="sysfs", default="/sys", help="sysfs mount (default: /sys)")
    journal_path_flag(p)
    p.add_argument(
        "--journal.max-bytes",
        dest="journal_max_bytes",
        type=int,
        default=DEFAULT_MAX_BYTES,
        help="rotate a journal segment at this size (default: %(default)s)",
    )
    p.add_argument(
        "--journal.max-files",
        dest="journal_max_files",
        type=int,
        default=DEFAULT_MAX_FILES,
        help="journal segments kept, oldest deleted first (default: %(default)s)",
    )
    p.add_argument(
        "--journal.fsync",
        dest="journal_fsync",
        default="always",
        choices=("always", "never"),
        help="fsync after every event (survives power loss) or leave it to the OS (default: %(default)s)",
    )
    p.add_argument(
        "--log.level", dest="log_level", default="info", choices=("debug", "info", "warn", "error")
    )
    p.add_argument("--log.format", dest="log_format", default="logfmt", choices=("logfmt", "json"))
    p.add_argument("--version", action="version", version=f"inference-exporter {__version__}")
    return p


def run(argv: list[str]) -> int:
    args = _run_parser().parse_args(argv)
    from .memory import tune_malloc, tune_runtime

    tune_malloc()
    level = "warning" if args.log_level == "warn" else args.log_level
    logsetup.setup(level, args.log_format)
    if not args.telemetry_path.startswith("/") or args.telemetry_path in RESERVED_PATHS:
        return fail(f"--web.telemetry-path: expected a path like /metrics, got {args.telemetry_path!r}")
    from .config import ConfigError, load
    from .durations import parse_duration
    from .exporter import Exporter
    from .httpmessage import Limits
    from .server import WebState, make_server, serve_in_thread

    try:
        read_timeout = parse_duration(args.read_timeout)
    except ValueError:
        read_timeout = 0.0
    if not 0.1 <= read_timeout <= 3600:
        return fail(f"--web.read-timeout: expected a duration from 100ms to 1h, got {args.read_timeout!r}")
    if not 1 <= args.max_connections <= 65536:
        return fail("--web.max-connections: expected a number from 1 to 65536")
    limits = Limits(
        max_connections=args.max_connections, header_timeout=read_timeout, body_timeout=read_timeout
    )
    from .sharding import Shard, parse_shard

    try:
        shard = parse_shard(args.shard) if args.shard else Shard()
    except ValueError as exc:
        return fail(f"--shard: {exc}")
    if args.workers < 1:
        return fail("--collection.workers must be at least 1")
    try:
        config = load(args.config_file)
        web = WebState(args.web_config_file)
    except ConfigError as exc:
        return fail(str(exc))
    enabled = frozenset(name for name in collectors.registrations() if getattr(args, f"collector_{name}"))
    if args.journal_max_bytes < 4096 or args.journal_max_files < 1:
        return fail("--journal.max-bytes must be at least 4096 and --journal.max-files at least 1")
    from .journal import Journal

    try:
        journal = Journal(
            args.journal_path, args.journal_max_bytes, args.journal_max_files, args.journal_fsync
        )
    except OSError as exc:
        return fail(f"--journal.path {args.journal_path}: {exc.strerror or exc}")
    if journal.shared:
        log.warning(
            "journal folder in use by another exporter: events will mix; give each its own --journal.path",
            extra={"path": args.journal_path},
        )
    if journal.repaired_bytes:
        log.warning("journal: dropped a torn last line", extra={"bytes": journal.repaired_bytes})
    exporter = Exporter(
        config,
        enabled,
        journal,
        proc_root=args.procfs,
        sys_root=args.sysfs,
        shard=shard,
        workers=args.workers,
    )
    tune_runtime()
    try:
        server = make_server(
            exporter, args.listen_address, args.telemetry_path, web, args.enable_lifecycle, limits
        )
    except ValueError as exc:
        return fail(str(exc))
    except OSError as exc:
        return fail(f"--web.listen-address {args.listen_address}: cannot listen: {exc.strerror}")
    exporter.start()
    serve_in_thread(server)
    host, port = server.server_address[:2]
    log.info(
        "listening",
        extra={
            "address": f"{host}:{port}",
            "targets": len(exporter.config.targets),
            "shard": str(shard),
            "config": args.config_file,
            "version": __version__,
            "tls": web.tls_context is not None,
            "basic_auth": web.auth is not None,
            "lifecycle": args.enable_lifecycle,
        },
    )
    done = threading.Event()

    def _stop(signum, _frame):
        log.info("shutting down", extra={"signal": signal.Signals(signum).name})
        done.set()

    def _reload(_signum, _frame):
        # Off the signal handler: a reload waits for old collection threads to end.
        threading.Thread(target=exporter.reload, name="reload", daemon=True).start()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGHUP, _reload)
    done.wait()
    server.shutdown()
    exporter.stop()
    journal.close()
    return 0


COMMANDS = {"check-config": "check_config", "probe": "probe", "events": "events", "backtest": "backtest"}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv and argv[0] in COMMANDS:
            command = importlib.import_module(f"{__package__}.commands.{COMMANDS[argv[0]]}")
            return command.main(argv[1:])
        return run(argv)
    except KeyboardInterrupt:
        return 130
