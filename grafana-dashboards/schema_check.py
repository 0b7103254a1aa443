#!/usr/bin/env python3
"""Check dashboards against Grafana's published schema with `tsc --strict`.

Each dashboard's JSON becomes `const board: Dashboard = <JSON>;` typed by schema/dashboard.ts
(@grafana/schema: the dashboard model, every core panel's options and field config), and the
TypeScript compiler reports every key the schema does not know, every wrong nesting and
every wrong value type, with the line of the offending key.

    npm ci --prefix grafana-dashboards/schema           # once (make test does it)
    python grafana-dashboards/schema_check.py           # the committed dashboards
    python grafana-dashboards/schema_check.py a.json    # other files
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCHEMA_DIR = HERE / "schema"
TSC = SCHEMA_DIR / "node_modules" / ".bin" / "tsc"
INSTALL = "npm ci --prefix grafana-dashboards/schema"
ERROR = re.compile(r"^(?P<file>[^(\s]+)\((?P<line>\d+),(?P<col>\d+)\): error (?P<code>TS\d+): (?P<msg>.*)$")


class ToolMissing(RuntimeError):
    pass


def _module(board: dict) -> str:
    typed = (SCHEMA_DIR / "dashboard").as_posix()
    body = json.dumps(board, indent=2, sort_keys=True, ensure_ascii=False)
    return f"import type {{ Dashboard }} from '{typed}';\n\nexport const board: Dashboard = {body};\n"


def check(boards: dict[str, dict]) -> list[str]:
    """Problems found by tsc in BOARDS (name -> dashboard JSON), as `name:line: message`."""
    if not TSC.exists():
        raise ToolMissing(f"{TSC} is missing: run `{INSTALL}` (make test does)")
    with tempfile.TemporaryDirectory(prefix="dashboard-schema-") as tmp:
        work = Path(tmp)
        files = {}
        for name, board in boards.items():
            path = work / f"{name}.ts"
            path.write_text(_module(board))
            files[path.name] = path.read_text().splitlines()
        config = {
            "compilerOptions": {
                "strict": True,
                "noEmit": True,
                "target": "es2022",
                "module": "esnext",
                "moduleResolution": "bundler",
                "skipLibCheck": True,
                "types": [],
            },
            "files": sorted(files),
        }
        (work / "tsconfig.json").write_text(json.dumps(config, indent=2))
        done = subprocess.run(
            [str(TSC), "--project", str(work / "tsconfig.json"), "--pretty", "false"],
            capture_output=True,
            text=True,
            cwd=work,
        )
    problems = []
    for line in done.stdout.splitlines():
        m = ERROR.match(line)
        if not m:
            if line.startswith(" ") and problems:
                problems[-1] += "\n    " + line.strip()  # tsc's explanation of the error
            continue
        name = Path(m["file"]).name
        source = files.get(name, [])
        at = int(m["line"])
        text = source[at - 1].strip() if 0 < at <= len(source) else ""
        problems.append(f"{name.removesuffix('.ts')}:{at}: {m['code']} {m['msg']}  [{text}]")
    if done.returncode != 0 and not problems:
        problems.append(f"tsc failed: {(done.stdout + done.stderr).strip()[-2000:]}")
    return problems


def main(argv: list[str] | None = None) -> int:
    paths = [Path(p) for p in (argv if argv is not None else sys.argv[1:])] or sorted(HERE.glob("*.json"))
    boards = {p.stem: json.loads(p.read_text()) for p in paths}
    try:
        problems = check(boards)
    except ToolMissing as exc:
        print(exc, file=sys.stderr)
        return 2
    for p in problems:
        print(p, file=sys.stderr)
    print(f"{len(boards)} dashboards checked against @grafana/schema: {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
