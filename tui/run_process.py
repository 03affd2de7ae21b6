"""The run's own process: graph.runner.execute for one TUI run, away from the UI's interpreter lock.

tui.session starts it as a fresh interpreter (spawned, never forked from the threaded UI) with a
connection on an inherited descriptor: it reads its run, sends the runner's events back, and obeys
pause / step / speed / stop between steps. If the TUI goes away (its end of the connection closes),
the run stops between steps, or is ended after a grace period, which is as safe as SIGKILL.
Its stdout and stderr are a log file the TUI chose, never the terminal the UI draws on.
"""
from __future__ import annotations

import logging
import os
import sys
import threading
from multiprocessing.connection import Connection
from pathlib import Path

from graph.control import RunControl, RunStopped
from graph.errors import RunError, RunLocked
from graph.fork import fork_run
from graph.runner import execute
from nodes.faults import ENV_VAR as FAULT_ENV_VAR
from nodes.faults import KILL_VAR
from stores import StoreError

log = logging.getLogger("mlmon.tui.run")

ORPHAN_GRACE = 5.0  # seconds a run whose TUI died gets to reach the end of its step before the process ends
EXIT_ORPHANED = 3


def resume_hint(config) -> str:
    """How the user goes on with a stopped run: the same command in the TUI or the CLI."""
    if getattr(config, "kind", "simulation") == "log":
        return (f"the same --log command (mlmon-tui or python -m graph.run) with --run-id {config.run_id} "
                f"--output-dir {config.output_dir}")
    return (f"mlmon-tui --run-id {config.run_id} --output-dir {config.output_dir} "
            f"(or python -m graph.run with the same options)")


def run_to_end(config, fork: dict | None, control: RunControl, send_event) -> tuple[str, str]:
    """Run (or resume) the run; with `fork` ({run_id, model, day, action}) create that fork first.

    Returns (outcome, one line for the user): outcome is finished, stopped, locked or failed, and the
    line is the CLI's wording for the same end.
    """
    run_id = config.run_id

    def on_event(kind: str, data: dict) -> None:
        send_event(kind, data)
        if kind == "node":
            control.after_step(data["node"])  # may hold the graph here (pause) or raise RunStopped

    try:
        if fork is not None:
            config = fork_run(config.output_dir, fork["run_id"], fork["model"], fork["day"], fork["action"], run_id).config
        outputs = execute(config, on_event)
    except RunStopped:
        return "stopped", f"run {run_id} stopped; resume with: {resume_hint(config)}"
    except RunLocked as exc:
        return "locked", str(exc)
    except (RunError, ValueError, StoreError) as exc:
        return "failed", str(exc)
    except Exception as exc:  # a failure inside the run: the CLI's one line; the traceback goes to the log file
        log.exception("run %s failed", run_id)
        return "failed", f"run {run_id} failed: {type(exc).__name__}: {exc} (resume with: {resume_hint(config)})"
    return "finished", f"run {run_id} finished; report: {outputs.report_path}"


class Link:
    """The child's end of the connection: one writer at a time; a send that fails means the TUI is gone."""

    def __init__(self, conn: Connection):
        self.conn, self.lock = conn, threading.Lock()
        self.control: RunControl | None = None
        self.orphaned = threading.Event()

    def send(self, message: tuple) -> None:
        if self.orphaned.is_set():
            return
        try:
            with self.lock:
                self.conn.send(message)
        except OSError:  # broken pipe / reset: the TUI is gone
            self.parent_gone()

    def parent_gone(self) -> None:
        """Stop between steps; if the step does not end in time, end the process (as safe as SIGKILL)."""
        if self.orphaned.is_set():
            return
        self.orphaned.set()
        if self.control is not None:
            self.control.stop()
        timer = threading.Timer(ORPHAN_GRACE, os._exit, (EXIT_ORPHANED,))
        timer.daemon = True
        timer.start()

    def obey(self) -> None:
        """The command thread: apply the TUI's commands to the run's RunControl until the TUI goes away."""
        control = self.control
        commands = {"pause": control.pause, "resume": control.resume, "step": control.step, "stop": control.stop}
        while True:
            try:
                name, *args = self.conn.recv()
            except (EOFError, OSError):
                self.parent_gone()
                return
            if name == "delay":
                control.set_delay(*args)
            else:
                commands[name]()


def main(fd: int) -> int:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format=f"%(asctime)s run process {os.getpid()} %(levelname)s %(name)s: %(message)s")
    link = Link(Connection(fd))
    try:
        request = link.conn.recv()
    except (EOFError, OSError):
        return EXIT_ORPHANED
    config = request["config"]
    link.control = RunControl(paused=request["paused"], delay=request["delay"],
                              on_hold=lambda held: link.send(("hold", held)))
    threading.Thread(target=link.obey, name="tui-commands", daemon=True).start()
    for var in (FAULT_ENV_VAR, KILL_VAR):
        if os.environ.get(var):
            log.warning("run %s: %s=%s is set: injected faults are active", config.run_id, var, os.environ[var])
    outcome, detail = run_to_end(config, request["fork"], link.control,
                                 lambda kind, data: link.send(("event", kind, data)))
    link.send(("ended", outcome, detail))
    return 0


def boot_command(fd: int) -> list[str]:
    """The child's command line: this interpreter, this package first on the path (a worktree shadows an install)."""
    root = str(Path(__file__).resolve().parents[1])
    code = f"import sys; sys.path.insert(0, {root!r}); from tui.run_process import main; sys.exit(main({fd}))"
    return [sys.executable, "-c", code]
