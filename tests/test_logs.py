"""Monitoring a user's own log: generated logs with known answers, through the DataFrame API and the CLI,
with its growth, a crash and resume, its columns as users have them, and every bad input."""
from __future__ import annotations

import json
import signal
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from conftest import cli, load_report
from logdata import CLI_MAPPING, MAPPING, make_log
from test_trust import one_line_error, snapshot

from graph.logrun import monitor_log
from graph.report import without_timings

RULES = {"policy": "rules"}  # the policy does not matter to detection; the playbook needs no torch


def opened(day: dict) -> list[str]:
    return [a["type"] for a in day["alerts"] if a["event"] == "opened"]


def write_csv(frame, path: Path) -> Path:
    frame.to_csv(path, index=False)
    return path


def test_a_shift_from_a_given_date_is_found_in_that_period_and_not_before(tmp_path):
    report = monitor_log(make_log(days=14, shift_from=9), output_dir=tmp_path, **MAPPING, **RULES)
    by_date = {d["date"]: d for d in report["days"]}
    assert list(by_date)[0] == "2026-03-04" and len(by_date) == 10  # reference Mar 1-3; Mar 14 still open
    shifted = "2026-03-10"  # day 9 of the log
    assert "income" in by_date[shifted]["drifted_features"]
    assert all("income" not in d["drifted_features"] for date, d in by_date.items() if date < shifted)
    assert all(d["drift_severity"] == "low" for date, d in by_date.items() if date < shifted)


@pytest.mark.slow
def test_a_log_without_drift_raises_no_drift_alert_over_60_periods(tmp_path):
    report = monitor_log(make_log(days=64, rows_per_day=1000, seed=3), output_dir=tmp_path, **MAPPING, **RULES)
    assert report["summary"]["periods"] == 60
    drift_alerts = [t for d in report["days"] for t in opened(d) if t in ("covariate_drift", "prediction_drift")]
    assert drift_alerts == []
    assert report["summary"]["incidents"] <= 1, report["summary"]


def test_an_accuracy_drop_without_labels_is_found_by_the_estimate(tmp_path):
    """Labels stop arriving on day 8; from day 10 traffic moves to where the model is unsure."""
    frame = make_log(days=14, harder_from=10, labels_from_day=8)
    report = monitor_log(frame, output_dir=tmp_path, **MAPPING, **RULES)
    days = {d["date"]: d for d in report["days"]}
    before = [d for date, d in days.items() if "2026-03-09" <= date < "2026-03-11"]
    after = [d for date, d in days.items() if date >= "2026-03-11"]
    assert all(d["accuracy_estimated"] for d in before + after)  # no labels: estimated, and marked so
    assert np.mean([d["accuracy"] for d in after]) < np.mean([d["accuracy"] for d in before]) - 0.05
    assert any(d["performance_status"] != "healthy" for d in after)  # the drop raises an alert without labels
    assert report["summary"]["periods_without_labels"] == len(before) + len(after)


def test_a_grown_log_processes_only_its_new_periods(tmp_path):
    out = tmp_path / "out"
    full = make_log(days=14, shift_from=9)
    first = monitor_log(full[full.ts < "2026-03-10"], output_dir=out, **MAPPING, **RULES)
    assert [d["date"] for d in first["days"]] == ["2026-03-04", "2026-03-05", "2026-03-06", "2026-03-07", "2026-03-08"]
    with sqlite3.connect(out / "mlmon.db") as conn:
        before = conn.execute("SELECT day, summary FROM day_summaries ORDER BY day").fetchall()
    grown = monitor_log(full, output_dir=out, **MAPPING, **RULES)
    assert len(grown["days"]) == 10
    with sqlite3.connect(out / "mlmon.db") as conn:
        after = conn.execute("SELECT day, summary FROM day_summaries ORDER BY day").fetchall()
    assert after[:5] == before  # the periods monitored before were not monitored again
    fresh = monitor_log(full, output_dir=tmp_path / "fresh", **MAPPING, **RULES)
    assert without_timings(grown["days"]) == without_timings(fresh["days"])  # growing equals one go
    again = monitor_log(full, output_dir=out, **MAPPING, **RULES)  # nothing new: nothing changes
    assert without_timings(again) == without_timings(grown)


@pytest.mark.slow
def test_a_log_run_killed_with_sigkill_resumes_to_the_same_report(tmp_path):
    log = write_csv(make_log(days=14, shift_from=9), tmp_path / "log.csv")
    args = ["--log", str(log), *CLI_MAPPING, "--policy", "rules", "--quiet"]
    clean = cli("--output-dir", str(tmp_path / "clean"), *args)
    assert clean.returncode == 0, clean.stderr
    for kill in ("alert@4", "record@6"):
        killed = cli("--output-dir", str(tmp_path / "crashed"), *args, env={"MLMON_KILL": kill})
        assert killed.returncode == -signal.SIGKILL, killed.stderr
    resumed = cli("--output-dir", str(tmp_path / "crashed"), *args)
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed at day" in resumed.stderr
    assert without_timings(load_report(tmp_path / "crashed", "log-log")) == without_timings(
        load_report(tmp_path / "clean", "log-log"))


def test_columns_as_users_have_them(tmp_path):
    """String, integer-code and boolean categoricals; missing categoricals; a constant feature; Parquet."""
    frame = make_log(days=8, missing_plan_share=0.02)
    late = frame.ts >= "2026-03-07"
    frame.loc[late & (np.arange(len(frame)) % 4 == 0), "plan"] = None  # plan goes missing on the last days
    frame.to_parquet(tmp_path / "log.parquet")
    report = monitor_log(str(tmp_path / "log.parquet"), output_dir=tmp_path / "out", **MAPPING, **RULES)
    assert report["columns"]["categorical"] == ["plan", "region", "store_id", "is_mobile"]
    assert report["columns"]["numeric"] == ["income", "age_z", "constant_feed"]
    issues = {d["date"]: [t for t in opened(d)] for d in report["days"]}
    assert "data_quality" not in [t for date, types in issues.items() if date < "2026-03-07" for t in types]
    assert "data_quality" in issues["2026-03-07"]  # 25% of plan missing, against 2% in the reference
    assert all(d["degraded"] == [] for d in report["days"])  # findings, not crashes


def test_the_cli_and_the_api_give_the_same_report(tmp_path):
    frame = make_log(days=10, shift_from=7)
    log = write_csv(frame, tmp_path / "log.csv")
    result = cli("--log", str(log), *CLI_MAPPING, "--policy", "rules", "--output-dir", str(tmp_path / "cli"))
    assert result.returncode == 0, result.stderr
    api = monitor_log(frame, output_dir=tmp_path / "api", model_id="log", **MAPPING, **RULES)
    from_cli = load_report(tmp_path / "cli", "log-log")
    assert without_timings(from_cli["days"]) == without_timings(api["days"])
    assert "2026-03-04 acc 0.8" in result.stdout


@pytest.mark.parametrize("store", ["rows", "summaries"])
def test_both_store_modes_find_the_same_and_summaries_keep_no_rows(tmp_path, store):
    report = monitor_log(make_log(days=10, shift_from=7), output_dir=tmp_path, store=store, **MAPPING, **RULES)
    with sqlite3.connect(tmp_path / "mlmon.db") as conn:
        chunks = conn.execute("SELECT count(*) FROM prediction_chunks").fetchone()[0]
        views = conn.execute("SELECT count(*) FROM prediction_views").fetchone()[0]
    assert views == 1 + report["summary"]["periods"]  # the reference and each period
    assert (chunks > 0) == (store == "rows")
    assert report["days"][4]["drift_severity"] != "low"  # day 7 = the fifth period


# ---- bad input: one line naming the problem, exit 2, the stores as they were -------------------------

def bad_logs(tmp_path: Path) -> dict[str, tuple[list[str], str]]:
    good = make_log(days=8)
    cases = {}

    def case(name: str, frame, needle: str, extra: list[str] | None = None, suffix: str = ".csv"):
        path = tmp_path / f"{name}{suffix}"
        if frame is not None:
            frame.to_csv(path, index=False)
        cases[name] = (["--log", str(path), *(extra if extra is not None else CLI_MAPPING)], needle)

    case("missing_column", good.drop(columns=["proba"]), "no score column 'proba'")
    ts = good.astype({"ts": str})
    ts.loc[123, "ts"] = "yesterday-ish"
    case("bad_timestamp", ts, "row 124 (line 125): column 'ts': 'yesterday-ish' is not a date-time")
    text_score = good.astype({"proba": object})
    text_score.loc[77, "proba"] = "high"
    case("text_score", text_score, "row 78 (line 79): column 'proba': 'high' is not a number")
    high_score = good.copy()
    high_score.loc[500, "proba"] = 1.7
    case("score_out_of_range", high_score, "row 501 (line 502): column 'proba': score 1.7 is not a probability")
    labels = good.astype({"label": object})
    labels.loc[42, "label"] = 2
    case("label_not_binary", labels, "row 43 (line 44): column 'label': 2 is not 0 or 1")
    predictions = good.copy()
    predictions.loc[9, "predicted"] = 5
    case("prediction_not_binary", predictions, "row 10 (line 11): column 'predicted': 5 is not 0 or 1")
    (tmp_path / "empty_file.csv").write_text("")
    case("empty_file", None, "the file is empty")
    case("empty_reference", good, "the reference period has no rows",
         extra=[*CLI_MAPPING[:-2], "--reference-until", "2026-02-01"])
    gap = good[(good.ts < "2026-03-05") | (good.ts >= "2026-03-06")]
    case("empty_period", gap, "period 1 (from 2026-03-05) has no rows")
    schema = tmp_path / "schema.toml"
    schema.write_text('timestamp_col = "ts"\nscore_col = "proba"\nreference_until = "2026-03-03"\nlabels = "label"\n')
    case("schema_unknown_key", good, "schema file", extra=["--schema", str(schema)])
    return cases


BAD = ["missing_column", "bad_timestamp", "text_score", "score_out_of_range", "label_not_binary",
       "prediction_not_binary", "empty_file", "empty_reference", "empty_period", "schema_unknown_key"]


@pytest.fixture(scope="module")
def monitored(tmp_path_factory) -> Path:
    """An output folder that already monitors a log (model `m`, run log-m): a history the bad inputs,
    given as the same model, must leave alone."""
    folder = tmp_path_factory.mktemp("monitored")
    log = write_csv(make_log(days=8), folder.parent / "good.csv")
    result = cli("--log", str(log), *CLI_MAPPING, "--policy", "rules", "--model-id", "m", "--output-dir", str(folder))
    assert result.returncode == 0, result.stderr
    return folder


@pytest.mark.parametrize("name", BAD)
def test_a_bad_log_is_one_line_exit_2_and_the_stores_are_untouched(tmp_path, monitored, name):
    args, needle = bad_logs(tmp_path)[name]
    before = snapshot(monitored)
    result = cli(*args, "--policy", "rules", "--model-id", "m", "--output-dir", str(monitored))
    # Against a run with history some inputs meet another check first (its settings, its monitored
    # periods); the message is still one line, and the history is untouched.
    line = one_line_error(result, 2)
    assert snapshot(monitored) == before, line
    fresh = tmp_path / "fresh"
    one_line_error(cli(*args, "--policy", "rules", "--output-dir", str(fresh)), 2, needle)
    assert not (fresh / "mlmon.db").exists() and not (fresh / "checkpoints.db").exists()


def test_a_log_whose_columns_changed_between_runs_of_a_run_id_is_refused(tmp_path, monitored):
    changed = make_log(days=9).rename(columns={"age_z": "age"})
    log = write_csv(changed, tmp_path / "changed.csv")
    before = snapshot(monitored)
    result = cli("--log", str(log), *CLI_MAPPING, "--policy", "rules", "--model-id", "m", "--output-dir", str(monitored))
    one_line_error(result, 2, "the log's columns changed since run log-m began")
    assert snapshot(monitored) == before


def test_simulation_options_and_log_options_do_not_mix(tmp_path):
    one_line_error(cli("--log", "x.csv", "--scenario", "stable", "--output-dir", str(tmp_path / "o")), 2,
                   "--scenario is for simulated runs, not --log")
    one_line_error(cli("--score-col", "p", "--output-dir", str(tmp_path / "o")), 2, "--score-col needs --log")
    assert not (tmp_path / "o").exists()


def test_a_schema_file_gives_the_same_run_as_flags(tmp_path):
    frame = make_log(days=9, shift_from=6)
    log = write_csv(frame, tmp_path / "log.csv")
    schema = tmp_path / "schema.toml"
    schema.write_text('model_id = "churn"\ntimestamp_col = "ts"\nscore_col = "proba"\nprediction_col = "predicted"\n'
                      'label_col = "label"\ngroup_col = "region"\nperiod = "day"\nreference_until = 2026-03-03\n'
                      '[columns.store_id]\nkind = "numeric"\n[columns.income]\ndrift_threshold = 0.5\n')
    result = cli("--log", str(log), "--schema", str(schema), "--policy", "rules", "--output-dir", str(tmp_path / "o"))
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "o" / "final_report_log-churn.json").read_text())
    assert "store_id" in report["columns"]["numeric"] and report["columns"]["thresholds"] == {"income": 0.5}
