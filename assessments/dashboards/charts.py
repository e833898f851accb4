"""Every plotly figure of the product, built from selector output (plain lists of dicts).

The dashboards serve these as JSON to plotly.js; the monthly PDF report renders the very same
figures with kaleido. So nothing here touches a request, the ORM or the cache.
"""

import json
from collections.abc import Sequence
from datetime import datetime, time, timedelta

import plotly.graph_objects as go

# Colours stay the same for the same meaning across every chart.
COLOURS = {
    "energy_it": "#2b8a3e",
    "energy_facility": "#74b816",
    "operational": "#e8590c",
    "embodied": "#845ef7",
    "cost": "#1971c2",
    "coverage": "#0c8599",
    "idle": "#adb5bd",
    "lifetime": "#c92a2a",
}
PALETTE = ["#2b8a3e", "#1971c2", "#e8590c", "#845ef7", "#0c8599", "#e67700", "#c2255c", "#5c940d"]
NO_DATA = "No data in this period"
# A small template of our own: plotly's named templates take ~60 ms to apply per figure, which
# would dominate the chart endpoints' time.
_GRID = {"gridcolor": "#e9ecef", "zeroline": False, "linecolor": "#ced4da", "automargin": True}
TEMPLATE = go.layout.Template(
    layout={
        "paper_bgcolor": "white",
        "plot_bgcolor": "white",
        "colorway": PALETTE,
        "xaxis": _GRID,
        "yaxis": _GRID,
    }
)


def plotly_text(text: str) -> str:
    """Text shown literally by plotly, which reads labels as a subset of HTML (<a href>, <b>,
    <br>, entities): a project named '<a href="http://x">p</a>' must not become a link."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _escaped(values):
    if values is None or isinstance(values, str):
        return plotly_text(values) if isinstance(values, str) else values
    if not any(isinstance(value, str) for value in values):
        return values
    return [plotly_text(value) if isinstance(value, str) else value for value in values]


def _escape_labels(fig: go.Figure) -> None:
    """Escape every label that can hold a user-chosen name (project, team, host, device, work
    unit), once per figure: trace names and category values, titles and annotations."""
    for trace in fig.data:
        updates = {}
        for key in ("name", "x", "y", "labels", "text"):
            value = getattr(trace, key, None)
            if value is not None:
                updates[key] = _escaped(value)
        trace.update(updates)
    layout = fig.layout
    if layout.title.text:
        layout.title.text = plotly_text(layout.title.text)
    axes = [key for key in layout.to_plotly_json() if key.startswith(("xaxis", "yaxis"))]
    for axis in (layout[key] for key in axes):
        if axis.title.text:
            axis.title.text = plotly_text(axis.title.text)
    for annotation in layout.annotations:
        annotation.text = plotly_text(annotation.text)


def _layout(fig: go.Figure, *, title: str, y_title: str = "", x_title: str = "") -> go.Figure:
    """Common layout of every figure; its labels escaped (see plotly_text). Later updates of a
    figure must escape user-chosen text themselves."""
    fig.update_layout(
        title={"text": title, "x": 0, "xanchor": "left", "font": {"size": 15}},
        margin={"l": 60, "r": 20, "t": 50, "b": 90},
        legend={"orientation": "h", "y": -0.28, "yanchor": "top", "x": 0},
        template=TEMPLATE,
        font={"family": "DejaVu Sans, Arial, sans-serif", "size": 12},
        height=360,
        yaxis_title=y_title,
        xaxis_title=x_title,
        hovermode="x unified",
    )
    if not fig.data or all(_empty(trace) for trace in fig.data):
        fig.add_annotation(text=NO_DATA, showarrow=False, xref="paper", yref="paper", x=0.5, y=0.5)
    _escape_labels(fig)
    return fig


def _empty(trace) -> bool:
    values = trace.y if trace.y is not None else trace.values
    return values is None or len(values) == 0


def _periods(series: Sequence[dict]) -> list[str]:
    return [str(row["period"]) for row in series]


def _time_axis(fig: go.Figure, series: Sequence[dict], start=None, end=None) -> go.Figure:
    """Dates on the x axis, spanning the selected range (so one day of data is not stretched
    over the whole width), labelled by day or by month."""
    monthly = len(series) > 1 and all(row["period"].day == 1 for row in series[:3])
    fig.update_xaxes(type="date", tickformat="%b %Y" if monthly else "%-d %b %Y")
    # An explicit bar width: plotly derives it from the gaps between bars, and one day alone
    # on a month-wide axis would otherwise be drawn as a hairline.
    width_ms = (26 if monthly else 0.8) * 86_400_000
    fig.update_traces(width=width_ms, selector={"type": "bar"})
    if start is not None and end is not None and not monthly:
        # Bars are centred on their day: half a day before the first and after the last.
        half_day = timedelta(hours=12)
        first = datetime.combine(start, time()) - half_day
        last = datetime.combine(end, time()) - half_day
        fig.update_xaxes(range=[first.isoformat(), last.isoformat()])
    return fig


def energy_trend_figure(series: Sequence[dict], *, start=None, end=None) -> go.Figure:
    """IT and facility energy per period (kWh)."""
    x = _periods(series)
    fig = go.Figure(
        [
            go.Bar(
                x=x,
                y=[row["energy_it_kwh"] for row in series],
                name="IT energy",
                marker_color=COLOURS["energy_it"],
                hovertemplate="%{y:,.1f} kWh",
            ),
            go.Scatter(
                x=x,
                y=[row["energy_facility_kwh"] for row in series],
                name="Facility energy (IT × PUE)",
                mode="lines+markers",
                line={"color": COLOURS["energy_facility"]},
                hovertemplate="%{y:,.1f} kWh",
            ),
        ]
    )
    return _time_axis(_layout(fig, title="Energy", y_title="kWh"), series, start, end)


def carbon_trend_figure(series: Sequence[dict], *, start=None, end=None) -> go.Figure:
    """Operational and embodied carbon per period, stacked (kgCO2e)."""
    x = _periods(series)
    fig = go.Figure(
        [
            go.Bar(
                x=x,
                y=[row["operational_kgco2e"] for row in series],
                name="Operational",
                marker_color=COLOURS["operational"],
                hovertemplate="%{y:,.2f} kgCO2e",
            ),
            go.Bar(
                x=x,
                y=[row["embodied_kgco2e"] for row in series],
                name="Embodied (amortised)",
                marker_color=COLOURS["embodied"],
                hovertemplate="%{y:,.2f} kgCO2e",
            ),
        ]
    )
    fig.update_layout(barmode="stack")
    return _time_axis(_layout(fig, title="Carbon", y_title="kgCO2e"), series, start, end)


def cost_trend_figure(series: Sequence[dict], *, currency: str, start=None, end=None) -> go.Figure:
    """Energy cost per period (facility energy × site price)."""
    fig = go.Figure(
        go.Bar(
            x=_periods(series),
            y=[row["cost"] for row in series],
            name="Energy cost",
            marker_color=COLOURS["cost"],
            hovertemplate=f"%{{y:,.2f}} {plotly_text(currency)}",
        )
    )
    return _time_axis(_layout(fig, title="Energy cost", y_title=currency), series, start, end)


def breakdown_figure(
    rows: Sequence[dict], *, title: str, value_key: str = "total_kgco2e", unit: str = "kgCO2e"
) -> go.Figure:
    """Horizontal bars of one figure per label (team, phase, site, project, device)."""
    ordered = sorted(rows, key=lambda row: row[value_key])
    fig = go.Figure(
        go.Bar(
            x=[row[value_key] for row in ordered],
            y=[row["label"] for row in ordered],
            orientation="h",
            marker_color=[PALETTE[i % len(PALETTE)] for i in range(len(ordered))],
            hovertemplate=f"%{{y}}: %{{x:,.2f}} {plotly_text(unit)}<extra></extra>",
        )
    )
    fig = _layout(fig, title=f"{title} ({unit})")
    fig.update_layout(hovermode="closest", height=max(260, 60 + 32 * len(ordered)))
    return fig


def carbon_split_figure(rows: Sequence[dict], *, title: str) -> go.Figure:
    """Operational against embodied carbon per label, stacked horizontally (kgCO2e)."""
    ordered = sorted(rows, key=lambda row: row["total_kgco2e"])
    labels = [row["label"] for row in ordered]
    fig = go.Figure(
        [
            go.Bar(
                x=[row["operational_kgco2e"] for row in ordered],
                y=labels,
                orientation="h",
                name="Operational",
                marker_color=COLOURS["operational"],
                hovertemplate="%{x:,.2f} kgCO2e",
            ),
            go.Bar(
                x=[row["embodied_kgco2e"] for row in ordered],
                y=labels,
                orientation="h",
                name="Embodied (amortised)",
                marker_color=COLOURS["embodied"],
                hovertemplate="%{x:,.2f} kgCO2e",
            ),
        ]
    )
    fig.update_layout(barmode="stack")
    fig = _layout(fig, title=f"{title} (kgCO2e)")
    fig.update_layout(hovermode="y unified", height=max(280, 120 + 32 * len(ordered)))
    return fig


def coverage_figure(series: Sequence[dict], *, start=None, end=None) -> go.Figure:
    """Share of device time measured per day (%)."""
    fig = go.Figure(
        go.Scatter(
            x=_periods(series),
            y=[None if row["coverage"] is None else row["coverage"] * 100 for row in series],
            mode="lines+markers",
            name="Coverage",
            line={"color": COLOURS["coverage"]},
            hovertemplate="%{y:.1f} %",
        )
    )
    fig = _layout(fig, title="Data coverage", y_title="% of device time measured")
    fig.update_yaxes(range=[0, 105])
    return _time_axis(fig, series, start, end)


def per_unit_figure(series: Sequence[dict], *, work_unit: str, start=None, end=None) -> go.Figure:
    """Energy (Wh) and carbon (gCO2e) per unit of work per day, on two axes."""
    unit = work_unit or "unit"
    rows = [row for row in series if row["kwh_per_unit"] is not None]
    x = _periods(rows)
    fig = go.Figure(
        [
            go.Scatter(
                x=x,
                y=[row["kwh_per_unit"] * 1000 for row in rows],
                name=f"Energy per {unit} (Wh)",
                mode="lines+markers",
                line={"color": COLOURS["energy_it"]},
                hovertemplate="%{y:,.4g} Wh",
            ),
            go.Scatter(
                x=x,
                y=[row["kgco2e_per_unit"] * 1000 for row in rows],
                name=f"Carbon per {unit} (gCO2e)",
                mode="lines+markers",
                yaxis="y2",
                line={"color": COLOURS["operational"], "dash": "dot"},
                hovertemplate="%{y:,.4g} gCO2e",
            ),
        ]
    )
    fig = _layout(fig, title=f"Energy and carbon per {unit}", y_title=f"Wh per {unit}")
    fig.update_layout(
        yaxis={"rangemode": "tozero"},
        yaxis2={
            "title": plotly_text(f"gCO2e per {unit}"),
            "overlaying": "y",
            "side": "right",
            "rangemode": "tozero",
        },
        margin={"r": 70},
    )
    return _time_axis(fig, rows, start, end)


def utilisation_figure(rows: Sequence[dict]) -> go.Figure:
    """Mean utilisation (%) and the share of hours spent idle, per host or per device."""
    rows = [row for row in rows if row["hours"]]
    labels = [row["label"] for row in rows]
    fig = go.Figure(
        [
            go.Bar(
                y=labels,
                x=[row["util_mean_pct"] for row in rows],
                orientation="h",
                name="Mean utilisation",
                marker_color=COLOURS["energy_it"],
                hovertemplate="%{x:.1f} %",
            ),
            go.Bar(
                y=labels,
                x=[row["idle_hours"] / row["hours"] * 100 for row in rows],
                orientation="h",
                name="Idle hours (< 5 % utilisation)",
                marker_color=COLOURS["idle"],
                hovertemplate="%{x:.1f} % of hours",
            ),
        ]
    )
    fig = _layout(fig, title="Utilisation and idle time (%)")
    fig.update_xaxes(range=[0, 105])
    fig.update_yaxes(autorange="reversed")
    fig.update_layout(hovermode="y unified", height=max(280, 120 + 44 * len(rows)))
    return fig


def idle_energy_figure(hosts: Sequence[dict]) -> go.Figure:
    """Energy drawn while idle against the rest, per host (kWh)."""
    labels = [row["label"] for row in hosts]
    fig = go.Figure(
        [
            go.Bar(
                x=labels,
                y=[row["energy_it_kwh"] - row["idle_energy_it_kwh"] for row in hosts],
                name="Working",
                marker_color=COLOURS["energy_it"],
                hovertemplate="%{y:,.1f} kWh",
            ),
            go.Bar(
                x=labels,
                y=[row["idle_energy_it_kwh"] for row in hosts],
                name="Idle (< 5 % utilisation)",
                marker_color=COLOURS["idle"],
                hovertemplate="%{y:,.1f} kWh",
            ),
        ]
    )
    fig.update_layout(barmode="stack")
    return _layout(fig, title="IT energy: working and idle", y_title="kWh")


def embodied_vs_operational_figure(hosts: Sequence[dict]) -> go.Figure:
    """Embodied carbon amortised over the period against operational carbon, per host."""
    labels = [row["label"] for row in hosts]
    fig = go.Figure(
        [
            go.Bar(
                x=labels,
                y=[row["operational_kgco2e"] for row in hosts],
                name="Operational",
                marker_color=COLOURS["operational"],
                hovertemplate="%{y:,.2f} kgCO2e",
            ),
            go.Bar(
                x=labels,
                y=[row["embodied_kgco2e"] for row in hosts],
                name="Embodied (amortised)",
                marker_color=COLOURS["embodied"],
                hovertemplate="%{y:,.2f} kgCO2e",
            ),
        ]
    )
    fig.update_layout(barmode="group")
    return _layout(fig, title="Embodied against operational carbon", y_title="kgCO2e")


def age_vs_lifetime_figure(hosts: Sequence[dict]) -> go.Figure:
    """Age of each host against its expected lifetime (years)."""
    rows = [row for row in hosts if row["age_years"] is not None or row["lifetime_years"]]
    labels = [row["label"] for row in rows]
    fig = go.Figure(
        [
            go.Bar(
                x=labels,
                y=[row["age_years"] for row in rows],
                name="Age",
                marker_color=COLOURS["cost"],
                hovertemplate="%{y:.1f} years",
            ),
            go.Scatter(
                x=labels,
                y=[row["lifetime_years"] for row in rows],
                name="Expected lifetime",
                mode="markers",
                marker={
                    "symbol": "line-ew-open",
                    "size": 40,
                    "color": COLOURS["lifetime"],
                    "line": {"width": 4, "color": COLOURS["lifetime"]},
                },
                hovertemplate="%{y:.1f} years",
            ),
        ]
    )
    return _layout(fig, title="Age against expected lifetime", y_title="years")


def energy_quality_figure(rows: Sequence[dict]) -> go.Figure:
    """The energy-versus-performance trade-off of AI system versions: energy per 1 M output
    tokens (serving) against quality, one trace per quality metric (values of different
    metrics share no scale). Versions without both figures are left out."""
    metrics: dict[str, list[dict]] = {}
    for row in rows:
        if row["energy_kwh_per_1m_output_tokens"] is None or row["quality_value"] is None:
            continue
        metrics.setdefault(row["quality_metric"] or "quality", []).append(row)
    fig = go.Figure(
        [
            go.Scatter(
                x=[row["energy_kwh_per_1m_output_tokens"] for row in points],
                y=[row["quality_value"] for row in points],
                text=[row["label"] for row in points],
                name=metric,
                mode="markers+text",
                textposition="top center",
                marker={"size": 12, "color": PALETTE[index % len(PALETTE)]},
                hovertemplate="%{text}: %{x:,.4g} kWh per 1 M output tokens, %{y:,.4g}"
                "<extra></extra>",
            )
            for index, (metric, points) in enumerate(sorted(metrics.items()))
        ]
    )
    _layout(
        fig,
        title="Energy against quality",
        x_title="IT energy per 1 M output tokens (kWh)",
        y_title="Quality (the version's metric)",
    )
    fig.update_layout(hovermode="closest")
    # Plotly's autorange pads for the markers only, and clips the version names written beside
    # the outermost ones at the plot's edges.
    x_range = _padded_range([x for trace in fig.data for x in trace.x], LABEL_PAD_X)
    y_range = _padded_range([y for trace in fig.data for y in trace.y], LABEL_PAD_Y)
    if x_range:
        fig.update_xaxes(range=x_range)
    if y_range:
        fig.update_yaxes(range=y_range)
    return fig


# Room for a point's label, as a share of the values' span on each side (a label is about 80 px
# wide, centred on its point, and 20 px high, above it, on a plot about 500 by 220 px).
LABEL_PAD_X = 0.25
LABEL_PAD_Y = 0.2


def _padded_range(values: Sequence[float], share: float) -> list[float] | None:
    """[low, high] of `values` widened by `share` of their span on each side; None (plotly's
    own autorange) where they do not span anything."""
    if not values or min(values) == max(values):
        return None
    pad = (max(values) - min(values)) * share
    return [min(values) - pad, max(values) + pad]


def budget_burndown_figure(
    rows: Sequence[dict],
    *,
    title: str,
    unit: str,
    limit: float,
    period_start: datetime,
    period_end: datetime,
    forecast: dict,
) -> go.Figure:
    """What is left of a budget over its period: the actual line, even spending from the limit
    to zero, and the forecast to the period's end with its low-high range.

    rows: {"moment", "remaining"}; forecast: {"value", "low", "high"} (used at the end).
    """
    last = rows[-1] if rows else {"moment": period_start, "remaining": limit}
    ends = [last["moment"].isoformat(), period_end.isoformat()]
    fig = go.Figure(
        [
            go.Scatter(
                x=[period_start.isoformat(), period_end.isoformat()],
                y=[limit, 0.0],
                name="Even spending",
                mode="lines",
                line={"color": COLOURS["idle"], "dash": "dot"},
                hovertemplate=f"%{{y:,.1f}} {unit}",
            ),
            go.Scatter(
                x=ends,
                y=[last["remaining"], limit - forecast["high"]],
                name="Forecast range",
                mode="lines",
                line={"width": 0},
                showlegend=False,
                hoverinfo="skip",
            ),
            go.Scatter(
                x=ends,
                y=[last["remaining"], limit - forecast["low"]],
                name="Forecast range (low to high)",
                mode="lines",
                line={"width": 0},
                fill="tonexty",
                fillcolor="rgba(232, 89, 12, 0.15)",
                hovertemplate=f"%{{y:,.1f}} {unit}",
            ),
            go.Scatter(
                x=ends,
                y=[last["remaining"], limit - forecast["value"]],
                name="Forecast",
                mode="lines",
                line={"color": COLOURS["operational"], "dash": "dash"},
                hovertemplate=f"%{{y:,.1f}} {unit}",
            ),
            go.Scatter(
                x=[row["moment"].isoformat() for row in rows],
                y=[row["remaining"] for row in rows],
                name="Left of the budget",
                mode="lines+markers",
                line={"color": COLOURS["energy_it"]},
                hovertemplate=f"%{{y:,.1f}} {unit}",
            ),
        ]
    )
    fig.update_xaxes(type="date", range=[period_start.isoformat(), period_end.isoformat()])
    fig.add_hline(y=0, line={"color": COLOURS["lifetime"], "width": 1})
    return _layout(fig, title=title, y_title=f"{unit} left")


def figure_json(fig: go.Figure) -> dict:
    """The figure as plain JSON for plotly.js (numbers as lists, no binary encoding)."""
    return json.loads(fig.to_json(engine="json"))
