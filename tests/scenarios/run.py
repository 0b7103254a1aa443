"""Run generated scenarios through the shipped rules with promtool and check the invariants.

    python tests/scenarios/run.py --seed 7 --cases 240        # a report; exit 1 on a violation

Scenarios with the same evaluation interval are packed into batches (one promtool test
group each, one namespace per scenario) and the batches run on `workers` promtool processes.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

if __package__ in (None, ""):  # run as a script
    from inference_devtools import repo

    repo.use("tests")
    __package__ = "scenarios"

from .invariants import batch, check, firings  # noqa: E402
from .promprobe import RULE_FILES, run  # noqa: E402
from .topology import Scenario, generate  # noqa: E402

BATCH = {1: 24, 5: 12}  # scenarios per batch, by evaluation interval (long timelines: fewer)


@dataclass
class Outcome:
    scenarios: list[Scenario]
    problems: dict[str, list[str]] = field(default_factory=dict)  # scenario id -> violations
    fired: dict[str, list] = field(default_factory=dict)  # scenario id -> Firing list (since the fault)
    seconds: float = 0.0

    @property
    def failed(self) -> list[Scenario]:
        return [sc for sc in self.scenarios if self.problems.get(sc.id)]

    def report(self) -> str:
        lines = []
        for sc in self.failed:
            lines.append(sc.describe())
            lines += [f"    {p}" for p in self.problems[sc.id]]
        return "\n".join(lines)


def batches(scenarios: list[Scenario]) -> list[tuple[str, list[Scenario]]]:
    """Scenarios of one evaluation interval and similar length share a batch (its timeline is
    the longest member's: a 4-hour leak beside 90-minute faults would waste the difference)."""
    out = []
    by_interval: dict[int, list[Scenario]] = {}
    for sc in scenarios:
        by_interval.setdefault(sc.evaluation_interval, []).append(sc)
    for interval, group in sorted(by_interval.items()):
        group = sorted(group, key=lambda sc: (sc.minutes, sc.index))
        size = BATCH.get(interval, 4)
        for i in range(0, len(group), size):
            part = group[i : i + size]
            out.append((f"b{interval}m{part[0].index:03d}", part))
    return out


def check_all(
    scenarios: list[Scenario],
    workers: int = 2,
    log=lambda msg: None,
    rule_files: tuple[Path, ...] = RULE_FILES,
) -> Outcome:
    began = time.monotonic()
    outcome = Outcome(scenarios)
    plan = batches(scenarios)
    by_interval: dict[int, list[tuple[str, list[Scenario]]]] = {}
    for name, part in plan:
        by_interval.setdefault(part[0].evaluation_interval, []).append((name, part))
    done = 0
    for interval, parts in sorted(by_interval.items()):
        cases = [batch(name, part) for name, part in parts]

        def progress(_i, _n, finished, parts=parts):
            nonlocal done
            done += sum(len(p) for name, p in parts if name in {c.id for c in finished})
            log(f"  {done}/{len(scenarios)} scenarios evaluated ({time.monotonic() - began:.0f}s)")

        result = run(
            cases, rule_files, evaluation_interval=f"{interval}m", workers=workers, chunk=1, progress=progress
        )
        for name, part in parts:
            for sc in part:
                outcome.problems[sc.id] = check(sc, result, name)
                outcome.fired[sc.id] = firings(result, name, sc, since_fault=True)
    outcome.seconds = time.monotonic() - began
    return outcome


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--cases", type=int, default=240)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--rules", type=Path, help="a folder of rendered rule files (default: rules/)")
    args = ap.parse_args(argv)
    scenarios = generate(args.seed, args.cases)
    files = (
        tuple(sorted(p for p in args.rules.glob("*.yml") if p.name != "config.yml"))
        if args.rules
        else RULE_FILES
    )
    outcome = check_all(scenarios, args.workers, log=lambda m: print(m, flush=True), rule_files=files)
    print(f"{len(scenarios)} scenarios, {len(outcome.failed)} with violations, {outcome.seconds:.0f}s")
    if outcome.failed:
        print(outcome.report())
    return 1 if outcome.failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
