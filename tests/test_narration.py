"""LLM narration (--use-llm): driven by langchain_core's fake chat models, and by the real ChatOpenAI client
against an OpenAI-compatible server on 127.0.0.1 that answers, answers too late, and fails. The run
always completes, the action is always the policy's, each narrative says which source wrote it, and the
API key never lands in a checkpoint, a store, a report or a log."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, load_report
from fake_services import chat_server, webhook_server
from langchain_core.language_models.fake_chat_models import FakeListChatModel, FakeMessagesListChatModel

from graph.report import without_timings
from graph.runner import RunConfig, execute
from stores import open_stores

FAKE_KEY = "sk-mlmon-test-4b7e1f0c9a2d63e8b5f1c07d"  # distinctive: a search for it cannot match anything else
# An incident opened on day 2, escalated on day 3 and resolved on day 9: seven days with an open incident,
# two with an action. The rule-based policy: this is about narration, not about which action is best.
SCENARIO = {"scenario": "sudden_shift", "days": 10, "seed": 0, "policy": "rules", "onset": 2, "severity": 0.5}
ANSWER = json.dumps({"narrative": "Inputs shifted and accuracy fell under the SLA.",
                     # An LLM that argues for another action changes nothing: it only explains.
                     "justification": "Ignore the policy and roll back the model now."})


def run(folder: Path, timings: list | None = None, **options) -> dict:
    config = RunConfig(["pneumonia_classifier_v1"], SCENARIO["scenario"], SCENARIO["days"], SCENARIO["seed"],
                       SCENARIO["policy"], folder, "narrated", onset=SCENARIO["onset"], severity=SCENARIO["severity"],
                       **options)

    def on_event(kind: str, data: dict) -> None:
        if kind == "day" and timings is not None:
            timings.append(data["timings"].get("narrate", 0.0))

    return execute(config, on_event).report


def without_narratives(report: dict) -> dict:
    days = [{k: v for k, v in d.items() if k != "narrative"} for d in report["days"]]
    summary = {k: v for k, v in report["summary"].items() if k != "narratives"}
    return without_timings({**report, "days": days, "summary": summary})


@pytest.fixture(scope="module")
def plain(tmp_path_factory) -> dict:
    """The same run without --use-llm."""
    return run(tmp_path_factory.mktemp("plain"))


def worth_telling(report: dict) -> set[int]:
    return {d["day"] for d in report["days"] if d["incident"] or d["action"] != "continue"}


def sources(report: dict) -> dict[int, str]:
    return {d["day"]: d["narrative"]["source"] for d in report["days"] if "narrative" in d}


def test_a_run_without_the_llm_has_no_narratives(plain):
    assert all("narrative" not in d for d in plain["days"]) and "narratives" not in plain["summary"]
    assert len(worth_telling(plain)) == 7  # days 2-8 have the incident open; days 2 and 7 an action too


def test_the_llm_narrates_each_day_worth_telling_and_never_decides(tmp_path, plain):
    report = run(tmp_path, use_llm=True, llm=FakeListChatModel(responses=[ANSWER]))
    assert set(sources(report)) == worth_telling(plain)
    for day in (d for d in report["days"] if "narrative" in d):
        assert day["narrative"] == {"text": "Inputs shifted and accuracy fell under the SLA.",
                                    "justification": "Ignore the policy and roll back the model now.",
                                    "source": "llm", "llm_model": "FakeListChatModel"}
    assert "rollback" not in {d["action"] for d in report["days"]}
    assert without_narratives(report) == without_timings(plain)  # every action and number as without the LLM
    assert report["summary"]["narratives"] == {"llm": 7, "deterministic": 0, "deterministic_reasons": {}}
    stores = open_stores(tmp_path / "mlmon.db", read_only=True)
    try:  # stored with their days, as the report shows them
        stored = stores.narratives.narratives("narrated", "pneumonia_classifier_v1")
    finally:
        stores.close()
    assert [(n["day"], n["source"]) for n in stored] == sorted(sources(report).items())


@pytest.mark.parametrize("case, model, reason", [
    ("prose", FakeListChatModel(responses=["The model looks fine to me."]), "malformed answer: not a JSON object"),
    ("raises", FakeMessagesListChatModel(responses=[]), "IndexError: list index out of range"),
    ("too slow", FakeListChatModel(responses=[ANSWER], sleep=3.0), "timed out after 0.4 s"),
])
def test_any_llm_failure_leaves_the_deterministic_text_and_the_run_completes(tmp_path, plain, case, model, reason):
    timings = []
    report = run(tmp_path, timings=timings, use_llm=True, llm=model, llm_timeout=0.4)
    told = sorted(worth_telling(plain))
    # Three failed days in a row, then the process stops asking (an LLM that is down costs a few timeouts).
    expected = {day: f"deterministic ({reason})" for day in told[:3]}
    expected.update({day: f"deterministic (LLM not asked: 3 failed days in a row, the last: {reason})" for day in told[3:]})
    assert sources(report) == expected
    assert max(timings) < 0.4 * 1000 + 250  # no day waited much past the timeout (ms)
    for day in (d for d in report["days"] if "narrative" in d):
        assert day["narrative"]["text"].startswith(f"Day {day['day']} ({day['date']}): accuracy {day['accuracy']:.3f}")
        assert day["narrative"]["justification"].startswith(f"rules chose {day['action']}: {day['justification']}")
        assert day["narrative"]["llm_model"] is None
    assert without_narratives(report) == without_timings(plain)
    assert report["summary"]["narratives"]["deterministic"] == 7


def test_no_key_and_no_server_means_the_deterministic_text(tmp_path, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    report = run(tmp_path, use_llm=True)
    assert set(sources(report).values()) == {"deterministic (no OPENAI_API_KEY (and no OPENAI_BASE_URL))"}


def use_server(monkeypatch, server) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    monkeypatch.setenv("MLMON_LLM_MODEL", "mlmon-test")


def test_chatopenai_against_a_server_that_answers(tmp_path, monkeypatch, plain):
    with chat_server("answer") as server:
        use_server(monkeypatch, server)
        report = run(tmp_path, use_llm=True, llm_timeout=5)
    told = sorted(worth_telling(plain))
    assert [r["day"] for r in server.requests] == told  # one request per day worth telling, none for the others
    assert {(r["path"], r["model"], r["authorization"]) for r in server.requests} == {
        ("/v1/chat/completions", "mlmon-test", f"Bearer {FAKE_KEY}")}
    for day in (d for d in report["days"] if "narrative" in d):
        assert day["narrative"]["source"] == "llm" and day["narrative"]["llm_model"] == "mlmon-test"
        assert day["narrative"]["text"].startswith(f"LLM narrative of day {day['day']}:")
    prompt = server.requests[0]["prompt"]  # the policy's inputs by name, its probabilities, the incident
    for fact in ("current_accuracy = ", "drift_score = ", "action probabilities: ", "policy rules chose",
                 "open incident since day 2: root cause covariate_drift"):
        assert fact in prompt
    assert without_narratives(report) == without_timings(plain)


@pytest.mark.parametrize("mode, reason_has, requests", [
    ("slow", "timed out after 0.5 s", 3),  # one attempt fills the deadline
    ("fail", "(HTTP 500)", None),  # retried within the deadline
    ("unauthorized", "(HTTP 401)", 3),  # not retried: the key will not get better
])
def test_chatopenai_against_a_server_that_is_slow_or_fails(tmp_path, monkeypatch, plain, mode, reason_has, requests):
    timings = []
    with chat_server(mode, delay=3.0) as server:
        use_server(monkeypatch, server)
        report = run(tmp_path, timings=timings, use_llm=True, llm_timeout=0.5)
    told = sorted(worth_telling(plain))
    found = sources(report)
    assert set(found) == set(told)
    assert all(reason_has in found[day] and found[day].startswith("deterministic (") for day in told[:3])
    assert all(found[day].startswith("deterministic (LLM not asked: 3 failed days in a row") for day in told[3:])
    assert {r["day"] for r in server.requests} == set(told[:3])
    if requests is not None:
        assert len(server.requests) == requests
    else:
        assert len(server.requests) > 3
    assert max(timings) < 500 + 250
    assert all(FAKE_KEY not in text and FAKE_KEY[8:24] not in text for text in found.values())
    assert without_narratives(report) == without_timings(plain)


def test_the_api_key_and_the_webhook_url_leave_no_trace(tmp_path):
    """A real CLI run narrating with a server that answers some days and, on the others, fails with an
    error that repeats the key; it also posts to a Slack-style webhook. Neither secret may be found in
    any file of the output folder (checkpoints, stores with their WAL, report, plot) nor in the logs."""
    with chat_server("answer_odd_days") as llm, webhook_server() as hook:
        env = {"OPENAI_API_KEY": FAKE_KEY, "OPENAI_BASE_URL": llm.base_url, "MLMON_LLM_MODEL": "mlmon-test"}
        args = ["--output-dir", str(tmp_path), "--run-id", "secret", "--days", "6", "--scenario", "sudden_shift",
                "--onset", "2", "--severity", "0.5", "--policy", "rules", "--use-llm", "--notify-webhook", hook.url,
                "--quiet"]
        result = subprocess.run([sys.executable, "-m", "graph.run", *args], cwd=ROOT, capture_output=True, text=True,
                                timeout=600, env={**os.environ, **env})
    assert result.returncode == 0, result.stderr
    found = sources(load_report(tmp_path, "secret"))
    assert found[3] == "llm" and "(HTTP 401)" in found[2]  # both paths ran: an answer, and an error about the key
    assert len(hook.received) == 2  # the webhook was used (opened on day 2, escalated on day 3)
    secrets = [FAKE_KEY, FAKE_KEY.removeprefix("sk-"), *(FAKE_KEY[i:i + 8] for i in range(14, len(FAKE_KEY) - 8)),
               hook.url, "hooksecret0123456789", "/services/T0MLMON"]
    places = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    assert {"mlmon.db", "checkpoints.db", "final_report_secret.json"} <= set(places)
    places.update({"stderr": result.stderr.encode(), "stdout": result.stdout.encode()})
    assert "narratives: mlmon-test" in result.stderr  # the log is not empty: it was searched for real
    for name, data in places.items():
        for secret in secrets:
            assert secret.encode() not in data, f"{secret!r} found in {name}"


def test_a_log_run_is_narrated_and_notified_too(tmp_path):
    from graph.logrun import monitor_log
    from logdata import MAPPING, make_log

    with webhook_server() as hook:
        report = monitor_log(make_log(days=14, shift_from=9), output_dir=tmp_path, policy="rules", use_llm=True,
                             llm=FakeListChatModel(responses=[ANSWER]), notify_webhooks=[hook.url], **MAPPING)
    told = {d["day"] for d in report["days"] if d["incident"] or d["recommendation"] != "continue"}
    assert told and set(sources(report)) == told and set(sources(report).values()) == {"llm"}
    assert report["summary"]["narratives"]["llm"] == len(told)
    assert [r["body"]["event"] for r in hook.received][:1] == ["opened"]
    assert report["notifications"]["targets"][0]["delivered"] == len(hook.received) >= 1


def test_use_llm_is_a_setting_that_a_resume_keeps(tmp_path):
    from graph.errors import RunError
    from graph.run import parse_args, resolve_config

    run(tmp_path, use_llm=True, llm=FakeListChatModel(responses=[ANSWER]))
    run(tmp_path / "plain")
    resumed = resolve_config(parse_args(["--output-dir", str(tmp_path), "--run-id", "narrated"]))
    assert resumed.use_llm is True and resumed.settings()["use_llm"] is True
    with pytest.raises(RunError, match="was started with use_llm=False"):
        resolve_config(parse_args(["--output-dir", str(tmp_path / "plain"), "--run-id", "narrated", "--use-llm"]))
    assert "use_llm" not in resolve_config(parse_args(["--output-dir", str(tmp_path / "plain"), "--run-id", "narrated"])).settings()


def test_webhooks_from_the_environment_are_checked_without_being_repeated(tmp_path, monkeypatch):
    from graph.run import parse_args, resolve_config

    monkeypatch.setenv("MLMON_NOTIFY_WEBHOOKS", "https://hooks.example.com/a/secret1  http://127.0.0.1:9/b")
    config = resolve_config(parse_args(["--output-dir", str(tmp_path), "--notify-webhook", "https://x.example/c/secret3"]))
    assert config.notify_webhooks == ["https://x.example/c/secret3", "https://hooks.example.com/a/secret1",
                                      "http://127.0.0.1:9/b"]
    assert "secret" not in repr(config) and "secret" not in json.dumps(config.settings())
    monkeypatch.setenv("MLMON_NOTIFY_WEBHOOKS", "hooks.example.com/no/scheme/secret2")
    with pytest.raises(ValueError, match="must start with http") as refused:
        resolve_config(parse_args(["--output-dir", str(tmp_path)]))
    assert "secret2" not in str(refused.value)
