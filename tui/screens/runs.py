"""The runs screen: the runs in an output folder with their state; open, resume or follow one.

A simulated run shows its days done of its days and its scenario; a log run, its periods so far and "log".
"""
from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from stores import StoreError
from tui.data import FINISHED, INTERRUPTED, RUNNING_ELSEWHERE, RUNNING_HERE, RunListing, list_runs
from tui.live import source_label

STATE_STYLE = {FINISHED: "green", INTERRUPTED: "yellow", RUNNING_ELSEWHERE: "bold blue", RUNNING_HERE: "bold green"}
REFRESH_SECONDS = 2.0


class RunsScreen(Screen):
    BINDINGS = [
        Binding("enter", "open", "open/resume", priority=True),
        Binding("g", "reload", "refresh"),
    ]

    def __init__(self, output_dir: Path, **kwargs):
        super().__init__(**kwargs)
        self.output_dir = Path(output_dir)
        self.listings: list[RunListing] = []

    def compose(self) -> ComposeResult:
        yield Static(id="runs-title")
        table = DataTable(id="runs", cursor_type="row", zebra_stripes=True)
        yield table
        yield Static(id="runs-note")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("run", "state", "days", "model", "scenario", "seed", "policy", "forked from")
        self.action_reload()
        self.set_interval(REFRESH_SECONDS, self.action_reload)

    def action_reload(self) -> None:
        title, note = self.query_one("#runs-title", Static), self.query_one("#runs-note", Static)
        title.update(Text.assemble(("runs in ", "bold"), (f"{self.output_dir}/", "bold cyan")))
        table = self.query_one(DataTable)
        try:
            listings = list_runs(self.output_dir, self.app.running_here())
        except StoreError as exc:
            table.clear()
            note.update(Text(f"error: {exc}", style="bold red"))
            return
        if [(r.run_id, r.state, r.days_done) for r in listings] == [(r.run_id, r.state, r.days_done) for r in self.listings]:
            return  # nothing changed: keep the cursor where it is
        self.listings = listings
        row = table.cursor_row
        table.clear()
        for r in listings:
            s = r.settings
            model = "all" if len(s["models"]) > 1 else s["models"][0]
            if self.size.width < 120:
                model = model.split("_")[0]
            fork = f"{r.forked_from['run_id']} d{r.forked_from['day']}" if r.forked_from else ""
            # A log run has no number of days set in advance: it has the periods its log has grown to.
            done = f"{r.days_done} periods" if s.get("source") == "log" else f"{r.days_done}/{r.days_total}"
            table.add_row(r.run_id, Text(r.state, style=STATE_STYLE.get(r.state, "")), done, model,
                          source_label(s), str(s.get("seed", "-")), s["policy"], fork, key=r.run_id)
        if listings:
            table.move_cursor(row=min(row, len(listings) - 1))
        note.update(Text("no runs here yet: n starts one" if not listings else
                         "enter: open (finished: browse; interrupted: resume; running elsewhere: follow)", style="grey50"))

    def action_open(self) -> None:
        table = self.query_one(DataTable)
        if not self.listings or table.cursor_row is None or table.cursor_row >= len(self.listings):
            return
        self.app.open_listing(self.output_dir, self.listings[table.cursor_row])
