"""Trend charts as inline SVG, drawn on the server: no script, no library, no external asset.

One slot per business date on the x axis. :func:`bar_chart` stacks one bar per series and date
(``<rect class="bar" data-date data-series data-value>``), :func:`line_chart` draws one point per
date that has a value (``<circle class="point" data-date data-value>``); every mark carries a
``<title>`` (the browser's tooltip) with its date and value, so the figures can be read exactly.
"""

from __future__ import annotations

import math
from html import escape

WIDTH, HEIGHT = 760, 230
LEFT, RIGHT, TOP, BOTTOM = 70, 16, 16, 46
PALETTE = ("#0969da", "#cf222e", "#9a6700", "#1a7f37", "#8250df", "#bc4c00", "#57606a", "#1b7c83", "#bf3989")


def _nice_max(value: float) -> float:
    """The axis' top: 1, 2 or 5 times a power of ten, at least ``value``."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if step * power >= value:
            return float(step * power)
    return float(10 * power)


def _figure(value: float) -> str:
    if abs(value) >= 100 or float(value).is_integer():
        return f"{value:,.0f}"
    return f"{value:,.2f}".rstrip("0").rstrip(".")


def _frame(chart_id: str, title: str, dates: list[str], top: float, unit: str) -> tuple[list[str], float]:
    """The SVG's opening, axes and date labels; returns (parts, slot width)."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(len(dates), 1)
    parts = [f'<svg id="{escape(chart_id)}" class="chart" role="img" aria-label="{escape(title)}" '
             f'xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
             f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="system-ui,sans-serif" font-size="11">',
             f"<title>{escape(title)}</title>"]
    for fraction in (0, 0.5, 1):
        y = TOP + plot_h * (1 - fraction)
        parts.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" stroke="#d0d7de"/>')
        parts.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" fill="#57606a">'
                     f"{escape(_figure(top * fraction))}</text>")
    parts.append(f'<text x="12" y="{TOP + plot_h / 2:.1f}" transform="rotate(-90 12 {TOP + plot_h / 2:.1f})" '
                 f'text-anchor="middle" fill="#57606a">{escape(unit)}</text>')
    every = max(1, math.ceil(len(dates) / 8))  # at most about eight date labels
    for i, day in enumerate(dates):
        if i % every == 0 or i == len(dates) - 1:
            x = LEFT + slot * (i + 0.5)
            parts.append(f'<text x="{x:.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle" fill="#57606a">'
                         f"{escape(day)}</text>")
    return parts, slot


def bar_chart(chart_id: str, title: str, unit: str, dates: list[str], series: dict[str, dict[str, float]],
              colors: dict[str, str] | None = None) -> str:
    """Stacked bars: ``series`` maps a series name to {date: value}; zero values draw nothing."""
    colors = colors or {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(series)}
    totals = {day: sum(values.get(day, 0) or 0 for values in series.values()) for day in dates}
    top = _nice_max(max(totals.values(), default=0))
    parts, slot = _frame(chart_id, title, dates, top, unit)
    plot_h = HEIGHT - TOP - BOTTOM
    for i, day in enumerate(dates):
        base = 0.0
        for name, values in series.items():
            value = values.get(day) or 0
            if value <= 0:
                continue
            y0, y1 = plot_h * (1 - base / top), plot_h * (1 - (base + value) / top)
            x = LEFT + slot * i + slot * 0.15
            parts.append(
                f'<rect class="bar" data-date="{escape(day)}" data-series="{escape(name)}" data-value="{value:g}" '
                f'x="{x:.1f}" y="{TOP + y1:.1f}" width="{max(slot * 0.7, 1):.1f}" height="{max(y0 - y1, 0.5):.1f}" '
                f'fill="{colors[name]}"><title>{escape(day)}: {escape(name)} {escape(_figure(value))}</title></rect>')
            base += value
    parts.append("</svg>")
    return "".join(parts) + _legend(series, colors)


def line_chart(chart_id: str, title: str, unit: str, dates: list[str], values: dict[str, float | None],
               color: str = PALETTE[0]) -> str:
    """A line through one point per date that has a value (gaps where it has none)."""
    present = [v for v in values.values() if v is not None]
    top = _nice_max(max(present, default=0))
    parts, slot = _frame(chart_id, title, dates, top, unit)
    plot_h = HEIGHT - TOP - BOTTOM
    points = []
    for i, day in enumerate(dates):
        value = values.get(day)
        if value is None:
            continue
        points.append((day, value, LEFT + slot * (i + 0.5), TOP + plot_h * (1 - max(value, 0) / top)))
    if len(points) > 1:
        path = " ".join(f"{x:.1f},{y:.1f}" for _, _, x, y in points)
        parts.append(f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="2"/>')
    for day, value, x, y in points:
        parts.append(f'<circle class="point" data-date="{escape(day)}" data-value="{value:g}" cx="{x:.1f}" '
                     f'cy="{y:.1f}" r="4" fill="{color}"><title>{escape(day)}: {escape(_figure(value))} '
                     f"{escape(unit)}</title></circle>")
    parts.append("</svg>")
    return "".join(parts)


def _legend(series: dict, colors: dict[str, str]) -> str:
    if len(series) < 2:
        return ""
    items = "".join(f'<span class="key"><span class="swatch" style="background:{colors[name]}"></span>'
                    f"{escape(name)}</span>" for name in series)
    return f'<p class="legend">{items}</p>'
