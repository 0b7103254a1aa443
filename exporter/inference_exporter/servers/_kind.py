"""What a server kind declares: one :class:`ServerKind` per module of this package."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from ..builder import Builder
from ..parser import Exposition
from ._api import ServerAPI

# GET a path of the target's API and return the parsed JSON (raises the scraper's error).
GetJson = Callable[[str], Any]


class Translator(Protocol):
    """Turns a parsed native exposition into unified series."""

    @property
    def native(self) -> tuple[str, ...]:
        """Native family names read; the parser skips everything else (empty: read all)."""
        ...

    def translate(self, exp: Exposition, out: Builder) -> None: ...


def _never(exp: Exposition) -> bool:
    return False


@dataclass(frozen=True)
class ServerKind:
    """Everything the exporter knows about one kind of model server.

    ``name`` is the config's ``kind:``. Detection tries kinds in ``detection_order``
    (lower first: the most specific, so a server whose exposition also holds another's
    families is still named correctly); ``detect_body`` looks at the raw answer of a
    server without a metrics format (Ollama's banner). ``poll`` replaces parsing for a
    server with no metrics endpoint; ``configure`` builds a per-target translator from
    the target's mapping file (the generic kind); ``model_name`` asks the API which model a
    server serves whose metrics name none (llama.cpp), so its series carry ``model``.
    ``api`` is the health, readiness, inventory and config API; ``api_on_other_port``
    says the API does not listen on the metrics port, so health probes need the target's
    ``api_url``.
    """

    name: str
    native: tuple[str, ...] = ()
    translate_fn: Callable[[Exposition, Builder], None] | None = None
    detect: Callable[[Exposition], bool] = _never
    detection_order: int = 100
    detect_body: Callable[[str], bool] | None = None
    poll: Callable[[GetJson, Builder], None] | None = None
    configure: Callable[[str], Translator] | None = None
    model_name: Callable[[GetJson], str] | None = None
    api: ServerAPI = ServerAPI()
    api_on_other_port: bool = False

    @property
    def auto_detected(self) -> bool:
        return self.detect is not _never or self.detect_body is not None

    def translate(self, exp: Exposition, out: Builder) -> None:
        if self.translate_fn is None:
            raise TypeError(f"{self.name} has no metrics to translate")
        self.translate_fn(exp, out)

    def translator(self, mapping_file: str = "") -> Translator:
        """The translator for one target (its own when the kind reads a mapping file)."""
        return self.configure(mapping_file) if self.configure is not None else self
