"""Driving a run from the TUI: graph.runner.execute in a worker thread, the same code as `python -m graph.run`.

The runner's events become messages for the app; between steps the run obeys a RunControl (pause,
step, speed, stop). Errors end as one line, the CLI's, never a traceback. A run whose lock another
process holds is followed read-only by polling its stores and checkpoints.
"""
from __future__ import annotations

import logging
import sqlite3
import time
from pathlib import Path
from typing import Callable

from langgraph.checkpoint.sqlite import SqliteSaver

from graph.build import build_graph
from graph.control import RunControl, RunStopped
from graph.fork import fork_run
from graph.runner import CHECKPOINT_FILE, RunConfig, RunError, RunLocked, execute, thread_config
from stores import StoreError
from tui.data import lock_held, read_summaries
from tui.messages import Followed, RunEnded, RunEvent

log = logging.getLogger(__name__)

FOLLOW_INTERVAL = 0.5  # seconds between two polls of a run in another process


def resume_hint(run_id: str, output_dir: Path) -> str:
    return f"mlmon-tui --run-id {run_id} --output-dir {output_dir} (or python -m graph.run with the same options)"


class RunSession:
    """One run in a worker thread; `post` is thread-safe (Textual's App.post_message)."""

    def __init__(self, config: RunConfig, control: RunControl, post: Callable):
        self.config, self.control, self.post = config, control, post

    def on_event(self, kind: str, data: dict) -> None:
        self.post(RunEvent(self.config.run_id, kind, data))
        if kind == "node":
            self.control.after_step(data["node"])  # may hold the graph here (pause) or raise RunStopped

    def run(self, fork: dict | None = None) -> None:
        """Run (or resume) to the end; with `fork` ({run_id, model, day, action}), create that fork first."""
        run_id, config = self.config.run_id, self.config
        try:
            if fork is not None:
                config = fork_run(config.output_dir, fork["run_id"], fork["model"], fork["day"], fork["action"], run_id).config
                self.config = config
            outputs = execute(config, self.on_event)
        except RunStopped:
            self.post(RunEnded(run_id, "stopped", f"run {run_id} stopped; resume with: {resume_hint(run_id, config.output_dir)}"))
        except RunLocked as exc:
            self.post(RunEnded(run_id, "locked", str(exc)))
        except (RunError, ValueError, StoreError) as exc:
            self.post(RunEnded(run_id, "failed", str(exc)))
        except Exception as exc:  # a failure inside the run: the CLI's one line, the traceback in the log only
            log.exception("run %s failed", run_id)
            self.post(RunEnded(run_id, "failed", f"run {run_id} failed: {type(exc).__name__}: {exc} "
                                                 f"(resume with: {resume_hint(run_id, config.output_dir)})"))
        else:
            self.post(RunEnded(run_id, "finished", f"run {run_id} finished; report: {outputs.report_path}"))


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
