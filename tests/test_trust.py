"""Trust boundaries, as a hostile or unlucky user meets them: every case a real process, each checked for
its exit code, its one-line message, and the files that must not change.

Databases are compared byte for byte, except SQLite's -shm index files (and an empty -wal) that any
reader of a WAL database creates beside it: they hold no data of their own.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import pickle
import random
import shlex
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch
from conftest import ROOT, cli, load_report
from test_cli import STORE_TABLES, table_rows, wait_for_day

from graph.report import without_timings
from rl.agent import load_agent
from rl.online import POLICY_FILE
from rl import SHIPPED_POLICY

FAST = ["--days", "3", "--policy", "rules", "--scenario", "sudden_shift", "--onset", "1"]


def snapshot(folder: Path) -> dict[str, str]:
    """sha256 of every file under `folder` that holds data (see the module docstring)."""
    found = {}
    for path in sorted(Path(folder).rglob("*")):
        if path.is_symlink() or not path.is_file():
            continue
        if path.name.endswith("-shm") or (path.name.endswith("-wal") and path.stat().st_size == 0):
            continue
        found[str(path.relative_to(folder))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def one_line_error(result: subprocess.CompletedProcess, code: int, *needles: str) -> str:
    lines = result.stderr.strip().splitlines()
    assert result.returncode == code, (result.returncode, result.stderr)
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    """A finished 3-day run `done` (the playbook policy: no learning, so it is quick)."""
    folder = tmp_path_factory.mktemp("finished")
    result = cli("--output-dir", str(folder), "--run-id", "done", *FAST)
    assert result.returncode == 0, result.stderr
    return folder


def copy_of(folder: Path, tmp_path: Path, name: str = "out") -> Path:
    target = tmp_path / name
    shutil.copytree(folder, target, symlinks=True)
    return target


# ---- security ------------------------------------------------------------------------------------

class RunsCode:
    """What an attacker pickles: unpickling it runs a shell command."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {shlex.quote(str(self.marker))}",)


def hostile_policy(path: Path, marker: Path) -> None:
    path.write_bytes(pickle.dumps({"state_dict": RunsCode(marker), "obs_features": [], "hidden": 64}))


def old_format_policy(path: Path) -> None:
    """A policy as mlmon wrote them before format 2: plain data, but no format marker."""
    payload = torch.load(SHIPPED_POLICY, weights_only=True)
    torch.save({k: v for k, v in payload.items() if k not in ("format", "format_version")}, path)


@pytest.mark.parametrize("kind, needle", [
    ("hostile", "refused unread (loading it could run code)"),
    ("old", "written before policy files were data-only"),
    ("truncated", "is not a readable mlmon policy"),
])
def test_a_policy_file_that_is_not_plain_data_is_refused_unread(tmp_path, kind, needle):
    marker = tmp_path / "pwned"
    out = tmp_path / "out"
    out.mkdir()
    if kind == "hostile":
        hostile_policy(out / POLICY_FILE, marker)
    elif kind == "old":
        old_format_policy(out / POLICY_FILE)
    else:
        (out / POLICY_FILE).write_bytes(SHIPPED_POLICY.read_bytes()[:5000])
    before = snapshot(out)
    one_line_error(cli("--output-dir", str(out), "--days", "1", "--policy", "ppo"), 2, str(out / POLICY_FILE), needle)
    assert not marker.exists()
    assert snapshot(out) == before
    evaluated = subprocess.run([sys.executable, "-m", "rl.evaluate", "--policy", str(out / POLICY_FILE), "--episodes", "1"],
                               cwd=ROOT, capture_output=True, text=True, timeout=300)
    one_line_error(evaluated, 2, needle)
    assert not marker.exists()


def test_the_shipped_policy_and_saved_ones_are_data_only(tmp_path):
    payload = torch.load(SHIPPED_POLICY, weights_only=True)  # raises if anything but plain data is inside
    assert payload["format"] == "mlmon-policy" and payload["format_version"] == 2


@pytest.mark.parametrize("planted", ["rl_policy.lock", ".{run}.lock", "final_report_{run}.json.tmp",
                                     "final_report_{run}.json", "simulation_plots_{run}.png", "rl_policy.pt",
                                     "rl_policy.prev.pt", "mlmon.db", "mlmon.db-wal", "checkpoints.db"])
def test_a_link_planted_where_mlmon_writes_is_refused_and_its_target_untouched(tmp_path, planted):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious data outside the output folder\n")
    out = tmp_path / "out"
    out.mkdir()
    name = planted.format(run="r")
    (out / name).symlink_to(victim)
    before = snapshot(out)
    result = cli("--output-dir", str(out), "--run-id", "r", "--days", "1", "--policy", "ppo")
    if name.endswith(".tmp"):  # a name mlmon no longer writes (temporaries get unique names): harmless
        assert result.returncode == 0, result.stderr
    else:
        one_line_error(result, 2, str(out / name), "is a symbolic link")
        assert snapshot(out) == before
    assert victim.read_text() == "precious data outside the output folder\n"
    assert (out / name).is_symlink()


def test_the_resume_hint_is_quoted_for_a_shell(tmp_path):
    weird = tmp_path / "o;touch X;"
    result = subprocess.run([sys.executable, "-m", "graph.run", "--output-dir", str(weird), "--run-id", "q", *FAST],
                            cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    hint = next(line for line in result.stdout.splitlines() if "resume with:" in line).split("resume with: ", 1)[1]
    assert shlex.split(hint) == ["python", "-m", "graph.run", "--run-id", "q", "--output-dir", str(weird)]
    subprocess.run(["bash", "-c", f"cd {shlex.quote(str(tmp_path))} && echo {hint} > /dev/null"], check=True)
    assert not (tmp_path / "X").exists()


@pytest.mark.parametrize("run_id", ["abc\n", "", "-x", "a" * 101, "a/b", "a b"])
def test_a_run_id_must_match_in_full(tmp_path, run_id):
    one_line_error(cli("--output-dir", str(tmp_path / "o"), "--run-id", run_id, "--days", "1"), 2, "--run-id")
    assert not (tmp_path / "o").exists()


# ---- data: the stores and the checkpoints must agree ----------------------------------------------

def killed_run(tmp_path: Path, kill: str = "record@1") -> Path:
    out = tmp_path / "out"
    killed = cli("--output-dir", str(out), "--run-id", "done", *FAST, env={"MLMON_KILL": kill})
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    return out


@pytest.mark.parametrize("state", ["finished", "unfinished"])
@pytest.mark.parametrize("damage", ["stores lost", "stores replaced", "checkpoints lost"])
def test_stores_and_checkpoints_that_do_not_belong_together_are_refused(tmp_path, finished, state, damage):
    out = copy_of(finished, tmp_path) if state == "finished" else killed_run(tmp_path)
    other = tmp_path / "other"
    assert cli("--output-dir", str(other), "--run-id", "done", *FAST).returncode == 0
    damaged = "checkpoints.db" if damage == "checkpoints lost" else "mlmon.db"
    for side in out.glob(f"{damaged}-*"):  # its -wal and -shm go with it (the other file's stay)
        side.unlink()
    (out / damaged).unlink()
    if damage == "stores replaced":
        shutil.copy(other / "mlmon.db", out / "mlmon.db")  # the same run, even, but another stores file
    before = snapshot(out)
    line = one_line_error(cli("--output-dir", str(out), "--run-id", "done"), 2, "do not belong together",
                          "start clean")
    assert snapshot(out) == before, line


def test_a_finished_report_is_not_overwritten_with_other_content_unless_forced(tmp_path, finished):
    out = copy_of(finished, tmp_path)
    report = out / "final_report_done.json"
    again = cli("--output-dir", str(out), "--run-id", "done")
    assert again.returncode == 0 and "finished already" in again.stdout + again.stderr
    assert snapshot(out) == snapshot(finished)  # re-running a finished run changes nothing
    edited = json.loads(report.read_text())
    edited["summary"]["total_cost"] = 0
    report.write_text(json.dumps(edited, indent=2))
    before = snapshot(out)
    one_line_error(cli("--output-dir", str(out), "--run-id", "done"), 2, str(report), "--force")
    assert snapshot(out) == before
    forced = cli("--output-dir", str(out), "--run-id", "done", "--force")
    assert forced.returncode == 0, forced.stderr
    assert report.read_bytes() == (finished / "final_report_done.json").read_bytes()


def overwrite_pages(db: Path, pages: int, seed: int = 0) -> None:
    rng = random.Random(seed)
    page_size = 4096
    count = db.stat().st_size // page_size
    with open(db, "r+b") as handle:
        for page in rng.sample(range(1, count), pages):  # page 0 (the header) is left: that damage is loud anyway
            handle.seek(page * page_size)
            handle.write(rng.randbytes(page_size))


@pytest.mark.parametrize("name", ["mlmon.db", "checkpoints.db"])
def test_damaged_pages_inside_a_database_are_found_on_open(tmp_path, finished, name):
    out = copy_of(finished, tmp_path)
    overwrite_pages(out / name, 16)
    before = snapshot(out)
    one_line_error(cli("--output-dir", str(out), "--run-id", "done"), 2, str(out / name), "is damaged")
    one_line_error(cli("--output-dir", str(out), "--run-id", "another", *FAST), 2, "is damaged")
    assert snapshot(out) == before


@pytest.mark.slow
@pytest.mark.skipif(not SHIPPED_POLICY.exists(), reason="no shipped policy")
def test_a_resume_decides_with_the_policy_its_run_started_with(tmp_path):
    """Another run in the folder updates the shared policy between the crash and the resume."""
    args = ["--run-id", "a", "--days", "8", "--scenario", "sudden_shift", "--onset", "2", "--seed", "5", "--policy", "ppo"]
    clean = tmp_path / "clean"
    assert cli("--output-dir", str(clean), *args).returncode == 0
    out = tmp_path / "out"
    assert cli("--output-dir", str(out), *args, env={"MLMON_KILL": "act@3"}).returncode == -signal.SIGKILL
    other = cli("--output-dir", str(out), "--run-id", "b", "--days", "4", "--policy", "ppo", "--seed", "9")
    assert other.returncode == 0, other.stderr
    assert load_agent(out / POLICY_FILE)[1]["online_runs"] == ["b"]  # the folder's policy moved on
    resumed = cli("--output-dir", str(out), *args)
    assert resumed.returncode == 0, resumed.stderr
    crashed, uninterrupted = load_report(out, "a"), load_report(clean, "a")
    assert without_timings(crashed["days"]) == without_timings(uninterrupted["days"])
    assert crashed["online_learning"]["decided_with"] == uninterrupted["online_learning"]["decided_with"]
    for table, skip in STORE_TABLES:
        rows = [r for r in table_rows(out / "mlmon.db", table, skip) if str(r[0]).split("/")[0] == "a"]
        assert rows == table_rows(clean / "mlmon.db", table, skip), table


# ---- bounded growth ------------------------------------------------------------------------------

def test_days_have_a_documented_upper_bound(tmp_path):
    one_line_error(cli("--output-dir", str(tmp_path / "o"), "--days", "100000"), 2, "--days must be a number of days from 1 to 365")
    assert not (tmp_path / "o").exists()


def in_small_filesystem(megabytes: int, script: str) -> subprocess.CompletedProcess:
    """Run a bash script in a private mount namespace with a tmpfs of `megabytes` MB at $SMALL."""
    if shutil.which("unshare") is None:
        pytest.skip("needs unshare (util-linux) for a private, size-limited filesystem")
    small = Path(os.environ.get("TMPDIR", "/tmp")) / f"mlmon-small-{os.getpid()}-{time.time_ns()}"
    small.mkdir()
    body = f"set -e\nmount -t tmpfs -o size={megabytes}m none {small}\nexport SMALL={small}\ncd {shlex.quote(str(ROOT))}\n{script}"
    try:
        result = subprocess.run(["unshare", "-rm", "bash", "-c", body], capture_output=True, text=True, timeout=600,
                                env={**os.environ, "PYTHON": sys.executable})
    finally:
        small.rmdir()
    if "mount" in result.stderr and "ermission" in result.stderr:
        pytest.skip(f"cannot mount a tmpfs here: {result.stderr.strip()}")
    return result


@pytest.mark.slow
def test_a_run_that_will_not_fit_in_the_free_space_is_refused_up_front():
    result = in_small_filesystem(120, textwrap.dedent("""
        "$PYTHON" -m graph.run --output-dir "$SMALL/out" --model all --days 10 --policy rules 2> "$SMALL/err" || echo "rc=$?"
        cat "$SMALL/err"; echo "files=$(ls -A "$SMALL/out" | wc -l)"
        "$PYTHON" -m graph.run --output-dir "$SMALL/out" --model all --days 10 --policy rules --keep-days 1 --quiet \
            2> "$SMALL/err2" && echo "with retention: ok"; tail -1 "$SMALL/err2"
    """))
    assert "rc=2" in result.stdout, result.stdout + result.stderr
    assert "needs about" in result.stdout and "--keep-days" in result.stdout
    assert "files=0" in result.stdout  # refused before anything was written
    assert "with retention: ok" in result.stdout, result.stdout


def test_keep_days_keeps_only_the_newest_rows_and_every_days_findings(tmp_path):
    out = tmp_path / "out"
    result = cli("--output-dir", str(out), "--run-id", "k", "--days", "5", "--policy", "rules", "--keep-days", "2")
    assert result.returncode == 0, result.stderr
    with sqlite3.connect(out / "mlmon.db") as conn:
        days = dict(conn.execute("SELECT day, count(*) FROM predictions__pneumonia_classifier_v1 GROUP BY day"))
    assert days == {3: 5000, 4: 5000}
    assert [d["day"] for d in load_report(out, "k")["days"]] == [0, 1, 2, 3, 4]


@pytest.mark.skipif(not SHIPPED_POLICY.exists(), reason="no shipped policy")
def test_the_policy_file_stays_bounded_however_many_runs_learn(tmp_path, monkeypatch):
    from rl import online

    monkeypatch.setattr(online, "ONLINE_RUNS_KEPT", 3)
    monkeypatch.setattr(online, "CURVE_RUNS_KEPT", 2)
    monkeypatch.setattr(online, "ONLINE_ARGS", online.ONLINE_ARGS.__class__(
        **{**online.ONLINE_ARGS.__dict__, "total_timesteps": 60, "num_envs": 2}))
    for i in range(5):
        online.update_policy(tmp_path, f"r{i}", [], seed=i)
    _, saved = load_agent(tmp_path / POLICY_FILE)
    assert saved["online_runs"] == ["r2", "r3", "r4"] and saved["online_runs_total"] == 5
    assert sorted({r["run_id"] for r in saved["online_curve"]}) == ["r3", "r4"]
    assert "already learned" in online.update_policy(tmp_path, "r4", [], seed=4)["skipped"]


# ---- signals and streams -------------------------------------------------------------------------

def start(out: Path, *args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "graph.run", "--output-dir", str(out), *args], cwd=ROOT,
                            stdout=kwargs.pop("stdout", subprocess.PIPE), stderr=subprocess.PIPE, text=True, **kwargs)


def test_a_signal_during_start_up_says_so_in_one_line(tmp_path):
    proc = start(tmp_path / "o", "--days", "2")
    time.sleep(0.6)  # the libraries are still loading
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    one_line_error(subprocess.CompletedProcess(proc.args, proc.returncode, "", err), 130, "during start-up")
    assert not (tmp_path / "o").exists()


SIGNAL_ARGS = ["--run-id", "sig", "--days", "12", "--policy", "rules", "--scenario", "sudden_shift", "--onset", "3"]


@pytest.fixture(scope="module")
def uninterrupted_signal_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("uninterrupted")
    assert cli("--output-dir", str(out), *SIGNAL_ARGS).returncode == 0
    return out


@pytest.mark.slow
@pytest.mark.parametrize("how, code, needle", [(signal.SIGINT, 130, "interrupted (SIGINT)"),
                                               (signal.SIGTERM, 143, "terminated (SIGTERM)"),
                                               ("closed stdout", 141, "standard output was closed")])
def test_a_stopped_run_says_so_in_one_line_and_resumes_to_the_same_report(tmp_path, uninterrupted_signal_run,
                                                                          how, code, needle):
    out = tmp_path / "out"
    if how == "closed stdout":  # `python -m graph.run | head -3`
        reader, writer = os.pipe()
        proc = start(out, *SIGNAL_ARGS, stdout=writer)
        os.close(writer)
        with os.fdopen(reader) as pipe:
            for _ in range(3):
                pipe.readline()
    else:
        proc = start(out, *SIGNAL_ARGS)
        wait_for_day(out / "mlmon.db", 4, proc)
        proc.send_signal(how)
    _, err = proc.communicate(timeout=120)
    line = one_line_error(subprocess.CompletedProcess(proc.args, proc.returncode, "", err), code, needle,
                          "--run-id sig")
    assert not (out / "final_report_sig.json").exists()
    resumed = cli(*shlex.split(line.split("resumed with: ", 1)[1])[3:])  # the printed command, as pasted
    assert resumed.returncode == 0, resumed.stderr
    assert without_timings(load_report(out, "sig")) == without_timings(load_report(uninterrupted_signal_run, "sig"))


@pytest.mark.skipif(not SHIPPED_POLICY.exists(), reason="no shipped policy")
def test_a_run_waiting_for_the_policy_lock_says_whom_it_waits_for(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    with open(out / "rl_policy.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        lock.write("run nightly-42")
        lock.flush()
        proc = start(out, "--run-id", "w", "--days", "2", "--policy", "ppo")
        deadline = time.time() + 120
        seen = ""
        while time.time() < deadline and "waiting for" not in seen:
            seen += proc.stdout.readline()
            assert proc.poll() is None, proc.stderr.read()
        fcntl.flock(lock, fcntl.LOCK_UN)
    out_rest, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert "waiting for run nightly-42 to finish its policy update" in seen


# ---- values that pass a first look and fail later -----------------------------------------------

@pytest.mark.parametrize("args, env, needle", [
    (["--seed", str(2**64)], {}, "--seed must be from 0 to 2**63-1"),
    (["--scenario", "stable", "--onset", "5"], {}, "--onset does not apply to scenario stable"),
    (["--scenario", "bad_deploy", "--severity", "2"], {}, "--severity does not apply to scenario bad_deploy"),
    (["--scenario", "seasonal", "--onset", "5"], {}, "--onset does not apply to scenario seasonal"),
    (["--output-dir", ""], {}, "--output-dir: must not be empty"),
    (["--keep-days", "0"], {}, "--keep-days must be at least 1"),
    ([], {"MLMON_FAULT": "drift@"}, "bad day range ''"),
    ([], {"MLMON_FAULT": ",,,"}, "has an empty entry"),
    ([], {"MLMON_KILL": "record@x"}, "MLMON_KILL: bad day range"),
])
def test_values_that_would_fail_later_fail_up_front(tmp_path, args, env, needle):
    result = cli("--output-dir", str(tmp_path / "o"), "--days", "3", *args, env=env)
    one_line_error(result, 2, needle)
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("damage", ["config not json", "config without models", "foreign runs table"])
def test_a_malformed_or_foreign_run_registry_is_one_line(tmp_path, finished, damage):
    out = copy_of(finished, tmp_path)
    with sqlite3.connect(out / "mlmon.db") as conn:
        if damage == "config not json":  # and unfinished, so that --resume picks it
            conn.execute("UPDATE runs SET config = '{not json', status = 'running'")
        elif damage == "config without models":
            conn.execute("UPDATE runs SET config = '{\"days\": 3}', status = 'running'")
        else:
            conn.execute("DROP TABLE runs")
            conn.execute("CREATE TABLE runs (run_id TEXT PRIMARY KEY, settings TEXT)")
            conn.execute("INSERT INTO runs VALUES ('done', '{}')")
    conn.close()
    before = snapshot(out)
    attempts = [["--run-id", "done"], ["--resume"]] + ([["--run-id", "fresh", *FAST]] if damage == "foreign runs table" else [])
    for args in attempts:
        one_line_error(cli("--output-dir", str(out), *args), 2, "mlmon.db")
    assert snapshot(out) == before


@pytest.mark.slow
@pytest.mark.skipif(not SHIPPED_POLICY.exists(), reason="no shipped policy")
def test_a_full_disk_during_the_policy_save_is_one_line_and_leaves_no_temporary_file():
    result = in_small_filesystem(64, textwrap.dedent("""
        out="$SMALL/out"
        MLMON_KILL=learning "$PYTHON" -m graph.run --output-dir "$out" --run-id full --days 2 --policy ppo --quiet \
            2> /dev/null || true
        "$PYTHON" - "$SMALL" <<'EOF'
        import os, sys
        small = sys.argv[1]
        with open(os.path.join(small, "filler"), "wb") as f:   # leave 40 KB: less than a policy file
            while (free := os.statvfs(small).f_bavail * os.statvfs(small).f_frsize) > 40 * 1024:
                f.write(b"\\0" * min(free - 40 * 1024, 1 << 20)); f.flush()
        EOF
        before=$(ls -A "$out")
        rc=0; err=$("$PYTHON" -m graph.run --output-dir "$out" --run-id full 2>&1 > /dev/null) || rc=$?
        echo "rc=$rc"  # (the messages are kept in memory: the full disk could not hold them)
        echo "stderr:"; echo "$err"
        echo "files:"; ls -A "$out"
        echo "was:"; echo "$before"
    """))
    out = result.stdout
    assert "rc=1" in out, out + result.stderr
    err = out.split("stderr:\n", 1)[1].split("files:\n", 1)[0].strip().splitlines()
    assert len(err) == 1 and "No space left on device" in err[0] and "resume with:" in err[0], err
    files = out.split("files:\n", 1)[1].split("was:\n", 1)[0].split()
    assert not [f for f in files if f.endswith(".tmp")], files
    assert "rl_policy.pt" not in files and "final_report_full.json" not in files
