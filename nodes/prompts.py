"""Every word mlmon sends to an LLM: the system prompt, the day's facts laid out for it, and how its answer
is read. The LLM explains a decision already made by the policy; nothing it writes changes the action.

`day_facts` (nodes.narrate) gathers the facts as plain data; `messages(facts)` turns them into the chat
messages; `read_answer(text)` takes the reply apart, or says why it cannot.
"""
from __future__ import annotations

import json
import re

from decision.observation import POLICY_FEATURES

SYSTEM = """\
You write the daily notes of mlmon, a system that monitors machine-learning models in production.
Each day mlmon measures a model's accuracy, input drift and data quality, raises alerts and groups them
into incidents, and a remediation policy picks one action. You explain that day to the on-call engineer.

Rules:
- The action was chosen by the policy and is final. Explain it; never recommend a different action and
  never say what "should" be done instead.
- Use only the facts given. Do not invent numbers, causes or history. Round numbers as given.
- Be brief and concrete: name the metrics, features and probabilities that matter.

Answer with one JSON object and nothing else:
{"narrative": "<2 to 4 sentences: what the monitoring found today and what it means for the model>",
 "justification": "<2 to 4 sentences: why the chosen action fits the policy's inputs, its action
 probabilities and the incident's history>"}"""

# What each input of the policy means, for the LLM (the values are scaled; see decision/observation.py).
FEATURE_MEANINGS = {
    "current_accuracy": "today's accuracy (estimated from scores when no labels arrived)",
    "drift_score": "input drift score, 0 none to 1 severe",
    "days_since_retrain": "days since the last retrain / 30",
    "retraining_cost": "retraining cost relative to a tenth of the daily error budget",
    "business_impact": "dollars per day lost to errors beyond the reference accuracy / 20,000",
    "data_available": "labelled rows since the problem began / 1,000",
    "accuracy_trend": "accuracy slope over the last 5 days x10, -1 falling fast to 1 rising",
    "alert_count": "open alerts / 5",
    "model_age": "days the serving model version has been in service / 60",
    "previous_success": "did the last remediation help: 1 yes, 0 no, 0.5 unknown",
    "days_left": "share of the monitoring horizon still ahead",
    "incident_severity": "the open incident's severity: 0.25 low, 0.5 medium, 0.75 high, 1 critical (0: none)",
    "incident_age": "days the incident has been open / 10",
    "incident_action_age": "days since a remediation was last taken for the open incident / 10 (0: none taken)",
    "retrain_pending": "1 if a scheduled retrain is coming",
    "rollback_available": "1 if there is a previous version to roll back to",
}
MAX_FIELD_CHARS = 1200  # an answer longer than this is cut: the notes are read on a phone


def _number(value, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def findings_lines(facts: dict) -> list[str]:
    """The day's findings, one line each (the LLM's input, and the deterministic narrative's material)."""
    lines = []
    acc = facts["accuracy"]
    estimated = " (estimated from scores: no labels today)" if facts["accuracy_estimated"] else ""
    lines.append(f"accuracy {_number(acc)}{estimated}, reference {_number(facts['reference_accuracy'])}, "
                 f"SLA {_number(facts['sla_accuracy'])}; performance status {facts['performance_status']}")
    drifted = f"; drifted: {', '.join(facts['drifted_features'])}" if facts["drifted_features"] else ""
    lines.append(f"input drift score {_number(facts['drift_score'], 2)} ({facts['drift_severity']}){drifted}")
    lines += [f"check failed: {c}" for c in facts["checks"]]
    lines += facts["quality"]
    for alert in facts["alerts"]:
        lines.append(f"alert {alert['type']} ({alert['severity']}) {alert['event']}" + (f": {alert['message']}" if alert.get("message") else ""))
    return lines


def incident_lines(facts: dict) -> list[str]:
    incident = facts["incident"]
    lines = []
    if incident:
        lines.append(f"open incident since day {incident['opened_day']}: root cause {incident['root_cause']}, "
                     f"severity {incident['severity']}" + (f", impact {incident['impact']}" if incident.get("impact") else ""))
        lines.append(actions_sentence(incident))
    else:
        lines.append("no open incident")
    for past in facts["past_incidents"]:
        ended = f"resolved on day {past['resolved_day']}" if past["resolved_day"] is not None else "still open"
        lines.append(f"earlier incident: day {past['opened_day']}, {past['root_cause']} ({past['severity']}), {ended}")
    return lines


def actions_sentence(incident: dict) -> str:
    taken = ", ".join(f"{a['action']} on day {a['day']} ({a['policy']})" for a in incident["actions"])
    return f"actions taken under it before today: {taken}" if taken else "no action taken under it before today"


def decision_lines(facts: dict) -> list[str]:
    decision = facts["decision"]
    ranked = sorted(decision["probabilities"].items(), key=lambda kv: -kv[1])
    lines = [f"policy {decision['policy']} chose {decision['action']}"
             + (" (a recommendation: nothing is applied to the model)" if facts["recommendation_only"] else ""),
             "action probabilities: " + ", ".join(f"{a} {p:.2f}" for a, p in ranked)]
    if decision["impossible"]:
        lines.append("not possible today: " + ", ".join(decision["impossible"]))
    lines.append(f"the policy's own reason: {decision['justification']}")
    return lines


def feature_lines(facts: dict) -> list[str]:
    return [f"{name} = {value:.3f}  ({_meaning(name)})"
            for name, value in facts["decision"]["features"].items()]


def messages(facts: dict) -> list[tuple[str, str]]:
    """The chat messages (role, text) that ask for the day's narrative and the action's justification."""
    section = lambda title, lines: f"{title}:\n" + "\n".join(f"- {line}" for line in lines)  # noqa: E731
    body = "\n\n".join([
        f"Model {facts['model']}, run {facts['run_id']}, day {facts['day']} ({facts['date']}).",
        section("Findings today", findings_lines(facts)),
        section("Incident history", incident_lines(facts)),
        section("Decision", decision_lines(facts)),
        section("Policy inputs (scaled features the policy saw)", feature_lines(facts)),
    ])
    return [("system", SYSTEM), ("human", body)]


class MalformedAnswer(ValueError):
    """The LLM's reply is not the JSON object the prompt asks for."""


def read_answer(text: str) -> tuple[str, str]:
    """(narrative, justification) from the reply; a JSON object, possibly inside a ``` fence.

    >>> read_answer('```json\\n{"narrative": "Accuracy fell.", "justification": "Retraining fits."}\\n```')
    ('Accuracy fell.', 'Retraining fits.')
    >>> read_answer("Accuracy fell, so retrain.")
    Traceback (most recent call last):
    ...
    nodes.prompts.MalformedAnswer: not a JSON object
    """
    text = text.strip()
    fenced = re.fullmatch(r"```(?:json)?\s*(.*?)\s*```", text, flags=re.S)
    if fenced:
        text = fenced.group(1)
    try:
        answer = json.loads(text)
    except ValueError:
        raise MalformedAnswer("not a JSON object") from None
    if not isinstance(answer, dict):
        raise MalformedAnswer("not a JSON object")
    fields = []
    for key in ("narrative", "justification"):
        value = answer.get(key)
        if not isinstance(value, str) or not value.strip():
            raise MalformedAnswer(f"no {key!r} text")
        value = " ".join(value.split())
        fields.append(value if len(value) <= MAX_FIELD_CHARS else value[:MAX_FIELD_CHARS - 3] + "...")
    return fields[0], fields[1]


def _meaning(name: str) -> str:
    if name.startswith("cause_"):
        return f"1 if the open incident's root cause is {name.removeprefix('cause_')}"
    return FEATURE_MEANINGS[name]


assert {n for n in POLICY_FEATURES if not n.startswith("cause_")} == set(FEATURE_MEANINGS), "a policy feature has no meaning"
