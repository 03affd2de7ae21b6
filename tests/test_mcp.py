"""The MCP servers as a client sees them: real server subprocesses over stdio (and streamable HTTP), the
SDK's own client, a store filled by a real simulated run, and every answer checked against the file
read directly with sqlite3.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import anyio
import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from graph.runner import RunConfig, execute

ROOT = Path(__file__).resolve().parents[1]
MODEL = "pneumonia_classifier_v1"
RUN = "mcp-test"
NARRATIVE = "The X-ray inputs shifted on day 8 and accuracy fell; a retrain was chosen."
READ_TOOLS = {"predictions": {"list_runs", "get_predictions", "calculate_accuracy"},
              "metrics": {"list_runs", "get_metric_timeseries", "get_model_health"},
              "incidents": {"list_runs", "list_alerts", "list_incidents", "get_incident"}}
WRITE_TOOLS = {"predictions": {"store_prediction"}, "metrics": {"store_metric"},
               "incidents": {"create_alert", "create_incident", "store_remediation_action"}}


# ---- a store filled by a real run, read directly ------------------------------------------------------
@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """12 days of sudden_shift from day 8 under the rules policy: an incident opens on day 8, is remediated,
    and is still open when the run ends."""
    out = tmp_path_factory.mktemp("mcp")
    narrator = FakeListChatModel(responses=[json.dumps({"narrative": NARRATIVE, "justification": "As the policy chose."})])
    execute(RunConfig([MODEL], "sudden_shift", 12, 3, "rules", out, RUN, onset=8, use_llm=True, llm=narrator))
    assert sql(out / "mlmon.db", "SELECT count(*) FROM incidents WHERE status = 'open'")[0][0] >= 1
    assert sql(out / "mlmon.db", "SELECT count(*) FROM remediation_actions WHERE action != 'continue'")[0][0] >= 1
    return out


@pytest.fixture(scope="module")
def db(run_dir) -> Path:
    return run_dir / "mlmon.db"


def sql(path: Path, query: str, params=()) -> list[tuple]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return conn.execute(query, params).fetchall()
    finally:
        conn.close()


def close(rows: list[tuple]) -> list[tuple]:
    """Stored rows as the servers give them back: floats to 6 significant digits."""
    return [tuple(pytest.approx(v, rel=1e-5) if isinstance(v, float) else v for v in row) for row in rows]


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ---- a client session with a server subprocess ----------------------------------------------------------
@dataclass
class Answer:
    is_error: bool
    text: str

    @property
    def data(self):
        assert not self.is_error, self.text
        return json.loads(self.text)


def server_params(name: str, db: Path, *extra: str) -> StdioServerParameters:
    return StdioServerParameters(command=sys.executable, args=["-m", "stores.mcp", name, "--db", str(db), *extra],
                                 cwd=str(ROOT))


async def ask(session: ClientSession, request: tuple) -> Answer | set:
    """("tools",) -> the tool names; ("read", uri) -> a resource; (tool, args) -> a tool call."""
    if request[0] == "tools":
        return {t.name for t in (await session.list_tools()).tools}
    if request[0] == "tool specs":
        return {t.name: (t.description, t.input_schema) for t in (await session.list_tools()).tools}
    if request[0] == "read":
        try:
            result = await session.read_resource(request[1])
        except MCPError as exc:
            return Answer(True, str(exc))
        return Answer(False, result.contents[0].text)
    result = await session.call_tool(request[0], request[1])
    return Answer(bool(result.is_error), result.content[0].text)


def session(name: str, db: Path, requests: list[tuple], *extra: str) -> list:
    """Start a server, make the requests in order over one session, return the answers."""
    async def go():
        with open(os.devnull, "w") as quiet:
            async with stdio_client(server_params(name, db, *extra), errlog=quiet) as (read, write):
                async with ClientSession(read, write) as s:
                    await s.initialize()
                    return [await ask(s, r) for r in requests]
    return anyio.run(go)


# ---- predictions ----------------------------------------------------------------------------------------
def test_predictions_server_answers_from_the_store(db):
    before = digest(db)
    tools, runs, summary, part, rows, acc24, acc48, resource = session("predictions", db, [
        ("tools",), ("list_runs", {}),
        ("get_predictions", {"model_id": MODEL}),
        ("get_predictions", {"model_id": MODEL, "start": 6, "end": "2026-01-09"}),
        ("get_predictions", {"model_id": MODEL, "rows": True, "limit": 7, "start": 3}),
        ("calculate_accuracy", {"model_id": MODEL}),
        ("calculate_accuracy", {"model_id": MODEL, "window_hours": 48, "run_id": RUN}),
        ("read", f"predictions://{MODEL}/summary")])
    assert tools == READ_TOOLS["predictions"]
    assert [r["run_id"] for r in runs.data["runs"]] == [r for r, in sql(db, "SELECT run_id FROM runs")]
    assert runs.data["runs"][0]["models"] == [MODEL] and runs.data["runs"][0]["status"] == "finished"

    table = f"predictions__{MODEL}"
    raw = sql(db, f"SELECT day, prediction, label, ts FROM [{table}] WHERE run_id = ?", (RUN,))
    per_day = {}
    for day, prediction, label, _ in raw:
        n, labelled, correct = per_day.get(day, (0, 0, 0))
        per_day[day] = (n + 1, labelled + (label is not None), correct + (label is not None and prediction == label))
    days = summary.data["days"]
    assert [d["day"] for d in days] == sorted(per_day)
    for d in days:
        n, labelled, correct = per_day[d["day"]]
        assert (d["predictions"], d["labelled"]) == (n, labelled)
        assert d["accuracy"] == (pytest.approx(correct / labelled, rel=1e-5) if labelled else None)
    assert summary.data["totals"]["predictions"] == len(raw)
    assert [d["day"] for d in part.data["days"]] == [6, 7, 8] and part.data["days"][0]["date"] == "2026-01-07"
    assert resource.data["days"] == days

    expected = sql(db, f"SELECT day, row, score, prediction, label FROM [{table}] WHERE run_id = ? AND day >= 3 "
                       f"ORDER BY day, row LIMIT 7", (RUN,))
    got = rows.data
    assert [(r["day"], r["row"], r["score"], r["prediction"], r["label"]) for r in got["rows"]] == close(expected)
    assert got["matching"] == sum(n for day, (n, _, _) in per_day.items() if day >= 3) and got["truncated"]
    assert "numeric_blob" not in got["rows"][0] and "opacity_score" in got["rows"][0]

    newest = max(ts for *_, ts in raw)
    for answer, hours in ((acc24, 24), (acc48, 48)):
        window = [(p, l) for _, p, l, ts in raw if ts > newest - hours * 3600 and l is not None]
        assert answer.data["labelled"] == len(window) > 0
        assert answer.data["accuracy"] == pytest.approx(sum(p == l for p, l in window) / len(window), rel=1e-5)
    assert acc48.data["labelled"] > acc24.data["labelled"]
    assert digest(db) == before  # read-only: the file is untouched


# ---- metrics --------------------------------------------------------------------------------------------
def test_metrics_server_answers_from_the_store(db):
    tools, health, series, tail, resource = session("metrics", db, [
        ("tools",),
        ("get_model_health", {"model_id": MODEL}),
        ("get_metric_timeseries", {"model_id": MODEL, "metric_name": "drift_score"}),
        ("get_metric_timeseries", {"model_id": MODEL, "metric_name": "accuracy", "start": "2026-01-03", "limit": 4}),
        ("read", f"metrics://{MODEL}/health")])
    assert tools == READ_TOOLS["metrics"]
    last_day, = sql(db, "SELECT max(day) FROM metrics WHERE run_id = ? AND model_id = ?", (RUN, MODEL))[0]
    stored = dict(sql(db, "SELECT name, value FROM metrics WHERE run_id = ? AND model_id = ? AND day = ?",
                      (RUN, MODEL, last_day)))
    assert health.data["day"] == last_day and health.data["metrics"] == pytest.approx(stored, rel=1e-5)
    assert health.data["status"] == {0: "healthy", 1: "warning", 2: "critical"}[int(stored["performance_status_code"])]
    assert resource.data == health.data

    drift = sql(db, "SELECT day, value FROM metrics WHERE run_id = ? AND model_id = ? AND name = 'drift_score' "
                    "ORDER BY day", (RUN, MODEL))
    assert [(p["day"], p["value"]) for p in series.data["points"]] == close(drift)
    assert series.data["summary"]["max"] == pytest.approx(max(v for _, v in drift if v is not None), rel=1e-5)
    assert not series.data["truncated"]

    accuracy = sql(db, "SELECT day, value FROM metrics WHERE run_id = ? AND model_id = ? AND name = 'accuracy' "
                       "AND day >= 2 ORDER BY day", (RUN, MODEL))
    assert [(p["day"], p["value"]) for p in tail.data["points"]] == close(accuracy[-4:])  # the newest 4 of the range
    assert tail.data["truncated"] and tail.data["summary"]["days"] == len(accuracy)


# ---- incidents ------------------------------------------------------------------------------------------
def test_incidents_server_answers_from_the_store(db):
    incident_id, = sql(db, "SELECT id FROM incidents WHERE status = 'open'")[0]
    tools, alerts, open_alerts, incidents, incident, everything, resource, of_model, unknown = session("incidents", db, [
        ("tools",),
        ("list_alerts", {}),
        ("list_alerts", {"status": "open", "model_id": MODEL}),
        ("list_incidents", {"run_id": RUN}),
        ("get_incident", {"incident_id": incident_id}),
        ("get_incident", {"incident_id": incident_id, "include_continue": True}),
        ("read", "incidents://open"), ("read", f"incidents://{MODEL}/open"), ("read", "incidents://nope_model/open")])
    assert tools == READ_TOOLS["incidents"]
    assert {a["id"] for a in alerts.data["alerts"]} == {i for i, in sql(db, "SELECT id FROM alerts")}
    assert {a["id"] for a in open_alerts.data["alerts"]} == {i for i, in sql(db, "SELECT id FROM alerts WHERE status = 'open'")}
    assert [(i["id"], i["root_cause"]) for i in incidents.data["incidents"]] == sql(
        db, "SELECT id, root_cause FROM incidents ORDER BY opened_day DESC")

    full = incident.data
    assert {a["id"] for a in full["alerts"]} == {i for i, in sql(db, "SELECT id FROM alerts WHERE incident_id = ?", (incident_id,))}
    acted = sql(db, "SELECT day, action, justification, cost FROM remediation_actions WHERE incident_id = ? "
                    "AND action != 'continue' ORDER BY day", (incident_id,))
    assert [(a["day"], a["action"], a["justification"], a["cost"]) for a in full["actions"]] == acted
    assert all(a["justification"] for a in full["actions"])
    opened, = sql(db, "SELECT opened_day FROM incidents WHERE id = ?", (incident_id,))[0]
    told = sql(db, "SELECT day, text, source FROM narratives WHERE day >= ? ORDER BY day", (opened,))
    assert told and [(n["day"], n["text"], n["source"]) for n in full["narratives"]] == told
    assert {n["text"] for n in full["narratives"]} == {NARRATIVE}  # the incident's days, in the narrator's words
    continued, = sql(db, "SELECT count(*) FROM remediation_actions WHERE incident_id = ? AND action = 'continue'",
                     (incident_id,))[0]
    assert full["continue_days"] == continued
    assert len(everything.data["actions"]) == len(acted) + continued
    assert [i["id"] for i in resource.data["incidents"]] == [i for i, in sql(db, "SELECT id FROM incidents WHERE status = 'open'")]
    assert of_model.data == resource.data  # one model in this run
    assert unknown.is_error and "unknown model 'nope_model'" in unknown.text


def test_the_transcript_script_shows_a_real_session(db):
    """python -m stores.mcp.transcript (the README's transcript) against the same store."""
    result = subprocess.run([sys.executable, "-m", "stores.mcp.transcript", "--db", str(db)], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "< list_runs, get_metric_timeseries, get_model_health" in lines
    assert "< list_runs, list_alerts, list_incidents, get_incident" in lines
    assert any(line.startswith("< error: ") and "unknown model 'no_such_model'" in line for line in lines)
    justification, = sql(db, "SELECT justification FROM remediation_actions WHERE action != 'continue' ORDER BY day LIMIT 1")[0]
    unwrapped = " ".join(line.strip() for line in lines)  # answers are wrapped at spaces
    assert json.dumps(justification) in unwrapped  # get_incident's action, with its justification


@pytest.mark.parametrize("name", list(READ_TOOLS))
def test_every_tool_and_argument_is_documented_for_the_llm(db, tmp_path, name):
    shutil.copyfile(db, tmp_path / "mlmon.db")
    specs, = session(name, tmp_path / "mlmon.db", [("tool specs",)], "--allow-writes")
    assert set(specs) == READ_TOOLS[name] | WRITE_TOOLS[name]
    for tool, (description, schema) in specs.items():
        assert len(description) > 60 and "\n    " not in description, tool  # a sentence or more, no source indent
        undocumented = [arg for arg, spec in schema["properties"].items() if not spec.get("description")]
        assert not undocumented, (tool, undocumented)


# ---- bad arguments --------------------------------------------------------------------------------------
BAD = {
    "predictions": [
        (("get_predictions", {"model_id": "nope_model"}), "unknown model 'nope_model'"),
        (("get_predictions", {"model_id": MODEL, "run_id": "no-such-run"}), "unknown run 'no-such-run'"),
        (("get_predictions", {"model_id": MODEL, "start": "2026-13-45"}), "date YYYY-MM-DD"),
        (("get_predictions", {"model_id": MODEL, "start": "yesterday"}), "date YYYY-MM-DD"),
        (("get_predictions", {"model_id": MODEL, "start": 9, "end": 3}), "empty day range"),
        (("get_predictions", {"model_id": MODEL, "start": -2}), "before the first day"),
        (("get_predictions", {"model_id": MODEL, "start": 0, "end": 500}), "at most 92 days"),
        (("get_predictions", {"model_id": MODEL, "rows": True, "limit": 10_000_000}), "less than or equal to 200"),
        (("get_predictions", {"model_id": "x'; DROP TABLE runs; --"}), "unknown model"),
        (("calculate_accuracy", {"model_id": MODEL, "window_hours": 0}), "greater than 0"),
        (("calculate_accuracy", {"model_id": MODEL, "window_hours": -5}), "greater than 0"),
        (("calculate_accuracy", {"model_id": MODEL, "run_id": "1' OR '1'='1"}), "unknown run"),
        (("store_prediction", {"model_id": MODEL}), "Unknown tool"),
    ],
    "metrics": [
        (("get_metric_timeseries", {"model_id": MODEL, "metric_name": "accuracy; DELETE FROM metrics"}), "no metric"),
        (("get_metric_timeseries", {"model_id": MODEL, "metric_name": "accuracy", "limit": 10**9}), "less than or equal to 500"),
        (("get_metric_timeseries", {"model_id": MODEL, "metric_name": "accuracy", "start": "3 days ago"}), "YYYY-MM-DD"),
        (("get_metric_timeseries", {"model_id": MODEL, "metric_name": "accuracy", "end": 10**12}), "less than or equal"),
        (("get_metric_timeseries", {"model_id": MODEL, "metric_name": "accuracy", "end": "9999-12-31"}), "more than"),
        (("get_model_health", {"model_id": "fraud_detector_v2"}), "unknown model 'fraud_detector_v2' in run mcp-test"),
        (("get_model_health", {"model_id": MODEL, "run_id": "x" * 5000}), "at most 200 characters"),
        (("read", "metrics://nope_model/health"), "unknown model"),
        (("store_metric", {"model_id": MODEL}), "Unknown tool"),
    ],
    "incidents": [
        (("get_incident", {"incident_id": "'; DROP TABLE incidents; --"}), "no incident"),
        (("list_alerts", {"status": "burning"}), "'open' or 'resolved'"),
        (("list_alerts", {"model_id": "nope_model"}), "unknown model"),
        (("list_incidents", {"limit": 0}), "greater than or equal to 1"),
        (("list_incidents", {"run_id": "nope"}), "unknown run 'nope'"),
        (("create_alert", {"model_id": MODEL}), "Unknown tool"),
    ],
}


@pytest.mark.parametrize("name", list(BAD))
def test_bad_arguments_are_tool_errors_and_the_server_answers_the_next_call(db, name):
    before = digest(db)
    good = ("list_runs", {})
    requests = [r for bad, _ in BAD[name] for r in (bad, good)]
    answers = session(name, db, requests)
    for (request, needle), answer, after in zip(BAD[name], answers[::2], answers[1::2]):
        assert answer.is_error and needle in answer.text, (request, answer.text)
        assert after.data["runs"][0]["run_id"] == RUN  # the server is still there, and still right
    assert digest(db) == before
    assert {t for t, in sql(db, "SELECT name FROM sqlite_master WHERE type = 'table'")} >= {"runs", "metrics", "incidents"}


# ---- writing --------------------------------------------------------------------------------------------
def test_write_tools_exist_only_with_allow_writes_and_write_the_store(db, tmp_path):
    copy = tmp_path / "mlmon.db"
    shutil.copyfile(db, copy)
    features = {"patient_age": 51.0, "opacity_score": 0.7, "scanner_vendor": "siemens", "sex": "M"}
    tools, stored, bad_feature, summary = session("predictions", copy, [
        ("tools",),
        ("store_prediction", {"model_id": MODEL, "features": features, "prediction": 1, "label": 0, "score": 0.81,
                              "timestamp": "2026-01-12T13:00:00Z"}),
        ("store_prediction", {"model_id": MODEL, "features": {"shoe_size": 44.0}, "prediction": 1,
                              "timestamp": "2026-01-12T13:00:00Z"}),
        ("get_predictions", {"model_id": MODEL, "start": 11, "end": 11})], "--allow-writes")
    assert tools == READ_TOOLS["predictions"] | WRITE_TOOLS["predictions"]
    assert stored.data["day"] == 11 and stored.data["row"] == 5000  # after the run's 5,000 rows of that day
    row = sql(copy, f"SELECT prediction, label, score, opacity_score, scanner_vendor FROM [predictions__{MODEL}] "
                    f"WHERE run_id = ? AND day = 11 AND row = 5000", (RUN,))
    assert row == [(1, 0, 0.81, 0.7, "siemens")]
    assert bad_feature.is_error and "unknown features" in bad_feature.text and "shoe_size" in bad_feature.text
    assert summary.data["days"][0]["predictions"] == 5001

    tools, stored, health, sql_name, too_early = session("metrics", copy, [
        ("tools",),
        ("store_metric", {"model_id": MODEL, "metric_name": "queue_depth", "value": 17.5, "day": "2026-01-12"}),
        ("get_model_health", {"model_id": MODEL}),
        ("store_metric", {"model_id": MODEL, "metric_name": "x'); DROP TABLE metrics; --", "value": 1, "day": 3}),
        ("store_metric", {"model_id": MODEL, "metric_name": "queue_depth", "value": 1, "day": "2025-12-31"})],
        "--allow-writes")
    assert tools == READ_TOOLS["metrics"] | WRITE_TOOLS["metrics"]
    assert sql_name.is_error and "lower-case letters" in sql_name.text
    assert too_early.is_error and "before the first day" in too_early.text
    assert sql(copy, "SELECT day, value FROM metrics WHERE name = 'queue_depth'") == [(11, 17.5)]
    assert health.data["metrics"]["queue_depth"] == 17.5

    tools, alert, incident, action, full, bad_action = session("incidents", copy, [
        ("tools",),
        ("create_alert", {"model_id": MODEL, "alert_type": "latency", "severity": "high", "day": 10,
                          "message": "p95 over 2 s"}),
        ("create_incident", {"alert_id": f"{RUN}/{MODEL}/alert/latency/10", "root_cause": "infrastructure",
                             "impact": "slow answers"}),
        ("store_remediation_action", {"model_id": MODEL, "action": "rollback", "day": 11,
                                      "incident_id": f"{RUN}/{MODEL}/incident/10",
                                      "justification": "latency rose after the deploy"}),
        ("get_incident", {"incident_id": f"{RUN}/{MODEL}/incident/10"}),
        ("store_remediation_action", {"model_id": MODEL, "action": "reboot_the_world", "day": 11,
                                      "justification": "why not"})], "--allow-writes")
    assert tools == READ_TOOLS["incidents"] | WRITE_TOOLS["incidents"]
    assert alert.data["alert_id"] == f"{RUN}/{MODEL}/alert/latency/10"
    assert sql(copy, "SELECT severity, status, message, incident_id FROM alerts WHERE id = ?", (alert.data["alert_id"],)) == [
        ("high", "open", "p95 over 2 s", incident.data["incident_id"])]
    assert sql(copy, "SELECT action, justification, incident_id FROM remediation_actions WHERE run_id = ? AND day = 11",
               (RUN,)) == [("rollback", "latency rose after the deploy", incident.data["incident_id"])]
    assert action.data["day"] == 11 and action.data["action"] == "rollback"
    assert [a["action"] for a in full.data["actions"]] == ["rollback"] and full.data["root_cause"] == "infrastructure"
    assert bad_action.is_error and "retrain_now" in bad_action.text


# ---- a run writing while the server reads ---------------------------------------------------------------
def test_calls_succeed_while_a_run_writes_the_same_file(run_dir, tmp_path):
    out = tmp_path / "live"
    shutil.copytree(run_dir, out)
    db = out / "mlmon.db"
    log = tmp_path / "run.log"
    runs = []  # the writer, started once the reader is up (so the two surely overlap)

    async def go():
        seen = []  # (run still writing?, tool, answer) for each call
        with open(os.devnull, "w") as quiet:
            async with stdio_client(server_params("metrics", db), errlog=quiet) as (read, write):
                async with ClientSession(read, write) as s:
                    await s.initialize()
                    with open(log, "w") as errors:
                        runs.append(subprocess.Popen(
                            [sys.executable, "-m", "graph.run", "--model", MODEL, "--scenario", "default", "--days", "30",
                             "--policy", "rules", "--run-id", "live", "--output-dir", str(out), "--quiet"],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=errors))
                    run = runs[0]
                    deadline = time.monotonic() + 120
                    while run.poll() is None and time.monotonic() < deadline:
                        for request in (("get_model_health", {"model_id": MODEL, "run_id": "live"}),
                                        ("get_metric_timeseries", {"model_id": MODEL, "metric_name": "accuracy",
                                                                   "run_id": RUN})):
                            writing = run.poll() is None
                            seen.append((writing, request[0], await ask(s, request)))
                        await anyio.sleep(0.05)
        return seen

    try:
        seen = anyio.run(go)
    finally:
        for run in runs:
            if run.poll() is None:
                run.kill()
            run.wait(timeout=60)
    run, err = runs[0], log.read_text()
    assert run.returncode == 0, err  # the writer was never blocked by the reader
    during = [(tool, a) for writing, tool, a in seen if writing]
    assert len(during) >= 10
    # Before the live run registers, "live" is an unknown run (a clear error); every other call answers.
    assert all(not a.is_error or "unknown run 'live'" in a.text for _, a in during)
    days = [a.data["day"] for tool, a in during if tool == "get_model_health" and not a.is_error and a.data["day"] is not None]
    assert len(set(days)) >= 3 and days == sorted(days)  # it saw the run move day by day
    accuracy = sql(db, "SELECT day, value FROM metrics WHERE run_id = ? AND model_id = ? AND name = 'accuracy' "
                       "ORDER BY day", (RUN, MODEL))
    series = [a for tool, a in during if tool == "get_metric_timeseries"]
    assert all([(p["day"], p["value"]) for p in a.data["points"]] == close(accuracy) for a in series)  # the finished run, intact
    final = session("metrics", db, [("get_model_health", {"model_id": MODEL})])[0]
    assert final.data["run_id"] == "live" and final.data["day"] == 29 and final.data["run_status"] == "finished"


# ---- start-up errors ------------------------------------------------------------------------------------
def _foreign(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE recipes (name TEXT)")
    conn.commit()
    conn.close()


@pytest.mark.parametrize("kind, make, needle", [
    ("missing", None, "no such file"),
    ("garbage", lambda p: p.write_bytes(b"not a database at all\n" * 100), "not a usable SQLite database"),
    ("foreign sqlite", _foreign, "not an mlmon store"),
    ("empty file", lambda p: p.write_bytes(b""), "not an mlmon store"),
    ("a folder", lambda p: p.mkdir(), "is not a file"),
])
def test_a_missing_or_foreign_file_is_a_one_line_start_up_error(tmp_path, kind, make, needle):
    path = tmp_path / "mlmon.db"
    if make:
        make(path)
    before = digest(path) if path.is_file() else None
    listing = sorted(p.name for p in tmp_path.iterdir())
    result = subprocess.run([sys.executable, "-m", "stores.mcp", "metrics", "--db", str(path)], cwd=ROOT,
                            capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert result.returncode == 2 and result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1 and needle in result.stderr, result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == listing  # nothing created
    if before is not None:
        assert digest(path) == before


def test_the_checkpoint_file_is_refused_too(run_dir):
    before = digest(run_dir / "checkpoints.db")
    result = subprocess.run([sys.executable, "-m", "stores.mcp", "incidents", "--db", str(run_dir / "checkpoints.db")],
                            cwd=ROOT, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert result.returncode == 2 and "not an mlmon store" in result.stderr and result.stdout == ""
    assert digest(run_dir / "checkpoints.db") == before


# ---- stdout carries only the protocol -------------------------------------------------------------------
def test_stdout_carries_only_json_rpc_even_with_debug_logging(db):
    """Raw pipes, no SDK client: every stdout line must parse as a JSON-RPC message."""
    messages = [
        {"jsonrpc": "2.0", "id": 1, "method": "initialize",
         "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "get_model_health", "arguments": {"model_id": "x"}}},
        {"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "get_model_health", "arguments": {"model_id": MODEL}}},
    ]
    stdin = "".join(json.dumps(m) + "\n" for m in messages)
    server = subprocess.Popen([sys.executable, "-m", "stores.mcp", "metrics", "--db", str(db), "--log-level", "DEBUG"],
                              cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    server.stdin.write(stdin)
    server.stdin.flush()
    lines = []
    for _ in range(3):  # the three answers
        lines.append(server.stdout.readline())
    rest, err = server.communicate(timeout=30)  # closes stdin, which ends the server
    lines += rest.splitlines()
    replies = [json.loads(line) for line in lines if line.strip()]
    assert all(r["jsonrpc"] == "2.0" for r in replies)
    by_id = {r["id"]: r for r in replies}  # concurrent calls may answer in either order, as JSON-RPC allows
    assert sorted(by_id) == [1, 2, 3] and len(replies) == 3
    assert by_id[2]["result"]["isError"] and not by_id[3]["result"]["isError"]
    assert "DEBUG" in err  # the logs went somewhere: stderr


# ---- streamable HTTP ------------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _listening_addresses(port: int) -> set[str]:
    """Local addresses listening on `port`, from /proc/net/tcp (hex, little-endian IPv4) and tcp6."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not os.path.exists(table):
            continue
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:
                found.add(".".join(str(int(address[i:i + 2], 16)) for i in (6, 4, 2, 0)) if len(address) == 8 else address)
    return found


def _status_with_host(port: int, host: str) -> int:
    """HTTP status of an initialize POST to 127.0.0.1:port that claims another Host."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{port}/mcp", data=body, method="POST", headers={
        "Host": host, "Content-Type": "application/json", "Accept": "application/json, text/event-stream"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_http_serves_on_loopback_only_and_answers_a_client(db):
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "stores.mcp", "metrics", "--db", str(db), "--http", str(port)],
                              cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
    try:
        deadline = time.monotonic() + 30
        while not _listening_addresses(port) and time.monotonic() < deadline and server.poll() is None:
            time.sleep(0.1)
        assert _listening_addresses(port) == {"127.0.0.1"}

        async def go():
            async with streamable_http_client(f"http://127.0.0.1:{port}/mcp") as (read, write):
                async with ClientSession(read, write) as s:
                    await s.initialize()
                    return await ask(s, ("tools",)), await ask(s, ("get_model_health", {"model_id": MODEL}))

        tools, health = anyio.run(go)
        rebinding = _status_with_host(port, "attacker.example")  # a page elsewhere, resolved to 127.0.0.1
        taken = subprocess.run([sys.executable, "-m", "stores.mcp", "incidents", "--db", str(db), "--http", str(port)],
                               cwd=ROOT, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    finally:
        server.terminate()
        out, _ = server.communicate(timeout=30)
    assert tools == READ_TOOLS["metrics"]
    last_day, = sql(db, "SELECT max(day) FROM metrics WHERE run_id = ?", (RUN,))[0]
    assert health.data["day"] == last_day and health.data["run_id"] == RUN
    assert out == ""  # uvicorn's access lines would have gone to stdout
    assert rebinding == 421  # DNS-rebinding protection: a foreign Host header is refused
    assert taken.returncode == 1 and taken.stderr.strip() == f"mlmon-mcp: error: cannot listen on 127.0.0.1:{port} (Address already in use)"
