"""The main screen: one run, live or past: the graph, the day's findings, charts over the days, the decision log."""
from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Container, Horizontal
from textual.screen import Screen
from textual.widgets import Footer

from tui.graph_layout import GraphLayout
from tui.widgets.charts import Charts
from tui.widgets.decision_log import DecisionLog
from tui.widgets.findings import Findings
from tui.widgets.graph_view import GraphView
from tui.widgets.model_switcher import ModelSwitcher
from tui.widgets.status_bar import StatusBar


class RunScreen(Screen):
    BINDINGS = [
        Binding("space", "app.toggle_pause", "pause"),
        Binding("s", "app.step", "step"),
        Binding("left", "app.travel(-1)", "day", key_display="←→"),
        Binding("right", "app.travel(1)", "day+1", show=False),
        Binding("end", "app.travel_end", "newest", show=False),
        Binding("f", "app.fork", "fork"),
        Binding("c", "app.compare", "fork view", show=False),
        Binding("m", "app.next_model", "model"),
        *[Binding(str(i), f"app.select_model({i})", show=False) for i in range(1, 10)],
        Binding("plus,equals_sign", "app.speed(1)", "faster", show=False),
        Binding("minus", "app.speed(-1)", "slower", show=False),
        Binding("r", "app.runs", "runs"),
    ]

    def __init__(self, layout: GraphLayout, **kwargs):
        super().__init__(**kwargs)
        self.graph_layout = layout

    def compose(self) -> ComposeResult:
        yield StatusBar(id="status")
        yield ModelSwitcher(id="models")
        with Horizontal(id="top"):
            with Container(id="graph-panel", classes="panel") as panel:
                panel.border_title = "graph"
                yield GraphView(self.graph_layout, id="graph")
            with Container(id="findings-panel", classes="panel") as panel:
                panel.border_title = "findings"
                yield Findings(id="findings")
        with Horizontal(id="bottom"):
            with Container(id="charts-panel", classes="panel") as panel:
                panel.border_title = "over the days"
                yield Charts(id="charts")
            with Container(id="decisions-panel", classes="panel") as panel:
                panel.border_title = "decisions"
                yield DecisionLog(id="decisions")
        yield Footer()

    def on_mount(self) -> None:
        self.app.refresh_screen()

    def on_resize(self) -> None:
        # Full step names once the terminal can spare the columns (200x60); suffixes at 80x24.
        self.query_one("#graph-panel").set_class(self.size.width >= 160, "wide")
        # The graph's eight layers with connector lines once there are rows to spare; the charts get the rest.
        self.query_one("#top").styles.height = 2 * 8 + 1 if self.size.height >= 44 else "1fr"
