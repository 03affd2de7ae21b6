"""The monitoring graph as a layered DAG, each step's state on the day on screen, taken edges lit.

One line per layer: the main step, then its branch alternative (`╌`, e.g. no labels today) and its
fallback (`┄`, taken when the step raised); back edges (the next day, the end) follow the last step.
Names shrink to their suffix on narrow panels; connector lines appear when the panel is tall enough.
"""
from __future__ import annotations

from langgraph.graph import END
from rich.text import Text
from textual.widget import Widget

from tui.graph_layout import BRANCH, FALLBACK, GraphLayout
from tui.live import DONE, FAILED, FELL_BACK, IDLE, RUNNING, ModelRun

GLYPHS = {IDLE: ("○", "grey42"), RUNNING: ("◉", "bold yellow"), DONE: ("●", "green"),
          FELL_BACK: ("✖", "bold red"), FAILED: ("✖", "bold white on red")}
EDGE = {BRANCH: "╌", FALLBACK: "┄"}
EDGE_LIT = {BRANCH: "bold cyan", FALLBACK: "bold red"}


class GraphView(Widget):
    DEFAULT_CSS = "GraphView { height: auto; }"

    def __init__(self, layout: GraphLayout, **kwargs):
        super().__init__(**kwargs)
        self.graph_layout = layout
        self.model: ModelRun | None = None

    def show(self, model: ModelRun | None) -> None:
        self.model = model
        self.refresh()

    def _label(self, node: str, layer: list[str], tier: int) -> str:
        """Tier 0: the full name; 1: the part after the layer's family name; 2: that, cut to 5 letters."""
        family = layer[0].split("_")[0] + "_"
        if tier == 0 or node == layer[0] or not node.startswith(family):
            return node
        return node[len(family):] if tier == 1 else node[len(family):][:5]

    def _line_width(self, tier: int) -> int:
        main_w = max(len(layer[0]) for layer in self.graph_layout.layers)
        alt_w = max((len(self._label(n, layer, tier)) for layer in self.graph_layout.layers for n in layer[1:]), default=0)
        return 3 + main_w + 2 * (alt_w + 4)

    def render(self) -> Text:
        layout, model = self.graph_layout, self.model
        steps = model.steps if model else {}
        taken = model.taken if model else set()
        width = self.size.width or 80
        tier = next((t for t in (0, 1) if self._line_width(t) <= width), 2)
        main_w = max(len(layer[0]) for layer in layout.layers)
        alt_w = max((len(self._label(n, layer, tier)) for layer in layout.layers for n in layer[1:]), default=0)
        spaced = self.size.height >= 2 * len(layout.layers) - 1
        text = Text(no_wrap=True, overflow="ellipsis")
        for i, layer in enumerate(layout.layers):
            if i:
                text.append("\n")
                if spaced:
                    text.append("│".center(3), style="grey42")
                    text.append("\n")
            main = layer[0]
            glyph, style = GLYPHS[steps.get(main, IDLE)]
            text.append(f" {glyph} ", style=style)
            text.append(main.ljust(main_w) if len(layer) > 1 else main, style="bold" if steps.get(main) == RUNNING else "")
            # Alternatives go in fixed columns: the branch one, then the fallback one.
            columns = {BRANCH: None, FALLBACK: None}
            for node in layer[1:]:
                columns[layout.incoming_kind(node)] = node
            for kind in (BRANCH, FALLBACK) if len(layer) > 1 else ():
                node = columns[kind]
                if node is None:
                    text.append(" " * (alt_w + 4))
                    continue
                lit = any(edge in taken for edge in layout.edges if edge[1] == node and layout.edges[edge] == kind)
                text.append(f" {EDGE[kind]}", style=EDGE_LIT[kind] if lit else "grey42")
                glyph, style = GLYPHS[steps.get(node, IDLE)]
                if steps.get(node) == DONE and kind == FALLBACK:
                    style = "bold dark_orange"
                text.append(f"{glyph} ", style=style)
                text.append(self._label(node, layer, tier).ljust(alt_w), style="" if lit or steps.get(node) != IDLE else "grey50")
            back = [t for (s, t), kind in layout.edges.items()
                    if s in layer and kind != FALLBACK and (t == END or any(t in earlier for earlier in layout.layers[:i]))]
            for target in sorted(back, key=lambda t: t == END):
                lit = any(edge in taken for edge in layout.edges if edge[1] == target and edge[0] in layer)
                mark = "■ end" if target == END else f"↻ {target}"
                text.append(f"  {mark}", style="bold cyan" if lit else "grey42")
        return text
