"""Notify node: the day's incident events (a new incident, an escalation, a resolution) go into the outbox
of the notifications store, and the webhooks (--notify-webhook) get whatever they have not accepted yet.

Events are a pure function of the day's state (yesterday's incident in memory against today's), with ids
derived from the incident, the event and the day: a replayed day queues the same events, which the
outbox already holds. Deliveries are recorded after the receiver's 2xx (nodes.webhooks), before this
step's checkpoint.
"""
from __future__ import annotations

from nodes.base import graph_step
from stores.db import day_date
from stores.incidents import SEVERITIES


def _event(kind: str, incident: dict, state: dict, previous_severity: str | None = None) -> dict:
    day, info, decided = state["day"], state["day_info"], state["remediation"]
    return {"event_id": f"{incident['id']}/{kind}/{day}", "event": kind, "run_id": state["run_id"], "model": state["model"],
            "day": day, "date": info.get("date") or day_date(day), "incident_id": incident["id"],
            "root_cause": incident.get("root_cause"), "severity": incident.get("severity"),
            "previous_severity": previous_severity, "opened_day": incident.get("opened_day"),
            "action": decided.get("action"), "policy": decided.get("policy")}


def incident_events(state: dict) -> list[dict]:
    """What changed about the model's incident today: opened, escalated (severity up) or resolved."""
    before, after = state["memory"].get("incident"), state["alerts"].get("incident")
    events = []
    if before and (after is None or after["id"] != before["id"]):
        events.append(_event("resolved", before, state))
    if after and (before is None or after["id"] != before["id"]):
        events.append(_event("opened", after, state))
    elif after and SEVERITIES.index(after["severity"]) > SEVERITIES.index(before["severity"]):
        events.append(_event("escalated", after, state, previous_severity=before["severity"]))
    return events


def slack_escape(text: str) -> str:
    """Slack reads <...> as links and mentions (<!channel> pings everyone): an LLM's words must not."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_text(event: dict, narrative: dict | None) -> str:
    """The one paragraph an on-call engineer reads in the channel (escaped as Slack's `text` must be)."""
    head = (f"mlmon: incident {event['event']} on {event['model']} (run {event['run_id']}, day {event['day']}, "
            f"{event['date']}): {event['root_cause']}, severity {event['severity']}")
    if event["event"] == "escalated":
        head += f" (was {event['previous_severity']})"
    if event["event"] == "resolved":
        return slack_escape(f"{head}; open since day {event['opened_day']}.")
    text = f"{head}. Decision: {event['action']} ({event['policy']})."
    if narrative and narrative.get("text"):
        text += f" {narrative['text']}"
    return slack_escape(text)


def payload(event: dict, state: dict, stores) -> dict:
    """The JSON a webhook receives: Slack's `text`, and the event's fields for machines."""
    stored = stores.incidents.get_incident(event["incident_id"]) or {}
    narrative = state.get("narrative") or None
    body = {**event, "impact": stored.get("impact"), "text": slack_text(event, narrative)}
    if narrative:
        body["narrative_source"] = narrative.get("source")
    return body


@graph_step("notify", inject_faults=False)
def notify(state: dict, context) -> dict:
    """Queue today's incident events, then deliver what the webhooks have not accepted (if any are configured)."""
    events = [payload(e, state, context.stores) for e in incident_events(state)]
    if events:
        context.stores.notifications.queue(events)
    if context.notifier is not None:
        context.notifier.deliver(context.stores, state["run_id"])
    return {"incident_events": [{"event": e["event"], "incident_id": e["incident_id"]} for e in events]}
