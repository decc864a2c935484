"""Small, dependency-free SVG charts for the HTML reports: vertical bars, a line, horizontal bars and
a 100 % stacked bar.

Every function returns one ``<svg>`` element as a string. All text that goes into the SVG (labels,
titles) is escaped here, so callers may pass user data. The SVG is self-contained (no fonts, images
or scripts are fetched) and well-formed XML, so it can be inlined into an HTML or XHTML document.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

#: Default chart size in CSS pixels (the SVG scales with its container through ``viewBox``).
WIDTH = 720
HEIGHT = 260
#: Space for axis labels.
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 28, 48
#: At most this many category labels are printed under a chart (every n-th otherwise).
MAX_X_LABELS = 12
PALETTE = ("#2563eb", "#16a34a", "#dc2626", "#ca8a04", "#7c3aed", "#0891b2", "#db2777", "#4b5563")


def e(text: object) -> str:
    """Escape text for an XML/HTML text node or a quoted attribute."""
    return escape(str(text), quote=True)


def compact(value: float) -> str:
    """1234 -> "1.2k", 2500000 -> "2.5M"; small numbers as integers (or with one decimal below 10)."""
    magnitude = abs(value)
    for limit, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if magnitude >= limit:
            return f"{value / limit:.1f}".rstrip("0").rstrip(".") + suffix
    if value != int(value) and magnitude < 10:
        return f"{value:.1f}"
    return f"{round(value)}"


def nice_ceiling(value: float) -> float:
    """The smallest 1, 2, 2.5 or 5 times a power of ten that is >= ``value`` (1 for 0 or less)."""
    if value <= 0:
        return 1.0
    power = 10.0 ** math.floor(math.log10(value))
    for step in (1.0, 2.0, 2.5, 5.0, 10.0):
        if step * power >= value:
            return step * power
    return 10.0 * power  # pragma: no cover - the loop always returns


def _open(title: str, width: int, height: int) -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="100%" role="img" aria-label="{e(title)}" class="chart">',
        f"<title>{e(title)}</title>",
        f'<text x="{LEFT}" y="18" class="chart-title">{e(title)}</text>',
    ]


def _y_axis(top_value: float, width: int, height: int) -> list[str]:
    parts: list[str] = []
    plot_h = height - TOP - BOTTOM
    for i in range(5):
        value = top_value * i / 4
        y = TOP + plot_h - plot_h * i / 4
        parts.append(
            f'<line x1="{LEFT}" y1="{y:.1f}" x2="{width - RIGHT}" y2="{y:.1f}" class="grid"/>'
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" class="tick">{e(compact(value))}</text>'
        )
    return parts


def _x_labels(labels: Sequence[str], centers: Sequence[float], height: int) -> list[str]:
    every = max(1, math.ceil(len(labels) / MAX_X_LABELS))
    return [
        f'<text x="{x:.1f}" y="{height - BOTTOM + 16}" text-anchor="middle" class="tick">{e(label)}</text>'
        for i, (label, x) in enumerate(zip(labels, centers, strict=True))
        if i % every == 0
    ]


def _empty(title: str, width: int, height: int) -> str:
    parts = _open(title, width, height)
    parts.append(
        f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle" class="empty">no data</text></svg>'
    )
    return "".join(parts)


def bar_chart(
    labels: Sequence[str],
    values: Sequence[float],
    *,
    title: str,
    color: str = PALETTE[0],
    width: int = WIDTH,
    height: int = HEIGHT,
) -> str:
    """Vertical bars, one per label, with a y axis from 0."""
    if not labels:
        return _empty(title, width, height)
    top_value = nice_ceiling(max(values))
    plot_w, plot_h = width - LEFT - RIGHT, height - TOP - BOTTOM
    slot = plot_w / len(labels)
    bar = max(1.0, slot * 0.7)
    parts = _open(title, width, height) + _y_axis(top_value, width, height)
    centers: list[float] = []
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        h = plot_h * max(value, 0) / top_value
        x = LEFT + slot * i + (slot - bar) / 2
        centers.append(x + bar / 2)
        parts.append(
            f'<rect x="{x:.1f}" y="{TOP + plot_h - h:.1f}" width="{bar:.1f}" height="{h:.1f}" '
            f'fill="{color}"><title>{e(label)}: {e(f"{value:,.0f}")}</title></rect>'
        )
    parts += _x_labels(labels, centers, height)
    parts.append("</svg>")
    return "".join(parts)


def line_chart(
    labels: Sequence[str],
    values: Sequence[float],
    *,
    title: str,
    color: str = PALETTE[1],
    width: int = WIDTH,
    height: int = HEIGHT,
) -> str:
    """A line with a dot per point, y axis from 0."""
    if not labels:
        return _empty(title, width, height)
    top_value = nice_ceiling(max(values))
    plot_w, plot_h = width - LEFT - RIGHT, height - TOP - BOTTOM
    slot = plot_w / len(labels)
    points = [
        (LEFT + slot * i + slot / 2, TOP + plot_h - plot_h * max(v, 0) / top_value)
        for i, v in enumerate(values)
    ]
    parts = _open(title, width, height) + _y_axis(top_value, width, height)
    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
    parts.append(f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="2"/>')
    for (x, y), label, value in zip(points, labels, values, strict=True):
        parts.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{color}">'
            f"<title>{e(label)}: {e(f'{value:,.0f}')}</title></circle>"
        )
    parts += _x_labels(labels, [x for x, _ in points], height)
    parts.append("</svg>")
    return "".join(parts)


def hbar_chart(
    labels: Sequence[str],
    values: Sequence[float],
    *,
    title: str,
    width: int = WIDTH,
    row: int = 26,
) -> str:
    """Horizontal bars, one row per label (coloured from the palette), values printed at the end."""
    height = TOP + row * max(1, len(labels)) + 12
    if not labels:
        return _empty(title, width, max(height, 80))
    label_w = 150
    plot_w = width - label_w - 80
    top_value = max(*values, 1.0)
    parts = _open(title, width, height)
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        y = TOP + row * i
        w = plot_w * max(value, 0) / top_value
        color = PALETTE[i % len(PALETTE)]
        parts.append(
            f'<text x="{label_w - 8}" y="{y + row * 0.65:.1f}" text-anchor="end" class="tick">'
            f"{e(label)}</text>"
            f'<rect x="{label_w}" y="{y + 3}" width="{w:.1f}" height="{row - 8}" fill="{color}"/>'
            f'<text x="{label_w + w + 6:.1f}" y="{y + row * 0.65:.1f}" class="tick">'
            f"{e(f'{value:,.0f}')}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def stacked_bar(
    parts_in: Sequence[tuple[str, float, str]], *, title: str, width: int = WIDTH, height: int = 96
) -> str:
    """One 100 % bar split into ``(label, value, colour)`` parts, with a legend of counts and shares."""
    total = sum(max(v, 0) for _, v, _ in parts_in)
    if total <= 0:
        return _empty(title, width, height)
    parts = _open(title, width, height)
    x = float(LEFT)
    plot_w = width - LEFT - RIGHT
    legend_x = float(LEFT)
    for label, value, color in parts_in:
        share = max(value, 0) / total
        w = plot_w * share
        parts.append(
            f'<rect x="{x:.1f}" y="{TOP}" width="{w:.1f}" height="24" fill="{color}">'
            f"<title>{e(label)}: {e(f'{value:,.0f}')} ({share:.0%})</title></rect>"
        )
        parts.append(
            f'<rect x="{legend_x:.1f}" y="{TOP + 36}" width="10" height="10" fill="{color}"/>'
            f'<text x="{legend_x + 14:.1f}" y="{TOP + 45}" class="tick">'
            f"{e(label)} {e(f'{value:,.0f}')} ({share:.0%})</text>"
        )
        x += w
        legend_x += plot_w / max(1, len(parts_in))
    parts.append("</svg>")
    return "".join(parts)
