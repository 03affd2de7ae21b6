"""Forking: the dialog that picks another action for a past day, and the fork view beside its parent.

The dialog lists the seven actions with the policy's probability for each that day (impossible ones
cannot be picked) and the new run's id. The fork view draws the fork's accuracy and cumulative cost
beside the parent's, and the days from the fork on side by side.
"""
from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen, Screen
from textual.widget import Widget
from textual.widgets import Footer, Input, OptionList, Static
from textual.widgets.option_list import Option

from decision.actions import Action
from graph.fork import default_fork_id
from simulator.catalog import get_model
from tui.widgets.chart import Series, render_chart
from tui.widgets.charts import cumulative_cost


class ForkDialog(ModalScreen):
    """Dismissed with {"action": label, "run_id": new id} or None."""

    BINDINGS = [Binding("escape", "dismiss(None)", "cancel")]

    def __init__(self, run_id: str, model: str, day: int, decided: dict, **kwargs):
        super().__init__(**kwargs)
        self.run_id, self.model, self.day, self.decided = run_id, model, day, decided

    def compose(self) -> ComposeResult:
        probabilities = self.decided.get("probabilities") or [0.0] * len(Action)
        mask = self.decided.get("mask") or [1] * len(Action)
        options = []
        for action in Action:
            chosen = action.label == self.decided.get("action")
            label = Text(f"{action.label:20s} {probabilities[action]:5.0%}")
            if chosen:
                label.append("  the policy's choice", style="grey62")
            if not mask[action]:
                label.append("  not possible that day", style="grey50")
            options.append(Option(label, id=action.label, disabled=not mask[action] or chosen))
        with Vertical(id="fork-dialog"):
            yield Static(Text.assemble(("fork ", "bold"), (self.run_id, "bold cyan"), f"  {self.model}, day {self.day}"))
            yield Static(Text(f"the policy ({self.decided.get('policy', '?')}) chose {self.decided.get('action')}; "
                              "act otherwise and let the graph go on from there:", style="grey70"))
            yield OptionList(*options, id="fork-actions")
            yield Input(default_fork_id(self.run_id, self.day, "x"), id="fork-id", compact=True)
            yield Static("", id="fork-error")
            yield Static(Text("enter on an action forks; escape cancels", style="grey50"))

    def on_mount(self) -> None:
        options = self.query_one(OptionList)
        first = next((i for i in range(options.option_count) if not options.get_option_at_index(i).disabled), None)
        if first is not None:
            options.highlighted = first
            self._suggest(options.get_option_at_index(first).id)
        options.focus()

    def _suggest(self, action: str) -> None:
        self.query_one("#fork-id", Input).value = default_fork_id(self.run_id, self.day, action)

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        self._suggest(event.option.id)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        run_id = self.query_one("#fork-id", Input).value.strip()
        if not run_id:
            self.query_one("#fork-error", Static).update(Text("the fork needs a run id", style="bold red"))
            return
        self.dismiss({"action": event.option.id, "run_id": run_id})


class CompareCharts(Widget):
    DEFAULT_CSS = "CompareCharts { height: 1fr; }"

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.data = None

    def show(self, model: str, days: int, fork: dict, parent: dict, fork_day: int) -> None:
        self.data = (model, days, fork, parent, fork_day)
        self.refresh()

    def render(self):
        from rich.console import Group

        if self.data is None:
            return Text("")
        model, days, fork, parent, fork_day = self.data
        spec = get_model(model)
        by_day = lambda s, key: [s.get(d, {}).get(key) for d in range(days)]  # noqa: E731
        height = self.size.height
        top = max(2, height // 2)
        return Group(
            render_chart("accuracy", [Series("fork", by_day(fork, "true_accuracy"), "cyan"),
                                      Series("parent", by_day(parent, "true_accuracy"), "magenta"),
                                      Series("no action", by_day(parent, "counterfactual_accuracy"), "grey50")],
                         days, self.size.width, top, floor=None, marker_day=fork_day, min_span=0.05),
            render_chart("cost $ so far", [Series("fork", cumulative_cost(fork, days, spec.daily_volume, spec.cost_per_error), "cyan"),
                                           Series("parent", cumulative_cost(parent, days, spec.daily_volume, spec.cost_per_error),
                                                  "magenta")], days, self.size.width, height - top, floor=0.0,
                         marker_day=fork_day, min_span=1000.0))


def comparison_table(fork: dict, parent: dict, fork_day: int, rows: int) -> Table:
    table = Table(box=None, padding=(0, 1), header_style="bold", expand=False)
    for column in ("day", "parent", "acc", "fork", "acc", "Δ acc"):
        table.add_column(column, justify="right" if column in ("day", "acc", "Δ acc") else "left", no_wrap=True)
    for day in sorted(d for d in fork if d >= fork_day)[:rows]:
        f, p = fork[day], parent.get(day, {})
        fa, pa = f.get("true_accuracy"), p.get("true_accuracy")
        delta = Text(f"{fa - pa:+.3f}", style="green" if fa >= pa else "red") if fa is not None and pa is not None else Text("")
        table.add_row(str(day), p.get("action", ""), f"{pa:.3f}" if pa is not None else "", f.get("action", ""),
                      f"{fa:.3f}" if fa is not None else "", delta)
    return table


class CompareScreen(Screen):
    """The fork view: opened with `c` on a fork; it follows the fork live while it runs."""

    BINDINGS = [Binding("escape,c", "app.pop_screen", "back")]

    def compose(self) -> ComposeResult:
        yield Static(id="compare-title")
        with Vertical(id="compare-body"):
            yield CompareCharts(id="compare-charts")
            yield Static(id="compare-table")
        yield Footer()

    def on_mount(self) -> None:
        self.app.refresh_screen()

    def show(self, view) -> None:
        fork_info = view.forked_from
        model = view.models[fork_info["model"]] if fork_info["model"] in view.models else view.model
        fork, parent, day = model.summaries, view.parent_summaries, fork_info["day"]
        spec = get_model(model.model)
        cost = lambda s: cumulative_cost(s, model.days, spec.daily_volume, spec.cost_per_error)  # noqa: E731
        last = max(fork) if fork else None
        title = Text.assemble((" fork view ", "bold reverse"), " ", (view.run_id, "bold cyan"), " vs parent ",
                              (fork_info["run_id"], "bold magenta"), f"  day {day}: {fork_info['action']} instead of "
                              f"{fork_info.get('parent_action', '?')}")
        if last is not None and last in parent:
            f_cost, p_cost = cost(fork)[last], cost(parent)[last]
            title.append(f"   cost to day {last}: fork ${f_cost:,.0f}, parent ${p_cost:,.0f} "
                         f"({'saves' if f_cost <= p_cost else 'costs'} ${abs(p_cost - f_cost):,.0f})",
                         style="green" if f_cost <= p_cost else "red")
        self.query_one("#compare-title", Static).update(title)
        self.query_one(CompareCharts).show(model.model, model.days, fork, parent, day)
        rows = max(1, self.query_one("#compare-table").size.height - 1)
        self.query_one("#compare-table", Static).update(comparison_table(fork, parent, day, rows))
