"""The DORA report as asset metadata: headline numbers, a table per service, a chart.

The headline numbers are plain floats, so the asset's Plots tab charts them week
over week. The chart of the week (deployments per day, stacked by service) is an
SVG drawn here and embedded in the markdown as a data URI, which the Dagster UI
renders like any image: no plotting library is needed for a dozen rectangles.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any
from xml.etree import ElementTree

import dagster as dg

from release_pipeline.dora.metrics import DAY_SECONDS, DoraReport, Metrics, Window

COLORS = ("#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#b07aa1", "#edc948")
WIDTH, HEIGHT = 640, 260
LEFT, RIGHT, TOP, BOTTOM = 40, 16, 40, 36
SVG_NS = "http://www.w3.org/2000/svg"


def hours(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds / 3600, 2)


def duration_text(seconds: float | None) -> str:
    if seconds is None:
        return "n/a"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * DAY_SECONDS:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / DAY_SECONDS:.1f} d"


def percent_text(rate: float | None) -> str:
    return "n/a" if rate is None else f"{rate:.0%}"


def window_text(window: Window) -> str:
    start, end = (datetime.fromtimestamp(t, UTC) for t in (window.start, window.end))
    return f"{start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC"


def table_row(metrics: Metrics, window: Window) -> str:
    unknown = f" ({metrics.lead_time_unknown} unknown)" if metrics.lead_time_unknown else ""
    failures = f"{percent_text(metrics.change_failure_rate)}"
    if metrics.releases:
        failures += f" ({metrics.change_failures}/{metrics.releases})"
    cells = (
        metrics.service,
        f"{metrics.deployments} ({metrics.per_day(window):.2f}/day)",
        duration_text(metrics.lead_time_median) + unknown,
        failures,
        duration_text(metrics.time_to_restore_median),
        str(metrics.open_incidents),
    )
    return "| " + " | ".join(cells) + " |"


def markdown(report: DoraReport) -> str:
    lines = [
        f"**DORA metrics**, {window_text(report.window)}",
        "",
        "| service | deployments | lead time (median) | change failure rate"
        " | time to restore (median) | open incidents |",
        "|---|---|---|---|---|---|",
        *(table_row(metrics, report.window) for metrics in report.services),
        table_row(report.overall, report.window),
        "",
        f"![Deployments per day]({svg_data_uri(chart_svg(report))})",
    ]
    return "\n".join(lines)


def chart_svg(report: DoraReport) -> str:
    """Successful deployments per day of the window, one stacked color per service."""
    days = len(report.overall.daily_deployments)
    tallest = max(1, *report.overall.daily_deployments)
    plot_width, plot_height = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_width / days
    svg = ElementTree.Element(
        "svg",
        xmlns=SVG_NS,
        width=str(WIDTH),
        height=str(HEIGHT),
        viewBox=f"0 0 {WIDTH} {HEIGHT}",
        **{"font-family": "sans-serif", "font-size": "11"},
    )
    _text(svg, LEFT, 14, "Successful deployments per day", weight="bold")
    for tick in sorted({0, tallest // 2, tallest}):
        y = TOP + plot_height * (1 - tick / tallest)
        _line(svg, LEFT, y, WIDTH - RIGHT, y, "#dddddd")
        _text(svg, LEFT - 6, y + 4, str(tick), anchor="end")
    for day in range(days):
        x = LEFT + slot * day + slot * 0.2
        y = TOP + plot_height
        for index, metrics in enumerate(report.services):
            count = metrics.daily_deployments[day] if day < len(metrics.daily_deployments) else 0
            if not count:
                continue
            height = plot_height * count / tallest
            y -= height
            _rect(svg, x, y, slot * 0.6, height, COLORS[index % len(COLORS)], metrics.service)
        moment = datetime.fromtimestamp(report.window.start + day * DAY_SECONDS, UTC)
        _text(svg, x + slot * 0.3, TOP + plot_height + 16, f"{moment:%a %d}", anchor="middle")
    legend_x = LEFT + 210
    for index, metrics in enumerate(report.services):
        _rect(svg, legend_x, 5, 10, 10, COLORS[index % len(COLORS)], metrics.service)
        _text(svg, legend_x + 14, 14, metrics.service)
        legend_x += 20 + 7 * len(metrics.service)
    return ElementTree.tostring(svg, encoding="unicode")


def svg_data_uri(svg: str) -> str:
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()


def metadata(report: DoraReport) -> dict[str, Any]:
    """What the asset records: numbers to plot over the weeks, the table and chart, per service."""
    overall = report.overall
    return {
        "window_start": dg.MetadataValue.timestamp(report.window.start),
        "window_end": dg.MetadataValue.timestamp(report.window.end),
        "deployments": overall.deployments,
        "deployments_per_day": round(overall.per_day(report.window), 3),
        "lead_time_median_hours": hours(overall.lead_time_median),
        "change_failure_rate": _rounded(overall.change_failure_rate),
        "time_to_restore_median_hours": hours(overall.time_to_restore_median),
        "open_incidents": overall.open_incidents,
        "report": dg.MetadataValue.md(markdown(report)),
        "services": dg.MetadataValue.json(
            {metrics.service: _service_facts(metrics, report.window) for metrics in report.services}
        ),
    }


def _service_facts(metrics: Metrics, window: Window) -> dict[str, Any]:
    return {
        "deployments": metrics.deployments,
        "deployments_per_day": round(metrics.per_day(window), 3),
        "releases": metrics.releases,
        "change_failures": metrics.change_failures,
        "change_failure_rate": _rounded(metrics.change_failure_rate),
        "lead_time_median_hours": hours(metrics.lead_time_median),
        "lead_time_unknown": metrics.lead_time_unknown,
        "time_to_restore_median_hours": hours(metrics.time_to_restore_median),
        "restores": len(metrics.restore_times),
        "open_incidents": metrics.open_incidents,
        "daily_deployments": list(metrics.daily_deployments),
    }


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def _text(parent, x: float, y: float, text: str, anchor: str = "start", weight: str = "") -> None:
    attributes = {"x": f"{x:.1f}", "y": f"{y:.1f}", "text-anchor": anchor}
    if weight:
        attributes["font-weight"] = weight
    ElementTree.SubElement(parent, "text", attributes).text = text


def _line(parent, x1: float, y1: float, x2: float, y2: float, color: str) -> None:
    points = {"x1": f"{x1:.1f}", "y1": f"{y1:.1f}", "x2": f"{x2:.1f}", "y2": f"{y2:.1f}"}
    ElementTree.SubElement(parent, "line", {**points, "stroke": color})


def _rect(parent, x: float, y: float, width: float, height: float, color: str, title: str) -> None:
    box = {"x": f"{x:.1f}", "y": f"{y:.1f}", "width": f"{width:.1f}", "height": f"{height:.1f}"}
    rect = ElementTree.SubElement(parent, "rect", {**box, "fill": color})
    ElementTree.SubElement(rect, "title").text = title
