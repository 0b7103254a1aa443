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
def _names() -> tuple[str, ...]:
    """The kinds' names: the package's modules, none of them imported."""
    names = (info.name for info in pkgutil.iter_modules(__path__))
    return tuple(sorted(name for name in names if not name.startswith("_")))


@cache
def _load(name: str) -> ServerKind:
    module = importlib.import_module(f"{__name__}.{name}")
    server = getattr(module, "SERVER", None)
    if not isinstance(server, ServerKind) or server.name != name:
        raise TypeError(f"{module.__name__} must define SERVER = ServerKind(name={name!r}, ...)")
    return server


@cache
def _table() -> dict[str, ServerKind]:
    found = [_load(name) for name in _names()]
    return {s.name: s for s in sorted(found, key=lambda s: (s.detection_order, s.name))}


def all_kinds() -> dict[str, ServerKind]:
    """Every server kind by name, in detection order (imports every module)."""
    return _table()


def config_kinds() -> tuple[str, ...]:
    """The values ``kind:`` accepts: ``auto`` and every server kind, by name. Read from the module
    names, so a config naming its kinds imports only those (a sidecar's start)."""
    return ("auto", *_names())


def get(kind: str) -> ServerKind:
    if kind not in _names():
        raise KeyError(f"unknown server kind {kind!r}")
    return _load(kind)


def api_for(kind: str) -> ServerAPI:
    """The health API of ``kind``; an unknown or undetected kind has none."""
    return _load(kind).api if kind in _names() else ServerAPI()


def detect(text: str, exp: Exposition) -> str | None:
    """Name the server kind an exposition (or API answer, for Ollama) comes from."""
    for server in _table().values():
        if server.detect_body is not None and server.detect_body(text):
            return server.name
        if server.detect(exp):
            return server.name
    return None
