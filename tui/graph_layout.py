"""The monitoring graph's shape for drawing, read from the compiled graph itself, and its own routers.

Nodes come from `get_graph()`; edges from the compiled graph's builder (plain edges, conditional
branches, and each error handler's fallback, which LangGraph cannot draw because a handler routes
with `Command(goto=...)`). Layers are longest paths from the start; a fallback sits in the layer of
the node it stands in for. The branch functions are the graph's own, so the view can tell which
step runs next from the day's state.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from langgraph.graph import END, START

from graph.build import build_graph

NORMAL, BRANCH, FALLBACK = "normal", "branch", "fallback"


@dataclass
class GraphLayout:
    layers: list[list[str]]  # top to bottom; in each, the main step first, then branch alternatives, then fallbacks
    edges: dict[tuple[str, str], str]  # (source, target) -> NORMAL | BRANCH | FALLBACK
    first: str  # the step a day starts with
    fallback_of: dict[str, str] = field(default_factory=dict)  # node -> its fallback
    _routers: dict = field(default_factory=dict, repr=False)  # source -> [(branch runnable, ends)]

    @property
    def nodes(self) -> list[str]:
        return [n for layer in self.layers for n in layer]

    def incoming_kind(self, node: str) -> str:
        """How a node is reached: NORMAL (the main line), BRANCH (a branch alternative) or FALLBACK."""
        kinds = {kind for (_, target), kind in self.edges.items() if target == node}
        if kinds == {FALLBACK}:
            return FALLBACK
        layer = next(layer for layer in self.layers if node in layer)
        return BRANCH if BRANCH in kinds and layer.index(node) > 0 else NORMAL

    def next_step(self, node: str, state: dict) -> str | None:
        """The step the graph runs after `node` given the day's state (END at the end; None if unknown)."""
        for router, ends in self._routers.get(node, []):
            try:
                key = router.invoke(state)
            except Exception:  # the state seen so far lacks what the router reads
                return None
            return ends.get(key, key) if ends else key
        targets = [t for (s, t), kind in self.edges.items() if s == node and kind == NORMAL]
        return targets[0] if len(targets) == 1 else None


def load_layout(compiled=None) -> GraphLayout:
    compiled = compiled if compiled is not None else build_graph()
    drawn = compiled.get_graph()
    builder = compiled.builder
    nodes = [n for n in drawn.nodes if n not in (START, END) and not n.startswith("__error_handler__")]
    edges: dict[tuple[str, str], str] = {}
    for source, target in builder.edges:
        edges[(source, target)] = NORMAL
    routers: dict[str, list] = {}
    for source, branches in builder.branches.items():
        for spec in branches.values():
            ends = dict(spec.ends or {})
            routers.setdefault(source, []).append((spec.path, ends))
            for target in ends.values():
                edges[(source, target)] = BRANCH
    fallback_of = {}
    for name, spec in builder.nodes.items():
        handler = spec.error_handler_node and builder.nodes[spec.error_handler_node].runnable
        fallback = getattr(getattr(handler, "func", None), "fallback", None)
        if fallback:
            edges[(name, fallback)] = FALLBACK
            fallback_of[name] = fallback
    first = next(t for (s, t) in edges if s == START)
    return GraphLayout(_layers(nodes, edges, first), edges, first, fallback_of, routers)


def _layers(nodes: list[str], edges: dict, first: str) -> list[list[str]]:
    forward = {n: [t for (s, t), k in edges.items() if s == n and k != FALLBACK and t in nodes] for n in nodes}
    # Longest path from the first step; an edge back to a node already on the path is the next day (a cycle).
    depth = {first: 0}
    order = [first]

    def visit(node: str, path: set[str]) -> None:
        for target in forward[node]:
            if target in path:
                continue
            if depth.get(target, -1) < depth[node] + 1:
                depth[target] = depth[node] + 1
                order.append(target)
                visit(target, path | {target})

    visit(first, {first})
    for (source, target), kind in edges.items():  # a fallback stands beside the node it replaces
        if kind == FALLBACK and target not in depth and source in depth:
            depth[target] = depth[source]
    layers: list[list[str]] = [[] for _ in range(max(depth.values()) + 1)]
    for node in nodes:
        if node in depth:
            layers[depth[node]].append(node)

    def rank(node: str) -> tuple:
        kinds = {k for (_, t), k in edges.items() if t == node}
        if kinds == {FALLBACK}:
            return (2, node)
        branch_rank = [list(t for (s, t), k in edges.items() if k == BRANCH and s == src).index(node)
                       for (src, t), k in edges.items() if t == node and k == BRANCH]
        return (0 if not branch_rank or min(branch_rank) == 0 else 1, node)

    return [sorted(layer, key=rank) for layer in layers]
