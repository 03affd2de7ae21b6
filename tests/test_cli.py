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

from conftest import ROOT, cli, load_report
from graph.report import without_timings


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
    (["--model", "gpt_detector"], "unknown model 'gpt_detector'"),
    (["--scenario", "apocalypse"], "unknown scenario 'apocalypse'"),
    (["--days", "0"], "--days must be a positive"),
    (["--days", "-5"], "--days must be a positive"),
    (["--days", "many"], "invalid int value"),
    (["--policy", "oracle"], "unknown policy 'oracle'"),
    (["--seed", "-1"], "--seed must be >= 0"),
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


def test_bad_fault_spec_is_refused(tmp_path):
    assert_one_line_error(cli("--output-dir", str(tmp_path / "o"), env={"MLMON_FAULT": "teleporter@3"}), "unknown node 'teleporter'")


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


@pytest.mark.slow
def test_sigkill_mid_run_then_resume_equals_an_uninterrupted_run(tmp_path):
    args = ["--run-id", "crash", "--days", "30", "--seed", "3", "--quiet"]
    crashed, clean = tmp_path / "crashed", tmp_path / "clean"
    command = [sys.executable, "-m", "graph.run", "--output-dir", str(crashed), *args]

    for kill_after_day in (6, 17):  # two crashes at different points of the run
        proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        wait_for_day(crashed / "mlmon.db", kill_after_day, proc)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        assert proc.returncode == -signal.SIGKILL
        assert not (crashed / "final_report_crash.json").exists()

    resumed = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed at day" in resumed.stderr
    uninterrupted = cli("--output-dir", str(clean), *args)
    assert uninterrupted.returncode == 0, uninterrupted.stderr

    assert without_timings(load_report(crashed, "crash")) == without_timings(load_report(clean, "crash"))
    for table, skip in [("predictions__pneumonia_classifier_v1", ()), ("reference__pneumonia_classifier_v1", ()),
                        ("metrics", ()), ("day_summaries", ("cycle_ms",)), ("alerts", ()), ("incidents", ()),
                        ("remediation_actions", ())]:
        assert table_rows(crashed / "mlmon.db", table, skip) == table_rows(clean / "mlmon.db", table, skip), table
    with sqlite3.connect(crashed / "mlmon.db") as conn:
        per_day = dict(conn.execute("SELECT day, count(*) FROM predictions__pneumonia_classifier_v1 GROUP BY day"))
    assert per_day == {day: 5000 for day in range(30)}
