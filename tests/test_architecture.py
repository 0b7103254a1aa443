"""The shape docs/architecture.md promises: no import cycles, small modules, one registry per
extension point."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from inference_exporter import collectors, servers

PACKAGE = Path(__file__).resolve().parents[1] / "exporter" / "inference_exporter"
MAX_LINES = 450
DECLARATIVE = {"schema.py"}  # the metric schema: one long table by design


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """Modules of the package that ``name`` imports anywhere, type-checking-only imports aside."""
    tree = ast.parse(path.read_text())
    typing_only = {
        id(node)
        for block in ast.walk(tree)
        if isinstance(block, ast.If) and "TYPE_CHECKING" in ast.unparse(block.test)
        for node in ast.walk(block)
    }
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            target = ".".join(base + ([node.module] if node.module else []))
            found.update(m for m in [target] + [f"{target}.{a.name}" for a in node.names] if m in modules)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name in modules)
    # Importing a.b.c runs a.b's __init__ too (unless the importer is inside a.b).
    for target in list(found):
        parts = target.split(".")
        for i in range(2, len(parts)):
            parent = ".".join(parts[:i])
            if parent in modules and not name.startswith(parent + "."):
                found.add(parent)
    found.discard(name)
    return found


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return out


def test_no_import_cycle_in_the_package():
    modules = _modules()
    graph = {name: _imports(name, path, modules) for name, path in modules.items()}
    # The reader sees relative, nested and package imports (a blind reader would pass any package).
    assert "inference_exporter.validation" in graph["inference_exporter.config"]
    assert "inference_exporter.health.probes" in graph["inference_exporter.sources"]
    assert "inference_exporter.servers._kind" in graph["inference_exporter.servers.vllm"]
    assert _cycles(graph) == []


def test_the_cycle_check_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_module_is_a_giant():
    sizes = {
        str(p.relative_to(PACKAGE)): len(p.read_text().splitlines())
        for p in PACKAGE.rglob("*.py")
        if p.name not in DECLARATIVE
    }
    assert {name: n for name, n in sizes.items() if n > MAX_LINES} == {}


def test_every_server_module_registers_one_kind():
    modules = {p.stem for p in (PACKAGE / "servers").glob("*.py") if not p.stem.startswith("_")}
    assert set(servers.all_kinds()) == modules
    assert servers.config_kinds()[0] == "auto"
    orders = [s.detection_order for s in servers.all_kinds().values()]
    assert orders == sorted(orders)


def test_every_collector_module_registers_one_collector_and_gets_its_flag():
    from inference_exporter import cli

    modules = {p.stem for p in (PACKAGE / "collectors").glob("*.py") if not p.stem.startswith("_")}
    assert set(collectors.registrations()) == modules
    flags = {opt for action in cli._run_parser()._actions for opt in action.option_strings}
    for name in modules:
        assert {f"--collector.{name}", f"--no-collector.{name}"} <= flags


REPOSITORY = PACKAGE.parents[1]
CODE_FOLDERS = (
    "exporter",
    "devtools",
    "bench",
    "grafana-dashboards",
    "rules",
    "deploy",
    "tests",
    "alertmanager",
)


def _python_files() -> list[Path]:
    return [
        p
        for folder in CODE_FOLDERS
        for p in (REPOSITORY / folder).rglob("*.py")
        if "node_modules" not in p.parts
    ]


def test_only_the_shared_tooling_touches_sys_path():
    """Folders depend on inference_devtools, not on each other: repo.use is the one way in."""
    touching = re.compile(
        r"\bsys\.path\s*(\.\s*(insert|append|extend|remove)\s*\(|\[[^\]]*\]\s*=|\s*=|\s*\+=)"
    )
    offenders = {
        str(p.relative_to(REPOSITORY))
        for p in _python_files()
        for line in p.read_text().splitlines()
        if touching.search(line)
    }
    assert offenders == {"devtools/inference_devtools/repo.py"}


def test_vulture_finds_no_unused_code():
    import shutil
    import subprocess
    import sys

    vulture = shutil.which("vulture") or str(Path(sys.executable).parent / "vulture")
    folders = [str(REPOSITORY / f) for f in CODE_FOLDERS]
    result = subprocess.run([vulture, "--min-confidence", "80", *folders], capture_output=True, text=True)
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout + result.stderr
