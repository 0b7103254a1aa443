"""Read what the shipped rules *do* over given input series, through `promtool test rules`.

promtool only compares expectations, so every probe expects nothing: whatever the probe
expression returns is printed as `got:`, parsed here and returned. A probe expression is
wrapped in `label_replace(..., "probe", "<case>/<probe>", ...)`, so each printed line names
its case and probe; an empty result prints nothing and reads as an empty list.

promtool also fails a file on a rule evaluation error (many-to-many matching, duplicate
series); those come back as `RunResult.errors`.

Timestamps are promtool's: seconds since 0 (the start of the input series).
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
RULE_FILES = tuple(sorted(p for p in (ROOT / "rules").glob("*.yml") if p.name != "config.yml"))

_EXPR = re.compile(r'^\s+expr: "(?P<expr>.*)", time: (?P<time>\S+),(?: err: (?P<err>.*))?$')
_GOT = re.compile(r"^\s+got: (?P<got>.*)$")
_RULE_ERR = re.compile(r"^\s+rule: (?P<rule>[^,]+), time: (?P<time>[^,]+), err: (?P<err>.*)$")
_SAMPLE = re.compile(r'\{(?P<labels>(?:[^"{}]|"(?:[^"\\]|\\.)*")*)\} (?P<value>[-+0-9.eE]+|NaN|[-+]?Inf)')
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')
_PROBE = re.compile(r'"probe", "(?P<id>[^"]+)"')


@dataclass
class Probe:
    name: str
    expr: str
    at: str  # promtool duration, e.g. "90m"


@dataclass
class Case:
    """One promtool test group: input series plus the probes read after evaluating the rules."""

    id: str
    inputs: list[dict]
    probes: list[Probe]
    interval: str = "1m"


@dataclass
class RunResult:
    values: dict[str, dict[str, list[tuple[dict, float]]]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)  # rule evaluation errors, promtool failures

    def get(self, case: str, probe: str) -> list[tuple[dict, float]]:
        return self.values.get(case, {}).get(probe, [])


def series(name: str, labels: dict, values: str) -> dict:
    text = ",".join(f'{k}="{v}"' for k, v in labels.items())
    return {"series": f"{name}{{{text}}}", "values": values}


def _wrapped(case: Case, probe: Probe) -> str:
    return f'label_replace(({probe.expr}), "probe", "{case.id}/{probe.name}", "", "")'


def group_order(rule_files: tuple[Path, ...]) -> list[str]:
    """Recording groups first, so an alert reads the series recorded in the same evaluation."""
    groups = [g for f in rule_files for g in yaml.safe_load(f.read_text())["groups"]]
    recording = [g["name"] for g in groups if any("record" in r for r in g["rules"])]
    return recording + [g["name"] for g in groups if g["name"] not in recording]


def test_file(cases: list[Case], rule_files: tuple[Path, ...], evaluation_interval: str) -> dict:
    return {
        "rule_files": [str(p) for p in rule_files],
        "evaluation_interval": evaluation_interval,
        "group_eval_order": group_order(rule_files),
        "tests": [
            {
                "name": c.id,
                "interval": c.interval,
                "input_series": c.inputs,
                "promql_expr_test": [
                    {"expr": _wrapped(c, p), "eval_time": p.at, "exp_samples": []} for p in c.probes
                ],
            }
            for c in cases
        ],
    }


def parse(output: str) -> RunResult:
    result = RunResult()
    pending: str | None = None
    for line in output.splitlines():
        if m := _RULE_ERR.match(line):
            result.errors.append(f"rule {m['rule']} at {m['time']}: {m['err']}")
            continue
        if m := _EXPR.match(line):
            pending = None
            found = _PROBE.search(m["expr"].replace('\\"', '"'))
            if m["err"]:
                result.errors.append(f"probe {found['id'] if found else m['expr']}: {m['err']}")
            elif found:
                pending = found["id"]
            continue
        if (m := _GOT.match(line)) and pending:
            case, _, probe = pending.partition("/")
            samples = result.values.setdefault(case, {}).setdefault(probe, [])
            for s in _SAMPLE.finditer(m["got"]):
                labels = {k: v.replace('\\"', '"') for k, v in _LABEL.findall(s["labels"])}
                labels.pop("probe", None)
                samples.append((labels, float(s["value"])))
            pending = None
    return result


def _run_file(doc: dict, workdir: Path, name: str) -> RunResult:
    path = workdir / f"{name}.test.yml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False, width=1000))
    done = subprocess.run(["promtool", "test", "rules", str(path)], capture_output=True, text=True)
    result = parse(done.stdout + done.stderr)
    if done.returncode not in (0, 1) or ("FAILED" in done.stdout and not result.values and not result.errors):
        result.errors.append(f"promtool failed ({done.returncode}): {(done.stdout + done.stderr)[-2000:]}")
    return result


def run(
    cases: list[Case],
    rule_files: tuple[Path, ...] = RULE_FILES,
    evaluation_interval: str = "1m",
    workers: int = 2,
    chunk: int = 8,
    progress=None,
) -> RunResult:
    """Evaluate the rules over every case and return each probe's samples.

    Cases are split into files of `chunk` test groups run by `workers` promtool processes.
    A file with rule errors is rerun case by case, so each error names its case.
    """
    ids = [c.id for c in cases]
    assert len(ids) == len(set(ids)), "case ids must be unique"
    batches = [cases[i : i + chunk] for i in range(0, len(cases), chunk)]
    total = RunResult()
    with tempfile.TemporaryDirectory(prefix="promprobe-") as tmp:
        work = Path(tmp)

        def one(index_batch):
            index, batch = index_batch
            doc = test_file(batch, rule_files, evaluation_interval)
            result = _run_file(doc, work, f"batch{index}")
            if result.errors and len(batch) > 1:
                result.errors = []
                for case in batch:
                    single = _run_file(test_file([case], rule_files, evaluation_interval), work, case.id)
                    result.errors += [f"{case.id}: {e}" for e in single.errors]
            elif result.errors:
                result.errors = [f"{batch[0].id}: {e}" for e in result.errors]
            return batch, result

        with ThreadPoolExecutor(max_workers=workers) as pool:
            for done, (batch, result) in enumerate(pool.map(one, enumerate(batches)), 1):
                total.values.update(result.values)
                total.errors += result.errors
                if progress:
                    progress(done, len(batches), batch)
    return total


def values(points: list) -> str:
    """promtool's notation for a list of samples (numbers; None = missing, "stale" = staleness marker).

    Runs of a constant step become `a+bxn`, so hours of samples stay short.
    """
    out: list[str] = []
    i = 0
    while i < len(points):
        v = points[i]
        if v is None or v == "stale":
            n = 1
            while i + n < len(points) and points[i + n] == v:
                n += 1
            token = "_" if v is None else "stale"
            out.append(f"{token}x{n}" if n > 1 and v is None else " ".join([token] * n))
            i += n
            continue
        n = 0  # extra samples continuing v with a constant step
        step = None
        while i + n + 1 < len(points) and isinstance(points[i + n + 1], (int, float)):
            d = points[i + n + 1] - points[i + n]
            if step is None:
                step = d
            elif abs(d - step) > 1e-9 * max(1.0, abs(step)):
                break
            n += 1
        out.append(f"{v:.12g}{step:+.12g}x{n}" if n else f"{v:.12g}")
        i += n + 1
    return " ".join(out)


def cumulative(per_step: list[float], start: float = 0.0) -> list[float]:
    """Counter samples from the increase in each step (the first sample is `start`)."""
    out, total = [], start
    for inc in per_step:
        out.append(total)
        total += inc
    return out
