"""A metric's history as a picture: matplotlib (Agg, SVG/PNG) for files and the dashboard, plotext for terminals.

Both draw the same series (``ChartData``): the daily computed value, the threshold and warn lines (as steps: a
policy change shows where it happened), the marketplace's reported value, and the forecast as a dashed line from
the last value to the threshold on the breach day. Rates are drawn in percent. Nothing here reads the network.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import date
from typing import Literal

from sellerguard.history.tables import MetricHistoryRow

Format = Literal["svg", "png"]


@dataclass
class ChartData:
    account: str
    metric: str
    days: list[date] = field(default_factory=list)
    values: list[float | None] = field(default_factory=list)
    reported: list[float | None] = field(default_factory=list)
    thresholds: list[float | None] = field(default_factory=list)
    warns: list[float | None] = field(default_factory=list)
    breach_day: date | None = None  # the forecast's breach day (from the newest row)
    percent: bool = False  # values are rates, drawn x100 with a % axis
    level: str = "unknown"  # the newest row's level

    @property
    def scale(self) -> float:
        return 100.0 if self.percent else 1.0

    def scaled(self, values: list[float | None]) -> list[float | None]:
        return [None if v is None else v * self.scale for v in values]

    @property
    def forecast(self) -> tuple[list[date], list[float]] | None:
        """Two points: the last value and the threshold on the breach day (scaled), or None."""
        last = next(((d, v) for d, v in zip(reversed(self.days), reversed(self.values), strict=True)
                     if v is not None), None)
        threshold = self.thresholds[-1] if self.thresholds else None
        if self.breach_day is None or last is None or threshold is None or self.breach_day < last[0]:
            return None
        return [last[0], self.breach_day], [last[1] * self.scale, threshold * self.scale]

    @property
    def unit(self) -> str:
        return "%" if self.percent else ""


def chart_data(account: str, metric: str, rows: list[MetricHistoryRow]) -> ChartData:
    """The series of ``rows`` (one metric, oldest first)."""
    data = ChartData(account, metric)
    for r in rows:
        data.days.append(r.day)
        data.values.append(r.value)
        data.reported.append(r.reported_value)
        data.thresholds.append(r.threshold)
        data.warns.append(r.warn)
    if rows:
        newest = rows[-1]
        data.level = newest.level
        data.breach_day = newest.breach_forecast.date() if newest.breach_forecast else None
        figures = [v for r in rows for v in (r.value, r.reported_value, r.threshold) if v is not None]
        fraction = newest.threshold is not None and 0 < newest.threshold < 1
        data.percent = (fraction or any(r.denominator for r in rows)) and all(0 <= v <= 1 for v in figures)
    return data


def isolated(values: list[float | None]) -> list[int]:
    """Indexes of figures with no figure on either side (a line through them draws nothing)."""
    return [i for i, v in enumerate(values) if v is not None and (i == 0 or values[i - 1] is None)
            and (i == len(values) - 1 or values[i + 1] is None)]


_COLOURS = {"value": "#1f5fbf", "reported": "#8a8a8a", "threshold": "#c62828", "warn": "#e0a000",
            "forecast": "#c62828"}


def render(data: ChartData, fmt: Format = "svg", *, size: tuple[float, float] = (8.0, 3.2),
           gid: str = "", title: bool = True, legend: bool = True) -> bytes:
    """The chart as SVG or PNG bytes. ``gid`` prefixes the SVG group ids (``<gid>threshold``, ...) so several
    charts can sit inline in one page. Uses matplotlib's object API on the Agg canvas (thread-safe, no pyplot)."""
    import matplotlib

    matplotlib.use("Agg")  # never a GUI backend, also when pyplot was imported elsewhere
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
    from matplotlib.figure import Figure

    # fixed margins, not a layout engine: "constrained" draws every figure twice (a dashboard renders dozens)
    fig = Figure(figsize=size, dpi=100)
    fig.subplots_adjust(left=0.1 if title or legend else 0.12, right=0.98, top=0.88 if title else 0.95,
                        bottom=0.14 if size[1] >= 3 else 0.21)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    days = data.days

    def line(name: str, values: list[float | None], **style: object) -> None:
        if any(v is not None for v in values):
            alone = isolated(values)
            if alone and not style.get("marker"):  # a day between gaps draws no segment: mark it, or it is lost
                style |= {"marker": "o", "markersize": 3, "markevery": alone}
            (artist,) = ax.plot(days, [float("nan") if v is None else v for v in data.scaled(values)],
                                label=name, color=_COLOURS[name], **style)
            artist.set_gid(f"{gid}{name}")

    line("value", data.values, linewidth=1.8, marker="o" if len(days) < 15 else None, markersize=3)
    line("reported", data.reported, linewidth=1.2, linestyle="-.", marker=".", markersize=4)
    line("threshold", data.thresholds, linewidth=1.2, drawstyle="steps-post")
    line("warn", data.warns, linewidth=1.0, linestyle=":", drawstyle="steps-post")
    if (fc := data.forecast) is not None:
        (artist,) = ax.plot(fc[0], fc[1], linestyle="--", linewidth=1.2, color=_COLOURS["forecast"],
                            marker="x", markevery=[1], label=f"forecast: breach {fc[0][1]:%Y-%m-%d}")
        artist.set_gid(f"{gid}forecast")
    if not any(v is not None for v in (*data.values, *data.reported, *data.thresholds)):
        ax.text(0.5, 0.5, "no history yet" if not days else "no figure to draw", ha="center", va="center",
                transform=ax.transAxes, color="#666")
        ax.set_xticks([])
        ax.set_yticks([])
    if title:
        ax.set_title(f"{data.account} / {data.metric}", fontsize=10, loc="left")
    if data.percent:
        ax.yaxis.set_major_formatter(lambda v, _pos: f"{v:g}%")
    ax.grid(True, linewidth=0.3, alpha=0.6)
    ax.tick_params(labelsize=8)
    ax.xaxis.get_offset_text().set_fontsize(7)  # the month under the last tick: at 10 pt it fell off the bottom
    if ax.get_lines():
        drawn = [v for ln in ax.get_lines() for v in ln.get_ydata() if v == v]
        if drawn and min(drawn) < 0.5 * max(drawn):  # near-zero rates from 0; a 90 %-ish rate keeps its detail
            ax.set_ylim(bottom=0)
        locator = AutoDateLocator(minticks=3, maxticks=6)
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))
    if legend and ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7, loc="best", framealpha=0.8, ncols=2)
    buf = io.BytesIO()
    with matplotlib.rc_context({"svg.hashsalt": gid or "sellerguard", "svg.fonttype": "none"}):
        fig.savefig(buf, format=fmt, metadata={"Date": None} if fmt == "svg" else None)
    return buf.getvalue()


def render_text(data: ChartData, *, width: int = 100, height: int = 22, colour: bool = True) -> str:
    """The chart as terminal text (plotext): value, reported, threshold, warn and forecast."""
    import plotext as plt

    plt.clear_figure()
    plt.plotsize(width, height)
    plt.date_form("Y-m-d")
    plt.theme("clear" if not colour else "pro")
    labels = [d.isoformat() for d in data.days]

    def line(name: str, values: list[float | None], marker: str) -> None:
        points = [(d, v) for d, v in zip(labels, data.scaled(values), strict=True) if v is not None]
        if points:
            plt.plot([p[0] for p in points], [p[1] for p in points], label=name, marker=marker)

    line("value", data.values, "braille")
    line("reported", data.reported, "dot")
    line("threshold", data.thresholds, "-")
    line("warn", data.warns, ":")
    if (fc := data.forecast) is not None:
        plt.plot([d.isoformat() for d in fc[0]], fc[1], label=f"forecast: breach {fc[0][1]}", marker=".")
    plt.title(f"{data.account} / {data.metric} ({data.level})" + (" in %" if data.percent else ""))
    text = plt.build()
    return text if colour else plt.uncolorize(text)
