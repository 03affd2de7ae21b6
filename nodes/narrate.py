"""Narrate node: with --use-llm, a day that has an open incident or a non-continue action gets a short
narrative of its findings and a justification of the policy's action, written by the LLM from the policy's
inputs (its features by name), its action probabilities and the incident's history. The action itself is
the policy's and is never touched; whenever the LLM fails, mlmon's deterministic text stands in, and the
narrative records which source wrote it and why.

The narrative is stored with its day (stores.narratives) before the step is checkpointed, and read back
when a crashed day is replayed: a day is narrated once, whatever happens to the process.
"""
from __future__ import annotations

from decision.actions import Action
from decision.observation import POLICY_FEATURES
from nodes.base import graph_step
from nodes.prompts import actions_sentence, findings_lines, incident_lines, messages
from stores.db import day_date

PAST_INCIDENTS = 3  # earlier incidents of the model shown to the LLM (the prompt stays small)
INCIDENT_ACTIONS = 8  # actions under the open incident shown to the LLM


def needs_narrative(state: dict) -> bool:
    return bool(state["alerts"].get("incident")) or state["remediation"].get("action", "continue") != "continue"


def day_facts(state: dict, stores) -> dict:
    """Everything the narrative may say, as plain data: the findings, the decision and its inputs, the
    incident's history (read from the incidents store)."""
    perf, drift, quality, alerts, decided = (state[k] for k in ("performance", "drift", "quality", "alerts", "remediation"))
    baseline, day = state["baseline"], state["day"]
    issues = quality.get("data_quality", {}).get("issues", [])[:3]
    quality_notes = [f"data quality: {i['feature']} {i['issue']} ({i['value']:.0%})" for i in issues]
    if quality.get("bias_gap") is not None:
        quality_notes.append(f"bias: accuracy gap between groups {quality['bias_gap']:.2f}")
    open_alerts = alerts.get("open", {})
    alert_events = [{**e, "message": open_alerts.get(e["type"], {}).get("message")} for e in alerts.get("events", [])]

    incident, history = alerts.get("incident"), []
    if incident:
        stored = stores.incidents.get_incident(incident["id"]) or {}
        incident = {**incident, "impact": stored.get("impact"),
                    "actions": [{"day": a["day"], "action": a["action"], "policy": a["policy"]}
                                for a in stored.get("actions", []) if a["action"] != "continue" and a["day"] < day][-INCIDENT_ACTIONS:]}
    for past in stores.incidents.incidents(state["run_id"], state["model"]):
        if past["id"] != (incident or {}).get("id") and past["opened_day"] < day:
            history.append({k: past[k] for k in ("opened_day", "resolved_day", "root_cause", "severity")})

    observation, mask = decided.get("observation") or [], decided.get("mask") or [1] * len(Action)
    probabilities = decided.get("probabilities") or [float(a.label == decided.get("action")) for a in Action]
    return {
        "run_id": state["run_id"], "model": state["model"], "day": day,
        "date": state["day_info"].get("date") or day_date(day),
        "accuracy": perf.get("measured_accuracy"), "accuracy_estimated": bool(perf.get("accuracy_estimated")),
        "reference_accuracy": baseline.get("reference_accuracy"), "sla_accuracy": baseline.get("sla_accuracy"),
        "performance_status": perf.get("status"), "checks": [c["message"] for c in perf.get("checks", [])],
        "drift_score": drift.get("drift_score"), "drift_severity": drift.get("severity"),
        "drifted_features": drift.get("drifted_features", [])[:5], "quality": quality_notes, "alerts": alert_events,
        "incident": incident, "past_incidents": history[-PAST_INCIDENTS:],
        "recommendation_only": state.get("scenario") == "log",
        "decision": {"policy": decided.get("policy"), "action": decided.get("action"),
                     "justification": decided.get("justification"),
                     "probabilities": {a.label: float(p) for a, p in zip(Action, probabilities)},
                     "impossible": [a.label for a, m in zip(Action, mask) if not m],
                     "features": dict(zip(POLICY_FEATURES, observation))},
    }


def deterministic_narrative(facts: dict) -> tuple[str, str]:
    """mlmon's own words for the day: the same facts the LLM gets, in fixed sentences."""
    findings = "; ".join(findings_lines(facts)[:4])
    incident = incident_lines(facts)[0]
    text = f"Day {facts['day']} ({facts['date']}): {findings}. {incident[0].upper()}{incident[1:]}."
    decision = facts["decision"]  # the policy's own reason already carries its odds, if it has any
    justification = f"{decision['policy']} chose {decision['action']}: {decision['justification']}"
    if facts["incident"]:
        history = actions_sentence(facts["incident"])
        justification += f". {history[0].upper()}{history[1:]}."
    return text, justification


def write_narrative(state: dict, stores, narrator) -> dict:
    """Ask the narrator; on any failure, mlmon's deterministic text, with the reason in its source."""
    facts = day_facts(state, stores)
    answer, why = narrator.ask(messages(facts))
    if answer is not None:
        return {"text": answer[0], "justification": answer[1], "source": "llm", "llm_model": narrator.model_name}
    text, justification = deterministic_narrative(facts)
    return {"text": text, "justification": justification, "source": f"deterministic ({why})", "llm_model": None}


@graph_step("narrate", inject_faults=False)
def narrate(state: dict, context) -> dict:
    """Write (or read back, on a replayed day) the day's narrative; nothing when narration is off or the day is quiet."""
    if context.narrator is None or not needs_narrative(state):
        return {"narrative": {}}
    run_id, model, day = state["run_id"], state["model"], state["day"]
    narrative = context.stores.narratives.get(run_id, model, day)
    if narrative is None:  # not narrated before a crash: ask now, and keep what was written before the checkpoint
        narrative = context.stores.narratives.keep(run_id, model, day, write_narrative(state, context.stores, context.narrator))
    return {"narrative": narrative}
