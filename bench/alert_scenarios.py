#!/usr/bin/env python3
"""Generated topologies x faults, a larger run than the test suite's: invariant violations,
detection and time to alert per fault kind, for the current rule pack and a baseline pack
(the rendered rules of an earlier commit, e.g. the one before issue 12), in the same run.

    .venv/bin/python bench/alert_scenarios.py --seed 1 --cases 600 --baseline-rev 0c503de

The scenarios and invariants are tests/scenarios/ (rules/README.md, "Principles"); promtool
evaluates the rules, two processes at a time; for the current pack, a real Alertmanager judges
the inhibitions (I2).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from collections import Counter, defaultdict
from pathlib import Path

from inference_devtools import repo

ROOT = repo.ROOT
repo.use("tests")

from scenarios import inhibitions  # noqa: E402
from scenarios.invariants import EXPECTED  # noqa: E402
from scenarios.promprobe import RULE_FILES  # noqa: E402
from scenarios.run import check_all  # noqa: E402
from scenarios.topology import generate  # noqa: E402

PAGE = "critical"


def rules_at(rev: str, into: Path) -> tuple[Path, ...]:
    """The rendered rule files (rules/*.yml) as committed at `rev`."""
    names = subprocess.run(
        ["git", "ls-tree", "--name-only", rev, "rules/"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    files = []
    for name in names:
        if name.endswith(".yml") and not name.endswith("config.yml"):
            text = subprocess.run(
                ["git", "show", f"{rev}:{name}"], cwd=ROOT, capture_output=True, text=True
            ).stdout
            (into / Path(name).name).write_text(text)
            files.append(into / Path(name).name)
    return tuple(sorted(files))


def summarise(label: str, scenarios, outcome) -> None:
    print(f"\n{label}: {len(scenarios)} scenarios, {len(outcome.failed)} with a violated invariant "
          f"({outcome.seconds:.0f}s)")  # fmt: skip
    by_invariant = Counter(p.split()[0] for problems in outcome.problems.values() for p in problems)
    scenarios_by = defaultdict(set)
    for sid, problems in outcome.problems.items():
        for p in problems:
            scenarios_by[p.split()[0]].add(sid)
    for inv in sorted(by_invariant):
        print(f"  {inv}: {by_invariant[inv]} violations in {len(scenarios_by[inv])} scenarios")
    print(
        f"  {'fault':14} {'cases':>5} {'told':>5} {'first alert (min) median/worst':>32}"
        f" {'first page median':>18}"
    )
    kinds = defaultdict(list)
    for sc in scenarios:
        kinds[sc.fault.kind].append(sc)
    for kind, group in sorted(kinds.items()):
        told, first, page = 0, [], []
        expected = EXPECTED.get(kind)
        for sc in group:
            fired = [x for x in outcome.fired[sc.id] if x.first >= sc.fault.start]
            wanted = [x.first - sc.fault.start for x in fired if expected and x.alertname in expected.alerts]
            pages = [x.first - sc.fault.start for x in fired if x.severity == PAGE]
            if wanted:
                told += 1
                first.append(min(wanted))
            if pages:
                page.append(min(pages))
        span = f"{statistics.median(first):.0f}/{max(first):.0f}" if first else "-"
        pg = f"{statistics.median(page):.0f}" if page else "-"
        print(f"  {kind:14} {len(group):>5} {told:>5} {span:>32} {pg:>18}")
    # Pages and tickets no fault explains, per scenario-hour.
    hours = sum(sc.minutes for sc in scenarios) / 60
    unexplained = sum(p.startswith("I4 unexplained page") for ps in outcome.problems.values() for p in ps)
    print(f"  unexplained pages: {unexplained} in {hours:.0f} scenario hours")


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--cases", type=int, default=600)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--baseline-rev", help="git revision whose rendered rules are the baseline")
    ap.add_argument("--report", action="store_true", help="print every violation")
    args = ap.parse_args(argv)
    scenarios = generate(args.seed, args.cases)
    print(f"{len(scenarios)} scenarios (seed {args.seed}): " + ", ".join(
        f"{k} {n}" for k, n in sorted(Counter(sc.fault.kind for sc in scenarios).items())))  # fmt: skip
    outcome = check_all(scenarios, args.workers, log=lambda m: print(m, flush=True))
    with tempfile.TemporaryDirectory() as tmp:
        held, inhibited = inhibitions.check(outcome, Path(tmp))  # I2 through a real Alertmanager
    for sid, problems in held.items():
        outcome.problems.setdefault(sid, []).extend(problems)
    print(f"Alertmanager inhibited {inhibited} of the alerts that fired (I2 judges each)")
    summarise("current rule pack", scenarios, outcome)
    if args.report and outcome.failed:
        print(outcome.report())
    if args.baseline_rev:
        with tempfile.TemporaryDirectory() as tmp:
            files = rules_at(args.baseline_rev, Path(tmp))
            base = check_all(scenarios, args.workers, log=lambda m: print(m, flush=True), rule_files=files)
        summarise(f"baseline rule pack ({args.baseline_rev})", scenarios, base)
    return 1 if outcome.failed else 0


if __name__ == "__main__":
    assert RULE_FILES, "no rule files"
    sys.exit(main(sys.argv[1:]))
