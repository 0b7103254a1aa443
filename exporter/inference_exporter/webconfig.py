"""``--web.config.file``: TLS, client certificates, basic auth and response headers, in the
format of the Prometheus exporter-toolkit that node_exporter and every official exporter read::

    tls_server_config:
      cert_file: server.crt
      key_file: server.key
      client_auth_type: RequireAndVerifyClientCert   # NoClientCert (default), VerifyClientCertIfGiven
      client_ca_file: clients-ca.crt
      min_version: TLS12                             # TLS10 ... TLS13 (default TLS12)
      max_version: TLS13
    http_server_config:
      headers:
        Strict-Transport-Security: max-age=31536000
    basic_auth_users:
      prometheus: $2y$10$...                         # bcrypt hash (htpasswd -nBC 10 "" | tr -d ':')

Relative paths are read from the web config file's folder. The file is read at start-up
and on every reload (SIGHUP, or ``POST /-/reload`` with ``--web.enable-lifecycle``); a bad
file at reload keeps the running settings. Keys of the toolkit this exporter cannot honour
(cipher suites, curves, HTTP/2, ...) are refused by name rather than ignored.
"""

from __future__ import annotations

import base64
import binascii
import collections
import hashlib
import ssl
import threading
from dataclasses import dataclass
from pathlib import Path

from .validation import (
    ConfigError,
    Context,
    YamlMap,
    check_keys,
    describe,
    expect_map,
    load_yaml,
    read_limited,
    readable_file,
    string,
)

TOP_KEYS = {"tls_server_config", "http_server_config", "basic_auth_users"}
TLS_KEYS = {"cert_file", "key_file", "client_auth_type", "client_ca_file", "min_version", "max_version"}
# exporter-toolkit keys that Python's ssl module cannot honour the way Go does.
TLS_UNSUPPORTED = {
    "cert",
    "key",
    "cipher_suites",
    "curve_preferences",
    "prefer_server_cipher_suites",
    "client_allowed_sans",
}
HTTP_KEYS = {"headers", "http2"}
VERSIONS = {
    "TLS10": ssl.TLSVersion.TLSv1,
    "TLS11": ssl.TLSVersion.TLSv1_1,
    "TLS12": ssl.TLSVersion.TLSv1_2,
    "TLS13": ssl.TLSVersion.TLSv1_3,
}
CLIENT_AUTH = {
    "NoClientCert": ssl.CERT_NONE,
    "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
    "RequireAndVerifyClientCert": ssl.CERT_REQUIRED,
}
# The toolkit's two modes that take a certificate without verifying it: ssl cannot do that.
CLIENT_AUTH_UNSUPPORTED = ("RequestClientCert", "RequireAnyClientCert")
# The response headers the toolkit lets a user set, and the values it allows where it checks them.
HEADERS = {
    "Strict-Transport-Security": None,
    "X-Content-Type-Options": ("nosniff",),
    "X-Frame-Options": ("deny", "sameorigin"),
    "X-XSS-Protection": None,
    "Content-Security-Policy": None,
}
BCRYPT_PREFIXES = ("$2a$", "$2b$", "$2y$")
AUTH_CACHE_SIZE = 100
MAX_FILE_BYTES = 1024 * 1024


@dataclass(frozen=True)
class WebConfig:
    path: str = ""
    tls: ssl.SSLContext | None = None
    users: tuple[tuple[str, bytes], ...] = ()  # (user, bcrypt hash)
    headers: tuple[tuple[str, str], ...] = ()


def load_web_config(path: str) -> WebConfig:
    """Read and check a web config file; ConfigError (one line) on any problem."""
    try:
        text = read_limited(Path(path), MAX_FILE_BYTES).decode("utf-8")
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    ctx = Context(path, Path(path).resolve().parent)
    data = load_yaml(ctx, text)
    if data is None:
        return WebConfig(path=path)
    data = expect_map(ctx, data, 1, "")
    check_keys(ctx, data, TOP_KEYS, "")
    tls = _tls(ctx, data) if data.get("tls_server_config") is not None else None
    headers: list[tuple[str, str]] = []
    if data.get("http_server_config") is not None:
        h = expect_map(
            ctx, data["http_server_config"], data.lines.get("http_server_config"), "http_server_config"
        )
        check_keys(ctx, h, HTTP_KEYS, "http_server_config.")
        if h.get("http2") not in (None, False):
            raise ctx.fail(
                h.lines.get("http2"), "http_server_config.http2", "HTTP/2 is not served: set false"
            )
        if h.get("headers") is not None:
            headers = _headers(ctx, h)
    users: list[tuple[str, bytes]] = []
    if data.get("basic_auth_users") is not None:
        u = expect_map(ctx, data["basic_auth_users"], data.lines.get("basic_auth_users"), "basic_auth_users")
        for user, hashed in u.items():
            key = f"basic_auth_users.{user}"
            if not user or ":" in user:
                raise ctx.fail(u.lines.get(user), key, "a user name may not be empty or hold ':'")
            if not isinstance(hashed, str) or not hashed.startswith(BCRYPT_PREFIXES) or len(hashed) != 60:
                # Never quote the value: it may be a password pasted where its hash belongs.
                raise ctx.fail(u.lines.get(user), key, "expected a bcrypt hash ($2y$..., 60 characters)")
            users.append((str(user), hashed.encode()))
    return WebConfig(path=path, tls=tls, users=tuple(users), headers=tuple(headers))


def _tls(ctx: Context, data: YamlMap) -> ssl.SSLContext:
    prefix = "tls_server_config."
    t = expect_map(ctx, data["tls_server_config"], data.lines.get("tls_server_config"), "tls_server_config")
    for key in t:
        if key in TLS_UNSUPPORTED:
            raise ctx.fail(t.lines.get(key), prefix + key, "not supported by inference-exporter")
    check_keys(ctx, t, TLS_KEYS, prefix)
    cert = readable_file(ctx, t, "cert_file", prefix, max_bytes=MAX_FILE_BYTES)
    key = readable_file(ctx, t, "key_file", prefix, max_bytes=MAX_FILE_BYTES)
    if not cert or not key:
        raise ctx.fail(t.line, "tls_server_config", "cert_file and key_file are both required")
    auth = string(ctx, t, "client_auth_type", prefix) or "NoClientCert"
    if auth in CLIENT_AUTH_UNSUPPORTED:
        raise ctx.fail(
            t.lines.get("client_auth_type"),
            prefix + "client_auth_type",
            f"{auth} (a certificate taken unverified) is not supported: use VerifyClientCertIfGiven "
            "or RequireAndVerifyClientCert with client_ca_file",
        )
    if auth not in CLIENT_AUTH:
        raise ctx.fail(
            t.lines.get("client_auth_type"),
            prefix + "client_auth_type",
            f"expected one of {', '.join(CLIENT_AUTH)}, got {describe(auth)}",
        )
    ca = readable_file(ctx, t, "client_ca_file", prefix, max_bytes=MAX_FILE_BYTES)
    if CLIENT_AUTH[auth] != ssl.CERT_NONE and not ca:
        raise ctx.fail(t.line, prefix + "client_ca_file", f"is required with client_auth_type {auth}")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    versions = []
    for name, default in (("min_version", "TLS12"), ("max_version", "TLS13")):
        value = string(ctx, t, name, prefix) or default
        if value not in VERSIONS:
            raise ctx.fail(
                t.lines.get(name),
                prefix + name,
                f"expected one of {', '.join(VERSIONS)}, got {describe(value)}",
            )
        versions.append(VERSIONS[value])
    if versions[0] > versions[1]:
        raise ctx.fail(t.line, prefix + "min_version", "is above max_version")
    try:
        context.minimum_version, context.maximum_version = versions
    except (ValueError, ssl.SSLError):
        raise ctx.fail(
            t.line, prefix + "min_version", "this TLS version is disabled in the local OpenSSL"
        ) from None
    try:
        context.load_cert_chain(cert, key)
    except (ssl.SSLError, OSError) as exc:
        raise ctx.fail(
            t.lines.get("cert_file"),
            prefix + "cert_file",
            f"cannot load the certificate and key: {_ssl_reason(exc)}",
        ) from None
    if ca:
        try:
            context.load_verify_locations(cafile=ca)
        except (ssl.SSLError, OSError) as exc:
            raise ctx.fail(
                t.lines.get("client_ca_file"), prefix + "client_ca_file", f"cannot load: {_ssl_reason(exc)}"
            ) from None
    context.verify_mode = CLIENT_AUTH[auth]
    return context


def _ssl_reason(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLError):
        return exc.reason or "not PEM"
    return getattr(exc, "strerror", None) or type(exc).__name__


def _headers(ctx: Context, h: YamlMap) -> list[tuple[str, str]]:
    found = expect_map(ctx, h["headers"], h.lines.get("headers"), "http_server_config.headers")
    out = []
    for name, value in found.items():
        key = f"http_server_config.headers.{name}"
        if name not in HEADERS:
            raise ctx.fail(found.lines.get(name), key, f"not settable (one of: {', '.join(HEADERS)})")
        if not isinstance(value, str) or not value or any(c in value for c in "\r\n\0"):
            raise ctx.fail(found.lines.get(name), key, f"expected a one-line string, got {describe(value)}")
        allowed = HEADERS[name]
        if allowed is not None and value.lower() not in allowed:
            raise ctx.fail(found.lines.get(name), key, f"expected one of {', '.join(allowed)}")
        out.append((name, value))
    return out


class Authenticator:
    """Checks ``Authorization: Basic`` against bcrypt hashes, remembering recent successes.

    bcrypt is slow on purpose (tens of milliseconds); Prometheus sends the same credentials
    at every scrape, so a success is cached by a digest of user, password and hash, as
    exporter-toolkit does. An unknown user costs a bcrypt check too, so timing does not tell
    which users exist.
    """

    def __init__(self, users: tuple[tuple[str, bytes], ...]):
        self._users = dict(users)
        self._cache: collections.OrderedDict[bytes, None] = collections.OrderedDict()
        self._lock = threading.Lock()
        self._dummy = users[0][1] if users else b""

    def check(self, header: str) -> bool:
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, sep, password = (
                base64.b64decode(encoded.strip(), validate=True).decode("utf-8").partition(":")
            )
        except (binascii.Error, UnicodeDecodeError, ValueError):
            return False
        if not sep:
            return False
        hashed = self._users.get(user)
        digest = hashlib.sha256(b"\0".join((user.encode(), password.encode(), hashed or b""))).digest()
        with self._lock:
            if hashed is not None and digest in self._cache:
                self._cache.move_to_end(digest)
                return True
        import bcrypt

        try:
            ok = bcrypt.checkpw(password.encode(), hashed or self._dummy)
        except ValueError:
            ok = False
        if not ok or hashed is None:
            return False
        with self._lock:
            self._cache[digest] = None
            while len(self._cache) > AUTH_CACHE_SIZE:
                self._cache.popitem(last=False)
        return True
