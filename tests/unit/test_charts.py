"""The overview's trend charts: one mark per date and series, exactly the figures given, no script."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from cdw import charts

DATES = ["2026-03-02", "2026-03-03", "2026-03-04"]
SVG = "{http://www.w3.org/2000/svg}"


def _svg(markup: str) -> ET.Element:
    return ET.fromstring(markup[:markup.index("</svg>") + len("</svg>")])  # the legend follows it


def test_stacked_bars_one_per_date_and_series_and_none_for_zero():
    svg = _svg(charts.bar_chart("c", "Set aside", "records", DATES, {
        "bad_value:amount": {"2026-03-02": 3, "2026-03-04": 1},
        "out_of_range:priority": {"2026-03-04": 2, "2026-03-03": 0},
    }))
    bars = [(r.get("data-date"), r.get("data-series"), float(r.get("data-value")))
            for r in svg.iter(f"{SVG}rect") if r.get("class") == "bar"]
    assert sorted(bars) == [("2026-03-02", "bad_value:amount", 3), ("2026-03-04", "bad_value:amount", 1),
                            ("2026-03-04", "out_of_range:priority", 2)]
    # stacked: the second series of a date starts where the first ends, and the stack fits the plot
    rects = {(r.get("data-date"), r.get("data-series")): r for r in svg.iter(f"{SVG}rect")}
    lower, upper = rects["2026-03-04", "bad_value:amount"], rects["2026-03-04", "out_of_range:priority"]
    assert abs(float(upper.get("y")) + float(upper.get("height")) - float(lower.get("y"))) < 0.2
    assert float(upper.get("y")) >= charts.TOP - 0.01


def test_line_has_a_point_per_date_with_a_value_only():
    markup = charts.line_chart("delay", "Delay", "hours", DATES, {"2026-03-02": 5.5, "2026-03-04": 30.0})
    points = [(c.get("data-date"), float(c.get("data-value"))) for c in _svg(markup).iter(f"{SVG}circle")]
    assert points == [("2026-03-02", 5.5), ("2026-03-04", 30.0)]
    assert "2026-03-04: 30 hours" in markup  # the tooltip says the exact figure


def test_names_are_escaped_and_nothing_is_fetched_or_run():
    markup = charts.bar_chart("c", "t", "u", ["2026-03-02"], {'<script>alert("x")</script>': {"2026-03-02": 1},
                                                             "other": {"2026-03-02": 1}})
    assert "<script>" not in markup and "&lt;script&gt;" in markup
    assert not re.search(r"https?://(?!www\.w3\.org/2000/svg)", markup)


def test_empty_chart_is_drawn_without_marks():
    svg = _svg(charts.bar_chart("c", "t", "u", [], {}))
    assert not [r for r in svg.iter(f"{SVG}rect") if r.get("class") == "bar"]
