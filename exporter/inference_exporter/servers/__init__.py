"""Server kinds: one module per kind, each declaring ``SERVER = ServerKind(...)``.

A module holds everything about its server: the native families it reads and how they
become unified series, how to recognise its exposition, its health, readiness, model
inventory and config API, and whether that API listens on another port. The table
below is built from the modules of this package (files starting with ``_`` are shared
helpers), so adding a server kind is adding one module, plus its fixtures and goldens
under ``tests/``. Nothing is registered by side effect: the table is read here, once.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache

from ..parser import Exposition
from ._api import ApiError, Loaded, ServerAPI
from ._kind import GetJson, ServerKind, Translator

__all__ = [
    "ApiError",
    "GetJson",
    "Loaded",
    "ServerAPI",
    "ServerKind",
    "Translator",
    "all_kinds",
    "api_for",
    "config_kinds",
    "detect",
    "get",
]


@cache
def _table() -> dict[str, ServerKind]:
    found: list[ServerKind] = []
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        server = getattr(module, "SERVER", None)
        if not isinstance(server, ServerKind) or server.name != info.name:
            raise TypeError(f"{module.__name__} must define SERVER = ServerKind(name={info.name!r}, ...)")
        found.append(server)
    return {s.name: s for s in sorted(found, key=lambda s: (s.detection_order, s.name))}


def all_kinds() -> dict[str, ServerKind]:
    """Every server kind by name, in detection order."""
    return _table()


def config_kinds() -> tuple[str, ...]:
    """The values ``kind:`` accepts: ``auto`` and every server kind."""
    return ("auto", *_table())


def get(kind: str) -> ServerKind:
    try:
        return _table()[kind]
    except KeyError:
        raise KeyError(f"unknown server kind {kind!r}") from None


def api_for(kind: str) -> ServerAPI:
    """The health API of ``kind``; an unknown or undetected kind has none."""
    server = _table().get(kind)
    return server.api if server is not None else ServerAPI()


def detect(text: str, exp: Exposition) -> str | None:
    """Name the server kind an exposition (or API answer, for Ollama) comes from."""
    for server in _table().values():
        if server.detect_body is not None and server.detect_body(text):
            return server.name
        if server.detect(exp):
            return server.name
    return None
