"""Bar charts as inline SVG, drawn on the server: no script, no inline style, every text escaped.

The page's CSP allows neither inline styles nor inline scripts, so shapes are coloured with SVG
presentation attributes (``fill=``) and hover text is each bar's ``<title>``. Every piece of
markup is built with ``Markup.format``, which escapes its arguments: a label that came from a
crawled page ends up as text. The ``viewBox`` with ``width="100%"`` lets a chart shrink to a phone.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup

_IDENT = re.compile(r"^[a-z][a-z0-9-]{0,40}$")
GRID = "#dde1e8"
AXIS = "#5d6677"


@dataclass(frozen=True, slots=True)
class Series:
    """One layer of a (stacked) bar chart: its name in the legend, its colour, a value per bar."""

    name: str
    colour: str
    values: Sequence[int]


@dataclass(frozen=True, slots=True)
class BarChart:
    """Bars over a sequence of labels (days); series stack bottom to top."""

    ident: str  # unique on the page: the id of the chart's <title>
    title: str
    labels: Sequence[str]  # under the bars (only every few are shown)
    hover: Sequence[str]  # each bar's <title>
    series: Sequence[Series]


@dataclass(frozen=True, slots=True)
class _Frame:
    """Where the plot sits in the view box."""

    width: int = 420
    height: int = 200
    left: int = 34
    right: int = 8
    top: int = 26
    bottom: int = 22

    @property
    def plot_width(self) -> float:
        return self.width - self.left - self.right

    @property
    def plot_height(self) -> float:
        return self.height - self.top - self.bottom


def nice_ceiling(value: int) -> int:
    """The axis top for a tallest bar of ``value``: the smallest of 1, 2, 3, 4, 5, 6, 8 x 10^k
    at least ``value`` (1 for nothing)."""
    if value <= 1:
        return 1
    power = 10 ** math.floor(math.log10(value))
    return next(step * power for step in (1, 2, 3, 4, 5, 6, 8, 10) if step * power >= value)


def _n(value: float) -> str:
    return f"{value:.1f}".removesuffix(".0")


def _grid(frame: _Frame, top_value: int) -> list[Markup]:
    parts = []
    # Lines at 0, the middle (when it is a whole number of items) and the top.
    for value in sorted({0, top_value} | ({top_value // 2} if top_value % 2 == 0 else set())):
        y = frame.top + frame.plot_height * (1 - value / top_value)
        parts.append(
            Markup('<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="{}" stroke-width="1"/>').format(
                frame.left, _n(y), frame.width - frame.right, _n(y), GRID
            )
        )
        parts.append(
            Markup('<text x="{}" y="{}" text-anchor="end" fill="{}">{}</text>').format(
                frame.left - 4, _n(y + 3), AXIS, value
            )
        )
    return parts


def _bar(chart: BarChart, frame: _Frame, index: int, top_value: int) -> Markup:
    slot = frame.plot_width / len(chart.labels)
    x = frame.left + slot * index
    parts = [
        Markup("<title>{}</title>").format(chart.hover[index]),
        # An invisible column, so the whole slot shows the title (also for an empty day).
        Markup('<rect x="{}" y="{}" width="{}" height="{}" fill="#000" fill-opacity="0"/>').format(
            _n(x), frame.top, _n(slot), _n(frame.plot_height)
        ),
    ]
    base = frame.top + frame.plot_height
    for series in chart.series:
        value = series.values[index]
        if value <= 0:
            continue
        height = frame.plot_height * value / top_value
        base -= height
        parts.append(
            Markup('<rect x="{}" y="{}" width="{}" height="{}" fill="{}"/>').format(
                _n(x + slot * 0.1), _n(base), _n(slot * 0.8), _n(height), series.colour
            )
        )
    return Markup('<g class="bar">{}</g>').format(Markup("").join(parts))


def _labels(chart: BarChart, frame: _Frame, every: int) -> list[Markup]:
    slot = frame.plot_width / len(chart.labels)
    last = len(chart.labels) - 1
    return [
        Markup('<text x="{}" y="{}" text-anchor="middle" fill="{}">{}</text>').format(
            _n(frame.left + slot * (i + 0.5)), frame.height - 6, AXIS, label
        )
        for i, label in enumerate(chart.labels)
        if (last - i) % every == 0  # the last bar (today) always has its label
    ]


def _legend(chart: BarChart, frame: _Frame) -> list[Markup]:
    parts = []
    x = frame.left
    for series in chart.series:
        parts.append(
            Markup('<rect x="{}" y="8" width="10" height="10" fill="{}"/>').format(x, series.colour)
        )
        parts.append(
            Markup('<text x="{}" y="17" fill="{}">{}</text>').format(x + 14, AXIS, series.name)
        )
        x += 24 + 7 * len(series.name)
    return parts


def bar_chart(chart: BarChart, every: int = 5) -> Markup:
    """The chart as an <svg> element, every ``every``-th bar labelled (counting back from the last)."""
    if not _IDENT.match(chart.ident):
        raise ValueError(f"chart ident must be a short lower-case id: {chart.ident!r}")
    count = len(chart.labels)
    if len(chart.hover) != count or any(len(s.values) != count for s in chart.series):
        raise ValueError("every series and the hover texts need one value per label")
    frame = _Frame()
    highest = max(
        (sum(values) for values in zip(*(s.values for s in chart.series), strict=True)), default=0
    )
    top_value = nice_ceiling(highest)
    body = [
        Markup('<title id="chart-{}">{}</title>').format(chart.ident, chart.title),
        *_grid(frame, top_value),
        *(_bar(chart, frame, i, top_value) for i in range(count)),
        *_labels(chart, frame, max(1, every)),
        *_legend(chart, frame),
    ]
    return Markup(
        '<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="{}" viewBox="0 0 {} {}" '
        'width="100%" role="img" aria-labelledby="chart-{}">{}</svg>'
    ).format(chart.ident, frame.width, frame.height, chart.ident, Markup("").join(body))
