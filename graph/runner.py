"""Running monitoring threads: start, resume or skip each (run, model) thread, then write the outputs.

A run is one thread per model (thread id `<run-id>:<model>`) in a SqliteSaver checkpoint file. A
thread with no checkpoint starts at day 0; one whose last snapshot still has work (`next` or `tasks`)
resumes from it; one with neither is finished and is skipped. The CLI (graph.run) and the TUI both
drive runs through this module and observe them through the `on_event` callback.
"""
from __future__ import annotations

import fcntl
import logging
import re
import sqlite3
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from langgraph.checkpoint.sqlite import SqliteSaver

from graph.build import build_graph
from graph.context import RunContext
from graph.plots import plot_run
from graph.report import build_report, write_report
from graph.state import empty_memory
from nodes import faults
from rl.policies import make_policy
from simulator import episode
from simulator.catalog import get_model
from simulator.scenarios import get_scenario
from simulator.world import World
from stores import STORES_FILE, Stores, StoreError, open_stores
from stores.db import MLMON_APPLICATION_ID, check_sqlite_file

log = logging.getLogger(__name__)

CHECKPOINT_FILE = "checkpoints.db"
CHECKPOINT_TABLES = {"checkpoints", "writes"}  # what langgraph's SqliteSaver creates
RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


class RunError(Exception):
    """A run cannot start or go on; the message is meant for the user, in one line."""


class RunLocked(RunError):
    """Another process is running this run right now."""


@dataclass
class RunConfig:
    models: list[str]
    scenario: str
    days: int
    seed: int
    policy: str
    output_dir: Path
    run_id: str
    onset: int | None = None  # scenario parameters; None keeps the scenario's documented default
    severity: float | None = None

    def settings(self) -> dict:
        """What identifies the run's results (resuming with other settings is refused)."""
        return {"models": self.models, "scenario": self.scenario, "days": self.days, "seed": self.seed,
                "policy": self.policy, "onset": self.onset, "severity": self.severity}

    def world_scenario(self):
        scenario = get_scenario(self.scenario)
        changes = {k: v for k, v in (("onset", self.onset), ("severity", self.severity)) if v is not None}
        return scenario.with_params(**changes) if changes else scenario


@dataclass
class RunOutputs:
    report_path: Path
    plot_paths: list[Path]
    report: dict
    threads: dict = field(default_factory=dict)  # model -> "started" | "resumed" | "finished already"


def validate_output_dir(output_dir: Path) -> None:
    """Fail early, before anything is written, if the output folder or its databases are unusable."""
    if output_dir.exists() and not output_dir.is_dir():
        raise RunError(f"output dir {output_dir} exists and is not a directory")
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
        probe = output_dir / f".mlmon-write-test-{time.time_ns()}"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise RunError(f"output dir {output_dir} is not writable ({exc.strerror or exc})") from None
    try:
        check_sqlite_file(output_dir / STORES_FILE, application_id=MLMON_APPLICATION_ID)
        check_sqlite_file(output_dir / CHECKPOINT_FILE, tables=CHECKPOINT_TABLES)
    except StoreError as exc:
        raise RunError(f"{exc}; move it away or choose another --output-dir") from None


def validate_settings(config: RunConfig) -> None:
    if not RUN_ID.match(config.run_id):
        raise ValueError(f"--run-id {config.run_id!r} must be letters, digits, '.', '_' or '-' (it names files)")
    for model in config.models:
        get_model(model)
    get_scenario(config.scenario)
    if config.onset is not None and not 0 <= config.onset < config.days:
        raise ValueError(f"--onset must be a day of the run (0 to {config.days - 1}), not {config.onset}")
    if config.severity is not None and not 0 < config.severity <= 3:
        raise ValueError(f"--severity must be in (0, 3], not {config.severity}")
    if config.days <= 0:
        raise ValueError(f"--days must be a positive number of days, not {config.days}")
    if config.seed < 0:
        raise ValueError(f"--seed must be >= 0, not {config.seed}")
    make_policy(config.policy, config.seed, config.output_dir)
    faults.from_environment()
    faults.kills_from_environment()


def open_checkpointer(output_dir: Path) -> SqliteSaver:
    conn = sqlite3.connect(output_dir / CHECKPOINT_FILE, check_same_thread=False, timeout=30)
    conn.execute("PRAGMA journal_mode=WAL")
    # In WAL mode NORMAL survives a killed process (only an OS crash can lose the last commits, and a
    # resume replays those days idempotently); FULL fsyncs every super-step, ~3x the checkpoint cost.
    conn.execute("PRAGMA synchronous=NORMAL")
    return SqliteSaver(conn)


def thread_config(run_id: str, model: str, days: int) -> dict:
    # Each day is 8-9 super-steps; leave room for fallbacks.
    return {"configurable": {"thread_id": f"{run_id}:{model}"}, "recursion_limit": 20 * days + 50}


def thread_status(graph, config: dict) -> str:
    snapshot = graph.get_state(config)
    if not snapshot.values:
        return "new"
    if snapshot.next or snapshot.tasks:
        return "unfinished"
    return "finished"


def initial_state(config: RunConfig, model: str, world: World) -> dict:
    return {"run_id": config.run_id, "model": model, "scenario": config.scenario, "seed": config.seed,
            "days": config.days, "policy": config.policy, "baseline": world.monitoring_baseline(), "day": 0,
            "memory": empty_memory(world.initial_state().model.version), "sim": episode.start(world)}


def run_model(config: RunConfig, model: str, stores: Stores, checkpointer: SqliteSaver,
              on_event: Callable[[str, dict], None]) -> str:
    """Start, resume or skip one model's thread; returns what happened to it."""
    graph = build_graph(checkpointer)
    cfg = thread_config(config.run_id, model, config.days)
    status = thread_status(graph, cfg)
    if status == "finished":
        on_event("thread", {"model": model, "status": "finished already"})
        return "finished already"
    world = World(get_model(model), config.world_scenario(), config.seed)
    stores.predictions.register_model(world.schema())
    stores.predictions.store_reference(config.run_id, model, world.initial_state().model.version, world.to_log(world.reference))
    context = RunContext(stores=stores, schema=world.schema(),
                         policy=make_policy(config.policy, config.seed, config.output_dir),
                         world=world, faults=faults.from_environment(), kills=faults.kills_from_environment())
    if status == "new":
        inputs, first_day = initial_state(config, model, world), 0
    else:
        inputs, first_day = None, graph.get_state(cfg).values.get("day", 0)
    on_event("thread", {"model": model, "status": "started" if status == "new" else "resumed", "day": first_day,
                        "days": config.days})
    for mode, chunk in graph.stream(inputs, cfg, context=context, stream_mode=["updates", "custom"], durability="sync"):
        if mode == "custom" and "day_summary" in chunk:
            on_event("day", {"model": model, **chunk["day_summary"], "timings": chunk.get("timings", {})})
        elif mode == "updates":
            for node in chunk:
                on_event("node", {"model": model, "node": node, "update": chunk[node]})
    if thread_status(graph, cfg) != "finished":
        raise RunError(f"thread {cfg['configurable']['thread_id']} stopped before its last day")
    return "started" if status == "new" else "resumed"


@contextmanager
def run_lock(output_dir: Path, run_id: str):
    """One process per run: a second one (say, the TUI and a cron job) is refused, not interleaved.

    flock is released by the kernel when its holder dies, so a SIGKILLed run never blocks its resume.
    """
    path = output_dir / f".{run_id}.lock"
    with open(path, "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunLocked(f"run {run_id} is already running in another process") from None
        try:
            yield
        finally:
            path.unlink(missing_ok=True)


def execute(config: RunConfig, on_event: Callable[[str, dict], None] = lambda kind, data: None) -> RunOutputs:
    """Run (or resume) every model of the run, then write the report and plots."""
    validate_settings(config)
    validate_output_dir(config.output_dir)
    with run_lock(config.output_dir, config.run_id):
        return _execute(config, on_event)


def learn_from_run(config: RunConfig, stores: Stores) -> dict:
    """Online learning: the run's days, plus fresh simulated episodes, update <output-dir>/rl_policy.pt."""
    from rl.online import update_policy

    runs = []
    for model in config.models:
        # Only the days PPO itself decided: a fallback day's action came from the playbook (or was a
        # forced continue on an empty observation) and would teach the policy what it did not do.
        days = [d for d in stores.metrics.day_summaries(config.run_id, model) if d["policy"] == "ppo"]
        if days:
            runs.append({"observations": [d["observation"] for d in days], "masks": [d["mask"] for d in days],
                         "actions": [d["action_index"] for d in days], "rewards": [d["reward"] for d in days]})
    return update_policy(config.output_dir, config.run_id, runs, config.seed)


def _execute(config: RunConfig, on_event: Callable[[str, dict], None]) -> RunOutputs:
    try:
        stores = open_stores(config.output_dir / STORES_FILE)
    except StoreError as exc:
        raise RunError(str(exc)) from None
    checkpointer = open_checkpointer(config.output_dir)
    try:
        existing = stores.runs.get(config.run_id)
        if existing is not None and existing["config"] != config.settings():
            raise RunError(f"run {config.run_id} already exists in {config.output_dir} with settings "
                           f"{existing['config']}; use another --run-id")
        stores.runs.start(config.run_id, config.settings())
        threads = {m: run_model(config, m, stores, checkpointer, on_event) for m in config.models}
        if config.policy == "ppo":
            on_event("learning", {"status": "updating the policy from this run (online learning)"})
            learned = learn_from_run(config, stores)
            on_event("learning", {"status": learned.get("skipped") or
                                  f"policy updated from {learned['run_days']} run days and {learned['fresh_steps']} simulated "
                                  f"days -> {learned['policy']} (started from {learned['started_from']})"})
        report = build_report(stores, config.run_id, {**config.settings(), "output_dir": config.output_dir})
        report_path = config.output_dir / f"final_report_{config.run_id}.json"
        write_report(report, report_path)
        plots = []
        for model_report in report.get("models", [report]):
            suffix = "" if len(config.models) == 1 else f"_{model_report['model']}"
            path = config.output_dir / f"simulation_plots_{config.run_id}{suffix}.png"
            plot_run(model_report, path)
            plots.append(path)
        stores.runs.finish(config.run_id)
        return RunOutputs(report_path, plots, report, threads)
    finally:
        checkpointer.conn.close()
        stores.close()
