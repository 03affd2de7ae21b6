"""The day on screen, node by node: what each step found, as its update put it in the graph state.

Lines appear as the steps finish (live) or all at once (a past day from its checkpoints); a step that
fell back says so with its reason. Long lines are cut to the panel, never wrapped into the next one.
"""
from __future__ import annotations

from rich.text import Text
from textual.widget import Widget

from tui.live import ModelRun

LABEL_W = 12
SHORT_LABELS = {"performance": "perf", "load_day": "load", "fell back": "fallback"}
SEVERITY_STYLE = {"low": "green", "medium": "yellow", "high": "dark_orange", "critical": "bold red"}
STATUS_STYLE = {"healthy": "green", "warning": "yellow", "critical": "bold red"}


def _pct(value) -> str:
    return "  -  " if value is None else f"{value:.3f}"


def finding_lines(model: ModelRun, wide: bool = False) -> list[tuple[str, Text]]:
    """(label, text) per node that has reported for the day on screen."""
    state, lines = model.state, []
    info, perf, drift, quality = state.get("day_info") or {}, state.get("performance") or {}, state.get("drift") or {}, state.get("quality") or {}
    alerts, decision, outcome = state.get("alerts") or {}, state.get("remediation") or {}, state.get("outcome") or {}
    if info:
        lines.append(("load_day", Text(f"{info.get('n_rows', 0):,} rows, {info.get('n_labelled', 0):,} labelled, model "
                                       f"{info.get('model_version', '?')}" + (f"; {', '.join(info['events'])}" if info.get("events") else ""))))
    if perf:
        t = Text()
        acc = perf.get("measured_accuracy")
        t.append(f"acc {_pct(acc)}" + (" (estimated)" if perf.get("accuracy_estimated") else ""), style="bold")
        t.append("  ")
        t.append(perf.get("status") or "-", style=STATUS_STYLE.get(perf.get("status"), ""))
        if perf.get("latency_p95_ms") is not None:
            t.append(f"  p95 {perf['latency_p95_ms']:.0f} ms")
        if perf.get("method") == "last_known_value":
            t.append("  (last known value)", style="dark_orange")
        lines.append(("performance", t))
    if drift:
        t = Text()
        t.append(f"{drift.get('drift_score') or 0:.2f} ", style="bold")
        t.append(drift.get("severity") or "-", style=SEVERITY_STYLE.get(drift.get("severity"), ""))
        features = drift.get("drifted_features") or []
        if features:
            t.append("  " + ", ".join(features[:5 if wide else 3]))
        if (drift.get("concept") or {}).get("suspected"):
            t.append("  concept drift?", style="yellow")
        lines.append(("drift", t))
    if quality:
        if quality.get("precision") is not None:
            t = Text(f"P {quality['precision']:.2f}  R {quality['recall']:.2f}  F1 {quality['f1']:.2f}")
            if quality.get("bias_gap") is not None:
                t.append(f"  bias gap {quality['bias_gap']:.3f}")
        else:
            t = Text("no labels: label checks skipped" if quality.get("method") != "last_known_value" else "fallback",
                     style="grey50")
        issues = (quality.get("data_quality") or {}).get("issues") or []
        if issues:
            t.append(f"  {len(issues)} data issue{'s' if len(issues) > 1 else ''}", style="yellow")
        lines.append(("quality", t))
    if alerts:
        open_alerts = alerts.get("open") or {}
        t = Text()
        if open_alerts:
            t.append(f"{len(open_alerts)} open: ")
            for i, (kind, alert) in enumerate(open_alerts.items()):
                t.append((", " if i else "") + kind, style=SEVERITY_STYLE.get(alert.get("severity"), ""))
        else:
            t.append("none open", style="green")
        changes = [e for e in alerts.get("events") or [] if e.get("event") in ("opened", "resolved")]
        if changes:
            t.append("  " + " ".join(("+" if e["event"] == "opened" else "-") + e["type"] for e in changes), style="bold")
        lines.append(("alerts", t))
        incident = alerts.get("incident")
        if incident:
            t = Text()
            t.append(incident.get("root_cause") or "?", style="bold")
            t.append(f" since {model.unit} {incident['opened_day']} ")
            t.append(incident.get("severity") or "", style=SEVERITY_STYLE.get(incident.get("severity"), ""))
            lines.append(("incident", t))
    if decision:
        t = Text()
        t.append(decision.get("action", "?"), style="bold magenta")
        t.append(f" ({decision.get('policy', '?')}) ", style="grey62")
        t.append(decision.get("justification", "").split(" [")[0])
        lines.append(("decision", t))
    narrative = state.get("narrative") or {}
    if narrative.get("text"):  # --use-llm: the day told in words (the LLM's, or mlmon's own when it failed)
        t = Text(narrative["text"], style="italic")
        if narrative.get("source") != "llm":
            t.append(f"  [{narrative.get('source')}]", style="grey50")
        lines.append(("narrative", t))
    if outcome and model.kind == "log":  # nothing is applied to a real model: no reward, no next day to show
        action = decision.get("action", "continue")
        lines.append(("outcome", Text("keep watching: nothing to apply" if action == "continue" else
                                      f"{action} recommended, not applied (log monitoring)", style="grey70")))
    elif outcome:
        t = Text()
        if outcome.get("reward") is not None:
            t.append(f"reward {outcome['reward']:+.1f}  ", style="cyan")
        t.append(f"cost ${outcome.get('cost', 0):,.0f}  next acc {_pct(outcome.get('next_accuracy'))} "
                 f"(no action {_pct(outcome.get('next_counterfactual_accuracy'))})")
        lines.append(("outcome", t))
    if wide:  # room to spare: each open alert's message and what the reward was made of
        for kind, alert in ((alerts.get("open") or {}) if alerts else {}).items():
            lines.append(("  alert", Text(f"{kind} since {model.unit} {alert['opened_day']}: {alert.get('message', '')}", style="grey70")))
        parts = outcome.get("reward_parts") if outcome else None
        if parts:
            lines.append(("  reward", Text("  ".join(f"{k.replace('_', ' ')} {v:+.1f}" for k, v in parts.items()), style="grey70")))
    for mark in state.get("degraded") or []:
        lines.append(("fell back", Text(f"{mark['node']} -> {mark['fallback']}: {mark['reason']}", style="dark_orange")))
    return lines


class Findings(Widget):
    DEFAULT_CSS = "Findings { height: 1fr; }"

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.model: ModelRun | None = None

    def show(self, model: ModelRun | None) -> None:
        self.model = model
        self.refresh()

    def render(self) -> Text:
        model = self.model
        if model is None or model.day is None:
            return Text("waiting for the first day", style="grey50")
        wide = self.size.width >= 100
        narrow = self.size.width < 60
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(f"{model.unit} {model.day}", style="bold")
        text.append(f"  {model.date_of(model.day)}", style="grey62")
        for label, line in finding_lines(model, wide):
            text.append("\n")
            text.append((SHORT_LABELS.get(label, label) if narrow else label).ljust(9 if narrow else LABEL_W), style="grey62")
            text.append_text(line)
        return text
