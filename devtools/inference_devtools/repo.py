"""The repository's root, and importing the modules of its script folders.

Folders such as ``bench/``, ``grafana-dashboards/`` or ``deploy/local`` hold scripts that
import their siblings by plain name (``import panels``), which works when the script is run
(``python grafana-dashboards/generate.py`` puts its folder first on ``sys.path``). Tests and
tools that import those modules from elsewhere call :func:`use` first: it is the one place
in the repository that adds to ``sys.path``.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]


def use(folder: str) -> Path:
    """Make the modules of ``folder`` (relative to the repository root) importable by name."""
    path = ROOT / folder
    if not path.is_dir():
        raise FileNotFoundError(f"no folder {folder!r} in the repository")
    if str(path) not in sys.path:
        sys.path.append(str(path))
    return path


def load(script: str, name: str) -> ModuleType:
    """Import the script at ``script`` (relative to the root) as module ``name``.

    For entry points whose file name another folder also uses (``rules/generate.py`` and
    ``grafana-dashboards/generate.py``); their folder is made importable for their siblings.
    """
    path = ROOT / script
    use(str(Path(script).parent))
    found = sys.modules.get(name)
    if found is not None and getattr(found, "__file__", None) == str(path):
        return found
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {script}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
