"""mlmon-tui's run process, tested as a user meets it: the TUI as a real process in a pseudo-terminal.

The run goes on in a child process (tui.run_process); these tests check what that must not change:
the child never writes to the terminal the UI draws on, it does not outlive the TUI (killed with
SIGKILL, the TUI leaves no orphan), and the run it leaves behind resumes with `python -m graph.run`
to the same report as an uninterrupted run.
"""
from __future__ import annotations

import fcntl
import os
import select
import signal
import struct
import subprocess
import sys
import termios
import threading
import time
from pathlib import Path

from conftest import ROOT, cli, load_report

from graph.report import without_timings
from tui.data import lock_held, read_summaries

PNEUMONIA = "pneumonia_classifier_v1"
RUN = ["--days", "6", "--seed", "3", "--scenario", "sudden_shift", "--onset", "2", "--policy", "rules"]


class Terminal(threading.Thread):
    """A pseudo-terminal the app draws on; everything written to it is kept."""

    def __init__(self, size=(80, 24)):
        super().__init__(daemon=True)
        self.master, self.slave = os.openpty()
        fcntl.ioctl(self.slave, termios.TIOCSWINSZ, struct.pack("HHHH", size[1], size[0], 0, 0))
        self.output = bytearray()

    def run(self) -> None:
        while True:
            ready, _, _ = select.select([self.master], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(self.master, 65536)
                except OSError:
                    return
                if not chunk:
                    return
                self.output += chunk


def children(pid: int) -> list[int]:
    """The processes `pid` started (Linux: /proc/<pid>/task/*/children)."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return found


def gone(pid: int) -> bool:
    """Ended: no such process, or a zombie waiting for its reaper (it runs no code any more)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def wait_until(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_the_run_process_stays_off_the_terminal_and_dies_with_the_tui(tmp_path):
    out = tmp_path / "out"
    clean = cli("--output-dir", str(tmp_path / "clean"), "--run-id", "r", *RUN, "--quiet", env={"MLMON_FAULT": "drift@1"})
    assert clean.returncode == 0, clean.stderr

    terminal = Terminal()
    terminal.start()
    env = {**os.environ, "TERM": "xterm-256color", "TMPDIR": str(tmp_path), "MLMON_FAULT": "drift@1"}
    tui = subprocess.Popen([sys.executable, "-m", "tui", "--output-dir", str(out), "--run-id", "r", *RUN, "--paused"],
                           cwd=ROOT, stdin=terminal.slave, stdout=terminal.slave, stderr=terminal.slave, env=env,
                           start_new_session=True)
    os.close(terminal.slave)
    try:
        # Started paused: the run holds after its first day, with its lock held by the run's own process.
        wait_until(lambda: lock_held(out, "r") and len(read_summaries(out, "r", PNEUMONIA)) == 1, 120, "day 0")
        (child,) = children(tui.pid)
        assert child != tui.pid and not gone(child)
        wait_until(lambda: b"PAUSED" in terminal.output, 30, "the paused run on screen")

        # The child's stderr is a log file in the TUI's temp dir, not the terminal.
        child_log = tmp_path / f"mlmon-tui-{tui.pid}.log"
        assert "MLMON_FAULT=drift@1 is set: injected faults are active" in child_log.read_text()
        assert b"injected faults" not in terminal.output and b"WARNING" not in terminal.output

        tui.send_signal(signal.SIGKILL)  # no chance to stop the run: the child must notice by itself
        tui.wait(timeout=10)
        wait_until(lambda: gone(child), 15, "the run process to end after the TUI died")
    finally:
        if tui.poll() is None:
            tui.kill()
            tui.wait()
        os.close(terminal.master)

    assert not lock_held(out, "r")
    resumed = cli("--output-dir", str(out), "--run-id", "r", "--quiet", env={"MLMON_FAULT": "drift@1"})
    assert resumed.returncode == 0 and "resumed at day" in resumed.stderr, resumed.stderr
    assert without_timings(load_report(out, "r")) == without_timings(load_report(tmp_path / "clean", "r"))
