"""Incident notifications (--notify-webhook): a webhook receiver on 127.0.0.1 gets each new, escalated and
resolved incident once, across SIGKILLs and resumes of a real process; a dead, failing or hanging webhook
never stops or stalls the run, and changes nothing in the report but its delivery status."""
from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from conftest import ROOT, load_report
from fake_services import chat_server, dead_url, webhook_server
from test_cli import assert_one_line_error

from graph.report import without_timings
from graph.runner import RunConfig, execute
from stores import open_stores

# An incident opened on day 2 (high), escalated on day 3 (critical) and resolved on day 9.
SCENARIO = {"scenario": "sudden_shift", "days": 10, "seed": 0, "policy": "rules", "onset": 2, "severity": 0.5}
RUN = "hooked"
MODEL = "pneumonia_classifier_v1"
INCIDENT = f"{RUN}/{MODEL}/incident/2"
EVENTS = [f"{INCIDENT}/opened/2", f"{INCIDENT}/escalated/3", f"{INCIDENT}/resolved/9"]


def run(folder: Path, timings: list | None = None, **options) -> dict:
    config = RunConfig([MODEL], SCENARIO["scenario"], SCENARIO["days"], SCENARIO["seed"], SCENARIO["policy"], folder,
                       RUN, onset=SCENARIO["onset"], severity=SCENARIO["severity"], **options)

    def on_event(kind: str, data: dict) -> None:
        if kind == "day" and timings is not None:
            timings.append(data["timings"].get("notify", 0.0))

    return execute(config, on_event).report


def without_delivery(report: dict) -> dict:
    return without_timings({k: v for k, v in report.items() if k != "notifications"})


@pytest.fixture(scope="module")
def plain(tmp_path_factory) -> dict:
    """The same run without webhooks."""
    return run(tmp_path_factory.mktemp("plain"))


def test_each_incident_event_is_posted_once_as_slack_compatible_json(tmp_path, plain):
    with webhook_server() as hook:
        report = run(tmp_path, notify_webhooks=[hook.url])
    bodies = [r["body"] for r in hook.received]
    assert [b["event_id"] for b in bodies] == EVENTS
    assert [r["idempotency_key"] for r in hook.received] == EVENTS
    assert [r["path"] for r in hook.received] == ["/services/T0MLMON/B0MLMON/hooksecret0123456789"] * 3
    opened, escalated, resolved = bodies
    for body in bodies:
        assert {"text", "run_id", "model", "day", "date", "incident_id", "root_cause", "severity", "event"} <= set(body)
        assert (body["run_id"], body["model"], body["incident_id"], body["root_cause"]) == (RUN, MODEL, INCIDENT, "covariate_drift")
        assert body["text"].startswith(f"mlmon: incident {body['event']} on {MODEL} (run {RUN}, day {body['day']}, {body['date']})")
    assert (opened["day"], opened["date"], opened["severity"]) == (2, "2026-01-03", "high")
    assert [b["action"] for b in bodies] == [plain["days"][d]["action"] for d in (2, 3, 9)]  # the day's decision
    assert f"Decision: {opened['action']} (rules)." in opened["text"]
    assert (escalated["severity"], escalated["previous_severity"]) == ("critical", "high")
    assert "(was high)" in escalated["text"]
    assert (resolved["day"], resolved["opened_day"]) == (9, 2)
    stores = open_stores(tmp_path / "mlmon.db", read_only=True)
    try:  # what was posted is what the incidents store says happened
        incident = stores.incidents.get_incident(INCIDENT)
    finally:
        stores.close()
    assert (incident["opened_day"], incident["resolved_day"], incident["severity"]) == (2, 9, "critical")
    target = hook.url.split("/services")[0] + "/..."
    assert report["notifications"] == {"events": 3, "targets": [{"target": target, "delivered": 3, "undelivered": []}]}
    assert "hooksecret" not in json.dumps(report)
    assert without_delivery(report) == without_timings(plain)


@pytest.mark.parametrize("mode", ["dead", "fail", "hang"])
def test_a_webhook_that_is_dead_fails_or_hangs_changes_only_the_delivery_status(tmp_path, plain, mode):
    timings = []
    with webhook_server("fail" if mode == "fail" else "hang", delay=5.0) as hook:
        url = dead_url() if mode == "dead" else hook.url
        report = run(tmp_path, timings=timings, notify_webhooks=[url], notify_timeout=1.0)
    assert without_delivery(report) == without_timings(plain)
    [target] = report["notifications"]["targets"]
    assert target["delivered"] == 0 and [u["event_id"] for u in target["undelivered"]] == EVENTS
    first = target["undelivered"][0]["error"]
    assert {"dead": "Connection refused", "fail": "HTTP 500", "hang": "timed out after 1.0 s"}[mode] in first
    assert [u["error"] for u in target["undelivered"][1:]] == ["not attempted"] * 2  # paused after its failure
    # The day the webhook first failed waited at most the round's budget; the paused webhook costs nothing after.
    assert max(timings) < 1000 + 250 and sorted(timings)[-2] < 100
    if mode == "fail":  # retried, with backoff, within the budget: three tries a round, two rounds
        assert len(hook.received) == 6 and {r["body"]["event_id"] for r in hook.received} == {EVENTS[0]}


def test_a_webhook_given_when_a_finished_run_is_run_again_gets_what_it_missed_once(tmp_path):
    run(tmp_path, notify_webhooks=[dead_url()], notify_timeout=1.0)
    with webhook_server() as hook:
        report = run(tmp_path, notify_webhooks=[hook.url])  # the run is finished: only its outbox is delivered
        again = run(tmp_path, notify_webhooks=[hook.url])
    assert [r["body"]["event_id"] for r in hook.received] == EVENTS  # once, though the run was run twice more
    dead, live = report["notifications"]["targets"]
    assert (dead["delivered"], len(dead["undelivered"]), live["delivered"], live["undelivered"]) == (0, 3, 3, [])
    assert again == report


def test_a_webhook_url_that_is_not_http_is_refused_without_repeating_it(tmp_path):
    result = subprocess.run([sys.executable, "-m", "graph.run", "--output-dir", str(tmp_path / "o"), "--notify-webhook",
                             "ftp://hooks.example.com/services/supersecret"], cwd=ROOT, capture_output=True, text=True)
    assert_one_line_error(result, "--notify-webhook", "http:// or https://")
    assert "supersecret" not in result.stderr and not (tmp_path / "o").exists()


def cli(folder: Path, hook_url: str, kill: str | None) -> subprocess.CompletedProcess:
    args = ["--output-dir", str(folder), "--run-id", RUN, "--days", str(SCENARIO["days"]), "--scenario", SCENARIO["scenario"],
            "--onset", str(SCENARIO["onset"]), "--severity", str(SCENARIO["severity"]), "--policy", SCENARIO["policy"],
            "--use-llm", "--notify-webhook", hook_url, "--quiet"]
    env = {**os.environ, "MLMON_KILL": kill or ""}
    return subprocess.run([sys.executable, "-m", "graph.run", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=600, env=env)


def table(db: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


@pytest.mark.slow
def test_sigkill_anywhere_then_resume_posts_each_event_once_and_narrates_each_day_once(tmp_path, monkeypatch):
    """A real process, killed five times at the worst moments around the narration and the notifications,
    then resumed: the webhook has each event (duplicated only for a kill between the receiver's 2xx and
    its record, and then under the same event id), the LLM was asked once per day worth telling, and the
    report equals an uninterrupted run's apart from wall-clock fields."""
    kills = ["alert@2",  # the incident is in the store, its event not queued yet
             "narrate@2",  # the narrative is stored, the step not checkpointed
             "deliver@2",  # the webhook took the opened event, its delivery is not recorded: sent again
             "notify@3",  # the escalation is delivered and recorded, the step not checkpointed
             "record@9"]  # the resolution is delivered, the day's summary written, the step not checkpointed
    with chat_server("answer") as llm, webhook_server() as hook:
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-real-key")
        monkeypatch.setenv("OPENAI_BASE_URL", llm.base_url)
        monkeypatch.setenv("MLMON_LLM_MODEL", "mlmon-test")
        crashed = tmp_path / "crashed"
        for kill in kills:
            result = cli(crashed, hook.url, kill)
            assert result.returncode == -signal.SIGKILL, (kill, result.stderr)
        result = cli(crashed, hook.url, None)
        assert result.returncode == 0 and "resumed at day 9" in result.stderr, result.stderr
        crash_calls, crash_received = Counter(r["day"] for r in llm.requests), list(hook.received)

        llm.requests.clear()
        hook.received.clear()
        clean = run(tmp_path / "clean", use_llm=True, notify_webhooks=[hook.url])
        clean_calls = Counter(r["day"] for r in llm.requests)

    told = {d["day"] for d in clean["days"] if "narrative" in d}
    assert told == set(range(2, 9)) and clean_calls == Counter(told)
    assert crash_calls == clean_calls  # each day asked once: a replayed day read its stored narrative back
    ids = [r["body"]["event_id"] for r in crash_received]
    assert ids == [EVENTS[0], EVENTS[0], EVENTS[1], EVENTS[2]]  # at least once, deduplicable by the event id
    assert [r["idempotency_key"] for r in crash_received] == ids
    assert crash_received[0]["body"] == crash_received[1]["body"]
    assert [r["body"] for r in crash_received[1:]] == [r["body"] for r in hook.received]  # same payloads as a clean run
    assert without_timings(load_report(crashed, RUN)) == without_timings(clean)
    for sql in ("SELECT day, text, justification, source FROM narratives ORDER BY day",
                "SELECT event_id, payload FROM notification_events ORDER BY event_id",
                "SELECT run_id, model_id, day, action, justification FROM remediation_actions ORDER BY day",
                "SELECT * FROM incidents"):
        assert table(crashed / "mlmon.db", sql) == table(tmp_path / "clean" / "mlmon.db", sql), sql
