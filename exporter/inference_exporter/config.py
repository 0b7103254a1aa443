"""Configuration: a typed tree read from YAML and validated in full at start-up.

Every problem is reported as one line naming the file, the line, the key path and
what is wrong, e.g.::

    config.yml:14: targets[1].scrape_timeout: expected a duration like "10s", got "ten"

Secrets (bearer tokens, passwords) are never read into the config: only their file
paths are, and each file is checked to be readable. They are read when a request
is made, so a rotated token is picked up without a restart. The checks themselves are
in ``validation.py``; the ``health:`` block in ``health/settings.py``, ``models:`` in
``health/models.py``.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import servers
from .health.settings import HealthConfig, parse_health
from .limits import LIMIT_KEYS, ScrapeLimits, parse_limits
from .redaction import redact_url
from .validation import (
    ConfigError,
    Context,
    YamlMap,
    boolean,
    check_keys,
    closest,
    describe,
    duration,
    expect_map,
    file_problem,
    load_yaml,
    readable_file,
    regex,
    required,
    static_labels,
    string,
    url,
)

if TYPE_CHECKING:
    from .health.models import ModelSpec

__all__ = [
    "BasicAuth",
    "Config",
    "ScrapeLimits",
    "ConfigError",
    "ProcessConfig",
    "TLSConfig",
    "TargetConfig",
    "TargetFiles",
    "load",
    "loads",
]

TARGET_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")


@dataclass(frozen=True)
class TLSConfig:
    ca_file: str = ""
    cert_file: str = ""
    key_file: str = ""
    server_name: str = ""
    insecure_skip_verify: bool = False


@dataclass(frozen=True)
class BasicAuth:
    username: str
    password_file: str


MIN_INTERVAL = 0.1  # a shorter collection interval is a busy loop
MIN_TIMEOUT = 0.01
MAX_CONFIG_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True)
class ProcessConfig:
    """How the process collector finds the target's model-server processes (one of three)."""

    pid_file: str = ""
    match: str = ""  # regex on the process name or command line
    container: bool = False  # every process in this container except the exporter


@dataclass(frozen=True)
class TargetConfig:
    name: str
    metrics_url: str
    kind: str = "auto"
    api_url: str = ""
    scrape_interval: float = 15.0
    scrape_timeout: float = 10.0
    stale_after: float = 60.0
    labels: tuple[tuple[str, str], ...] = ()
    bearer_token_file: str = ""
    basic_auth: BasicAuth | None = None
    tls: TLSConfig = field(default_factory=TLSConfig)
    mapping_file: str = ""
    limits: ScrapeLimits = field(default_factory=ScrapeLimits)
    process: ProcessConfig | None = None
    health: HealthConfig = field(default_factory=HealthConfig)  # probes are off unless enabled
    models: tuple[ModelSpec, ...] = ()  # expected versions, config, artifacts, canaries


@dataclass(frozen=True)
class TargetFiles:
    """A ``target_files`` entry: target lists in Prometheus' file_sd format (``file_sd.py`` reads
    them), every target they name collected with the settings of ``template``."""

    patterns: tuple[str, ...]  # absolute paths, may hold * and ? (glob)
    refresh_interval: float
    template: TargetConfig  # the entry's target settings; name and metrics_url come from the files
    key: str = "target_files[0]"  # where it is in the config, for messages


@dataclass(frozen=True)
class Config:
    path: str
    targets: tuple[TargetConfig, ...]
    labels: tuple[tuple[str, str], ...] = ()
    scrape_interval: float = 15.0  # also the schedule of the local collectors
    sha256: str = ""  # of the file's bytes: a reload of an unchanged file is a no-op
    target_files: tuple[TargetFiles, ...] = ()


# --- the tree --------------------------------------------------------------------

GLOBAL_KEYS = {"scrape_interval", "scrape_timeout", "stale_after", "labels"}
TARGET_KEYS = {
    "name",
    "kind",
    "metrics_url",
    "api_url",
    "scrape_interval",
    "scrape_timeout",
    "stale_after",
    "labels",
    "bearer_token_file",
    "basic_auth",
    "tls",
    "mapping_file",
    "max_response_bytes",  # the old name of body_size_limit, still read
    "body_size_limit",
    *LIMIT_KEYS,
    "process",
    "health",
    "models",
}
# A target_files entry: the files, how often they are checked, and any target key but these.
TARGET_FILES_KEYS = {"files", "refresh_interval"} | (TARGET_KEYS - {"name", "metrics_url", "api_url"})
TARGET_FILES_REFRESH = 30.0
PROCESS_KEYS = {"pid_file", "match", "container"}
TLS_KEYS = {"ca_file", "cert_file", "key_file", "server_name", "insecure_skip_verify"}
BASIC_AUTH_KEYS = {"username", "password_file"}


def _target(ctx: Context, raw: Any, line: int, index: int, defaults: dict, where: str = "") -> TargetConfig:
    where = where or f"targets[{index}]"
    prefix = f"{where}."
    data = expect_map(ctx, raw, line, where)
    check_keys(ctx, data, TARGET_KEYS, prefix)
    name = string(ctx, data, "name", prefix, required=True)
    if not TARGET_NAME_RE.match(name):
        raise ctx.fail(
            data.lines.get("name"), f"{prefix}name", f"{name!r} may use letters, digits and _.:- only"
        )
    kind = string(ctx, data, "kind", prefix) or "auto"
    kinds = servers.config_kinds()
    if kind not in kinds:
        hint = closest(kind, set(kinds))
        extra = f" (did you mean {hint!r}?)" if hint else f" (one of: {', '.join(kinds)})"
        raise ctx.fail(data.lines.get("kind"), f"{prefix}kind", f"unknown server kind {kind!r}{extra}")
    metrics_url = url(ctx, data, "metrics_url", prefix, required=True)
    api_url = url(ctx, data, "api_url", prefix, required=False)
    interval = duration(ctx, data, "scrape_interval", prefix, defaults["scrape_interval"], MIN_INTERVAL)
    timeout = duration(
        ctx, data, "scrape_timeout", prefix, min(defaults["scrape_timeout"], interval), MIN_TIMEOUT
    )
    if timeout > interval:
        raise ctx.fail(
            data.lines.get("scrape_timeout", data.line),
            f"{prefix}scrape_timeout",
            f"{timeout:g}s is longer than scrape_interval {interval:g}s",
        )
    stale_after = duration(ctx, data, "stale_after", prefix, defaults.get("stale_after") or 4 * interval)
    if stale_after < interval:
        raise ctx.fail(
            data.lines.get("stale_after"),
            f"{prefix}stale_after",
            f"{stale_after:g}s is shorter than scrape_interval {interval:g}s: data would flap",
        )
    labels = dict(defaults["labels"])
    labels.update(static_labels(ctx, data, "labels", prefix))
    token_file = readable_file(ctx, data, "bearer_token_file", prefix)
    basic = None
    if "basic_auth" in data:
        bprefix = f"{prefix}basic_auth."
        bdata = expect_map(ctx, data["basic_auth"], data.lines.get("basic_auth"), f"{prefix}basic_auth")
        check_keys(ctx, bdata, BASIC_AUTH_KEYS, bprefix)
        basic = BasicAuth(
            string(ctx, bdata, "username", bprefix, required=True),
            readable_file(ctx, bdata, "password_file", bprefix)
            or required(ctx, bdata, "password_file", bprefix),
        )
        if token_file:
            raise ctx.fail(
                data.lines.get("basic_auth"),
                f"{prefix}basic_auth",
                "use either bearer_token_file or basic_auth, not both",
            )
    tls = TLSConfig()
    if "tls" in data:
        tprefix = f"{prefix}tls."
        tdata = expect_map(ctx, data["tls"], data.lines.get("tls"), f"{prefix}tls")
        check_keys(ctx, tdata, TLS_KEYS, tprefix)
        tls = TLSConfig(
            ca_file=readable_file(ctx, tdata, "ca_file", tprefix),
            cert_file=readable_file(ctx, tdata, "cert_file", tprefix),
            key_file=readable_file(ctx, tdata, "key_file", tprefix),
            server_name=_server_name(ctx, tdata, tprefix),
            insecure_skip_verify=boolean(ctx, tdata, "insecure_skip_verify", tprefix),
        )
        if bool(tls.cert_file) != bool(tls.key_file):
            raise ctx.fail(tdata.line, f"{prefix}tls", "cert_file and key_file must be given together")
    mapping_file = readable_file(ctx, data, "mapping_file", prefix)
    server = servers.get(kind) if kind != "auto" else None
    if server is not None and server.configure is not None:
        if not mapping_file:
            raise ctx.fail(data.line, f"{prefix}mapping_file", f"is required for kind {kind}")
        try:
            server.configure(mapping_file)
        except ValueError as exc:
            raise ctx.fail(data.lines.get("mapping_file"), f"{prefix}mapping_file", str(exc)) from None
    elif mapping_file:
        mapping_kinds = ", ".join(k for k, s in servers.all_kinds().items() if s.configure is not None)
        raise ctx.fail(
            data.lines.get("mapping_file"), f"{prefix}mapping_file", f"only used with kind {mapping_kinds}"
        )
    limits = parse_limits(ctx, data, prefix)
    process = _process(ctx, data, prefix) if "process" in data else None
    models: tuple[ModelSpec, ...] = ()
    if "models" in data:
        from .health.models import parse_models  # its dataclasses: 5 ms of every start

        models = parse_models(ctx, data, prefix, timeout)
    health = parse_health(ctx, data, prefix, interval, timeout, implied=bool(api_url or models))
    if health.enabled and not api_url and server is not None and server.api_on_other_port:
        raise ctx.fail(
            data.line,
            f"{prefix}api_url",
            f"is required for health probes and canaries of kind {kind} (its API is not on the metrics "
            "port); or set health: {enabled: false}",
        )
    return TargetConfig(
        health=health,
        models=models,
        process=process,
        name=name,
        metrics_url=metrics_url,
        kind=kind,
        api_url=api_url,
        scrape_interval=interval,
        scrape_timeout=timeout,
        stale_after=stale_after,
        labels=tuple(sorted(labels.items())),
        bearer_token_file=token_file,
        basic_auth=basic,
        tls=tls,
        mapping_file=mapping_file,
        limits=limits,
    )


def _server_name(ctx: Context, data: YamlMap, prefix: str) -> str:
    name = string(ctx, data, "server_name", prefix)
    if name and not re.fullmatch(r"[A-Za-z0-9.\-_:\[\]]{1,253}", name):
        raise ctx.fail(data.lines.get("server_name"), f"{prefix}server_name", "expected a host name")
    return name


def _target_files(ctx: Context, raw: Any, line: int, index: int, defaults: dict) -> TargetFiles:
    where = f"target_files[{index}]"
    prefix = f"{where}."
    data = expect_map(ctx, raw, line, where)
    check_keys(ctx, data, TARGET_FILES_KEYS, prefix)
    files = data.get("files")
    if isinstance(files, str):
        files = [files]
    if not isinstance(files, list) or not files or not all(isinstance(f, str) and f.strip() for f in files):
        raise ctx.fail(
            data.lines.get("files", data.line), f"{prefix}files", "expected a list of file paths or patterns"
        )
    patterns = tuple(str(p if Path(p).is_absolute() else ctx.base / p) for p in (f.strip() for f in files))
    refresh = duration(ctx, data, "refresh_interval", prefix, TARGET_FILES_REFRESH)
    settings = YamlMap({k: v for k, v in data.items() if k not in ("files", "refresh_interval")})
    settings.lines = {k: v for k, v in data.lines.items() if k in settings}
    settings.line = data.line
    settings["name"] = "template"
    settings["metrics_url"] = "http://template.invalid/metrics"
    template = _target(ctx, settings, line, index, defaults, where)
    return TargetFiles(patterns, refresh, template, where)


def _process(ctx: Context, data: YamlMap, prefix: str) -> ProcessConfig:
    pprefix = f"{prefix}process."
    pdata = expect_map(ctx, data["process"], data.lines.get("process"), f"{prefix}process")
    check_keys(ctx, pdata, PROCESS_KEYS, pprefix)
    pid_file = string(ctx, pdata, "pid_file", pprefix)
    match = regex(ctx, pdata, "match", pprefix)
    container = boolean(ctx, pdata, "container", pprefix)
    if sum((bool(pid_file), bool(match), container)) != 1:
        raise ctx.fail(pdata.line, f"{prefix}process", "set exactly one of pid_file, match, container: true")
    return ProcessConfig(pid_file=pid_file, match=match, container=container)


def load(path: str) -> Config:
    """Read and validate a config file; raises ConfigError with a one-line message, whatever
    went wrong (a bug included: the message then names the exception, never a traceback)."""
    if not Path(path).exists():
        raise ConfigError(f"{path}: file does not exist")
    problem = file_problem(Path(path), MAX_CONFIG_BYTES)
    if problem:
        raise ConfigError(f"{path}: {problem}")
    try:
        with open(path, "rb") as fh:
            text = fh.read(MAX_CONFIG_BYTES + 1).decode("utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    if len(text) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{path}: larger than {MAX_CONFIG_BYTES} bytes")
    return loads(text, path)


def loads(text: str, path: str = "<config>") -> Config:
    try:
        return _loads(text, path)
    except ConfigError:
        raise
    except RecursionError:
        raise ConfigError(f"{path}: nested too deeply") from None
    except MemoryError:
        raise ConfigError(f"{path}: too large to read") from None
    except Exception as exc:  # noqa: BLE001 - one line, never a traceback (nor the exception's text)
        raise ConfigError(f"{path}: cannot be read as a config ({type(exc).__name__})") from None


def _loads(text: str, path: str) -> Config:
    base = Path(path).resolve().parent if path != "<config>" else Path.cwd()
    ctx = Context(path, base)
    data = load_yaml(ctx, text)
    if data is None:
        raise ctx.fail(None, "", "is empty: expected a mapping with a 'targets' list")
    data = expect_map(ctx, data, 1, "")
    check_keys(ctx, data, {"global", "targets", "target_files"}, "")
    defaults: dict[str, Any] = {
        "scrape_interval": 15.0,
        "scrape_timeout": 10.0,
        "stale_after": 0.0,
        "labels": (),
    }
    global_labels: tuple[tuple[str, str], ...] = ()
    if "global" in data:
        g = expect_map(ctx, data["global"], data.lines.get("global"), "global")
        check_keys(ctx, g, GLOBAL_KEYS, "global.")
        defaults["scrape_interval"] = duration(ctx, g, "scrape_interval", "global.", 15.0, MIN_INTERVAL)
        defaults["scrape_timeout"] = duration(
            ctx, g, "scrape_timeout", "global.", min(10.0, defaults["scrape_interval"]), MIN_TIMEOUT
        )
        defaults["stale_after"] = (
            duration(ctx, g, "stale_after", "global.", 0.0) if "stale_after" in g else 0.0
        )
        global_labels = static_labels(ctx, g, "labels", "global.")
        defaults["labels"] = global_labels
    raw_targets = data.get("targets", [])
    if raw_targets is None:
        raw_targets = []
    if not isinstance(raw_targets, list):
        raise ctx.fail(data.lines.get("targets"), "targets", f"expected a list, got {describe(raw_targets)}")
    targets = []
    seen: dict[str, int] = {}
    lines = getattr(raw_targets, "lines", [None] * len(raw_targets))
    for i, raw in enumerate(raw_targets):
        target = _target(ctx, raw, lines[i], i, defaults)
        if target.name in seen:
            raise ctx.fail(
                raw.lines.get("name"),
                f"targets[{i}].name",
                f"duplicate target name {target.name!r} (first used by targets[{seen[target.name]}])",
            )
        seen[target.name] = i
        targets.append(target)
    files = []
    raw_files = data.get("target_files") or []
    if not isinstance(raw_files, list):
        raise ctx.fail(
            data.lines.get("target_files"), "target_files", f"expected a list, got {describe(raw_files)}"
        )
    file_lines = getattr(raw_files, "lines", [None] * len(raw_files))
    for i, raw in enumerate(raw_files):
        files.append(_target_files(ctx, raw, file_lines[i], i, defaults))
    return Config(
        path=path,
        targets=tuple(targets),
        labels=global_labels,
        scrape_interval=defaults["scrape_interval"],
        sha256=hashlib.sha256(text.encode()).hexdigest(),
        target_files=tuple(files),
    )


def redacted(config: Config) -> dict:
    """The running config as plain data for /config: secret canary bodies replaced, URLs without
    their query values and credentials. Secrets themselves are never in the config, only the
    paths of the files that hold them."""
    data = asdict(config)
    for target in data["targets"]:
        for key in ("metrics_url", "api_url"):
            if target.get(key):
                target[key] = redact_url(target[key])
        health = target.get("health") or {}
        if health.get("management_url"):
            health["management_url"] = redact_url(health["management_url"])
        for model in target.get("models") or ():
            for canary in model.get("canaries") or ():
                if canary.get("secret"):
                    canary["body"] = "<redacted>"
    return data
