"""Local resource collectors: the model server's processes, the container's cgroup, NVIDIA GPUs.

One module per collector. Each declares ``COLLECTOR = Registration(...)``: its name, what
it collects, and how to build it from a :class:`CollectorContext`; the command line
derives ``--collector.NAME`` / ``--no-collector.NAME`` from the registrations, as
node_exporter does. What ``build`` returns implements :class:`LocalCollector`. Files
starting with ``_`` are helpers. Constructors take every root and dependency explicitly,
and importing a module starts nothing.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Protocol

from ..snapshot import Snapshot

if TYPE_CHECKING:
    from ..config import Config
    from ..journal import Journal


class LocalCollector(Protocol):
    """A built local collector: each call returns fresh snapshots; ``close`` frees what it holds."""

    def collect(self) -> list[Snapshot]: ...

    def close(self) -> None: ...


@dataclass
class CollectorContext:
    """What a collector may be built from."""

    config: Config
    proc_root: str = "/proc"
    sys_root: str = "/sys"
    journal: Journal | None = None
    kind_of: Callable[[str], str] = lambda target: ""  # a target's server kind, once known
    # Who owns which process: the process collector adds its per-target collectors here, the GPU
    # collector reads it to attribute GPU memory to targets.
    process_owners: list = field(default_factory=list)

    @property
    def cgroup_root(self) -> str:
        return f"{self.sys_root.rstrip('/')}/fs/cgroup"


@dataclass(frozen=True)
class Registration:
    """A collector as the command line and the exporter see it."""

    name: str
    help: str  # what it collects, for --collector.NAME's help
    build: Callable[[CollectorContext], LocalCollector | None]  # None: nothing to collect here
    order: int = 100  # build and serve order


@cache
def registrations() -> dict[str, Registration]:
    """Every local collector by name, in order."""
    found = []
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        reg = getattr(module, "COLLECTOR", None)
        if not isinstance(reg, Registration) or reg.name != info.name:
            raise TypeError(f"{module.__name__} must define COLLECTOR = Registration({info.name!r}, ...)")
        found.append(reg)
    return {r.name: r for r in sorted(found, key=lambda r: (r.order, r.name))}
