"""mlmon-tui: watch the monitoring graph run live, pause and step it, travel back through its checkpoints, fork it.

The app holds the run on screen as plain data (tui.live) and drives at most one run at a time, in its
own process (tui.session, tui.run_process), through graph.runner, the same code as `python -m graph.run`.
A worker thread relays the run's events as messages that update the data; a 20 Hz timer repaints what
changed, so a burst of steps costs one frame.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time
from collections import deque
from pathlib import Path

from textual.app import App
from textual.binding import Binding

from graph.control import DAY_END_STEP
from graph.fork import log_fork_refusal
from graph.run import resolve_config
from graph.runner import RunConfig, RunError
from stores import StoreError
from tui.data import (FINISHED, INTERRUPTED, RUNNING_ELSEWHERE, RUNNING_HERE, RunListing, check_folder, lock_held,
                      read_entry, read_history, read_summaries)
from tui.graph_layout import load_layout
from tui.live import (BROWSING, FINISHED as MODEL_FINISHED, FOLLOWING, LIVE, PAUSED, RUNNING, STOPPED, BROKEN,
                      ModelRun, RunView)
from tui.messages import Followed, PastLoaded, RunEnded, RunEvent
from tui.screens.fork import CompareScreen, ForkDialog
from tui.screens.help import HelpScreen
from tui.screens.new_run import NewRunScreen
from tui.screens.run import RunScreen
from tui.screens.runs import RunsScreen
from tui.session import RemoteControl, RunProcess, follow

SPEEDS = [0.0, 0.1, 0.25, 0.5, 1.0, 2.0]  # seconds of pause after each day; 0 = as fast as the graph goes
FRAME = 1 / 20  # repaint rate cap: a burst of graph steps costs one frame
ALL_PARTS = frozenset({"status", "graph", "days"})


class MlmonApp(App):
    CSS_PATH = Path(__file__).parent / "styles" / "app.tcss"  # absolute: subclasses live elsewhere
    TITLE = "mlmon"
    ENABLE_COMMAND_PALETTE = False
    BINDINGS = [
        Binding("question_mark", "help", "help", key_display="?"),
        Binding("n", "new_run", "new run"),
        Binding("q", "quit", "quit"),
    ]

    def __init__(self, output_dir: Path = Path("simulation_results"), config: RunConfig | None = None,
                 start_error: str | None = None, paused: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.output_dir = Path(output_dir)
        self.initial_config, self.start_error, self.start_paused = config, start_error, paused
        self.layout = load_layout()
        self.view: RunView | None = None
        self.control: RemoteControl | None = None
        self.process: RunProcess | None = None  # the live run's process
        # The run processes' stdout and stderr: never the terminal the UI draws on. Removed at the end if empty.
        self.child_log = Path(tempfile.gettempdir()) / f"mlmon-tui-{os.getpid()}.log"
        self.live = False  # a run of ours is in the worker
        self.pending: tuple | None = None  # (config, fork) to start once the live run has stopped
        self.quitting = False
        self.following = threading.Event()  # set: stop following
        self.past: ModelRun | None = None  # a past day on screen (time travel)
        self.history: dict[tuple[str, str], dict] = {}  # (run id, model) -> {day: PastDay}, read once per new day
        self.selected: int | None = None
        self.speed = 0
        self.day_times: deque = deque(maxlen=12)
        self.dirty: set[str] = set()  # parts of the run screen to repaint: status, graph, days
        self.notices: list[tuple[str, str]] = []  # (severity, message) of every notification, newest last

    def notify(self, message: str, *, severity: str = "information", **kwargs) -> None:
        self.notices.append((severity, message))
        super().notify(message, severity=severity, **kwargs)

    # ---- lifecycle ------------------------------------------------------------------------------
    def on_mount(self) -> None:
        self.set_interval(FRAME, self._paint)
        if self.initial_config is not None:
            self.start_run(self.initial_config)
        else:
            self.push_screen(RunsScreen(self.output_dir))
        if self.start_error:
            self.notify(self.start_error, severity="error", timeout=10)

    def running_here(self) -> set[str]:
        return {self.view.run_id} if self.live and self.view else set()

    def _show(self, screen) -> None:
        if len(self.screen_stack) > 1:
            self.switch_screen(screen)
        else:
            self.push_screen(screen)

    # ---- starting, resuming, following, browsing -------------------------------------------------
    def start_run(self, config: RunConfig, fork: dict | None = None) -> None:
        if self.live:  # one run at a time: the live one stops between steps (resumable), then this one starts
            self.pending = (config, fork)
            self.control.stop()
            self.notify(f"stopping {self.view.run_id} (resumable) to start {config.run_id}")
            return
        self.following.set()
        try:
            check_folder(config.output_dir)  # the CLI's one-line message for a folder that is not mlmon's
        except StoreError as exc:
            self.notify(f"error: {exc}", severity="error", timeout=12)
            self._show(RunsScreen(config.output_dir))
            return
        if fork is None and lock_held(config.output_dir, config.run_id):
            self.follow_run(config.output_dir, config.run_id, config.settings())
            return
        view = RunView.create(config.run_id, config.settings(), config.output_dir, mode="live")
        if fork is not None:
            view.forked_from = {**fork, "model": config.models[0]}
            view.parent_summaries = {s["day"]: s for s in read_summaries(config.output_dir, fork["run_id"], config.models[0])}
        for model in view.models.values():
            model.set_summaries(read_summaries(config.output_dir, config.run_id, model.model))
        entry = read_entry(config.output_dir, config.run_id)
        if entry and entry.get("forked_from"):
            self._attach_parent(view, entry["forked_from"])
        try:
            process = RunProcess(config, self.post_message, paused=self.start_paused, delay=SPEEDS[self.speed],
                                 fork=fork, log_path=self.child_log)
        except OSError as exc:
            self.notify(f"error: the run's process could not start: {exc}", severity="error", timeout=12)
            return
        self._set_view(view)
        self.process, self.control = process, process.control
        view.message = "starting the run's process"  # an interpreter to start and the libraries to load: a few seconds
        self.start_paused = False
        self.live = True
        self.day_times.clear()
        self.run_worker(process.relay, thread=True, exclusive=True, group="run", name=f"run {config.run_id}")
        self._show(RunScreen(self.layout))

    def _set_view(self, view: RunView) -> None:
        self.view, self.past, self.selected = view, None, None
        self.refresh_bindings()  # the footer offers what this run allows (no fork for a log run)

    def _attach_parent(self, view: RunView, parent: dict) -> None:
        view.forked_from = parent
        view.parent_summaries = {s["day"]: s for s in read_summaries(view.output_dir, parent["run_id"], parent["model"])}

    def follow_run(self, output_dir: Path, run_id: str, settings: dict) -> None:
        view = RunView.create(run_id, settings, output_dir, mode="follow")
        for model in view.models.values():
            model.status = FOLLOWING
        self._set_view(view)
        self.following = threading.Event()
        stop = self.following
        days = settings.get("days") or 0  # a log run's number of periods is not a setting: only its threads' recursion limit needs it
        self.run_worker(lambda: follow(output_dir, run_id, settings["models"], days, self.post_message, stop.is_set),
                        thread=True, group="follow", name=f"follow {run_id}")
        self.notify(f"run {run_id} is already running in another process: following it read-only")
        self._show(RunScreen(self.layout))

    def browse_run(self, output_dir: Path, run_id: str, settings: dict, state: str) -> None:
        self.following.set()
        view = RunView.create(run_id, settings, output_dir, mode="browse")
        entry = read_entry(output_dir, run_id)
        if entry and entry.get("forked_from"):
            self._attach_parent(view, entry["forked_from"])
        for model in view.models.values():
            model.set_summaries(read_summaries(output_dir, run_id, model.model))
            model.status = MODEL_FINISHED if state == FINISHED else STOPPED
        self._set_view(view)
        self._show(RunScreen(self.layout))
        days = sorted(view.model.summaries)
        if days:
            self.load_past(days[-1])

    def open_listing(self, output_dir: Path, listing: RunListing) -> None:
        if listing.state == RUNNING_HERE:
            self._show(RunScreen(self.layout))
        elif listing.state == RUNNING_ELSEWHERE:
            self.follow_run(output_dir, listing.run_id, listing.settings)
        elif listing.state == INTERRUPTED and listing.settings.get("source") == "log":
            # The registry keeps a log run's mapping, not where its log lives: it is browsed, and resumed by its command.
            self.browse_run(output_dir, listing.run_id, listing.settings, listing.state)
            self.notify(f"run {listing.run_id} monitors a log; to monitor its remaining periods run the same --log command "
                        f"(mlmon-tui or python -m graph.run) with --run-id {listing.run_id} --output-dir {output_dir}",
                        severity="warning", timeout=12)
        elif listing.state == INTERRUPTED:
            args = argparse.Namespace(model=None, scenario=None, days=None, seed=None, policy=None, onset=None,
                                      severity=None, output_dir=output_dir, run_id=listing.run_id, resume=False)
            try:
                config = resolve_config(args)
            except (ValueError, RunError, StoreError) as exc:
                self.notify(f"error: {exc}", severity="error", timeout=10)
                return
            self.start_run(config)
        else:
            self.browse_run(output_dir, listing.run_id, listing.settings, listing.state)

    # ---- worker messages --------------------------------------------------------------------------
    def on_run_event(self, message: RunEvent) -> None:
        view = self.view
        if view is None or message.run_id != view.run_id:
            return
        data = message.data
        if message.kind == "thread":
            model = view.models[data["model"]]
            if data["status"] == "finished already":
                model.status = MODEL_FINISHED
            elif "day" not in data:  # a log whose first period is not complete yet
                view.message = f"{data['model']}: {data['status']}"
            else:
                model.status = PAUSED if self.control and self.control.paused else LIVE
                model.days = data.get("days", model.days)  # a log run knows its periods once the log is read
                view.message = ""  # the run's process is up (and a log's ingest is over)
                model.start(self.layout, data["day"])
                view.current = data["model"]
                # the days before this start (a resumed run's, a fork's copied ones) come from the stores
                model.set_summaries(read_summaries(Path(view.output_dir), view.run_id, model.model))
        elif message.kind == "node":
            model = view.models[data["model"]]
            model.apply_step(self.layout, data["node"], data.get("update"))
            if data["node"] == DAY_END_STEP:  # a day is over
                if self.control is not None and self.control.paused:
                    model.status = PAUSED
                else:
                    model.next_day(self.layout)
        elif message.kind == "day":
            view.models[data["model"]].add_summary(data)
            self.day_times.append(time.monotonic())
            if view.models[data["model"]].days_done >= view.models[data["model"]].days:
                view.models[data["model"]].status = MODEL_FINISHED
        elif message.kind in ("learning", "ingest") and "status" in data:
            view.message = data["status"]
        self.dirty |= {"status", "graph"} if message.kind == "node" else ALL_PARTS

    def on_run_ended(self, message: RunEnded) -> None:
        view = self.view
        if view is not None and message.run_id == view.run_id:
            self.live = False
            for model in view.models.values():
                if message.outcome == "finished":
                    model.status = MODEL_FINISHED
                elif message.outcome == "failed":
                    if model.status in (LIVE, PAUSED):
                        model.fail()
                elif model.status in (LIVE, PAUSED, "waiting"):
                    model.stop()
            view.message = message.detail
            self.dirty |= ALL_PARTS
        if message.outcome == "locked" and view is not None:
            self.follow_run(Path(view.output_dir), view.run_id, view.settings)
            return
        if message.outcome == "finished":
            self.notify(message.detail, timeout=6)
        elif message.outcome == "failed":
            self.notify(f"error: {message.detail}", severity="error", timeout=12)
        elif not self.quitting and self.pending is None:
            self.notify(message.detail, severity="warning", timeout=8)
        if self.quitting:
            self.exit()
        elif self.pending is not None:
            config, fork = self.pending
            self.pending = None
            self.start_run(config, fork)

    def on_followed(self, message: Followed) -> None:
        view = self.view
        if view is None or message.run_id != view.run_id or view.mode != "follow":
            return
        for name, summaries in message.summaries.items():
            model = view.models[name]
            model.set_summaries(summaries)
            day, next_steps = message.next_steps.get(name, (None, []))
            if day is not None:
                if model.day != day:
                    model.reset_day(self.layout, day)
                for node in model.steps:
                    model.steps[node] = RUNNING if node in next_steps else model.steps[node]
            if not message.running:
                model.status = MODEL_FINISHED if model.days_done >= model.days else STOPPED
        if not message.running:
            view.message = "the other process has let go of the run"
            self.notify(f"run {view.run_id} is no longer running elsewhere")
        self.dirty |= ALL_PARTS

    def on_past_loaded(self, message: PastLoaded) -> None:
        view = self.view
        if view is None or message.run_id != view.run_id or message.model != view.current or message.day != self.selected:
            return  # a day the user has already travelled past
        past = ModelRun(message.model, view.model.days, status=BROWSING, kind=view.model.kind)
        past.show_past(self.layout, message.day, message.path, message.values)
        past.summaries = view.model.summaries
        self.past, self.selected = past, message.day
        self.repaint_now()

    # ---- painting ------------------------------------------------------------------------------
    def repaint_now(self) -> None:
        """A key's answer is painted at once, not at the next tick of the frame timer."""
        self.dirty = set()
        self.refresh_screen(ALL_PARTS)

    def _paint(self) -> None:
        if self.dirty:
            parts, self.dirty = self.dirty, set()
            self.refresh_screen(parts)

    def mode_line(self) -> tuple[str, str]:
        view = self.view
        model = view.model
        if self.past is not None:
            fork = "" if view.kind == "log" else " · f fork"
            return "browsing", f"from the checkpoints · ←→ travel{fork} · end newest"
        if view.mode == "follow":
            return ("following" if model.status == FOLLOWING else model.status,
                    "read-only: another process runs it" if model.status == FOLLOWING else view.message)
        if model.status == PAUSED:
            return "paused", f"space resumes · s steps a {model.unit}"
        if model.status == LIVE:
            rate = ""
            if len(self.day_times) >= 2:
                span = self.day_times[-1] - self.day_times[0]
                rate = f"{(len(self.day_times) - 1) / span:.1f} {model.unit}s/s · " if span > 0 else ""
            speed = "max" if SPEEDS[self.speed] == 0 else f"{SPEEDS[self.speed]:g}s/day"
            return "running", f"{rate}speed {speed}" + (f" · {view.message}" if view.message else "")
        return model.status, view.message

    def refresh_screen(self, parts: set[str] = ALL_PARTS) -> None:
        """Repaint the parts that changed: a graph step touches the status and the day; a new day, the charts too."""
        screen, view = self.screen, self.view
        if view is None:
            return
        if isinstance(screen, RunScreen) and screen.is_mounted and screen.query("#status"):
            shown = self.past or view.model
            mode, detail = self.mode_line()
            screen.query_one("#status").show(view, mode, detail, shown.day)
            if "graph" in parts:
                screen.query_one("#graph").show(shown)
                screen.query_one("#findings").show(shown)
                screen.query_one("#graph-panel").border_title = \
                    f"graph · {shown.unit} {shown.day if shown.day is not None else '-'}"
            if "days" in parts:
                screen.query_one("#models").show(view)
                screen.query_one("#charts").show(view, marker_day=self.selected)
                screen.query_one("#decisions").show(view, self.selected)
        elif isinstance(screen, CompareScreen) and view.forked_from:
            screen.show(view)

    # ---- actions -------------------------------------------------------------------------------
    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def action_new_run(self) -> None:
        def started(config: RunConfig | None) -> None:
            if config is not None:
                self.start_run(config)
        self.push_screen(NewRunScreen(Path(self.view.output_dir) if self.view else self.output_dir), started)

    def action_runs(self) -> None:
        self._show(RunsScreen(Path(self.view.output_dir) if self.view else self.output_dir))

    def action_toggle_pause(self) -> None:
        if not self.live or self.control is None:
            return
        if self.control.paused:
            self.control.resume()
            self._resumed()
        else:
            self.control.pause()
        self.repaint_now()

    def _resumed(self) -> None:
        model = self.view.model
        if model.status == PAUSED:
            model.status = LIVE
            model.next_day(self.layout)

    def action_step(self) -> None:
        if not self.live or self.control is None:
            return
        self.control.step()
        self._resumed()
        self.repaint_now()

    def action_speed(self, faster: int) -> None:
        self.speed = min(len(SPEEDS) - 1, max(0, self.speed - faster))
        if self.control is not None:
            self.control.set_delay(SPEEDS[self.speed])
        self.repaint_now()

    def action_next_model(self) -> None:
        if self.view and len(self.view.models) > 1:
            names = list(self.view.models)
            self._select(names[(names.index(self.view.current) + 1) % len(names)])

    def action_select_model(self, number: int) -> None:
        if self.view and 0 < number <= len(self.view.models):
            self._select(list(self.view.models)[number - 1])

    def _select(self, model: str) -> None:
        self.view.current, self.past, self.selected = model, None, None
        self.repaint_now()

    def action_travel(self, delta: int) -> None:
        view = self.view
        if view is None:
            return
        days = sorted(view.model.summaries)
        if not days:
            return
        if self.selected is None:
            target = days[-1] if delta < 0 or not self.live else None
            if target is not None and delta < 0 and view.model.status in (MODEL_FINISHED, STOPPED, BROKEN) \
                    and view.model.day == days[-1]:
                target = days[max(0, len(days) - 2)]
        else:
            target = self.selected + delta
            if target > days[-1]:
                if self.live or view.mode == "follow":
                    self.action_travel_end()
                    return
                target = days[-1]
            target = max(days[0], target)
        if target is not None:
            self.selected = target  # at once, so quick presses add up while the day is read
            self.load_past(target)

    def action_travel_end(self) -> None:
        self.past, self.selected = None, None
        self.repaint_now()

    def load_past(self, day: int) -> None:
        """Show a past day from the checkpoints; a thread's past never changes, so each is read once."""
        self.selected = day
        view = self.view
        model, run_id, output_dir, days = view.current, view.run_id, Path(view.output_dir), view.model.days
        parent = view.forked_from if view.forked_from and day < view.forked_from["day"] else None
        source = parent["run_id"] if parent else run_id
        cached = self.history.get((source, model), {})
        if day in cached and cached[day].finished:
            past = cached[day]
            self.post_message(PastLoaded(run_id, model, day, past.path, past.values, []))
            return

        known = [d for d, past in cached.items() if past.finished]
        since = min(day, max(known) + 1) if known else 0

        def read() -> None:
            history = {**cached, **read_history(output_dir, source, model, days, since)}
            self.history[(source, model)] = history
            past = history.get(day)
            if past is not None:
                self.post_message(PastLoaded(run_id, model, day, past.path, past.values, []))
        self.run_worker(read, thread=True, exclusive=True, group="past", name=f"past day {day}")

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        # A log run's actions were recommendations: there is no world to replay, so no fork is offered.
        if action in ("fork", "compare") and self.view is not None and self.view.kind == "log":
            return False
        return True

    def action_fork(self) -> None:
        view = self.view
        if view is None:
            return
        if view.kind == "log":
            self.notify(log_fork_refusal(view.run_id), severity="warning")
            return
        if self.past is None or self.selected is None or self.past.day != self.selected:
            self.notify("travel to a past day first (← / →), then f forks from it", severity="warning")
            return
        decided = self.past.state.get("remediation")
        if not decided:
            self.notify(f"day {self.selected} has no decision in its checkpoints", severity="warning")
            return
        model, day = view.current, self.selected

        def chosen(result: dict | None) -> None:
            if result is None:
                return
            s = view.settings
            config = RunConfig(models=[model], scenario=s["scenario"], days=s["days"], seed=s["seed"], policy=s["policy"],
                               output_dir=Path(view.output_dir), run_id=result["run_id"], onset=s.get("onset"),
                               severity=s.get("severity"))
            fork = {"run_id": view.run_id, "model": model, "day": day, "action": result["action"],
                    "parent_action": decided.get("action")}
            self.start_run(config, fork)
        self.push_screen(ForkDialog(view.run_id, model, day, decided), chosen)

    def action_compare(self) -> None:
        if self.view and self.view.forked_from:
            self.push_screen(CompareScreen())
        else:
            self.notify("this run is not a fork (f forks from a past day)", severity="warning")

    def exit(self, *args, **kwargs) -> None:
        # Whatever ends the app, a held or running run stops at its next step, resumable.
        if self.control is not None:
            self.control.stop()
        self.following.set()
        super().exit(*args, **kwargs)

    def on_unmount(self) -> None:
        # The app is going away by any path (quit, tests, errors): the run's process must not outlive it.
        if self.process is not None:
            self.process.close()
        self.following.set()
        try:
            if self.child_log.stat().st_size == 0:
                self.child_log.unlink()
        except OSError:
            pass

    async def action_quit(self) -> None:
        if self.live and self.control is not None:
            self.quitting = True
            self.control.stop()
            self.notify("stopping between two steps; the run stays resumable")
            return
        self.following.set()
        self.exit()
