"""Every `inject.sh` fault through the real demo stack: what reaches Slack, and nothing else.

Starts `deploy/local/demo.py` (its default servers, faster rule timing), waits for a quiet
baseline, then for each fault in turn: injects it, holds it, takes it away (`reset`, or
`rollback` after `version`) and waits for the pages to resolve and a quiet spell. Prints, per
fault, what each Slack channel received and what Alertmanager held back, and flags:

* flapping: an alert listed FIRING again after its RESOLVED while the fault was on;
* duplicate: one alert FIRING in two channels of one team, or a message that re-sends the alerts the
  channel's previous message listed (nothing new);
* spurious: anything FIRING during the baseline, or a page (an `-oncall` channel) during the
  quiet spell after the fault's pages resolved.

Tickets that fire after the reset are listed, not flagged: the slower budget windows really
were spent. Exits 1 when anything is flagged.

    .venv/bin/python bench/demo_faults.py                # about 20 minutes once servers are cached
    .venv/bin/python bench/demo_faults.py --faults down --json bench/results/demo-faults.json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests
from inference_devtools import repo, slack

ROOT = repo.ROOT
DEMO = ROOT / "deploy" / "local" / "demo.py"
INJECT = ROOT / "deploy" / "local" / "inject.sh"
RATES = "model:inference_requests:rate5m"
# fault -> (inject.sh arguments, the arguments that take it away)
FAULTS = {
    "latency": (["latency", "0.3"], ["reset"]),
    "errors": (["errors", "0.3"], ["reset"]),
    "down": (["down", "triton"], ["reset"]),
    "version": (["version"], ["rollback"]),
}


def say(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)


class Demo:
    def __init__(self, state: Path, rule_speed: float):
        self.state = state
        self.out = state.parent / "demo.out"
        cmd = [sys.executable, str(DEMO), "--scrape-interval", "1", "--rule-speed", f"{rule_speed:g}",
               "--canary-every", "1s", "--report-every", "60", "--state-dir", str(state)]  # fmt: skip
        with open(self.out, "wb") as out:
            self.proc = subprocess.Popen(
                cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
            )
        say("starting the demo (minutes the first time: the model servers' environments)")
        self.urls = self.wait("the stack", lambda: json.loads((state / "stack.json").read_text()), 1200)
        self.log = Path(self.urls["slack_log"])

    def wait(self, what: str, check, timeout: float):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"demo_faults: the demo exited before {what}; see {self.out}")
            try:
                if found := check():
                    return found
            except (OSError, ValueError, KeyError, requests.RequestException):
                pass
            time.sleep(1)
        raise SystemExit(f"demo_faults: timed out waiting for {what}; see {self.out}")

    def inject(self, args: list[str]) -> None:
        env = {**os.environ, "DEMO_STATE_DIR": str(self.state), "PYTHON": sys.executable}
        subprocess.run([str(INJECT), *args], check=True, env=env, capture_output=True, timeout=30)

    def query(self, expr: str) -> list[dict]:
        body = requests.get(f"{self.urls['prometheus']}/api/v1/query", params={"query": expr}, timeout=5)
        return body.json()["data"]["result"]

    def alerts(self) -> list[dict]:
        """Alertmanager's alerts now, info ones (routed nowhere) left out."""
        got = requests.get(f"{self.urls['alertmanager']}/api/v2/alerts", timeout=5).json()
        return [a for a in got if a["labels"].get("severity") != "info"]

    def listed(self) -> list[slack.Listed]:
        return slack.listed(slack.messages(self.log))

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(120)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)


def key(a: slack.Listed) -> str:
    return f"{a.alertname}·{a.model}" if a.model else a.alertname


def flags_in(items: list[slack.Listed]) -> list[str]:
    """Flapping and duplicates among the alerts listed while one fault was on."""
    found, resolved, channels = [], set(), {}
    by_message: dict[int, set] = {}
    for a in items:
        by_message.setdefault(a.index, set()).add((a.channel, a.status, key(a)))
    for a in items:
        k = key(a)
        if a.status == "RESOLVED":
            resolved.add(k)
            continue
        if k in resolved:
            found.append(f"flapping: {k} fired again after it resolved")
            resolved.discard(k)
        # Teams reuse model names (search's and recommendation's ranker): one team's two channels.
        channels.setdefault((k, a.channel.rsplit("-", 1)[0]), set()).add(a.channel)
    found += [f"duplicate: {k} in {', '.join(sorted(c))}" for (k, _), c in channels.items() if len(c) > 1]
    last_in: dict[str, set] = {}
    for index in sorted(by_message):
        listed = by_message[index]
        channel = next(iter(listed))[0]
        if listed == last_in.get(channel):
            again = sorted(k for _, _, k in listed)
            found.append(f"duplicate: message {index} re-sends {again} to {channel}")
        last_in[channel] = listed
    return sorted(set(found))


def summary(items: list[slack.Listed], status: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for a in items:
        if a.status == status and key(a) not in out.get(a.channel, []):
            out.setdefault(a.channel, []).append(key(a))
    return out


def run_fault(demo: Demo, name: str, hold: float, settle: float, quiet: float) -> dict:
    inject, undo = FAULTS[name]
    first = len(slack.messages(demo.log))
    say(f"{name}: inject.sh {' '.join(inject)}; holding {hold:.0f} s")
    demo.inject(inject)
    time.sleep(hold)
    held = sorted(
        {f"{a['labels']['alertname']}·{a['labels'].get('model', '')} (by {len(a['status']['inhibitedBy'])})"
         for a in demo.alerts() if a["status"]["inhibitedBy"]}
    )  # fmt: skip
    reset_at = len(slack.messages(demo.log))
    say(f"{name}: inject.sh {' '.join(undo)}; waiting up to {settle:.0f} s for the pages to resolve")
    demo.inject(undo)
    deadline = time.monotonic() + settle
    while time.monotonic() < deadline and any(
        a["labels"].get("severity") == "critical" and a["status"]["state"] == "active" for a in demo.alerts()
    ):
        time.sleep(2)
    quiet_from = len(slack.messages(demo.log))
    time.sleep(quiet)
    items = [a for a in demo.listed() if a.index >= first]
    during = [a for a in items if a.index < reset_at]
    after = [a for a in items if a.index >= reset_at]
    flags = flags_in(during)
    flags += [
        f"spurious: {key(a)} paged {a.channel} in the quiet spell"
        for a in items
        if a.index >= quiet_from and a.status == "FIRING" and a.channel.endswith("-oncall")
    ]
    still = sorted(
        f"{a['labels']['alertname']}·{a['labels'].get('model', '')}"
        for a in demo.alerts()
        if a["status"]["state"] == "active"
    )
    return {
        "fault": name,
        "fired": summary(during, "FIRING"),
        "held_back": held,
        "fired_after_reset": summary(after, "FIRING"),
        "still_active": still,
        "flags": sorted(set(flags)),
    }


def report(results: list[dict]) -> None:
    print()
    for r in results:
        print(f"== {r['fault']}")
        for what in ("fired", "fired_after_reset"):
            for channel, keys in sorted(r[what].items()):
                print(f"   {what.replace('_', ' '):18} {channel:24} {', '.join(keys)}")
        if r.get("held_back"):
            print(f"   {'held back':18} {'':24} {', '.join(r['held_back'])}")
        if r.get("still_active"):
            print(f"   {'still active':18} {'':24} {', '.join(r['still_active'])}")
        print(f"   {'flags':18} {'':24} {'; '.join(r['flags']) or 'none'}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--faults", default=",".join(FAULTS), help="comma list of %(default)s")
    ap.add_argument("--rule-speed", type=float, default=60, help="the demo's --rule-speed (%(default)s)")
    ap.add_argument("--hold", type=float, default=90, help="seconds each fault stays on (%(default)s)")
    ap.add_argument("--settle", type=float, default=180, help="seconds at most for pages to resolve")
    ap.add_argument("--quiet", type=float, default=30, help="quiet seconds after each fault (%(default)s)")
    ap.add_argument("--json", type=Path, help="write the results here too")
    args = ap.parse_args(argv)
    faults = [f for f in args.faults.split(",") if f]
    if unknown := set(faults) - set(FAULTS):
        ap.error(f"--faults: unknown {sorted(unknown)}; choose from {', '.join(FAULTS)}")
    with tempfile.TemporaryDirectory(prefix="demo-faults-") as tmp:
        demo = Demo(Path(tmp) / "demo", args.rule_speed)
        try:
            demo.wait(
                "request rates of the ranker and the embedder",
                lambda: len({r["metric"]["model"] for r in demo.query(RATES)}) >= 2,
                300,
            )
            say(f"baseline: traffic measured; {2 * args.quiet:.0f} s with no fault")
            first = len(slack.messages(demo.log))
            time.sleep(2 * args.quiet)
            base = [a for a in demo.listed() if a.index >= first and a.status == "FIRING"]
            results = [{"fault": "baseline", "fired": summary(base, "FIRING"), "fired_after_reset": {},
                        "flags": [f"spurious: {key(a)} fired with no fault" for a in base]}]  # fmt: skip
            for name in faults:
                results.append(run_fault(demo, name, args.hold, args.settle, args.quiet))
        finally:
            demo.stop()
            if args.json:  # the messages themselves, beside the results
                args.json.parent.mkdir(parents=True, exist_ok=True)
                if demo.log.exists():
                    shutil.copyfile(demo.log, args.json.with_suffix(".slack.jsonl"))
    report(results)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    flagged = sum(len(r["flags"]) for r in results)
    print(f"\n{flagged} flag(s) in {len(results) - 1} fault(s)")
    return 1 if flagged else 0


if __name__ == "__main__":
    sys.exit(main())
