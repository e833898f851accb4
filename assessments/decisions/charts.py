"""Plotly figures of the decisions area (ROI), built from plain values like
assessments.dashboards.charts.

It uses the dashboards' layout and colours, so the ROI page and the PDF report draw it the same
way.
"""

from collections.abc import Sequence
from datetime import date, timedelta

import plotly.graph_objects as go

from assessments.dashboards.charts import PALETTE, _layout, plotly_text

PROJECTION_MONTHS_MAX = 36


def cumulative_series(
    *,
    label: str,
    applied_on: date,
    investment: float,
    points: Sequence[tuple[date, float]],
    monthly_saving: float | None,
    payback_months: float | None,
) -> dict:
    """One optimisation's realised cumulative savings, plus a projection at the measured
    monthly rate up to its payback (at most 36 months after it was applied)."""
    projection = []
    if points and monthly_saving and monthly_saving > 0:
        last_day, last_total = points[-1]
        months = min(PROJECTION_MONTHS_MAX, max(payback_months or 0, 1) * 1.2)
        end = applied_on + timedelta(days=round(months * 30))
        if end > last_day:
            days = (end - last_day).days
            projection = [
                (last_day, last_total),
                (end, last_total + monthly_saving * days / 30),
            ]
    return {
        "label": label,
        "applied_on": applied_on,
        "investment": investment,
        "points": list(points),
        "projection": projection,
    }


def roi_cumulative_figure(series: Sequence[dict], *, currency: str) -> go.Figure:
    """Money saved so far (solid), its projection (dotted) and the investment (dashed)."""
    fig = go.Figure()
    for index, row in enumerate(series):
        colour = PALETTE[index % len(PALETTE)]
        days = [day.isoformat() for day, _ in row["points"]]
        fig.add_trace(
            go.Scatter(
                x=days,
                y=[round(total, 2) for _, total in row["points"]],
                name=f"{row['label']}: saved",
                mode="lines",
                line={"color": colour},
                hovertemplate=f"%{{y:,.2f}} {plotly_text(currency)}",
            )
        )
        if row["projection"]:
            fig.add_trace(
                go.Scatter(
                    x=[day.isoformat() for day, _ in row["projection"]],
                    y=[round(total, 2) for _, total in row["projection"]],
                    name=f"{row['label']}: projected",
                    mode="lines",
                    line={"color": colour, "dash": "dot"},
                    hovertemplate=f"%{{y:,.2f}} {plotly_text(currency)}",
                )
            )
        end = (
            row["projection"][-1][0]
            if row["projection"]
            else row["points"][-1][0]
            if row["points"]
            else row["applied_on"]
        )
        fig.add_trace(
            go.Scatter(
                x=[row["applied_on"].isoformat(), end.isoformat()],
                y=[row["investment"], row["investment"]],
                name=f"{row['label']}: investment",
                mode="lines",
                line={"color": colour, "dash": "dash", "width": 1},
                hovertemplate=f"%{{y:,.2f}} {plotly_text(currency)}",
            )
        )
    return _layout(
        fig,
        title="Cumulative savings against investment",
        y_title=currency,
    )
