"""`make demo` end to end, in its fast mode: real servers, sidecars, Prometheus, Alertmanager.

Runs ``deploy/local/demo.py --duration`` with its default stack (two ranking servers
and the embedding model on KServe) so it exits by itself, checks what a user would
look at while it runs, then proves by pid and by the demo's run marker that nothing
it started is left.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from inference_devtools import repo
from inference_exporter.parser import parse

pytestmark = [pytest.mark.integration, pytest.mark.prometheus]

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "deploy" / "local" / "demo.py"
# The default stack: the ranking model on two servers, the embedding model on KServe.
TEAMS = {"triton": "search", "mlserver": "recommendation", "embedder": "search"}
MODELS = {"triton": "ranker", "mlserver": "ranker", "embedder": "embedder"}
DURATION_S = 45
SCRAPE_S = 2


def test_stored_embedding_reference_is_the_models_answer():
    """The canary's reference vector still matches the model (rewrite it after changing the model)."""
    repo.use("deploy/local/servers")
    import embedding_model

    reference = json.loads(embedding_model.REFERENCE_FILE.read_text())
    (served,) = embedding_model.embed(embedding_model.train(), [embedding_model.CANARY_QUERY])
    cosine = sum(a * b for a, b in zip(reference, served, strict=True))
    assert cosine > 0.999, f"rewrite it: see {embedding_model.__file__} (cosine {cosine:.4f})"


def test_ranking_canary_expects_what_the_trained_model_ranks_first():
    """The ranking canary's expected top 3 (from the hidden relevance) is the served model's top 3
    (as a set: the canary's top-K overlap ignores order)."""
    repo.use("deploy/local/servers")
    import ranking_model

    scores = ranking_model.score(ranking_model.train(), ranking_model.canary_rows())
    served_top = sorted(range(len(scores)), key=lambda i: -scores[i])[:3]
    assert set(served_top) == set(ranking_model.canary_top(3)), "choose another CANARY_SEED: no clear top 3"


def wait_until(what: str, check, timeout: float, demo: subprocess.Popen, log: Path):
    """Poll ``check()`` until it returns something truthy; fail with the demo's output otherwise."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        if demo.poll() is not None:
            pytest.fail(f"demo exited ({demo.returncode}) before {what}:\n{tail(log)}", pytrace=False)
        try:
            last = check()
        except (requests.RequestException, OSError, ValueError) as exc:
            last = repr(exc)
        else:
            if last:
                return last
        time.sleep(1)
    pytest.fail(f"timed out waiting for {what} (last: {last!r}):\n{tail(log)}", pytrace=False)


def tail(log: Path, lines: int = 40) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


def running(pid: int) -> bool:
    """Alive and not a zombie (an exited child nobody reaped yet is no running process)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def marked(run_id: str) -> list[int]:
    needle = f"INFERENCE_DEMO_RUN={run_id}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if (
                entry.name.isdigit()
                and needle in (entry / "environ").read_bytes()
                and running(int(entry.name))
            ):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def successes(sidecar: str, model: str) -> float:
    text = requests.get(f"{sidecar}/metrics", timeout=5).text
    samples = parse(text).get("inference_requests_total")
    return sum(
        v for labels, v in samples if labels.get("model") == model and labels.get("outcome") == "success"
    )


def canary_results(sidecar: str, model: str) -> list[float] | None:
    """``inference_canary_success`` of the model's canaries, once each has run."""
    text = requests.get(f"{sidecar}/metrics", timeout=5).text
    found = [v for labels, v in parse(text).get("inference_canary_success") if labels.get("model") == model]
    return found or None


def test_demo_serves_unified_metrics_and_leaves_nothing(tmp_path):
    state = tmp_path / "demo"
    log = tmp_path / "demo.out"
    cmd = [
        sys.executable, str(DEMO), "--duration", str(DURATION_S),
        "--scrape-interval", str(SCRAPE_S), "--report-every", "15", "--state-dir", str(state),
    ]  # fmt: skip
    with open(log, "wb") as out:
        demo = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, cwd=REPO)
    try:
        # Up to 10 minutes the first time (server venv builds), seconds once cached.
        stack = wait_until(
            "the stack to come up",
            lambda: json.loads((state / "stack.json").read_text()),
            600,
            demo,
            log,
        )
        assert set(stack["sidecars"]) == set(TEAMS)
        assert stack["models"] == MODELS
        # Grafana runs when installed; otherwise the summary says how to use an existing one.
        summary = wait_until(
            "the summary",
            lambda: next((t for t in [log.read_text(errors="replace")] if "Where to look" in t), ""),
            30,
            demo,
            log,
        )
        assert stack["grafana"] or "point an existing Grafana at this stack" in summary, tail(log)

        for kind, sidecar in stack["sidecars"].items():
            model = MODELS[kind]
            wait_until(
                f"{kind} sidecar to count {model} requests",
                lambda s=sidecar, m=model: successes(s, m),
                30,
                demo,
                log,
            )
            text = requests.get(f"{sidecar}/metrics", timeout=5).text
            series = [
                lbl for lbl, _ in parse(text).get("inference_requests_total") if lbl.get("model") == model
            ]
            server = "kserve" if kind == "embedder" else kind
            assert all(lbl["server"] == server and lbl["cluster"] == "local" for lbl in series), series
            assert {lbl["team"] for lbl in series} == {TEAMS[kind]}
            assert {lbl["model_class"] for lbl in series} == {
                "embedding" if model == "embedder" else "ranking"
            }

        # The embedder's golden query matches the stored reference vector; Triton's ranker puts
        # the golden page's three most relevant products first.
        for kind, model in (("embedder", "embedder"), ("triton", "ranker")):
            canaries = wait_until(
                f"the {model} canary on {kind} to run",
                lambda k=kind, m=model: canary_results(stack["sidecars"][k], m),
                40,
                demo,
                log,
            )
            assert canaries == [1.0], f"canary failed; see {state}/journal/{kind}"

        def rates() -> dict[str, float]:
            expr = 'sum by (model, server) (rate(inference_requests_total{outcome="success"}[20s]))'
            body = requests.get(
                f"{stack['prometheus']}/api/v1/query", params={"query": expr}, timeout=5
            ).json()
            found = {
                (r["metric"]["model"], r["metric"]["server"]): float(r["value"][1])
                for r in body["data"]["result"]
            }
            wanted = {("ranker", "triton"), ("ranker", "mlserver"), ("embedder", "kserve")}
            return found if set(found) == wanted and all(v > 0 for v in found.values()) else None

        per_server = wait_until("a non-zero request rate in Prometheus", rates, 40, demo, log)
        assert all(rate > 0 for rate in per_server.values())

        # The alert path: Alertmanager -> Slack stand-in -> its log file.
        # Critical for team search: paged in any routing (info may go nowhere, tickets may wait).
        labels = {"alertname": "DemoPathCheck", "severity": "critical", "team": "search", "model": "ranker"}
        alert = {"labels": labels, "annotations": {"summary": "alert path check"}}
        posted = requests.post(f"{stack['alertmanager']}/api/v2/alerts", json=[alert], timeout=5)
        assert posted.status_code == 200, posted.text
        slack_log = Path(stack["slack_log"])
        delivered = wait_until(
            "the test alert in the Slack stand-in's log",
            lambda: (
                [json.loads(line) for line in slack_log.read_text().splitlines()]
                if slack_log.exists()
                else None
            ),
            40,
            demo,
            log,
        )
        assert "DemoPathCheck" in json.dumps(delivered[0]["payload"])

        assert demo.wait(timeout=DURATION_S + 90) == 0, tail(log)
    finally:
        if demo.poll() is None:  # the test failed early: stop it as `make demo-stop` would
            os.kill(demo.pid, signal.SIGTERM)
            demo.wait(timeout=90)

    output = log.read_text()
    assert "stopped: no process of the demo is left" in output, tail(log)
    # Each sidecar wrote its own journal, and the demo said how to read it.
    journals = stack["journals"]
    assert len(set(journals.values())) == len(TEAMS)
    for kind, journal in journals.items():
        assert list(Path(journal).glob("events-*.jsonl")), f"{kind}: no journal segment in {journal}"
        shown = Path(journal).relative_to(REPO) if Path(journal).is_relative_to(REPO) else journal
        assert f"events --journal.path {shown}" in output, tail(log)
    pids = json.loads((state / "pids.json").read_text())
    # At least each server, its sidecar, Prometheus, Alertmanager and the stand-in were recorded.
    assert len(pids["started"]) >= 2 * len(TEAMS) + 3
    assert [p for p in [pids["demo"], *pids["started"]] if running(p)] == []
    assert marked(pids["run_id"]) == []
    assert not (state / "demo.pid").exists()
