"""Small charts drawn on the server as inline SVG (pure): bars, stacked bars, a line, ranked bars.

Why not a chart library in the browser: these are plain text, so the page needs no script, no
download, no build step, works offline and in any browser, and a test can read every figure.
Each chart is an accessible image: `role="img"`, a `<title>` naming it and a `<desc>` giving its
figures, plus a `<title>` on every bar or point (a tooltip on hover, no JavaScript).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape

INK, MUTED, GRID, AXIS = "#1f2933", "#52606d", "#e4e7eb", "#9aa5b1"
FONT_SIZE, SMALL = 12, 11
CHAR_WIDTH = 6.6  # average width of a 12 px system-font character, for laying labels out

Formatter = Callable[[float], str]


def fmt_int(value: float) -> str:
    return f"{round(value):,}"


def fmt_compact(value: float) -> str:
    """1234 → 1.2k: short enough to sit on top of a narrow bar."""
    for size, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= size:
            text = f"{value / size:.1f}".removesuffix(".0")
            return text + suffix
    return fmt_int(value)


def fmt_percent(value: float) -> str:
    return f"{value * 100:.1f}%"


def fmt_percent_whole(value: float) -> str:
    return f"{value * 100:.0f}%"


def nice_ticks(top: float, count: int = 4) -> list[float]:
    """0 and about `count` round steps (1, 2 or 5 × 10ⁿ) reaching at least `top`."""
    if top <= 0:
        return [0.0, 1.0]
    raw = top / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    if step < 1:
        step = 1.0 if top >= 1 else step
    steps = math.ceil(top / step - 1e-9)
    return [i * step for i in range(steps + 1)]


@dataclass(frozen=True, slots=True)
class Series:
    name: str
    color: str
    values: Sequence[float]


@dataclass(frozen=True, slots=True)
class _Frame:
    """The plot area of a chart with one slot per category along x."""

    width: int
    height: int
    left: int
    right: int
    top: int
    bottom: int
    count: int

    @property
    def plot_width(self) -> float:
        return self.width - self.left - self.right

    @property
    def plot_height(self) -> float:
        return self.height - self.top - self.bottom

    @property
    def baseline(self) -> float:
        return self.height - self.bottom

    def slot(self) -> float:
        return self.plot_width / max(1, self.count)

    def center(self, i: int) -> float:
        return self.left + self.slot() * (i + 0.5)

    def bar_width(self) -> float:
        return max(1.0, min(self.slot() * 0.72, 44.0))


def _svg(chart_id: str, title: str, desc: str, width: int, height: int, body: list[str]) -> str:
    cid = escape(chart_id)
    return "".join(
        [
            f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="{cid}" '
            f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
            f'aria-labelledby="{cid}-title" aria-describedby="{cid}-desc">',
            f'<title id="{cid}-title">{escape(title)}</title>',
            f'<desc id="{cid}-desc">{escape(desc)}</desc>',
            *body,
            "</svg>",
        ]
    )


def _text(
    x: float,
    y: float,
    text: str,
    *,
    anchor: str = "middle",
    size: int = FONT_SIZE,
    fill: str = MUTED,
    weight: str | None = None,
    extra: str = "",
) -> str:
    bold = f' font-weight="{weight}"' if weight else ""
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-size="{size}" '
        f'fill="{fill}"{bold}{extra}>{escape(text)}</text>'
    )


def _y_axis(frame: _Frame, ticks: Sequence[float], fmt: Formatter) -> list[str]:
    out = []
    for tick in ticks:
        y = frame.baseline - frame.plot_height * tick / ticks[-1]
        color = AXIS if tick == 0 else GRID
        out.append(
            f'<line x1="{frame.left}" x2="{frame.width - frame.right}" y1="{y:.1f}" '
            f'y2="{y:.1f}" stroke="{color}" stroke-width="1"/>'
        )
        out.append(_text(frame.left - 8, y + 4, fmt(tick), anchor="end", size=SMALL))
    return out


def _x_labels(frame: _Frame, labels: Sequence[str]) -> list[str]:
    """As many labels as fit without overlapping; the last (newest) is always shown."""
    if not labels:
        return []
    widest = max(len(label) for label in labels) * CHAR_WIDTH + 10
    step = max(1, math.ceil(widest / frame.slot()))
    last = len(labels) - 1
    return [
        _text(frame.center(i), frame.baseline + 18, label, size=SMALL)
        for i, label in enumerate(labels)
        if (last - i) % step == 0
    ]


def _empty(frame: _Frame, message: str) -> str:
    x = frame.left + frame.plot_width / 2
    halo = ' stroke="#fff" stroke-width="6" paint-order="stroke"'  # legible over grid lines
    return _text(x, frame.top + frame.plot_height / 2, message, fill=MUTED, size=13, extra=halo)


def stacked_bars(
    chart_id: str,
    title: str,
    desc: str,
    labels: Sequence[str],
    series: Sequence[Series],
    *,
    width: int = 1120,
    height: int = 300,
    empty: str = "Nothing in this period",
) -> str:
    """One bar per label, its series stacked bottom-up in order; totals above the bars."""
    frame = _Frame(width, height, 52, 12, 26, 30, len(labels))
    totals = [sum(s.values[i] for s in series) for i in range(len(labels))]
    ticks = nice_ticks(max(totals, default=0))
    body = _y_axis(frame, ticks, fmt_compact)
    bar = frame.bar_width()
    scale = frame.plot_height / ticks[-1]
    for i, label in enumerate(labels):
        x = frame.center(i) - bar / 2
        y = frame.baseline
        for s in series:
            value = s.values[i]
            if value <= 0:
                continue
            h = value * scale
            y -= h
            body.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}" '
                f'fill="{s.color}"><title>{escape(label)} · {escape(s.name)}: '
                f"{fmt_int(value)}</title></rect>"
            )
        if totals[i] > 0 and bar >= 14:
            body.append(_text(frame.center(i), y - 6, fmt_compact(totals[i]), size=SMALL, fill=INK))
    body += _x_labels(frame, labels)
    if not any(totals):
        body.append(_empty(frame, empty))
    return _svg(chart_id, title, desc, width, height, body)


def column_chart(
    chart_id: str,
    title: str,
    desc: str,
    labels: Sequence[str],
    values: Sequence[float],
    *,
    color: str,
    width: int = 540,
    height: int = 220,
    name: str = "",
    empty: str = "Nothing in this period",
) -> str:
    """Plain bars, one per label, each with its value on top when there is room."""
    return stacked_bars(
        chart_id,
        title,
        desc,
        labels,
        [Series(name or title, color, values)],
        width=width,
        height=height,
        empty=empty,
    )


def line_chart(
    chart_id: str,
    title: str,
    desc: str,
    labels: Sequence[str],
    values: Sequence[float | None],
    *,
    color: str,
    width: int = 540,
    height: int = 220,
    fmt: Formatter = fmt_percent,
    tick_fmt: Formatter = fmt_percent_whole,
    top: float = 1.0,
    empty: str = "No data in this period",
) -> str:
    """Points joined by a line on a fixed 0..`top` scale; a gap (None) breaks the line."""
    frame = _Frame(width, height, 52, 12, 22, 30, len(labels))
    ticks = [top * i / 4 for i in range(5)]
    body = _y_axis(frame, ticks, tick_fmt)
    points = [
        (frame.center(i), frame.baseline - frame.plot_height * min(v, top) / top, i, v)
        for i, v in enumerate(values)
        if v is not None
    ]
    runs: list[list[tuple[float, float]]] = []
    previous = None
    for x, y, i, _ in points:
        if previous is None or i != previous + 1:
            runs.append([])
        runs[-1].append((x, y))
        previous = i
    for run in runs:
        if len(run) > 1:
            line = " ".join(f"{x:.1f},{y:.1f}" for x, y in run)
            area = (
                f"{run[0][0]:.1f},{frame.baseline:.1f} {line} {run[-1][0]:.1f},{frame.baseline:.1f}"
            )
            body.append(f'<polygon points="{area}" fill="{color}" fill-opacity="0.08"/>')
            body.append(
                f'<polyline points="{line}" fill="none" stroke="{color}" stroke-width="2.5" '
                'stroke-linejoin="round" stroke-linecap="round"/>'
            )
    labelled = {points[-1][2]} if points else set()
    if len(points) <= 12:
        labelled = {i for _, _, i, _ in points}
    for x, y, i, v in points:
        body.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="#fff" stroke="{color}" '
            f'stroke-width="2"><title>{escape(labels[i])}: {escape(fmt(v))}</title></circle>'
        )
        if i in labelled:
            # Above the point, unless the line comes down to it: then below, clear of the line.
            near = [py for _, py, j, _ in points if abs(j - i) == 1]
            below = any(py < y - 2 for py in near) or y - 9 < frame.top
            body.append(_text(x, y + 17 if below else y - 9, fmt(v), size=SMALL, fill=INK))
    body += _x_labels(frame, labels)
    if not points:
        body.append(_empty(frame, empty))
    return _svg(chart_id, title, desc, width, height, body)


def bar_list(
    chart_id: str,
    title: str,
    desc: str,
    labels: Sequence[str],
    values: Sequence[float],
    *,
    color: str,
    width: int = 540,
    row: int = 30,
    empty: str = "Nothing in this period",
    min_rows: int = 5,
) -> str:
    """Ranked horizontal bars: label on the left, value at the end of its bar."""
    rows = max(len(labels), min_rows)
    height = rows * row + 8
    label_width = min(200, max([len(label) for label in labels] + [6]) * CHAR_WIDTH + 12)
    left = label_width + 8
    value_room = 56
    span = width - left - value_room
    top = max(values, default=0) or 1
    body = []
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        y = 4 + i * row
        length = max(2.0, span * value / top)
        shown = (
            label if len(label) * CHAR_WIDTH <= label_width - 4 else _shorten(label, label_width)
        )
        body.append(_text(label_width, y + row / 2 + 4, shown, anchor="end", fill=INK, extra=""))
        body.append(
            f'<rect x="{left}" y="{y + 5:.1f}" width="{length:.1f}" height="{row - 10}" '
            f'rx="3" fill="{color}"><title>{escape(label)}: {fmt_int(value)}</title></rect>'
        )
        body.append(
            _text(left + length + 6, y + row / 2 + 4, fmt_int(value), anchor="start", fill=INK)
        )
    if not labels:
        body.append(_text(width / 2, height / 2, empty, fill=MUTED, size=13))
    return _svg(chart_id, title, desc, width, height, body)


def _shorten(label: str, room: float) -> str:
    keep = max(1, int((room - 4) / CHAR_WIDTH) - 1)
    return label[:keep] + "…"
