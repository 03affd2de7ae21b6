"""mlmon-tui driven by Textual's Pilot: live runs, pause/step/resume, quit and resume by the CLI, forks, the form.

Every run here is real (graph.runner in the app's worker thread, SQLite files in a tmp dir); runs are
short and use the noop or rules policy, which keeps the module to well under a minute.
"""
from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
from conftest import cli, load_report

from graph.control import RunControl, RunStopped
from graph.report import without_timings
from graph.runner import RunConfig, execute
from tui.app import MlmonApp
from tui.data import FINISHED, INTERRUPTED, RUNNING_ELSEWHERE, list_runs
from tui.live import DONE, FELL_BACK, PAUSED, RUNNING
from tui.screens.new_run import NewRunScreen
from tui.screens.runs import RunsScreen

PNEUMONIA = "pneumonia_classifier_v1"


def config(out: Path, run_id: str, days: int = 4, policy: str = "rules", **kw) -> RunConfig:
    settings = {"scenario": "sudden_shift", "seed": 3, "onset": 2} | kw
    return RunConfig([PNEUMONIA], settings["scenario"], days, settings["seed"], policy, out, run_id,
                     onset=settings["onset"])


async def wait_for(pilot, condition, timeout: float = 120.0, what: str = "condition") -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.02)


def screen_text(app) -> str:
    """The screen as a user reads it (characters only), line by line."""
    update = app.screen._compositor.render_update(full=True, screen_stack=app._background_screens)
    return "\n".join("".join(segment.text for strip in line for segment in strip) for line in update.strips)


def test_a_live_run_shows_steps_running_and_days_advancing(tmp_path, monkeypatch):
    """Node states change live from the graph's stream; a raised step's fallback edge lights up (MLMON_FAULT)."""
    monkeypatch.setenv("MLMON_FAULT", "drift@1")
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))  # the run process's log file (it warns of the fault)
    seen: list[tuple[int | None, dict]] = []

    class Recording(MlmonApp):
        def on_run_event(self, message):
            super().on_run_event(message)
            model = self.view.model
            seen.append((model.day, dict(model.steps), set(model.taken)))

    async def scenario():
        app = Recording(tmp_path, config=config(tmp_path, "live", days=3))
        async with app.run_test(size=(100, 30)) as pilot:
            await wait_for(pilot, lambda: not app.live, what="the run to end")
            await pilot.pause(0.1)
            assert app.view.model.days_done == 3 and app.view.model.status == "finished"
            assert "FINISHED" in screen_text(app)

    asyncio.run(scenario())
    (log_file,) = tmp_path.glob("mlmon-tui-*.log")  # the run process's stderr, kept since it is not empty
    assert "MLMON_FAULT=drift@1 is set" in log_file.read_text()
    days = [d for d, _, _ in seen]
    assert days[0] == 0 and max(d for d in days if d is not None) == 2 and days == sorted(days)
    # each step was shown running before it was shown done
    for node in ("load_day", "performance", "drift_fallback", "alert", "remediation", "act"):
        states = [steps.get(node) for day, steps, _ in seen if day == 1]
        assert RUNNING in states and DONE in states and states.index(RUNNING) < states.index(DONE), (node, states)
    assert RUNNING in [steps["record"] for day, steps, _ in seen if day == 1]  # done, the next day is on screen
    day1 = [(steps, taken) for day, steps, taken in seen if day == 1][-1]
    assert day1[0]["drift"] == FELL_BACK and ("drift", "drift_fallback") in day1[1]
    day0 = [(steps, taken) for day, steps, taken in seen if day == 0][-1]
    assert day0[0]["drift"] == DONE and ("drift", "drift_fallback") not in day0[1]


def test_pause_step_and_resume(tmp_path):
    async def scenario():
        app = MlmonApp(tmp_path, config=config(tmp_path, "steps", days=5), paused=True)
        async with app.run_test(size=(80, 24)) as pilot:
            model = lambda: app.view.model  # noqa: E731
            await wait_for(pilot, lambda: app.control.waiting, what="the hold after day 0")
            assert model().days_done == 1 and model().status == PAUSED
            await pilot.pause(0.5)
            assert model().days_done == 1, "a paused run must not go on"
            assert "PAUSED  day 0 (1/5 done)" in screen_text(app)
            await pilot.press("s")
            await wait_for(pilot, lambda: model().days_done == 2 and app.control.waiting, what="one step")
            await pilot.pause(0.5)
            assert model().days_done == 2, "a step runs exactly one day"
            await pilot.press("space")
            await wait_for(pilot, lambda: not app.live, what="the resumed run to finish")
            assert model().days_done == 5 and model().status == "finished"

    asyncio.run(scenario())


def test_quick_steps_each_run_one_more_day():
    """s pressed twice runs two days, whether the second press comes while the graph is held or while the
    first stepped day is still running (the UI's commands reach the run's process at any time)."""
    import threading
    import time

    control = RunControl(paused=True)
    started: list[int] = []

    def graph():
        try:
            for day in range(10):
                started.append(day)
                time.sleep(0.2)  # the day's work
                control.after_step("record")
        except RunStopped:
            pass

    thread = threading.Thread(target=graph, daemon=True)
    thread.start()
    try:
        steps_and_holds(control, started)
    finally:
        control.stop()
        thread.join(timeout=5)
    assert not thread.is_alive()


def steps_and_holds(control: RunControl, started: list[int]) -> None:
    import time

    def until(condition):
        deadline = time.monotonic() + 10
        while not condition():
            assert time.monotonic() < deadline
            time.sleep(0.005)

    until(lambda: control.waiting)
    assert started == [0]
    control.step()
    until(lambda: len(started) == 2 and not control.waiting)  # day 1 is running
    control.step()  # one more day, not "the day in flight"
    until(lambda: control.waiting)
    time.sleep(0.3)
    assert started == [0, 1, 2] and control.waiting
    control.step()
    control.step()  # both while held: two days
    until(lambda: len(started) == 5 and control.waiting)
    time.sleep(0.3)
    assert started == [0, 1, 2, 3, 4]
    control.resume()
    until(lambda: len(started) == 6)
    control.pause()  # while running freely: pause at the end of the day in flight
    until(lambda: control.waiting)
    time.sleep(0.3)
    assert len(started) == 6


def test_quit_mid_run_then_python_m_graph_run_finishes_it_like_an_uninterrupted_run(tmp_path):
    """And the other way round: a CLI run killed mid-run is finished by the TUI, to the same report."""
    args = ["--days", "8", "--seed", "3", "--scenario", "sudden_shift", "--onset", "2", "--policy", "rules"]
    clean = cli("--output-dir", str(tmp_path / "clean"), "--run-id", "r", *args, "--quiet")
    assert clean.returncode == 0, clean.stderr

    async def quit_after_three_days():
        app = MlmonApp(tmp_path / "tui", config=config(tmp_path / "tui", "r", days=8), paused=True)
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for(pilot, lambda: app.control.waiting)
            await pilot.press("s", "s")
            await wait_for(pilot, lambda: app.view.model.days_done == 3 and app.control.waiting)
            await pilot.press("q")
            await wait_for(pilot, lambda: not app.live, what="the stop")
        assert app.notices[-1][1].startswith("stopping between two steps")

    asyncio.run(quit_after_three_days())
    assert not (tmp_path / "tui" / "final_report_r.json").exists()
    assert [r.state for r in list_runs(tmp_path / "tui")] == [INTERRUPTED]
    resumed = cli("--output-dir", str(tmp_path / "tui"), "--run-id", "r", "--quiet")
    assert resumed.returncode == 0 and "resumed at day 3" in resumed.stderr, resumed.stderr
    assert without_timings(load_report(tmp_path / "tui", "r")) == without_timings(load_report(tmp_path / "clean", "r"))

    killed = cli("--output-dir", str(tmp_path / "cli"), "--run-id", "r", *args, "--quiet", env={"MLMON_KILL": "record@4"})
    assert killed.returncode < 0, killed.stderr  # SIGKILLed right after day 4's record

    async def resume_in_tui():
        app = MlmonApp(tmp_path / "cli")
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for(pilot, lambda: isinstance(app.screen, RunsScreen) and app.screen.listings)
            assert app.screen.listings[0].state == INTERRUPTED
            await pilot.press("enter")
            await wait_for(pilot, lambda: app.view is not None and not app.live and app.view.model.days_done == 8)
            assert app.view.model.status == "finished"

    asyncio.run(resume_in_tui())
    assert without_timings(load_report(tmp_path / "cli", "r")) == without_timings(load_report(tmp_path / "clean", "r"))


def test_fork_from_a_past_day(tmp_path):
    """Days before the fork day equal the parent's, the fork day's action is the chosen one, later days differ."""
    parent = execute(config(tmp_path, "p", days=7)).report
    fork_day = 1  # the shift starts on day 2; the playbook keeps watching on day 1
    assert parent["days"][fork_day]["action"] == "continue"

    async def scenario():
        app = MlmonApp(tmp_path)
        async with app.run_test(size=(100, 30)) as pilot:
            await wait_for(pilot, lambda: isinstance(app.screen, RunsScreen) and app.screen.listings)
            await pilot.press("enter")  # a finished run opens for browsing, on its last day
            await wait_for(pilot, lambda: app.selected == 6)
            await pilot.press(*["left"] * 5)
            await wait_for(pilot, lambda: app.selected == fork_day and app.past is not None)
            assert "day 1" in screen_text(app)
            await pilot.press("f")
            await wait_for(pilot, lambda: app.screen.__class__.__name__ == "ForkDialog")
            await pilot.press("enter")  # the first possible action other than the policy's: retrain_now
            await wait_for(pilot, lambda: app.view.run_id != "p" and not app.live, what="the fork to run")
            assert app.view.forked_from["action"] == "retrain_now"
            await pilot.press("c")
            await wait_for(pilot, lambda: app.screen.__class__.__name__ == "CompareScreen")
            assert "fork view" in screen_text(app)
            return app.view.run_id

    fork_id = asyncio.run(scenario())
    assert fork_id == "p-fork-d1-retrain_now"
    fork = load_report(tmp_path, fork_id)
    assert without_timings(fork["days"][:fork_day]) == without_timings(parent["days"][:fork_day])
    assert fork["days"][fork_day]["action"] == "retrain_now" and fork["days"][fork_day]["policy"] == "user (fork)"
    later = [(f["true_accuracy"], p["true_accuracy"]) for f, p in zip(fork["days"][fork_day + 1:], parent["days"][fork_day + 1:])]
    assert any(f != p for f, p in later)
    with sqlite3.connect(tmp_path / "mlmon.db") as conn:
        (entry,) = conn.execute("SELECT forked_from FROM runs WHERE run_id = ?", (fork_id,)).fetchone()
    assert '"run_id": "p"' in entry and '"day": 1' in entry
    again = cli("--output-dir", str(tmp_path), "--run-id", fork_id, "--quiet")  # a normal run to graph.run
    assert again.returncode == 0 and "finished already" in again.stderr, again.stderr


@pytest.mark.parametrize("field, value, message", [
    ("days", "0", "--days must be a number of days from 1 to 365, not 0"),
    ("seed", "x", "invalid int value: 'x'"),
    ("onset", "40", "--onset must be a day of the run (0 to 29), not 40"),
    ("severity", "9", "--severity must be in (0, 3], not 9.0"),
    ("run_id", "a/b", "--run-id 'a/b' must be letters"),
])
def test_bad_values_in_the_new_run_form_show_a_message_beside_the_field(tmp_path, field, value, message):
    out = tmp_path / "out"

    async def scenario():
        app = MlmonApp(out)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("n")
            await wait_for(pilot, lambda: isinstance(app.screen, NewRunScreen))
            form = app.screen
            if field in ("onset", "severity"):  # the default scenario takes neither (graph.run refuses them there)
                form.query_one("#scenario").value = "sudden_shift"
            form.query_one(f"#{field}").value = value
            await pilot.press("ctrl+s")
            await pilot.pause(0.1)
            assert isinstance(app.screen, NewRunScreen), "a bad value must not start a run"
            shown = str(form.query_one(f"#{field}-error").render())
            assert message in shown, shown
            assert message[:30] in screen_text(app)  # on screen, beside its field
            assert app.view is None

    asyncio.run(scenario())
    assert not (out / "mlmon.db").exists()


def test_errors_are_one_line_notifications_and_runs_show_their_state(tmp_path):
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "mlmon.db").write_bytes(b"\x00not sqlite" * 100)
    finished = execute(config(tmp_path / "ok", "done", days=2, onset=0))
    assert finished.report

    def stop_after_one_day(kind, data):
        if kind == "node":
            RunControl.after_step(stopper, data["node"])

    stopper = RunControl(paused=True)
    stopper.stop()
    with pytest.raises(RunStopped):
        execute(config(tmp_path / "ok", "halfway", days=4), stop_after_one_day)
    from graph.runner import run_lock

    with run_lock(tmp_path / "ok", "elsewhere"):  # held as another process's run would hold it
        states = {r.run_id: r.state for r in list_runs(tmp_path / "ok")}
    assert states["done"] == FINISHED and states["halfway"] == INTERRUPTED
    assert "elsewhere" not in states  # only registered runs are listed

    async def scenario():
        from tui.cli import main  # noqa: F401  (the entry point imports)

        app = MlmonApp(tmp_path / "bad", config=None)
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for(pilot, lambda: isinstance(app.screen, RunsScreen) and "not a usable SQLite" in screen_text(app),
                           timeout=10, what="the folder's error on the runs screen")
        bad = tmp_path / "bad"
        app = MlmonApp(bad, config=config(bad, "x", days=2, onset=0))
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for(pilot, lambda: any(n[0] == "error" for n in app.notices), timeout=10)
            assert not app.live and isinstance(app.screen, RunsScreen)
        (severity, text), = [n for n in app.notices if n[0] == "error"]
        assert text.startswith("error: ") and "not a usable SQLite database" in text and "\n" not in text

    asyncio.run(scenario())


def test_a_run_held_by_another_process_is_followed_read_only(tmp_path):
    import subprocess
    import sys

    from conftest import ROOT
    command = [sys.executable, "-m", "graph.run", "--output-dir", str(tmp_path), "--run-id", "busy", "--days", "6", "--model", "fraud_detector_v2",
               "--policy", "noop", "--quiet"]
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        async def scenario():
            app = MlmonApp(tmp_path)
            async with app.run_test(size=(80, 24)) as pilot:
                await wait_for(pilot, lambda: isinstance(app.screen, RunsScreen) and app.screen.listings
                               and app.screen.listings[0].state == RUNNING_ELSEWHERE, what="the other process's run")
                await pilot.press("enter")
                await wait_for(pilot, lambda: app.view is not None and app.view.mode == "follow")
                seen = app.view.model.days_done
                await wait_for(pilot, lambda: app.view.model.days_done > seen, what="days to advance")
                assert "FOLLOWING" in screen_text(app)
                assert not app.live  # read-only: nothing of ours drives it
                await wait_for(pilot, lambda: app.view.model.status == "finished", what="the end of the other run")

        asyncio.run(scenario())
    finally:
        try:
            proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()
    assert proc.returncode == 0


def test_model_switcher_with_all_models(tmp_path):
    async def scenario():
        cfg = RunConfig(["pneumonia_classifier_v1", "fraud_detector_v2", "defect_detector_v1"], "stable", 1, 0, "noop",
                        tmp_path, "all")
        app = MlmonApp(tmp_path, config=cfg)
        async with app.run_test(size=(120, 30)) as pilot:
            await wait_for(pilot, lambda: not app.live, timeout=180)
            await pilot.pause(0.1)
            text = screen_text(app)
            assert all(f"{m} 1/1 finished" in text for m in cfg.models), text
            assert app.view.current == "defect_detector_v1"
            await pilot.press("m")
            assert app.view.current == "pneumonia_classifier_v1"
            await pilot.press("2")
            assert app.view.current == "fraud_detector_v2"

    asyncio.run(scenario())


def test_an_error_in_the_run_process_is_the_clis_one_line(tmp_path):
    """The run's process raises (an unreadable policy file): the UI shows graph.run's message, word for word."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "rl_policy.pt").write_bytes(b"not a policy" * 10)
    refused = cli("--output-dir", str(out), "--run-id", "p", "--days", "2", "--policy", "ppo", "--quiet")
    assert refused.returncode == 2, refused.stderr
    cli_line = refused.stderr.strip().splitlines()[-1]  # after --quiet's log line of the run's settings
    assert cli_line.startswith("error: ") and "rl_policy.pt is not a readable mlmon policy" in cli_line, refused.stderr

    async def scenario():
        app = MlmonApp(out, config=config(out, "p", days=4, policy="ppo"))
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for(pilot, lambda: any(n[0] == "error" for n in app.notices), what="the error")
            assert not app.live and app.view.model.status != "finished"
        (_, text), = [n for n in app.notices if n[0] == "error"]
        return text

    assert asyncio.run(scenario()) == cli_line
    assert not (out / "mlmon.db").exists()  # refused before anything was written, as by the CLI


def log_config(log: Path, out: Path, *extra: str):
    from logdata import CLI_MAPPING

    from tui.cli import prepare

    args, run, error, paused = prepare(["--log", str(log), *CLI_MAPPING, "--policy", "rules", "--output-dir", str(out),
                                        *extra])
    assert error is None and run is not None and run.kind == "log", error
    return run


def test_a_log_run_started_extended_listed_and_browsed(tmp_path):
    """mlmon-tui --log starts a log run (periods with dates), the same command on the grown log extends it,
    and the runs screen lists it as a log run that opens for browsing, with no fork offered."""
    from logdata import CLI_MAPPING, make_log

    from tui.cli import prepare

    full = make_log(days=10, shift_from=7)
    log = tmp_path / "log.csv"
    full[full.ts < "2026-03-08"].to_csv(log, index=False)  # reference Mar 1-3; Mar 4-6 complete, Mar 7 still open
    out = tmp_path / "out"
    assert prepare(["--output-dir", str(out)])[1] is None  # only a folder: the runs screen, no run

    async def run_log(size=(100, 30)):
        app = MlmonApp(out, config=log_config(log, out))
        async with app.run_test(size=size) as pilot:
            await wait_for(pilot, lambda: not app.live, what="the log run to end")
            await pilot.pause(0.1)
            return app, screen_text(app)

    app, text = asyncio.run(run_log())
    model = app.view.model
    assert app.view.kind == "log" and model.days == 3 and model.days_done == 3 and model.status == "finished"
    assert "FINISHED  period 2 2026-03-06 (3 periods)" in text, text
    assert "date  action" in text and "03-04 continue" in text

    full.to_csv(log, index=False)  # the log grows by three days: Mar 7-9 complete
    app, text = asyncio.run(run_log())
    model = app.view.model
    assert model.days == 6 and model.days_done == 6 and model.status == "finished"
    assert "(6 periods)" in text and "2026-03-09" in text
    by_cli = cli("--log", str(log), *CLI_MAPPING, "--policy", "rules", "--output-dir", str(tmp_path / "cli"), "--quiet")
    assert by_cli.returncode == 0, by_cli.stderr
    assert without_timings(load_report(out, "log-log")["days"]) == without_timings(load_report(tmp_path / "cli", "log-log")["days"])

    async def browse():
        app = MlmonApp(out)
        async with app.run_test(size=(140, 30)) as pilot:
            await wait_for(pilot, lambda: isinstance(app.screen, RunsScreen) and app.screen.listings)
            text = screen_text(app)
            assert "6 periods" in text and "log (day)" in text, text
            await pilot.press("enter")
            await wait_for(pilot, lambda: app.past is not None and app.selected == 5, what="the newest period")
            assert app.view.mode == "browse" and not app.live
            assert "period 5  2026-03-09" in screen_text(app)
            await pilot.press("left")
            await wait_for(pilot, lambda: app.past is not None and app.past.day == 4)
            text = screen_text(app)
            assert "period 4  2026-03-08" in text and "BROWSING  period 4 2026-03-08" in text
            assert "travel · end newest" in text and "f fork" not in text  # no fork offered for a log run
            assert app.check_action("fork", ()) is False
            await pilot.press("f")
            await pilot.pause(0.2)
            assert app.screen.__class__.__name__ == "RunScreen"  # no fork dialog

    asyncio.run(browse())


def test_an_interrupted_log_run_is_browsed_and_says_how_to_go_on(tmp_path):
    from logdata import make_log

    log = tmp_path / "log.csv"
    make_log(days=8).to_csv(log, index=False)
    out = tmp_path / "out"
    stopper = RunControl()

    def stop_after_one_period(kind, data):
        if kind == "day":
            stopper.stop()
        if kind == "node":
            stopper.after_step(data["node"])

    with pytest.raises(RunStopped):
        execute(log_config(log, out), stop_after_one_period)

    async def scenario():
        app = MlmonApp(out)
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for(pilot, lambda: isinstance(app.screen, RunsScreen) and app.screen.listings)
            assert app.screen.listings[0].state == INTERRUPTED
            await pilot.press("enter")
            await wait_for(pilot, lambda: app.past is not None, what="the period read back")
            assert not app.live and app.view.mode == "browse" and app.view.model.days_done == 1
            (severity, text), = app.notices
            assert severity == "warning" and "the same --log command" in text and "--run-id log-log" in text

    asyncio.run(scenario())


def test_the_new_run_form_is_made_from_graph_runs_options(tmp_path, monkeypatch):
    """An option added to python -m graph.run (here a flag no TUI code knows) is in the form, and
    its value reaches graph.run's resolve_config with no change to the TUI."""
    import graph.run
    from tui.screens import new_run

    def parser_with_a_new_flag():
        parser = graph.run.build_parser()
        parser.add_argument("--page-oncall", action="store_true", help="page the on-call person")
        return parser

    asked = []

    def resolve(args):
        asked.append(args)
        raise ValueError("--page-oncall needs a pager service")

    monkeypatch.setattr(new_run, "build_parser", parser_with_a_new_flag)
    monkeypatch.setattr(new_run, "resolve_config", resolve)

    async def scenario():
        app = MlmonApp(tmp_path)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("n")
            await wait_for(pilot, lambda: isinstance(app.screen, NewRunScreen))
            form = app.screen
            assert list(form.fields)[:3] == ["model", "scenario", "days"] and "keep_days" in form.fields
            assert "log" not in form.fields and "timestamp_col" not in form.fields  # a log run starts from the CLI
            form.query_one("#page_oncall").value = True
            await pilot.press("ctrl+s")
            await pilot.pause(0.1)
            assert isinstance(app.screen, NewRunScreen)
            assert "needs a pager service" in str(form.query_one("#page_oncall-error").render())
            assert "page oncall" in screen_text(app)

    asyncio.run(scenario())
    (args,) = asked
    assert args.page_oncall is True and args.days == 30 and args.output_dir == tmp_path and args.run_id is None


def test_a_days_narrative_is_shown_with_its_source():
    """With --use-llm the findings end with the day told in words; mlmon's own text says why it stood in."""
    from tui.live import ModelRun
    from tui.widgets.findings import finding_lines

    model = ModelRun("fraud_detector_v2", 30)
    model.state = {"remediation": {"action": "retrain", "policy": "ppo", "justification": "accuracy fell"},
                   "narrative": {"text": "Accuracy fell after the new segment arrived.", "source": "llm"}}
    lines = dict((label, str(text)) for label, text in finding_lines(model))
    assert lines["narrative"] == "Accuracy fell after the new segment arrived."
    model.state["narrative"] = {"text": "Retrain: accuracy fell.", "source": "deterministic (timeout after 5 s)"}
    assert dict(finding_lines(model))["narrative"].plain.endswith("[deterministic (timeout after 5 s)]")
    model.state["narrative"] = {}  # a day not worth telling, or no --use-llm
    assert "narrative" not in dict(finding_lines(model))


def test_a_repeatable_option_takes_several_values_in_its_field():
    """--notify-webhook is given once per URL on the command line; its form field takes them separated by spaces."""
    from tui.screens.new_run import form_fields

    field = {f.name: f for f in form_fields()}["notify_webhook"]
    assert field.parse("http://127.0.0.1:9/a  https://hooks.example.com/b") == ["http://127.0.0.1:9/a", "https://hooks.example.com/b"]
    assert field.parse("  ") is None
    with pytest.raises(ValueError, match="notify-webhook"):
        field.parse("http://127.0.0.1:9/a not-a-url")
