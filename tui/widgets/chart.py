"""A line chart in braille dots: several series over the run's days, a y scale, and a one-line legend.

Each character cell holds 2x4 dots, so a 40x6 cell chart draws 80x24 points; the x axis always spans
the whole run, so an unfinished run's lines stop where the run is. Drawn from plain lists in a few
milliseconds, which keeps the UI responsive while the graph runs.
"""
from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text

# Braille dot bits by (x, y) inside a cell, y from the top.
_DOTS = ((0x01, 0x08), (0x02, 0x10), (0x04, 0x20), (0x40, 0x80))


@dataclass
class Series:
    name: str
    values: list[float | None]  # by day index; None = not known that day
    style: str


def _bounds(series: list[Series], floor: float | None, ceiling: float | None, min_span: float) -> tuple[float, float]:
    values = [v for s in series for v in s.values if v is not None]
    low = min(values, default=0.0) if floor is None else min(floor, min(values, default=floor))
    high = max(values, default=1.0) if ceiling is None else max(ceiling, max(values, default=ceiling))
    if high - low < min_span:  # a flat line sits mid-chart instead of stretching noise to full height
        middle = (high + low) / 2
        low, high = (floor, floor + min_span) if floor is not None and middle - min_span / 2 < floor else (
            middle - min_span / 2, middle + min_span / 2)
    return low, high


def _fmt(value: float) -> str:
    if abs(value) >= 1000:
        return f"{value / 1000:.0f}k"
    if abs(value) >= 10:
        return f"{value:.0f}"
    return f"{value:.2f}"


def render_chart(title: str, series: list[Series], days: int, width: int, height: int,
                 floor: float | None = None, ceiling: float | None = None, marker_day: int | None = None,
                 min_span: float = 1e-6) -> Text:
    """The chart as `height` lines of `width` cells: a title/legend line, then the plot with its y scale."""
    low, high = _bounds(series, floor, ceiling, min_span)
    labels = [_fmt(high), _fmt(low)]
    gutter = max(len(label) for label in labels) + 1
    plot_w, plot_h = max(4, width - gutter), max(1, height - 1)
    px_w, px_h = plot_w * 2, plot_h * 4
    cells: list[list[int]] = [[0] * plot_w for _ in range(plot_h)]
    owner: list[list[str | None]] = [[None] * plot_w for _ in range(plot_h)]

    def x_of(day: int) -> int:
        return 0 if days <= 1 else round(day * (px_w - 1) / (days - 1))

    def y_of(value: float) -> int:
        return round((high - value) * (px_h - 1) / (high - low))

    def dot(x: int, y: int, style: str) -> None:
        if 0 <= x < px_w and 0 <= y < px_h:
            cy, cx = divmod(y, 4)[0], x // 2
            cells[cy][cx] |= _DOTS[y % 4][x % 2]
            owner[cy][cx] = style

    for s in series:
        previous = None
        for day, value in enumerate(s.values[:days]):
            if value is None:
                previous = None
                continue
            point = (x_of(day), y_of(value))
            if previous is None:
                dot(*point, s.style)
            else:  # a straight segment from the previous day's point
                (x0, y0), (x1, y1) = previous, point
                steps = max(abs(x1 - x0), abs(y1 - y0), 1)
                for i in range(steps + 1):
                    dot(round(x0 + (x1 - x0) * i / steps), round(y0 + (y1 - y0) * i / steps), s.style)
            previous = point

    text = Text(no_wrap=True, overflow="crop")
    text.append(title, style="bold")
    for s in series:
        last = next((v for v in reversed(s.values[:days]) if v is not None), None)
        text.append("  ")
        text.append("━", style=s.style)
        text.append(f" {s.name}" + (f" {_fmt(last) if abs(last) >= 10 else f'{last:.3f}'}" if last is not None else ""))
    marker_x = x_of(marker_day) // 2 if marker_day is not None and 0 <= marker_day < days else None
    for row in range(plot_h):
        text.append("\n")
        label = labels[0] if row == 0 else labels[1] if row == plot_h - 1 else ""
        text.append(label.rjust(gutter - 1) + "┤" if label else " " * (gutter - 1) + "│", style="dim")
        # One span per run of cells in the same style, not one per cell: a 200x60 screen repaints in a
        # fraction of the time (spans are what the terminal renderer pays for).
        run, run_style = [], ""
        for col in range(plot_w):
            bits = cells[row][col]
            if bits:
                char, style = chr(0x2800 + bits), owner[row][col]
            elif col == marker_x:
                char, style = "┊", "dim"
            else:
                char, style = " ", ""
            if style != run_style and run:
                text.append("".join(run), style=run_style or None)
                run = []
            run.append(char)
            run_style = style
        if run:
            text.append("".join(run), style=run_style or None)
    return text
