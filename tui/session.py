"""Driving a run from the TUI: graph.runner.execute in its own process, relayed by a thin worker thread.

The run's process (tui.run_process) runs the same code as `python -m graph.run`; the UI keeps only a
RemoteControl that sends pause / step / speed / stop to it, and a relay thread that turns what it
sends back (the runner's events, holds, its end) into messages for the app. The UI and the graph thus
never share an interpreter lock. A run whose lock another process holds is followed read-only by
polling its stores and checkpoints.
"""
from __future__ import annotations

import dataclasses
import logging
import multiprocessing
import os
import signal
import sqlite3
import subprocess
import threading
import time
from pathlib import Path
from typing import Callable

from langgraph.checkpoint.sqlite import SqliteSaver

from graph.build import build_graph
from graph.runner import CHECKPOINT_FILE, thread_config
from tui.data import lock_held, read_summaries
from tui.messages import Followed, RunEnded, RunEvent
from tui.run_process import boot_command, resume_hint

log = logging.getLogger(__name__)

FOLLOW_INTERVAL = 0.5  # seconds between two polls of a run in another process
EXIT_WAIT = 3.0  # seconds the app waits, when it ends, for a stopped run's process before killing it


class RemoteControl:
    """The UI's side of the run's RunControl (graph.control): the same switches, obeyed in the run's process.

    `paused` and `delay` are what the UI asked for; `waiting` is what the run's process last reported
    (held at a day's end or not).
    """

    def __init__(self, send: Callable[[tuple], None], paused: bool, delay: float):
        self._send, self._paused, self._stop = send, paused, False
        self.delay = delay
        self.waiting = False

    @property
    def paused(self) -> bool:
        return self._paused

    @property
    def stopping(self) -> bool:
        return self._stop

    def pause(self) -> None:
        self._paused = True
        self._send(("pause",))

    def resume(self) -> None:
        self._paused = False
        self._send(("resume",))

    def step(self) -> None:
        self._paused = True
        self._send(("step",))

    def stop(self) -> None:
        self._stop = True
        self._send(("stop",))

    def set_delay(self, seconds: float) -> None:
        self.delay = max(0.0, float(seconds))
        self._send(("delay", self.delay))


def portable(config):
    """The run's config as the child needs it: a log run's open reader and resolved columns are left
    behind (the child's runner validates the config again, which opens the log itself)."""
    private = {f.name: None for f in dataclasses.fields(config) if f.name.startswith("_")}
    return dataclasses.replace(config, **private)


def open_log_file(path: Path) -> int:
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)


class RunProcess:
    """One run in its own process; `post` is thread-safe (Textual's App.post_message)."""

    def __init__(self, config, post: Callable, *, paused: bool, delay: float, fork: dict | None = None,
                 log_path: Path):
        self.config, self.post = config, post
        self.conn, theirs = multiprocessing.Pipe(duplex=True)  # a socket pair; the child's end is inherited by number
        self._lock = threading.Lock()
        self.control = RemoteControl(self._send, paused, delay)
        out = open_log_file(log_path)
        try:
            # A new session: the terminal's signals (hang-up, ^C if it ever arrives) are the TUI's to handle;
            # the child learns that the TUI is gone from the connection instead.
            self.process = subprocess.Popen(boot_command(theirs.fileno()), pass_fds=[theirs.fileno()],
                                            stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True)
        finally:
            os.close(out)
            theirs.close()  # only the child holds its end: when the child ends, our relay sees the end of the stream
        self._send({"config": portable(config), "fork": fork, "paused": paused, "delay": delay})

    def _send(self, message) -> None:
        try:
            with self._lock:
                self.conn.send(message)
        except OSError:  # the process has ended already; its end reaches the relay
            pass

    def relay(self) -> None:
        """The worker thread: the run's events to the app until the process says it ended (or dies)."""
        run_id, ended = self.config.run_id, None
        try:
            while ended is None:
                try:
                    message = self.conn.recv()
                except (EOFError, OSError):
                    break
                if message[0] == "event":
                    self.post(RunEvent(run_id, message[1], message[2]))
                elif message[0] == "hold":
                    self.control.waiting = message[1]
                elif message[0] == "ended":
                    ended = message
        finally:
            self.control.waiting = False
            with self._lock:
                self.conn.close()
        if ended is not None:
            self.post(RunEnded(run_id, ended[1], ended[2]))
            self.reap()
            return
        code = self.reap()
        how = f"killed by {signal.Signals(-code).name}" if code < 0 else f"exit code {code}"
        self.post(RunEnded(run_id, "failed", f"run {run_id} stopped: its process ended unexpectedly ({how}); "
                                             f"resume with: {resume_hint(self.config)}"))

    def reap(self, timeout: float = EXIT_WAIT) -> int:
        """Wait for the process to end (it does at once after its last message); kill it if it does not."""
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            log.warning("run process %d did not end in %.0f s; killing it", self.process.pid, timeout)
            self.process.kill()
            return self.process.wait()

    def close(self) -> None:
        """The app is ending: stop the run between steps (resumable), and make sure its process is gone."""
        if self.process.poll() is None:
            self.control.stop()
            self.reap()


def follow(output_dir: Path, run_id: str, models: list[str], days: int, post: Callable,
           cancelled: Callable[[], bool]) -> None:
    """Poll a run another process holds until its lock is released (or `cancelled()`), read-only."""
    path = Path(output_dir) / CHECKPOINT_FILE
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False, timeout=5)
    try:
        graph = build_graph(SqliteSaver(conn))
        while not cancelled():
            running = lock_held(output_dir, run_id)
            summaries = {m: read_summaries(output_dir, run_id, m) for m in models}
            steps = {}
            for model in models:
                try:
                    snapshot = graph.get_state(thread_config(run_id, model, days))
                    steps[model] = (snapshot.values.get("day"), list(snapshot.next))
                except sqlite3.OperationalError:
                    steps[model] = (None, [])
            post(Followed(run_id, summaries, steps, running))
            if not running:
                return
            time.sleep(FOLLOW_INTERVAL)
    finally:
        conn.close()
