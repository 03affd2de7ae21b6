"""Snapshots of mlmon-tui's screens at 80x24 and 200x60 (pytest-textual-snapshot; update with --snapshot-update).

Each screen is made deterministic: runs with fixed seeds and ids, a live run held paused at a fixed
day, registry times fixed, relative folder names; no wall-clock figure is on any of these screens.
"""
from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from graph.control import RunControl, RunStopped
from graph.fork import fork_run
from graph.runner import RunConfig, execute
from tui.app import MlmonApp

SIZES = [(80, 24), (200, 60)]
PNEUMONIA = "pneumonia_classifier_v1"


def settings(out: Path, run_id: str, days: int) -> RunConfig:
    return RunConfig([PNEUMONIA], "sudden_shift", days, 3, "rules", out, run_id, onset=2)


async def until(pilot, condition, timeout: float = 120.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, "timed out"
        await pilot.pause(0.02)
    await pilot.pause(0.1)


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """runs/: a finished run, a fork of it from day 1, and a run stopped after its first day."""
    root = tmp_path_factory.mktemp("snap")
    out = root / "runs"
    execute(settings(out, "baseline", 7))
    execute(fork_run(out, "baseline", PNEUMONIA, 1, "retrain_now").config)
    control = RunControl(paused=True)

    def stop_at_the_first_day_end(kind, data):
        if kind == "day":
            control.stop()
        if kind == "node":
            control.after_step(data["node"])

    with pytest.raises(RunStopped):
        execute(settings(out, "halfway", 7), stop_at_the_first_day_end)
    with sqlite3.connect(out / "mlmon.db") as conn:  # fixed registry times: the listing order is newest first
        for i, run_id in enumerate(["baseline", "halfway", "baseline-fork-d1-retrain_now"]):
            conn.execute("UPDATE runs SET started_at = ?, finished_at = NULL WHERE run_id = ?", (1_800_000_000 + i, run_id))
    return root


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_main_screen_mid_run(snap_compare, tmp_path, monkeypatch, size):
    monkeypatch.chdir(tmp_path)
    app = MlmonApp(Path("out"), config=settings(Path("out"), "live", 8), paused=True)

    async def hold_at_day_two(pilot):
        await until(pilot, lambda: app.control is not None and app.control.waiting and app.view.model.days_done == 1)
        await pilot.press("s")
        await until(pilot, lambda: app.view.model.days_done == 2 and app.control.waiting)
        await pilot.press("s")
        await until(pilot, lambda: app.view.model.days_done == 3 and app.control.waiting)

    assert snap_compare(app, terminal_size=size, run_before=hold_at_day_two)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_runs_screen(snap_compare, folder, monkeypatch, size):
    monkeypatch.chdir(folder)
    app = MlmonApp(Path("runs"))

    async def listed(pilot):
        await until(pilot, lambda: len(getattr(app.screen, "listings", [])) == 3)

    assert snap_compare(app, terminal_size=size, run_before=listed)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_fork_view(snap_compare, folder, monkeypatch, size):
    monkeypatch.chdir(folder)
    app = MlmonApp(Path("runs"))

    async def open_the_fork(pilot):
        await until(pilot, lambda: len(getattr(app.screen, "listings", [])) == 3)
        await pilot.press("enter")  # the fork is the newest run
        await until(pilot, lambda: app.past is not None and app.view.forked_from is not None)
        await pilot.press("c")
        await until(pilot, lambda: app.screen.__class__.__name__ == "CompareScreen")

    assert snap_compare(app, terminal_size=size, run_before=open_the_fork)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_help_screen(snap_compare, folder, monkeypatch, size):
    monkeypatch.chdir(folder)
    app = MlmonApp(Path("runs"))

    async def helped(pilot):
        await until(pilot, lambda: len(getattr(app.screen, "listings", [])) == 3)
        await pilot.press("question_mark")
        await until(pilot, lambda: app.screen.__class__.__name__ == "HelpScreen")

    assert snap_compare(app, terminal_size=size, run_before=helped)
