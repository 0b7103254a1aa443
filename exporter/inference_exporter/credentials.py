"""What a target's requests carry: the Authorization header read from its secret files, and the
HTTPS session with its TLS settings (made on first use: ``requests`` is imported only for
HTTPS targets)."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import TYPE_CHECKING

from .config import TargetConfig, TLSConfig
from .validation import ConfigError, read_limited

if TYPE_CHECKING:
    import requests

MAX_SECRET_BYTES = 64 * 1024  # a bearer token or password file


class CredentialError(ValueError):
    """A secret file that cannot be used; the message never quotes the file."""


def read_secret(path: str, what: str) -> str:
    """A token or password from its file: a regular file of at most 64 KiB, one line of text."""
    try:
        text = read_limited(Path(path), MAX_SECRET_BYTES).decode("utf-8").strip("\r\n")
    except ConfigError as exc:
        raise CredentialError(f"{what}: {exc}") from None
    except UnicodeDecodeError:
        raise CredentialError(f"{what}: not UTF-8 text") from None
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in text):
        raise CredentialError(f"{what}: holds a line break or control character inside the value")
    return text


def authorization(target: TargetConfig) -> dict[str, str]:
    """The target's Authorization header (none without credentials)."""
    if target.bearer_token_file:
        token = read_secret(target.bearer_token_file, "bearer_token_file")
        return {"Authorization": "Bearer " + token.strip()}
    if target.basic_auth:
        password = read_secret(target.basic_auth.password_file, "basic_auth.password_file")
        pair = f"{target.basic_auth.username}:{password}".encode()
        return {"Authorization": "Basic " + base64.b64encode(pair).decode()}
    return {}


def https_session(tls: TLSConfig, user_agent: str) -> requests.Session:
    import requests

    session = requests.Session()
    session.headers["User-Agent"] = user_agent
    session.trust_env = False  # a sidecar talks to localhost; never via a proxy
    if tls.insecure_skip_verify:
        session.verify = False
    elif tls.ca_file:
        session.verify = tls.ca_file
    if tls.cert_file:
        session.cert = (tls.cert_file, tls.key_file)
    if tls.server_name:
        session.mount("https://", _server_name_adapter(tls.server_name, not tls.insecure_skip_verify))
    return session


def _server_name_adapter(server_name: str, verify: bool):
    """Sends ``tls.server_name`` as SNI and checks the target's certificate against it."""
    from requests.adapters import HTTPAdapter

    class ServerNameAdapter(HTTPAdapter):
        def build_connection_pool_key_attributes(self, request, verify_, cert=None):
            host_params, pool_kwargs = super().build_connection_pool_key_attributes(request, verify_, cert)
            pool_kwargs["server_hostname"] = server_name
            if verify:
                pool_kwargs["assert_hostname"] = server_name
            return host_params, pool_kwargs

    return ServerNameAdapter()
