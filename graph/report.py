"""The run report: built from the stores alone, so a resumed run reports exactly what an unbroken one does."""
from __future__ import annotations

import json
import statistics
from collections import Counter
from pathlib import Path

from graph.errors import RunRefused
from simulator.catalog import get_model
from stores import Stores
from stores.safefs import write_atomic

class ReportExists(RunRefused):
    """A finished run's report would be replaced by different content."""


# Fields that are wall-clock measurements: they legitimately differ between two runs of the same seed.
TIMING_FIELDS = ("cycle_ms", "median_cycle_ms", "generated_at")


def model_report(stores: Stores, run_id: str, model: str, config: dict) -> dict:
    spec = get_model(model)
    summaries = stores.metrics.day_summaries(run_id, model)
    days = []
    for s in summaries:
        days.append({
            "day": s["day"], "date": s["date"], "accuracy": s["accuracy"], "accuracy_estimated": s["accuracy_estimated"],
            "drift_score": s["drift_score"], "drift_severity": s["drift_severity"],
            "drifted_features": s["drifted_features"], "performance_status": s["performance_status"],
            "alerts": s["alerts"], "incident": s["incident"], "action": s["action"], "policy": s["policy"],
            "justification": s["justification"],
            "reward": s["reward"], "cost": s["cost"], "remediation_beat_continuing": s.get("success"),
            "degraded": s["degraded"], "skipped": s["skipped"],
            "model_version": s["model_version"], "true_accuracy": s["true_accuracy"],
            "counterfactual_accuracy": s["counterfactual_accuracy"], "events": s["events"], "cycle_ms": s["cycle_ms"],
            **narrative(s),
        })
    return {"run_id": run_id, "model": model, "scenario": config["scenario"],
            "scenario_params": {k: config.get(k) for k in ("onset", "severity")}, "seed": config["seed"],
            "policy": config["policy"], "days": days,
            "summary": {**summarise(days, spec, stores, run_id, model), **narrative_summary(days)}}


def narrative(summary: dict) -> dict:
    """A day's narrative, if it has one (--use-llm): absent otherwise, so other runs report as they always did."""
    return {"narrative": summary["narrative"]} if summary.get("narrative") else {}


def narrative_summary(days: list[dict]) -> dict:
    """How many narratives the LLM wrote, and why the deterministic text stood in for the others."""
    sources = [d["narrative"]["source"] for d in days if d.get("narrative")]
    if not sources:
        return {}
    fallbacks = [s for s in sources if s != "llm"]
    return {"narratives": {"llm": len(sources) - len(fallbacks), "deterministic": len(fallbacks),
                           "deterministic_reasons": dict(Counter(s.removeprefix("deterministic (").removesuffix(")")
                                                                 for s in fallbacks))}}


def notifications(stores: Stores, run_id: str) -> dict:
    """Each webhook target's delivery status (only for runs that have targets): what it has not accepted, and why."""
    status = stores.notifications.status(run_id)
    if not status:
        return {}
    return {"notifications": {"events": len(stores.notifications.events(run_id)), "targets": status}}


def online_learning(stores: Stores, run_id: str) -> dict | None:
    """What this run's policy update did, as the run recorded it in the stores (not read from the
    folder's policy file, which later runs change: a report is a function of the stores alone)."""
    record = stores.runs.learning(run_id)
    if record is None:
        return None
    policy = stores.runs.policy(run_id)
    return {**record, "decided_with": None if policy is None else {"source": policy[1], "sha256": policy[2]}}


def summarise(days: list[dict], spec, stores: Stores, run_id: str, model: str) -> dict:
    def error_cost(key: str) -> float:
        return sum((1 - d[key]) * spec.daily_volume * spec.cost_per_error for d in days if d[key] is not None)

    action_cost = sum(d["cost"] or 0.0 for d in days)
    errors, errors_noop = error_cost("true_accuracy"), error_cost("counterfactual_accuracy")
    cycles = [d["cycle_ms"] for d in days if d["cycle_ms"] is not None]
    alerts = stores.incidents.alerts(run_id, model)
    judged = [d["remediation_beat_continuing"] for d in days if d["remediation_beat_continuing"] is not None]
    return {
        "days": len(days),
        "mean_true_accuracy": _mean(d["true_accuracy"] for d in days),
        "mean_counterfactual_accuracy": _mean(d["counterfactual_accuracy"] for d in days),
        "sla_accuracy": spec.sla_accuracy,
        "sla_violation_days": sum(1 for d in days if d["true_accuracy"] is not None and d["true_accuracy"] < spec.sla_accuracy),
        "sla_violation_days_no_action": sum(1 for d in days if d["counterfactual_accuracy"] is not None and d["counterfactual_accuracy"] < spec.sla_accuracy),
        "alerts_raised": len(alerts),
        "alerts_by_type": dict(Counter(a["alert_type"] for a in alerts)),
        "incidents": len(stores.incidents.incidents(run_id, model)),
        "actions": dict(Counter(d["action"] for d in days)),
        "remediations": len(judged),
        "success_rate": round(sum(judged) / len(judged), 4) if judged else None,
        "success_definition": "share of remediations whose 7-day outcome (the action, then continuing) was at least "
                              "as good as continuing, replayed under the same randomness",
        "total_reward": round(sum(d["reward"] or 0.0 for d in days), 4),
        "action_cost": action_cost,
        "error_cost": round(errors, 2),
        "total_cost": round(action_cost + errors, 2),
        "no_action_total_cost": round(errors_noop, 2),
        "saved_vs_no_action": round(errors_noop - errors - action_cost, 2),
        "degraded_days": sum(1 for d in days if d["degraded"]),
        "days_without_labels": sum(1 for d in days if d["accuracy_estimated"]),
        "median_cycle_ms": round(statistics.median(cycles), 3) if cycles else None,
        "cost_model": f"${spec.cost_per_error:g} per wrong prediction x {spec.daily_volume:,} predictions/day; action costs as charged",
    }


def _mean(values) -> float | None:
    values = [v for v in values if v is not None]
    return round(sum(values) / len(values), 5) if values else None


def build_report(stores: Stores, run_id: str, config: dict) -> dict:
    reports = [model_report(stores, run_id, m, config) for m in config["models"]]
    learning = online_learning(stores, run_id) if config["policy"] == "ppo" else None
    if len(reports) == 1:
        return {**reports[0], "online_learning": learning, **notifications(stores, run_id)}
    return {"run_id": run_id, "models": reports, "scenario": config["scenario"], "seed": config["seed"],
            "policy": config["policy"], "online_learning": learning, **notifications(stores, run_id)}


def build_log_report(stores: Stores, run_id: str, settings: dict) -> dict:
    """A log run's report: a simulated run's, minus everything only a simulator knows (true accuracy,
    the no-action counterfactual, rewards); each remediation is a recommendation."""
    model = settings["models"][0]
    periods = stores.predictions.columnar.periods(run_id, model)
    days = []
    for s in stores.metrics.day_summaries(run_id, model):
        stored = periods.get(s["day"], {})
        days.append({
            "day": s["day"], "date": s["date"], "n_rows": s["n_rows"], "n_labelled": s["n_labelled"],
            "accuracy": s["accuracy"], "accuracy_estimated": s["accuracy_estimated"],
            "predicted_positive_rate": stored.get("predicted_positive_rate"),
            "drift_score": s["drift_score"], "drift_severity": s["drift_severity"],
            "drifted_features": s["drifted_features"], "performance_status": s["performance_status"],
            "alerts": s["alerts"], "incident": s["incident"], "recommendation": s["action"], "policy": s["policy"],
            "justification": s["justification"], "degraded": s["degraded"], "skipped": s["skipped"],
            "model_version": s["model_version"], "cycle_ms": s["cycle_ms"], **narrative(s)})
    reference = periods.get(-1, {})
    labelled = [d["accuracy"] for d in days if d["accuracy"] is not None and not d["accuracy_estimated"]]
    estimated = [d["accuracy"] for d in days if d["accuracy"] is not None and d["accuracy_estimated"]]
    alerts = stores.incidents.alerts(run_id, model)
    cycles = [d["cycle_ms"] for d in days if d["cycle_ms"] is not None]
    summary = {
        "periods": len(days), "period": settings["mapping"]["period"],
        "reference": {"rows": reference.get("n_rows"), "labelled": reference.get("n_labelled"),
                      "accuracy": reference.get("accuracy")},
        "mean_accuracy_labelled_periods": _mean(labelled), "periods_without_labels": len(estimated),
        "mean_estimated_accuracy_unlabelled_periods": _mean(estimated),
        "alerts_raised": len(alerts), "alerts_by_type": dict(Counter(a["alert_type"] for a in alerts)),
        "incidents": len(stores.incidents.incidents(run_id, model)),
        "recommendations": dict(Counter(d["recommendation"] for d in days if d["recommendation"] != "continue")),
        "degraded_periods": sum(1 for d in days if d["degraded"]),
        "median_cycle_ms": round(statistics.median(cycles), 3) if cycles else None,
        "note": "remediations are recommendations: nothing was applied to the model",
        **narrative_summary(days),
    }
    return {"run_id": run_id, "model": model, "source": "log", "store": settings["store"], "policy": settings["policy"],
            "mapping": settings["mapping"], "columns": settings["columns"], "days": days, "summary": summary,
            **notifications(stores, run_id)}


def write_report(report: dict, path: Path, force: bool = False) -> bool:
    """Write the report all or nothing; a report already there with other content is kept unless `force`.

    Returns whether the file was (re)written: the same content is left alone.
    """
    data = json.dumps(report, indent=2, sort_keys=False).encode()
    if path.exists() and not path.is_symlink():
        if path.read_bytes() == data:
            return False
        if not force:
            raise ReportExists(f"{path} exists with other content; add --force to overwrite it, or use another --run-id")
    write_atomic(path, data)
    return True


def without_timings(report):
    """The report with wall-clock fields removed, for comparing two runs of the same seed."""
    if isinstance(report, dict):
        return {k: without_timings(v) for k, v in report.items() if k not in TIMING_FIELDS}
    if isinstance(report, list):
        return [without_timings(v) for v in report]
    return report
