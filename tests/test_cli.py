"""The CLI as a user meets it: bad input, resuming, and a real process killed with SIGKILL mid-run."""
from __future__ import annotations

import hashlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from conftest import ROOT, cli, load_report

from graph.report import without_timings
from rl.online import POLICY_FILE
from rl.agent import load_agent


def snapshot(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


def assert_one_line_error(result: subprocess.CompletedProcess, *needles: str) -> None:
    assert result.returncode == 2, (result.returncode, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr
    for needle in needles:
        assert needle in lines[0]


@pytest.mark.parametrize("args, needle", [
    (["--model", "gpt_detector"], "invalid choice: 'gpt_detector'"),
    (["--scenario", "apocalypse"], "invalid choice: 'apocalypse'"),
    (["--days", "0"], "--days must be a number of days from 1 to"),
    (["--days", "-5"], "--days must be a number of days from 1 to"),
    (["--days", "many"], "invalid int value"),
    (["--policy", "oracle"], "invalid choice: 'oracle'"),
    (["--seed", "-1"], "--seed must be from 0 to"),
])
def test_bad_arguments_give_one_line_and_write_nothing(tmp_path, args, needle):
    out = tmp_path / "out"
    assert_one_line_error(cli("--output-dir", str(out), *args), needle)
    assert not out.exists()


def test_unwritable_output_dir(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("keep me")
    assert_one_line_error(cli("--output-dir", str(blocker / "results"), "--days", "1"), "not writable")
    assert_one_line_error(cli("--output-dir", str(blocker), "--days", "1"), "not a directory")
    assert blocker.read_text() == "keep me"


@pytest.mark.parametrize("name", ["mlmon.db", "checkpoints.db"])
def test_corrupt_database_is_refused_and_left_untouched(tmp_path, name):
    (tmp_path / name).write_bytes(b"\x00garbage that is not sqlite" * 1000)
    before = snapshot(tmp_path)
    assert_one_line_error(cli("--output-dir", str(tmp_path), "--days", "1"), name, "not a usable SQLite database")
    assert snapshot(tmp_path) == before
    assert_one_line_error(cli("--output-dir", str(tmp_path), "--run-id", "x", "--days", "1"), name)
    assert snapshot(tmp_path) == before


def test_a_corrupt_learned_policy_is_refused_and_left_untouched(tmp_path):
    (tmp_path / POLICY_FILE).write_bytes(b"not a torch file")
    before = snapshot(tmp_path)
    assert_one_line_error(cli("--output-dir", str(tmp_path), "--days", "1", "--policy", "ppo"), POLICY_FILE,
                          "not a readable mlmon policy")
    assert snapshot(tmp_path) == before


def test_bad_fault_spec_is_refused(tmp_path):
    assert_one_line_error(cli("--output-dir", str(tmp_path / "o"), env={"MLMON_FAULT": "teleporter@3"}), "unknown node 'teleporter'")
    assert_one_line_error(cli("--output-dir", str(tmp_path / "o"), env={"MLMON_FAULT": "drift@soon"}), "bad day range")


def test_a_foreign_sqlite_file_is_refused_and_left_untouched(tmp_path):
    foreign = sqlite3.connect(tmp_path / "mlmon.db")
    foreign.execute("CREATE TABLE runs (x INTEGER)")
    foreign.commit()
    foreign.close()
    before = snapshot(tmp_path)
    assert_one_line_error(cli("--output-dir", str(tmp_path), "--days", "1"), "not an mlmon store")
    assert_one_line_error(cli("--output-dir", str(tmp_path), "--run-id", "x", "--days", "1"), "not an mlmon store")
    assert snapshot(tmp_path) == before


def test_a_run_id_that_is_not_a_file_name_is_refused(tmp_path):
    assert_one_line_error(cli("--output-dir", str(tmp_path / "o"), "--run-id", "a/b"), "--run-id: 'a/b' must be")
    assert not (tmp_path / "o" / "mlmon.db").exists()


def test_resume_rules(tmp_path):
    first = cli("--output-dir", str(tmp_path), "--run-id", "r1", "--days", "3", "--policy", "noop", "--quiet")
    assert first.returncode == 0, first.stderr
    again = cli("--output-dir", str(tmp_path), "--run-id", "r1", "--quiet")  # stored settings are reused
    assert again.returncode == 0 and "finished already" in again.stderr
    before = snapshot(tmp_path)
    clash = cli("--output-dir", str(tmp_path), "--run-id", "r1", "--days", "5")
    assert_one_line_error(clash, "r1 was started with days=3")
    assert snapshot(tmp_path)["mlmon.db"] == before["mlmon.db"]
    assert_one_line_error(cli("--output-dir", str(tmp_path), "--resume"), "no unfinished run")


def wait_for_day(db: Path, day: int, proc: subprocess.Popen, timeout: float = 300) -> None:
    """Block until the run has recorded `day` (read from the real stores file, as another process would)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        assert proc.poll() is None, "the run ended before it could be killed"
        if db.exists():
            try:
                with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as conn:
                    row = conn.execute("SELECT max(day) FROM day_summaries").fetchone()
                if row and row[0] is not None and row[0] >= day:
                    return
            except sqlite3.OperationalError:
                pass  # tables not created yet
        time.sleep(0.05)
    raise AssertionError(f"day {day} never recorded")


def table_rows(db: Path, table: str, skip: tuple = ()) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        cols = [c[1] for c in conn.execute(f"PRAGMA table_info([{table}])") if c[1] not in skip]
        return conn.execute(f"SELECT {', '.join(f'[{c}]' for c in cols)} FROM [{table}] ORDER BY 1, 2, 3, 4").fetchall()


STORE_TABLES = [("predictions__pneumonia_classifier_v1", ()), ("reference__pneumonia_classifier_v1", ()),
                ("metrics", ()), ("day_summaries", ("cycle_ms",)), ("alerts", ()), ("incidents", ()),
                ("remediation_actions", ())]
CRASH_ARGS = ["--run-id", "crash", "--days", "16", "--seed", "3", "--scenario", "sudden_shift", "--quiet"]


def assert_same_as_uninterrupted(crashed: Path, clean: Path, days: int = 16) -> None:
    assert without_timings(load_report(crashed, "crash")) == without_timings(load_report(clean, "crash"))
    for table, skip in STORE_TABLES:
        assert table_rows(crashed / "mlmon.db", table, skip) == table_rows(clean / "mlmon.db", table, skip), table
    with sqlite3.connect(crashed / "mlmon.db") as conn:
        per_day = dict(conn.execute("SELECT day, count(*) FROM predictions__pneumonia_classifier_v1 GROUP BY day"))
    assert per_day == {day: 5000 for day in range(days)}
    learned = [crashed / POLICY_FILE, clean / POLICY_FILE]  # the default policy learns online at the end of a run
    assert learned[0].exists() == learned[1].exists()
    if learned[0].exists():
        weights = [load_agent(path)[0].state_dict() for path in learned]
        assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> Path:
    clean = tmp_path_factory.mktemp("clean")
    result = cli("--output-dir", str(clean), *CRASH_ARGS)
    assert result.returncode == 0, result.stderr
    return clean


def resume(folder: Path) -> subprocess.CompletedProcess:
    result = cli("--output-dir", str(folder), *CRASH_ARGS)
    assert result.returncode == 0, result.stderr
    assert "resumed at day" in result.stderr
    return result


@pytest.mark.slow
def test_sigkill_at_a_random_moment_then_resume_equals_an_uninterrupted_run(tmp_path, uninterrupted):
    crashed = tmp_path / "crashed"
    command = [sys.executable, "-m", "graph.run", "--output-dir", str(crashed), *CRASH_ARGS]
    for kill_after_day in (4, 11):  # two crashes, wherever the run happens to be
        proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        wait_for_day(crashed / "mlmon.db", kill_after_day, proc)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        assert proc.returncode == -signal.SIGKILL
        assert not (crashed / "final_report_crash.json").exists()
    resume(crashed)
    assert_same_as_uninterrupted(crashed, uninterrupted)


@pytest.mark.slow
@pytest.mark.parametrize("kill", ["load_day@2", "alert@12", "remediation@12", "act@12", "record@5", "performance@13"])
def test_sigkill_right_after_a_steps_writes_then_resume_equals_an_uninterrupted_run(tmp_path, uninterrupted, kill):
    """The worst moments: a step's rows are in the stores but its checkpoint is not (MLMON_KILL)."""
    crashed = tmp_path / "crashed"
    killed = cli("--output-dir", str(crashed), *CRASH_ARGS, env={"MLMON_KILL": kill})
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    resume(crashed)
    assert_same_as_uninterrupted(crashed, uninterrupted)


def test_a_second_process_on_a_running_run_is_refused(tmp_path):
    command = [sys.executable, "-m", "graph.run", "--output-dir", str(tmp_path), "--run-id", "busy", "--quiet"]
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_for_day(tmp_path / "mlmon.db", 1, proc)
        assert_one_line_error(cli("--output-dir", str(tmp_path), "--run-id", "busy"), "already running in another process")
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.slow
def test_sigkill_in_a_multi_model_run_resumes_every_thread(tmp_path):
    args = ["--model", "all", "--days", "3", "--scenario", "stable", "--run-id", "multi", "--quiet"]
    killed = cli("--output-dir", str(tmp_path / "crashed"), *args, env={"MLMON_KILL": "act@1"})
    assert killed.returncode == -signal.SIGKILL
    resumed = cli("--output-dir", str(tmp_path / "crashed"), *args)
    clean = cli("--output-dir", str(tmp_path / "clean"), *args)
    assert resumed.returncode == 0 and clean.returncode == 0, resumed.stderr + clean.stderr
    assert "pneumonia_classifier_v1: resumed at day 1" in resumed.stderr
    assert without_timings(load_report(tmp_path / "crashed", "multi")) == without_timings(load_report(tmp_path / "clean", "multi"))
