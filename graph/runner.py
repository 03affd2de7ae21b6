"""Running monitoring threads: start, resume or skip each (run, model) thread, then write the outputs.

A run is one thread per model (thread id `<run-id>:<model>`) in a SqliteSaver checkpoint file. A
thread with no checkpoint starts at day 0; one whose last snapshot still has work (`next` or `tasks`)
resumes from it; one with neither is finished and is skipped. The CLI (graph.run) and the TUI both
drive runs through this module and observe them through the `on_event` callback.
"""
from __future__ import annotations

import fcntl
import logging
import os
import re
import sqlite3
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from langgraph.checkpoint.sqlite import SqliteSaver

from graph import preflight
from graph.build import build_graph
from graph.context import RunContext
from graph.plots import plot_run
from graph.errors import RunError, RunLocked, RunRefused
from graph.preflight import CHECKPOINT_FILE
from graph.report import build_report, write_report
from nodes.llm import DEFAULT_TIMEOUT as DEFAULT_LLM_TIMEOUT
from nodes.llm import make_narrator
from nodes.memory import empty_memory
from nodes import faults
from nodes.webhooks import DEFAULT_TIMEOUT as DEFAULT_NOTIFY_TIMEOUT
from nodes.webhooks import Notifier, check_webhook_url
from rl.policies import POLICY_NAMES, make_policy
from graph.sources import SimulationSource
from graph.threads import thread_config, thread_status  # noqa: F401  (graph.fork and others import them from here)
from simulator.catalog import get_model
from simulator.scenarios import get_scenario
from simulator.world import World
from stores import STORES_FILE, Stores, StoreError, open_stores
from stores.db import MLMON_APPLICATION_ID, check_sqlite_file
from stores.safefs import SQLITE_SIDE_FILES, LinkRefused, open_lock, refuse_links, write_lock_note

log = logging.getLogger(__name__)

CHECKPOINT_TABLES = {"checkpoints", "writes"}  # what langgraph's SqliteSaver creates
RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
RUN_ID_RULE = "must be letters, digits, '.', '_' or '-' (1 to 100, the first a letter or digit: it names files)"
MAX_DAYS = 365  # a simulated year; longer runs belong to log monitoring, where periods come from the data
MAX_SEED = 2**63 - 1  # seeds are stored as SQLite integers and checkpointed as msgpack ints
MAX_OUTBOUND_TIMEOUT = 600.0  # seconds: the most a day may wait for the LLM, or a round for the webhooks


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
    keep_days: int | None = None  # keep row-level predictions of only the newest N days (None: all)
    force: bool = False  # overwrite a report that exists with other content (not a setting of the run)
    use_llm: bool = False  # narrate the days worth telling with an LLM (a setting: a resume narrates too)
    llm: object | None = field(default=None, repr=False, compare=False)  # a LangChain chat model instead of ChatOpenAI
    llm_timeout: float = DEFAULT_LLM_TIMEOUT  # seconds a day may wait for its narrative, retries included
    notify_webhooks: list[str] = field(default_factory=list, repr=False)  # URLs may hold secrets: never stored or shown
    notify_timeout: float = DEFAULT_NOTIFY_TIMEOUT  # seconds a delivery round may take

    def settings(self) -> dict:
        """What identifies the run's results (resuming with other settings is refused)."""
        settings = {"models": self.models, "scenario": self.scenario, "days": self.days, "seed": self.seed,
                    "policy": self.policy, "onset": self.onset, "severity": self.severity}
        if self.keep_days is not None:  # absent rather than None, so runs registered before it compare equal
            settings["keep_days"] = self.keep_days
        if self.use_llm:  # absent when off, for the same reason
            settings["use_llm"] = True
        return settings

    def world_scenario(self):
        scenario = get_scenario(self.scenario)
        changes = {k: v for k, v in (("onset", self.onset), ("severity", self.severity)) if v is not None}
        return scenario.with_params(**changes) if changes else scenario

    def output_names(self) -> list[str]:
        """Every file this run writes in its output folder (none of them may be a planted link)."""
        return output_names(self.run_id, self.models)

    # ---- what the runner asks of a run's configuration (graph.logrun.LogRunConfig answers the same) ----
    kind = "simulation"

    @property
    def learns(self) -> bool:
        """Does the run end with an online policy update (it needs rewards: simulation only)?"""
        return self.policy == "ppo"

    def validate(self) -> None:
        validate_simulation(self)

    def prepare(self, stores, on_event) -> None:
        """Work before the threads run (a log run ingests its new periods here); none for a simulation."""

    def source(self, model: str):
        return SimulationSource(World(get_model(model), self.world_scenario(), self.seed))

    def thread_settings(self) -> dict:
        return {"scenario": self.scenario, "seed": self.seed}

    def report(self, stores) -> dict:
        return build_report(stores, self.run_id, {**self.settings(), "output_dir": self.output_dir})

    report_may_change = False  # a finished simulation's report never changes (unless --force)

    def settings_clash(self, stored: dict) -> str:
        return (f"run {self.run_id} already exists in {self.output_dir} with settings {stored}; use another --run-id")

    def estimated_bytes(self, snapshots: dict) -> int:
        """What the days still to run will write (graph.preflight's per-row and per-day figures)."""
        left = {m: self.days - {"new": 0, "unfinished": s["day"]}.get(s["status"], self.days) for m, s in snapshots.items()}
        return preflight.estimated_bytes(self.models, left, self.keep_days)


def output_names(run_id: str, models: list[str]) -> list[str]:
    suffixes = [""] if len(models) == 1 else [f"_{m}" for m in models]
    return [*(STORES_FILE + s for s in SQLITE_SIDE_FILES), *(CHECKPOINT_FILE + s for s in SQLITE_SIDE_FILES),
            f".{run_id}.lock", f"final_report_{run_id}.json", *(f"simulation_plots_{run_id}{s}.png" for s in suffixes)]


@dataclass
class RunOutputs:
    report_path: Path
    plot_paths: list[Path]
    report: dict
    threads: dict = field(default_factory=dict)  # model -> "started" | "resumed" | "finished already"


def validate_output_dir(output_dir: Path, run_id: str | None = None) -> None:
    """Fail early, before anything is written, if the output folder or its databases are unusable."""
    if not str(output_dir).strip():
        raise RunRefused("--output-dir must not be empty")
    if output_dir.exists() and not output_dir.is_dir():
        raise RunRefused(f"output dir {output_dir} exists and is not a directory")
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
        probe = output_dir / f".mlmon-write-test-{os.getpid()}-{time.time_ns()}"
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600))
        probe.unlink()
    except OSError as exc:
        raise RunRefused(f"output dir {output_dir} is not writable ({exc.strerror or exc})") from None
    try:
        refuse_links(output_dir, [*(STORES_FILE + s for s in SQLITE_SIDE_FILES),
                                  *(CHECKPOINT_FILE + s for s in SQLITE_SIDE_FILES)])
        check_sqlite_file(output_dir / STORES_FILE, application_id=MLMON_APPLICATION_ID)
        check_sqlite_file(output_dir / CHECKPOINT_FILE, tables=CHECKPOINT_TABLES)
    except LinkRefused as exc:
        raise RunRefused(str(exc)) from None
    except StoreError as exc:
        raise RunRefused(f"{exc}; move it away or choose another --output-dir") from None


def validate_settings(config) -> None:
    """Every setting checked up front: a value that would fail later (or be silently ignored) fails here."""
    if not RUN_ID.fullmatch(config.run_id):
        raise ValueError(f"--run-id {config.run_id!r} {RUN_ID_RULE}")
    if config.policy not in POLICY_NAMES:
        raise ValueError(f"unknown policy {config.policy!r}; choose from {', '.join(POLICY_NAMES)}")
    if config.keep_days is not None and config.keep_days < 1:
        raise ValueError(f"--keep-days must be at least 1, not {config.keep_days}")
    for name, value in (("--llm-timeout", config.llm_timeout), ("--notify-timeout", config.notify_timeout)):
        if not 0 < value <= MAX_OUTBOUND_TIMEOUT:
            raise ValueError(f"{name} must be more than 0 and at most {MAX_OUTBOUND_TIMEOUT:g} seconds, not {value:g}")
    for url in config.notify_webhooks:
        check_webhook_url(url)
    config.validate()
    faults.from_environment()
    faults.kills_from_environment()


def validate_simulation(config: RunConfig) -> None:
    for model in config.models:
        get_model(model)
    scenario = get_scenario(config.scenario)
    if not 0 < config.days <= MAX_DAYS:
        raise ValueError(f"--days must be a number of days from 1 to {MAX_DAYS}, not {config.days}")
    if not 0 <= config.seed <= MAX_SEED:
        raise ValueError(f"--seed must be from 0 to 2**63-1, not {config.seed}")
    for name, value in (("onset", config.onset), ("severity", config.severity)):
        if value is not None and name not in scenario.uses:
            takes = f"takes only --{', --'.join(scenario.uses)}" if scenario.uses else "takes neither --onset nor --severity"
            raise ValueError(f"--{name} does not apply to scenario {scenario.name}, which {takes}")
    if config.onset is not None and not 0 <= config.onset < config.days:
        raise ValueError(f"--onset must be a day of the run (0 to {config.days - 1}), not {config.onset}")
    if config.severity is not None and not 0 < config.severity <= 3:
        raise ValueError(f"--severity must be in (0, 3], not {config.severity}")


def open_checkpointer(output_dir: Path) -> SqliteSaver:
    conn = sqlite3.connect(output_dir / CHECKPOINT_FILE, check_same_thread=False, timeout=30)
    conn.execute("PRAGMA journal_mode=WAL")
    # In WAL mode NORMAL survives a killed process (only an OS crash can lose the last commits, and a
    # resume replays those days idempotently); FULL fsyncs every super-step, ~3x the checkpoint cost.
    conn.execute("PRAGMA synchronous=NORMAL")
    return SqliteSaver(conn)


def initial_state(config, model: str, source, stores_identity: str) -> dict:
    extras = source.initial_state()
    return {"run_id": config.run_id, "model": model, **config.thread_settings(), "days": config.days,
            "policy": config.policy, "baseline": extras.pop("baseline"), "day": 0, "stores_id": stores_identity,
            "memory": empty_memory(extras.pop("initial_version")), **extras}


def run_model(config, model: str, stores: Stores, checkpointer: SqliteSaver,
              on_event: Callable[[str, dict], None], policy, narrator=None, notifier=None) -> str:
    """Start, resume, extend (a log that grew) or skip one model's thread; returns what happened to it."""
    graph = build_graph(checkpointer)
    cfg = thread_config(config.run_id, model, config.days)
    status = thread_status(graph, cfg)
    if config.days == 0 and status == "new":  # a log whose first period is not complete yet
        on_event("thread", {"model": model, "status": "waiting for its first complete period"})
        return "waiting"
    grown = status == "finished" and graph.get_state(cfg).values.get("days", config.days) < config.days
    if status == "finished" and not grown:
        on_event("thread", {"model": model, "status": "finished already"})
        return "finished already"
    source = config.source(model)
    source.register(stores, config.run_id)
    context = RunContext(stores=stores, schema=source.schema, policy=policy, source=source,
                         faults=faults.from_environment(), kills=faults.kills_from_environment(),
                         keep_days=config.keep_days, narrator=narrator, notifier=notifier)
    if status == "new":
        inputs, first_day = initial_state(config, model, source, stores.identity), 0
    else:
        first_day = graph.get_state(cfg).values.get("day", 0)
        inputs = None
        if grown:  # the finished thread goes on from its last record step, through the new periods
            graph.update_state(cfg, {"days": config.days}, as_node="record")
    event = "started" if status == "new" else "extended" if grown else "resumed"
    on_event("thread", {"model": model, "status": event, "day": first_day, "days": config.days})
    for mode, chunk in graph.stream(inputs, cfg, context=context, stream_mode=["updates", "custom"], durability="sync"):
        if mode == "custom" and "day_summary" in chunk:
            on_event("day", {"model": model, **chunk["day_summary"], "timings": chunk.get("timings", {})})
        elif mode == "updates":
            for node in chunk:
                on_event("node", {"model": model, "node": node, "update": chunk[node]})
    if thread_status(graph, cfg) != "finished":
        raise RunError(f"thread {cfg['configurable']['thread_id']} stopped before its last day")
    return event


@contextmanager
def run_lock(output_dir: Path, run_id: str):
    """One process per run: a second one (say, the TUI and a cron job) is refused, not interleaved.

    flock is released by the kernel when its holder dies, so a SIGKILLed run never blocks its resume.
    The lock file is opened without truncating or following a link, and left in place: deleting it
    while another process waits on it would let two processes hold "the" lock.
    """
    try:
        fd = open_lock(output_dir / f".{run_id}.lock")
    except LinkRefused as exc:
        raise RunRefused(str(exc)) from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunLocked(f"run {run_id} is already running in another process") from None
        write_lock_note(fd, f"run {run_id}")
        yield
    finally:
        os.close(fd)


def execute(config, on_event: Callable[[str, dict], None] = lambda kind, data: None) -> RunOutputs:
    """Run (or resume) every model of the run, then write the report and plots."""
    validate_settings(config)
    validate_output_dir(config.output_dir, config.run_id)
    try:
        refuse_links(config.output_dir, config.output_names())
        if config.policy == "ppo":
            from rl.online import POLICY_FILES

            refuse_links(config.output_dir, POLICY_FILES)
    except LinkRefused as exc:
        raise RunRefused(str(exc)) from None
    # Checked before locking too, so that a refused run leaves not even a lock file behind; and again
    # under the lock, which is what makes the answer hold while the run goes on.
    run_policy(config, preflight.check(config))
    with run_lock(config.output_dir, config.run_id):
        plan = preflight.check(config, integrity=False)
        policy = run_policy(config, plan)
        return _execute(config, plan, policy, on_event)


def run_policy(config, plan: preflight.Plan):
    """The policy the run decides with: the version it started with, recorded in the stores; for a
    new PPO run, the folder's current policy file, read once and checked before anything is written."""
    if config.policy != "ppo":
        return make_policy(config.policy, config.seed)
    try:
        if plan.policy is not None:
            data, source = plan.policy
            return make_policy("ppo", learned=data, source=f"{source} (as recorded when run {config.run_id} started)")
        return make_policy("ppo", config.seed, config.output_dir)
    except ValueError as exc:
        raise RunRefused(str(exc)) from None


def learn_from_run(config, stores: Stores, on_event: Callable[[str, dict], None]) -> dict:
    """Online learning: the run's days, plus fresh simulated episodes, update <output-dir>/rl_policy.pt."""
    from rl.online import update_policy

    runs = []
    for model in config.models:
        summaries = stores.metrics.day_summaries(config.run_id, model)
        observed = {d["day"]: d["observation"] for d in summaries}
        # Only the days PPO itself decided: a fallback day's action came from the playbook (or was a
        # forced continue on an empty observation) and would teach the policy what it did not do. Each
        # day needs the next day's observation, for its advantage, unless it is the run's last.
        days = [d for d in summaries if d["policy"] == "ppo"
                and (d["day"] == config.days - 1 or observed.get(d["day"] + 1) is not None)]
        if days:
            runs.append({"observations": [d["observation"] for d in days], "masks": [d["mask"] for d in days],
                         "actions": [d["action_index"] for d in days], "rewards": [d["reward"] for d in days],
                         "next_observations": [observed.get(d["day"] + 1) or d["observation"] for d in days],
                         "terminal": [d["day"] == config.days - 1 for d in days]})
    wait = lambda holder: on_event("learning", {"status": f"waiting for {holder} to finish its policy update"})  # noqa: E731
    faults.maybe_kill(faults.kills_from_environment(), "learning", 0)
    try:
        return update_policy(config.output_dir, config.run_id, runs, config.seed, on_wait=wait)
    except LinkRefused as exc:
        raise RunRefused(str(exc)) from None


def outside_services(config, stores: Stores, on_event: Callable[[str, dict], None]):
    """The run's narrator (--use-llm) and webhook notifier (--notify-webhook), or None for each."""
    narrator = notifier = None
    if getattr(config, "use_llm", False):
        narrator = make_narrator(config.llm, config.llm_timeout)
        on_event("narration", {"status": f"narratives: {narrator.model_name}" if narrator.unavailable is None else
                               f"narratives: {narrator.unavailable}, so mlmon's deterministic text is used"})
    if getattr(config, "notify_webhooks", None):
        notifier = Notifier(config.notify_webhooks, config.notify_timeout, kills=faults.kills_from_environment())
        notifier.register(stores, config.run_id)
    return narrator, notifier


def notification_status(stores: Stores, run_id: str) -> str:
    parts = [f"{t['target']}: {t['delivered']} delivered" + (f", {len(t['undelivered'])} not delivered" if t["undelivered"] else "")
             for t in stores.notifications.status(run_id)]
    return "notifications: " + "; ".join(parts)


def _execute(config, plan: preflight.Plan, policy, on_event: Callable[[str, dict], None]) -> RunOutputs:
    databases = (config.output_dir / STORES_FILE, config.output_dir / CHECKPOINT_FILE)
    created = [path for path in databases if not path.exists()]
    try:
        stores = open_stores(config.output_dir / STORES_FILE)
    except StoreError as exc:
        raise RunRefused(str(exc)) from None
    checkpointer = open_checkpointer(config.output_dir)
    try:
        try:
            config.prepare(stores, on_event)
        except RunRefused:  # bad input found while reading it: the folder goes back to how it was
            checkpointer.conn.close()
            stores.close()
            for path in created:
                for side in SQLITE_SIDE_FILES:
                    Path(f"{path}{side}").unlink(missing_ok=True)
            raise
        stores.runs.start(config.run_id, config.settings())
        if config.policy == "ppo":
            stores.runs.record_policy(config.run_id, policy.data, policy.source)
        narrator, notifier = outside_services(config, stores, on_event)
        threads = {m: run_model(config, m, stores, checkpointer, on_event, policy, narrator, notifier)
                   for m in config.models}
        if notifier is not None:  # the run's end: paused webhooks get their events once more
            notifier.deliver(stores, config.run_id, final=True)
            on_event("notifications", {"status": notification_status(stores, config.run_id)})
        finished_before = plan.registered is not None and plan.registered["status"] == "finished"
        if config.learns and not finished_before:  # a finished run learned once already
            on_event("learning", {"status": "updating the policy from this run (online learning)"})
            learned = learn_from_run(config, stores, on_event)
            stores.runs.record_learning(config.run_id, learned["record"])
            on_event("learning", {"status": learned.get("skipped") or
                                  f"policy updated from {learned['run_days']} run days and {learned['fresh_steps']} simulated "
                                  f"days -> {learned['policy']} (started from {learned['started_from']})"})
        report = config.report(stores)
        report_path = config.output_dir / f"final_report_{config.run_id}.json"
        # Delivery status is live: a webhook that failed and works now changes a finished run's report.
        delivered_now = notifier is not None and notifier.tried > 0
        rewritten = write_report(report, report_path, force=config.force or config.report_may_change or delivered_now)
        plots = []
        for model_report in report.get("models", [report]):
            suffix = "" if len(config.models) == 1 else f"_{model_report['model']}"
            path = config.output_dir / f"simulation_plots_{config.run_id}{suffix}.png"
            if rewritten or not path.exists():  # a report left as it was keeps its plots as they were
                plot_run(model_report, path)
            plots.append(path)
        stores.runs.finish(config.run_id)
        return RunOutputs(report_path, plots, report, threads)
    finally:
        checkpointer.conn.close()
        stores.close()
