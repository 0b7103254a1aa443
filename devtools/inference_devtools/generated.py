"""Writing generated files: every generator renders into a dict and hands it here.

``make generate`` runs all generators; ``make check-generated`` (run by CI) then fails when
that changed a committed file or left an untracked one, as node_exporter checks its
generated code with ``make generate && git diff --exit-code``. A generator therefore has no
``--check`` mode of its own.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from .repo import ROOT


def write(files: dict[Path, str], owned: Iterable[Path] = ()) -> list[Path]:
    """Write each file whose text changed; delete ``owned`` files the generator no longer makes.

    ``owned`` lists the files a generator owns (e.g. a folder's ``*.json``), so a dashboard or
    runbook that no longer exists does not linger. Returns the paths written or deleted.
    """
    changed = []
    for path, text in files.items():
        if not path.exists() or path.read_text() != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            changed.append(path)
    for path in sorted(set(owned) - set(files)):
        if path.exists():
            path.unlink()
            changed.append(path)
    return changed


def _shown(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def report(generator: str, files: dict[Path, str], changed: list[Path]) -> str:
    """One line for people: what the generator owns and what it changed."""
    shown = ", ".join(_shown(p) for p in changed[:3]) + (" ..." if len(changed) > 3 else "")
    return f"{generator}: {len(files)} files, {len(changed)} changed" + (f" ({shown})" if changed else "")
