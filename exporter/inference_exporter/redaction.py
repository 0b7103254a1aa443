"""Keeping secrets off every surface: the landing page, /config, /events, logs, the journal.

Secrets never enter the config (only the paths of the files holding them do), and no error
message quotes a file. Two things remain to guard:

* URLs may carry credentials: a password in ``user:password@`` (refused by the config, but
  a redirect or a message may still show one) or a token in the query string
  (``?token=...``). :func:`redact_url` replaces each query value and any userinfo.
* Values read at run time (bearer tokens, passwords, secret canary bodies, query tokens)
  are registered in :data:`SECRETS`; :func:`scrub` replaces any of them in a text as a last
  line of defence wherever text leaves the process.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from urllib.parse import parse_qsl, urlsplit

REDACTED = "<redacted>"
MIN_SECRET = 4  # shorter values would blank out ordinary words


def redact_url(url: str) -> str:
    """``url`` with every query value and any user:password replaced by <redacted>."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return REDACTED
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"{REDACTED}@{netloc.rpartition('@')[2]}"
    query = parts.query
    if query:
        query = "&".join(
            f"{k}={REDACTED}" if "=" in piece else piece
            for piece in query.split("&")
            for k in (piece.partition("=")[0],)
        )
    out = f"{parts.scheme}://{netloc}{parts.path}" if parts.scheme else f"{netloc}{parts.path}"
    return out + (f"?{query}" if query else "") + (f"#{REDACTED}" if parts.fragment else "")


def url_secrets(url: str) -> list[str]:
    """The credential-bearing parts of a URL: query values, userinfo."""
    try:
        parts = urlsplit(url)
        out = [v for _, v in parse_qsl(parts.query, keep_blank_values=False)]
        out += [parts.query] if parts.query else []
        if parts.password:
            out.append(parts.password)
    except ValueError:
        return []
    return out


class Secrets:
    """Values that must never leave the process; thread-safe."""

    def __init__(self) -> None:
        self._values: frozenset[str] = frozenset()
        self._pattern: re.Pattern | None = None
        self._lock = threading.Lock()

    def add(self, values: Iterable[str]) -> None:
        with self._lock:
            new = self._values | {v for v in values if isinstance(v, str) and len(v) >= MIN_SECRET}
            if new != self._values:
                self._values = new
                # Longest first, so a secret containing another is replaced whole.
                ordered = sorted(new, key=len, reverse=True)
                self._pattern = re.compile("|".join(map(re.escape, ordered)))

    def scrub(self, text: str) -> str:
        pattern = self._pattern
        if pattern is None or not text:
            return text
        return pattern.sub(REDACTED, text)

    def __contains__(self, value: str) -> bool:
        return value in self._values


SECRETS = Secrets()


_QUERY_RE = re.compile(r"\?[^\s'\"()<>]+")


def scrub(text: str) -> str:
    """``text`` without registered secrets and without the query string of any URL in it
    (an HTTP library's error message quotes the URL it failed on)."""
    return _QUERY_RE.sub(f"?{REDACTED}", SECRETS.scrub(text))
