"""The headless run end to end: outputs, the arc, detection on the day, fallbacks, labels, bounded state."""
from __future__ import annotations

import json
import sqlite3

import pytest

from conftest import cli, load_report, run_job
from simulator.catalog import MODELS, get_model
from simulator.scenarios import get_scenario
from simulator.world import World
from graph.runner import open_checkpointer
from nodes.memory import MEMORY_ACTIONS, MEMORY_DAYS

ALL_MODELS = list(MODELS)
DAY_FIELDS = {"day", "accuracy", "drift_score", "drift_severity", "performance_status", "alerts", "action", "reward",
              "cost", "degraded"}


def test_default_command_writes_report_and_plot(tmp_path):
    result = cli("--output-dir", str(tmp_path), "--run-id", "demo")
    assert result.returncode == 0, result.stderr
    report = load_report(tmp_path, "demo")
    assert {"run_id", "model", "scenario", "seed", "days", "summary"} <= set(report)
    assert report["model"] == "pneumonia_classifier_v1" and report["scenario"] == "default" and report["seed"] == 0
    assert len(report["days"]) == 30 and all(DAY_FIELDS <= set(d) for d in report["days"])
    assert {"total_cost", "no_action_total_cost", "median_cycle_ms", "total_reward"} <= set(report["summary"])
    png = (tmp_path / "simulation_plots_demo.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20000
    assert "day 29" in result.stdout and "day 28" in result.stdout  # one summary line per day


def test_noop_default_run_reproduces_the_arc(default_noop_report):
    acc = [d["accuracy"] for d in default_noop_report["days"]]
    phase = lambda a, b: sum(acc[a:b + 1]) / (b - a + 1)  # noqa: E731
    assert abs(phase(0, 10) - 0.87) <= 0.03
    assert abs(phase(18, 20) - 0.82) <= 0.03
    assert abs(phase(21, 25) - 0.75) <= 0.03
    assert abs(phase(26, 29) - 0.86) <= 0.03
    drift = [d["drift_score"] for d in default_noop_report["days"]]
    assert max(drift[:11]) < 0.1 and min(drift[21:26]) > 0.35  # baseline ~0.05, critical ~0.45
    assert set(d["action"] for d in default_noop_report["days"]) == {"continue"}


def test_rules_policy_beats_doing_nothing_on_the_default(tmp_path, default_noop_report):
    report = run_job(tmp_path, policy="rules")
    assert report["summary"]["total_cost"] < default_noop_report["summary"]["total_cost"]
    assert any(d["action"].startswith("retrain") for d in report["days"])


@pytest.mark.slow
def test_sudden_shift_is_flagged_high_on_its_day(tmp_path):
    onset = get_scenario("sudden_shift").params.onset
    report = run_job(tmp_path, model=ALL_MODELS, scenario="sudden_shift", days=onset + 2, policy="noop")
    for r in report["models"]:
        assert r["days"][onset - 1]["drift_severity"] in ("low", "medium"), r["model"]
        assert r["days"][onset]["drift_severity"] in ("high", "critical"), r["model"]
        assert "covariate_drift" in [a["type"] for a in r["days"][onset]["alerts"]], r["model"]


@pytest.mark.slow
def test_bad_deploy_is_caught_by_the_performance_node_on_its_day(tmp_path):
    onset = get_scenario("bad_deploy").params.onset
    report = run_job(tmp_path, model=ALL_MODELS, scenario="bad_deploy", days=onset + 2, policy="rules")
    for r in report["models"]:
        assert r["days"][onset - 1]["performance_status"] == "healthy", r["model"]
        assert r["days"][onset]["performance_status"] in ("warning", "critical"), r["model"]
        assert r["days"][onset]["incident"] == "bad_deployment", r["model"]
        assert r["days"][onset]["action"] == "rollback", r["model"]
        assert r["days"][onset + 1]["model_version"] == "v1", r["model"]  # the rollback really restored v1


@pytest.mark.slow
def test_stable_raises_at_most_one_alert_per_model(tmp_path):
    report = run_job(tmp_path, model=ALL_MODELS, scenario="stable", days=30, policy="noop")
    for r in report["models"]:
        assert r["summary"]["alerts_raised"] <= 1, (r["model"], r["summary"]["alerts_by_type"])


def test_fault_injection_takes_the_fallback_edge_and_marks_the_day(tmp_path, monkeypatch):
    monkeypatch.setenv("MLMON_FAULT", "performance@3,drift@5,quality@7,alert@9,remediation@11")
    report = run_job(tmp_path, days=14)
    assert len(report["days"]) == 14
    expected = {3: "performance", 5: "drift", 7: "quality", 9: "alert", 11: "remediation"}
    for d in report["days"]:
        if d["day"] in expected:
            (mark,) = d["degraded"]
            assert mark["node"] == expected[d["day"]] and mark["fallback"] == f"{expected[d['day']]}_fallback"
            assert "InjectedFault" in mark["reason"] and "MLMON_FAULT" in mark["reason"]
        else:
            assert d["degraded"] == []
    assert report["summary"]["degraded_days"] == 5
    assert report["days"][11]["policy"] == "rules (fallback)"
    assert report["days"][5]["drift_score"] is not None  # the cheaper test still produced a score


def test_a_node_failing_every_day_still_completes_the_run(tmp_path):
    result = cli("--output-dir", str(tmp_path), "--run-id", "f", "--days", "4", "--quiet", env={"MLMON_FAULT": "drift"})
    assert result.returncode == 0, result.stderr
    assert all(d["degraded"][0]["node"] == "drift" for d in load_report(tmp_path, "f")["days"])


def first_outage(max_seed: int = 50) -> tuple[int, int]:
    spec, scenario = get_model("pneumonia_classifier_v1"), get_scenario("stable")
    for seed in range(max_seed):
        world = World(spec, scenario, seed)
        for day in range(1, 15):
            if world.label_outage(day):
                return seed, day
    raise AssertionError("no label outage in the first seeds")


def test_a_day_without_labels_routes_around_label_metrics(tmp_path):
    seed, day = first_outage()
    report = run_job(tmp_path, scenario="stable", days=day + 1, seed=seed)
    quiet = report["days"][day]
    assert quiet["accuracy_estimated"] is True and quiet["accuracy"] is not None
    assert any("no labels" in s for s in quiet["skipped"]) and quiet["degraded"] == []
    assert all(not d["accuracy_estimated"] and d["skipped"] == [] for d in report["days"][:day])


def final_state(output_dir, run_id: str) -> dict:
    saver = open_checkpointer(output_dir)
    try:
        return saver.get_tuple({"configurable": {"thread_id": f"{run_id}:pneumonia_classifier_v1"}}).checkpoint["channel_values"]
    finally:
        saver.conn.close()


def test_checkpointed_state_does_not_grow_with_the_run(tmp_path):
    run_job(tmp_path / "short", days=20, scenario="sudden_shift", run_id="short")
    run_job(tmp_path / "long", days=60, scenario="sudden_shift", run_id="long")
    short, long = final_state(tmp_path / "short", "short"), final_state(tmp_path / "long", "long")
    memory = long["memory"]
    assert len(memory["recent"]) == MEMORY_DAYS and len(memory["actions"]) <= MEMORY_ACTIONS
    assert len(memory["versions_seen"]) <= 4 and len(memory["reference_versions"]) <= 4
    size = lambda state: len(json.dumps({k: v for k, v in state.items() if k != "run_id"}))  # noqa: E731
    assert size(long) <= 1.03 * size(short)


def test_all_models_in_one_run_write_one_report_with_every_model(tmp_path):
    report = run_job(tmp_path, model=ALL_MODELS, scenario="stable", days=2, policy="noop", run_id="all")
    assert [r["model"] for r in report["models"]] == ALL_MODELS
    assert json.loads((tmp_path / "final_report_all.json").read_text())["models"][1]["model"] == "fraud_detector_v2"
    assert all((tmp_path / f"simulation_plots_all_{m}.png").exists() for m in ALL_MODELS)


def test_in_memory_monitoring_matches_the_store_path(tmp_path):
    """The RL env and the export compute findings from memory; the graph reads SQLite. Same numbers."""
    import csv

    from simulator.export import main as export_main

    report = run_job(tmp_path / "run", days=4, policy="noop", scenario="sudden_shift", run_id="p")
    assert export_main(["--scenario", "sudden_shift", "--days", "4", "--out", str(tmp_path / "export")]) == 0
    with open(tmp_path / "export" / "pneumonia_classifier_v1" / "drift_scores.csv") as f:
        exported = [float(row["drift_score"]) for row in csv.DictReader(f)]
    with open(tmp_path / "export" / "pneumonia_classifier_v1" / "metrics.csv") as f:
        measured = [float(row["measured_accuracy"]) for row in csv.DictReader(f)]
    assert exported == [d["drift_score"] for d in report["days"]]
    assert measured == pytest.approx([d["accuracy"] for d in report["days"]], abs=1e-5)
