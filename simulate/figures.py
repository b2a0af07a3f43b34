"""Figures of a run, a comparison, a sensitivity result and a sweep (matplotlib, Agg).

Each ``*_figure`` function takes plain data (the summary dict of a run, a
sensitivity document, a tidy sweep table) and a language, and returns a
matplotlib ``Figure``; :func:`save` writes it as PNG and SVG. Amounts are shown
in millions (or thousands) of kroner with the reader's number convention, via
:mod:`simulate.fmt`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from simulate.fmt import number, percent
from simulate.labels import TEXT, input_label, is_probability_metric, metric_name, payer_name, prob_text

# Colours: blue bands for the distribution, red for loss, green for gain, orange for the provider's claims.
BLUE, BLUE_LIGHT, BLUE_MID = "#1f4e79", "#c6dbef", "#7fa9d4"
RED, GREEN, ORANGE, GREY = "#b2182b", "#1a9850", "#e08214", "#555555"
SERIES = ["#1f4e79", "#e08214", "#1a9850", "#b2182b", "#6a3d9a", "#8c510a", "#01665e", "#c51b7d"]
WIDE, TALL = (8.6, 4.6), (8.6, 5.2)
PNG_DPI = 160


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    plt.rcParams.update({
        "font.family": "DejaVu Sans", "font.size": 10, "axes.titlesize": 11.5, "axes.titleweight": "bold",
        "axes.labelsize": 10, "axes.spines.top": False, "axes.spines.right": False, "axes.grid": True,
        "grid.color": "#dddddd", "grid.linewidth": 0.6, "legend.fontsize": 8.5, "legend.frameon": False,
        "svg.fonttype": "path", "svg.hashsalt": "simulate", "axes.unicode_minus": True,
    })
    return plt


# --- tick formatters ---------------------------------------------------------------------------------
def money_scale(max_abs: float, lang: str) -> tuple[float, str]:
    """The divisor and unit for an axis of amounts: millions above 1 million kroner, else thousands."""
    t = TEXT[lang]
    if max_abs >= 1e6:
        return 1e6, t["kr_m"]
    if max_abs >= 1e3:
        return 1e3, t["kr_k"]
    return 1.0, t["kr"]


def _decimals_for(step: float) -> int:
    if step <= 0 or not math.isfinite(step):
        return 0
    return int(min(3, max(0, -math.floor(math.log10(step) + 1e-9))))


def _decimals_needed(values: np.ndarray, most: int = 3) -> int:
    """The fewest decimals (up to ``most``) that show every value exactly: ticks 0, 2.5, 5 need one."""
    for d in range(most + 1):
        scaled = values * 10**d
        if np.all(np.abs(scaled - np.round(scaled)) < 1e-6 * np.maximum(1.0, np.abs(scaled))):
            return d
    return most


def money_formatter(lang: str, divisor: float):
    """Tick labels in units of ``divisor`` kroner, as the reader writes numbers (−2,5 / -2.5)."""
    from matplotlib.ticker import Formatter

    class MoneyFormatter(Formatter):
        def __init__(self):
            self.decimals = 0

        def set_locs(self, locs):
            super().set_locs(locs)
            self.decimals = _decimals_needed(np.asarray([x / divisor for x in locs], dtype=float))

        def __call__(self, x, pos=None):
            text = number(x / divisor, lang, self.decimals)
            return text.replace("-", "\u2212")

    return MoneyFormatter()


def percent_formatter(lang: str, decimals: int = 0):
    from matplotlib.ticker import FuncFormatter

    return FuncFormatter(lambda x, pos=None: percent(x, lang, decimals).replace("-", "\u2212"))


def value_formatter(lang: str, decimals: int = 2):
    from matplotlib.ticker import FuncFormatter

    return FuncFormatter(lambda x, pos=None: number(x, lang, decimals).replace("-", "\u2212"))


def _money_axis(ax, axis: str, values, lang: str, label: str) -> str:
    vals = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=float)
    divisor, unit = money_scale(float(np.abs(vals).max()) if vals.size else 0.0, lang)
    fmt = money_formatter(lang, divisor)
    (ax.yaxis if axis == "y" else ax.xaxis).set_major_formatter(fmt)
    text = f"{label} ({unit})"
    (ax.set_ylabel if axis == "y" else ax.set_xlabel)(text)
    return unit


def _money_short(x: float, lang: str) -> str:
    """An amount in millions or thousands for a label on a figure: 28,4 mio. kr."""
    divisor, unit = money_scale(abs(x), lang)
    digits = 1 if divisor == 1e6 else 0
    text = number(x / divisor, lang, digits).replace("-", "\u2212")
    return f"{text} {unit}"


def _years(summary: dict) -> np.ndarray:
    return np.array([y["year"] for y in summary["years"]])


def _year_axis(ax, years, lang: str) -> None:
    ax.set_xlabel(TEXT[lang]["programme_year"])
    ax.set_xticks(years)
    ax.set_xlim(years.min() - 0.5, years.max() + 0.5)
    ax.grid(axis="x", visible=False)


def _note(fig, text: str) -> None:
    fig.supxlabel(text, x=0.01, ha="left", fontsize=8, color=GREY, style="italic")


# --- a run ----------------------------------------------------------------------------------------
def fan_figure(summary: dict, lang: str = "da"):
    """Fan chart: the cumulative net by year with P5–P95 and P25–P75 bands, median, point estimate,
    the break-even line and the provider's claims on the cumulative net."""
    plt = _pyplot()
    t = TEXT[lang]
    payer = payer_name(summary["payer"], lang)
    years = _years(summary)
    q = {k: np.array([y["cumulative_net"][k] for y in summary["years"]], dtype=float)
         for k in ("p5", "p25", "p50", "p75", "p95")}
    point = [y.get("expected_cumulative_net") for y in summary["years"]]
    fig, ax = plt.subplots(figsize=TALL, layout="constrained")
    mc = summary.get("mode", "mc") == "mc" and summary.get("trials", 1) > 1
    if mc:
        ax.fill_between(years, q["p5"], q["p95"], color=BLUE_LIGHT, label=t["band90"], lw=0)
        ax.fill_between(years, q["p25"], q["p75"], color=BLUE_MID, label=t["band50"], lw=0)
        ax.plot(years, q["p50"], color=BLUE, lw=2.2, label=t["median"], zorder=3)
    shown = [*q["p5"], *q["p95"]]
    if any(p is not None for p in point):
        pe = np.array([np.nan if p is None else p for p in point], dtype=float)
        ax.plot(years, pe, color="black", lw=1.4, ls="--", marker="D", ms=4, label=t["point"], zorder=4)
        shown += [p for p in pe if math.isfinite(p)]
    ax.axhline(0, color=RED, lw=1.2, label=t["break_even"], zorder=2)
    lo, hi = min(shown + [0.0]), max(shown + [0.0])
    pad = 0.08 * (hi - lo or 1.0)
    lo, hi = lo - pad, hi + pad
    claims = [c for c in summary.get("claims", []) if c["metric"] == "cumulative_net"
              and c.get("payer", summary["payer"]) == summary["payer"]]
    span = hi - lo
    for c in claims:
        if lo - 0.6 * span <= c["claimed"] <= hi + 0.6 * span:
            lo, hi = min(lo, c["claimed"] - pad), max(hi, c["claimed"] + pad)
    off = []
    labelled = False
    for c in claims:
        v = c["claimed"]
        if lo <= v <= hi:
            ax.plot([c["year"]], [v], marker="*", ms=15, color=ORANGE, mec="black", mew=0.6, ls="none",
                    label=None if labelled else t["claim"], zorder=5)
            late = c["year"] > 0.5 * (years.min() + years.max())  # label on the side with room
            ax.annotate(f"{c['name']}: {_money_short(v, lang)}", (c["year"], v), xytext=(-10 if late else 9, 0),
                        textcoords="offset points", ha="right" if late else "left", va="center", fontsize=8.5,
                        bbox=dict(boxstyle="round,pad=0.2", fc="white", ec="none", alpha=0.85))
        else:
            edge = hi if v > hi else lo
            ax.plot([c["year"]], [edge], marker="^" if v > hi else "v", ms=11, color=ORANGE, mec="black", mew=0.6,
                    ls="none", clip_on=False, label=None if labelled else t["claim"], zorder=5)
            off.append((c, edge))
        labelled = True
    for c, edge in off:
        ax.annotate(t["claim_off"].format(name=c["name"], value=_money_short(c["claimed"], lang)),
                    (c["year"], edge), xytext=(-10, -4 if edge == hi else 4), textcoords="offset points",
                    ha="right", va="top" if edge == hi else "bottom", fontsize=8.5,
                    bbox=dict(boxstyle="round,pad=0.2", fc="white", ec="none", alpha=0.85))
    ax.set_ylim(lo, hi)
    _year_axis(ax, years, lang)
    _money_axis(ax, "y", [lo, hi], lang, t["cum_net"])
    ax.set_title(t["fan_title"].format(payer=payer), loc="left")
    fig.legend(loc="outside lower center", ncols=3)
    return fig


@dataclass
class NetDistribution:
    """The distribution of a cumulative net on a fine histogram (``edges`` [DKK], ``counts``).

    ``kind`` is "trials" (from saved per-trial values) or "quantiles" (rebuilt from
    P5..P95 only; ``edges`` are then those quantiles and ``counts`` the probabilities
    between them). ``n`` values were used out of ``total`` trials.
    """

    kind: str
    edges: np.ndarray
    counts: np.ndarray
    n: int
    total: int

    @classmethod
    def from_values(cls, values: np.ndarray, total: int | None = None, n_bins: int = 400) -> "NetDistribution":
        values = np.asarray(values, dtype=float)
        lo, hi = float(values.min()), float(values.max())
        width = (hi - lo) / n_bins if hi > lo else 1.0
        start = math.floor(lo / width) * width  # 0 is a bin edge
        k = max(1, math.ceil((hi - start) / width + 1e-9))
        edges = start + width * np.arange(k + 1)
        if edges[-1] <= hi:
            edges = np.append(edges, edges[-1] + width)
        counts, _ = np.histogram(values, bins=edges)
        return cls("trials", edges, counts.astype(np.int64), len(values), total or len(values))

    @classmethod
    def from_quantiles(cls, cumulative_net: dict, total: int) -> "NetDistribution":
        edges = np.array([cumulative_net[k] for k in ("p5", "p25", "p50", "p75", "p95")], dtype=float)
        return cls("quantiles", edges, np.array([0.20, 0.25, 0.25, 0.20]), 0, total)

    def to_json(self) -> dict:
        return {"kind": self.kind, "edges": [round(float(e), 2) for e in self.edges],
                "counts": [int(c) for c in self.counts], "n": self.n, "total": self.total}

    @classmethod
    def from_json(cls, doc: dict) -> "NetDistribution":
        return cls(doc["kind"], np.asarray(doc["edges"], float), np.asarray(doc["counts"]), doc["n"], doc["total"])


def _display_bins(dist: NetDistribution, target: int = 48) -> tuple[np.ndarray, np.ndarray]:
    """Coarser bins for the eye: about ``target`` bins, with 0 kept as a bin edge."""
    fine = np.diff(dist.edges)[0]
    k = max(1, round(len(dist.counts) / target))
    width = fine * k
    start = math.floor(dist.edges[0] / width + 1e-9) * width
    n = math.ceil((dist.edges[-1] - start) / width - 1e-9)
    edges = start + width * np.arange(n + 1)
    centres = 0.5 * (dist.edges[:-1] + dist.edges[1:])
    counts, _ = np.histogram(centres, bins=edges, weights=dist.counts)
    return edges, counts / max(dist.counts.sum(), 1)


def distribution_figure(summary: dict, dist: NetDistribution, lang: str = "da", *, year: int | None = None):
    """Histogram and cumulative distribution of the cumulative net at ``year`` (the horizon), P(≥ 0) marked."""
    plt = _pyplot()
    t = TEXT[lang]
    H = year or summary["horizon_years"]
    row = summary["years"][H - 1]
    p_ge0 = row["p_break_even"]["value"]
    payer = payer_name(summary["payer"], lang)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10.0, 4.4), layout="constrained")
    label = t["p_ge0"].format(p=prob_text(p_ge0, lang))
    if dist.kind == "quantiles":
        e = dist.edges
        dens = dist.counts / np.maximum(np.diff(e), 1e-9)
        for i in range(len(dens)):
            lo_, hi_ = e[i], e[i + 1]
            parts = [(lo_, min(hi_, 0.0), RED), (max(lo_, 0.0), hi_, GREEN)]
            for a, b, colour in parts:
                if b > a:
                    ax1.fill_between([a, b], [dens[i], dens[i]], color=colour, alpha=0.55, lw=0, step="pre")
        ax1.stairs(dens, e, color="black", lw=0.8)
        ax1.set_ylabel(t["hist_ylabel"] + " / " + money_scale(max(abs(e[0]), abs(e[-1])), lang)[1])
        ax1.yaxis.set_major_formatter(value_formatter(lang, 2))
        ax1.set_yticks([])
        xs, cdf = e, np.array([0.05, 0.25, 0.5, 0.75, 0.95])
        ax2.plot(xs, cdf, color=BLUE, lw=2, marker="o", ms=4)
        _note(fig, t["from_quantiles"])
        values_for_axis = list(e)
    else:
        edges, share = _display_bins(dist)
        centres = 0.5 * (edges[:-1] + edges[1:])
        colours = [RED if c < 0 else GREEN for c in centres]
        ax1.bar(edges[:-1], share, width=np.diff(edges), align="edge", color=colours, alpha=0.75,
                edgecolor="white", linewidth=0.4)
        ax1.set_ylabel(t["hist_ylabel"])
        ax1.yaxis.set_major_formatter(percent_formatter(lang, 0 if share.max() >= 0.05 else 1))
        cum = np.concatenate([[0.0], np.cumsum(dist.counts) / max(dist.counts.sum(), 1)])
        xs, cdf = dist.edges, cum
        ax2.plot(xs, cdf, color=BLUE, lw=2)
        if dist.n < dist.total:
            _note(fig, t["from_sample"].format(n=number(dist.n, lang), total=number(dist.total, lang)))
        # the outermost 0.1 % of trials on each side are left off the axis, so the bulk stays readable
        keep = np.interp([0.001, 0.999], cum, dist.edges)
        width = keep[1] - keep[0] or 1.0
        values_for_axis = [keep[0] - 0.04 * width, keep[1] + 0.04 * width]
        for ax in (ax1, ax2):
            ax.set_xlim(*values_for_axis)
    for ax in (ax1, ax2):
        ax.axvline(0, color="black", lw=1.1, ls="--")
        _money_axis(ax, "x", values_for_axis, lang, t["cum_net"])
    ax1.set_title(t["histogram"], loc="left")
    ax1.text(0.98, 0.96, label, transform=ax1.transAxes, ha="right", va="top", fontsize=11, fontweight="bold",
             bbox=dict(boxstyle="round,pad=0.3", fc="white", ec=GREY))
    ax1.legend(handles=[plt.Rectangle((0, 0), 1, 1, color=RED, alpha=0.75, label=t["loss"]),
                        plt.Rectangle((0, 0), 1, 1, color=GREEN, alpha=0.75, label=t["gain"])], loc="upper left")
    p_lt0 = 1.0 - p_ge0
    ax2.set_ylim(0, 1.02)
    ax2.yaxis.set_major_formatter(percent_formatter(lang))
    ax2.set_ylabel(t["cdf_ylabel"])
    ax2.set_title(t["cdf"], loc="left")
    ax2.plot([0], [p_lt0], marker="o", color=RED, ms=8, zorder=5)
    ax2.axhline(p_lt0, color=RED, lw=0.8, ls=":")
    ax2.annotate(label, (0, p_lt0), xytext=(10, -14 if p_lt0 > 0.5 else 10), textcoords="offset points",
                 fontsize=10.5, fontweight="bold", color=RED,
                 bbox=dict(boxstyle="round,pad=0.2", fc="white", ec="none", alpha=0.9))
    fig.suptitle(t["hist_title"].format(payer=payer, years=H), x=0.01, ha="left", fontweight="bold", fontsize=12)
    return fig


def break_even_figure(summary: dict, lang: str = "da"):
    """P(cumulative net ≥ 0) by year, undiscounted and discounted, with the 50 % line."""
    plt = _pyplot()
    t = TEXT[lang]
    years = _years(summary)
    fig, ax = plt.subplots(figsize=WIDE, layout="constrained")
    p = [y["p_break_even"]["value"] for y in summary["years"]]
    pd_ = [y["p_break_even"]["value"] for y in summary["discounted"]["years"]]
    ax.plot(years, p, color=BLUE, lw=2.2, marker="o", ms=5, label=t["undiscounted"])
    ax.plot(years, pd_, color=ORANGE, lw=1.6, ls="--", marker="s", ms=4,
            label=t["discounted"].format(rate=percent(summary.get("discount_rate", 0.035), lang)))
    ax.axhline(0.5, color=GREY, lw=0.9, ls=":")
    for x, v in zip(years, p):
        ax.annotate(prob_text(v, lang, compact=True), (x, v), xytext=(0, 7), textcoords="offset points",
                    ha="center", fontsize=8, color=BLUE,
                    bbox=dict(boxstyle="round,pad=0.1", fc="white", ec="none", alpha=0.8))
    ax.set_ylim(0, 1.08)
    ax.yaxis.set_major_formatter(percent_formatter(lang))
    ax.set_ylabel(t["p_break_even"])
    _year_axis(ax, years, lang)
    ax.set_title(t["p_break_even_title"].format(payer=payer_name(summary["payer"], lang)), loc="left")
    ax.legend(loc="upper left")
    return fig


def payback_figure(summary: dict, lang: str = "da"):
    """Bars: the probability that the payback year is 1, 2, ..., H, or not within the horizon."""
    plt = _pyplot()
    t = TEXT[lang]
    H = summary["horizon_years"]
    dist = summary["payback_year"]["distribution"]
    labels = [str(d["year"]) if d["year"] is not None else t["payback_none"].format(years=H) for d in dist]
    values = [d["probability"] for d in dist]
    colours = [BLUE if d["year"] is not None else RED for d in dist]
    fig, ax = plt.subplots(figsize=WIDE, layout="constrained")
    x = np.arange(len(values), dtype=float)
    x[-1] += 0.6  # a gap before "not within the horizon"
    ax.bar(x, values, color=colours, width=0.72)
    for xi, v in zip(x, values):
        ax.annotate(prob_text(v, lang, compact=True), (xi, v), xytext=(0, 3), textcoords="offset points",
                    ha="center", fontsize=8)
    ax.set_xticks(x, labels)
    ax.grid(axis="x", visible=False)
    ax.set_xlabel(t["programme_year"])
    ax.set_ylabel(t["share"])
    ax.set_ylim(0, max(values + [0.05]) * 1.15)
    ax.yaxis.set_major_formatter(percent_formatter(lang))
    ax.set_title(t["payback_title"].format(payer=payer_name(summary["payer"], lang)), loc="left")
    return fig


# --- sensitivity --------------------------------------------------------------------------------------
def _metric_axis(ax, axis: str, metric: str, values, lang: str, label: str) -> None:
    if is_probability_metric(metric):
        (ax.xaxis if axis == "x" else ax.yaxis).set_major_formatter(percent_formatter(lang))
        (ax.set_xlabel if axis == "x" else ax.set_ylabel)(label)
    else:
        _money_axis(ax, axis, values, lang, label)


def _pair(low: float | None, high: float | None, lang: str) -> str:
    """An input's P10 and P90 with the same decimals: "0,40 · P90 0,70"."""
    if low is None or high is None:
        return f"{number(low, lang)} · P90 {number(high, lang)}"
    both = np.array([low, high], dtype=float)
    d = 0 if np.abs(both).max() >= 1000 else max(2, _decimals_needed(both))
    return f"{number(low, lang, d)} · P90 {number(high, lang, d)}"


def _suptitle(fig, text: str) -> None:
    fig.suptitle(text, x=0.01, ha="left", fontweight="bold", fontsize=11.5)


METHOD_NAMES = {"sobol": "Sobol", "delta": "delta", "tornado": "tornado"}


def tornado_figure(sens: dict, lang: str = "da", *, max_rows: int = 12):
    """Tornado: the metric with each input at its P10 and P90, others at base, widest swing on top."""
    plt = _pyplot()
    t = TEXT[lang]
    rows = sorted(sens["rows"], key=lambda r: -abs(r.get("swing", 0.0)))[:max_rows][::-1]
    base = sens.get("base_value")
    metric = sens.get("metric", "cumulative_net_mean")
    fig, ax = plt.subplots(figsize=(9.0, 1.2 + 0.48 * max(len(rows), 2)), layout="constrained")
    y = np.arange(len(rows))
    values = [base] if base is not None else []
    for i, r in enumerate(rows):
        lo_v, hi_v = r["metric_at_low"], r["metric_at_high"]
        ref = base if base is not None else 0.5 * (lo_v + hi_v)
        ax.barh(i, lo_v - ref, left=ref, color=ORANGE, height=0.62, label=t["tornado_low"] if i == 0 else None)
        ax.barh(i, hi_v - ref, left=ref, color=BLUE, height=0.62, label=t["tornado_high"] if i == 0 else None)
        values += [lo_v, hi_v]
    labels = [f"{input_label(r['input'], lang)}\nP10 {_pair(r.get('low'), r.get('high'), lang)}" for r in rows]
    ax.set_yticks(y, labels, fontsize=8.5)
    ax.grid(axis="y", visible=False)
    if base is not None:
        ax.axvline(base, color="black", lw=1)
    if not is_probability_metric(metric):
        ax.axvline(0, color=RED, lw=1, ls="--")
        values.append(0.0)
    _metric_axis(ax, "x", metric, values, lang, metric_name(metric, lang))
    _suptitle(fig, t["tornado_title"].format(metric=metric_name(metric, lang), year=sens.get("year", "")))
    fig.legend(loc="outside lower center", ncols=2)
    return fig


def indices_figure(sens: dict, lang: str = "da", *, max_rows: int = 12):
    """Bars of Sobol (S1, ST) or delta (delta, S1) indices with their confidence half-widths."""
    plt = _pyplot()
    t = TEXT[lang]
    method = sens.get("method", "sobol")
    keys = ("ST", "S1") if method == "sobol" else ("delta", "S1")
    rows = sorted(sens["rows"], key=lambda r: -(r.get(keys[0]) or 0.0))[:max_rows][::-1]
    fig, ax = plt.subplots(figsize=(9.0, 1.2 + 0.42 * max(len(rows), 2)), layout="constrained")
    y = np.arange(len(rows))
    h = 0.38
    for j, (k, colour) in enumerate(zip(keys, (BLUE, ORANGE))):
        vals = [r.get(k) or 0.0 for r in rows]
        err = [r.get(f"{k}_conf") or 0.0 for r in rows]
        ax.barh(y + (h / 2 if j == 0 else -h / 2), vals, height=h, xerr=err, color=colour,
                error_kw=dict(lw=0.8, capsize=2), label=t.get(k, k))
    ax.set_yticks(y, [input_label(r["input"], lang) for r in rows], fontsize=8.5)
    ax.grid(axis="y", visible=False)
    ax.xaxis.set_major_formatter(value_formatter(lang, 2))
    ax.set_xlim(left=0)
    metric = sens.get("metric", "")
    _suptitle(fig, t["indices_title"].format(method=METHOD_NAMES.get(method, method), metric=metric_name(metric, lang),
                                             year=sens.get("year", "")))
    fig.legend(loc="outside lower center", ncols=2)
    return fig


# --- a sweep ------------------------------------------------------------------------------------------
def _axis_values(values, lang: str) -> list[str]:
    vals = np.asarray(values, dtype=float)
    if np.all(np.abs(vals) >= 1000):
        return [number(v, lang, 0) for v in vals]
    steps = np.diff(np.sort(vals))
    d = _decimals_for(float(steps[steps > 0].min())) if (steps > 0).any() else 2
    return [number(v, lang, max(d, 0)) for v in vals]


def heatmap_figure(grid: np.ndarray, x_values, y_values, x_path: str, y_path: str, lang: str = "da", *,
                   year: int, payer: str = "municipality"):
    """Heatmap of P(break-even) ``grid`` (len(y_values), len(x_values)) with the 50 % contour."""
    plt = _pyplot()
    t = TEXT[lang]
    fig, ax = plt.subplots(figsize=(8.6, 6.0), layout="constrained")
    ny, nx = grid.shape
    im = ax.imshow(grid, origin="lower", cmap="RdYlGn", vmin=0, vmax=1, aspect="auto",
                   extent=(-0.5, nx - 0.5, -0.5, ny - 0.5))
    if nx > 1 and ny > 1 and np.nanmin(grid) < 0.5 < np.nanmax(grid):
        from matplotlib.lines import Line2D

        ax.contour(np.arange(nx), np.arange(ny), grid, levels=[0.5], colors="black", linewidths=2.2)
        fig.legend(handles=[Line2D([], [], color="black", lw=2.2, label=t["contour50"])], loc="outside lower left")
    if nx * ny <= 150:
        for j in range(ny):
            for i in range(nx):
                v = grid[j, i]
                if math.isfinite(v):
                    from matplotlib.patheffects import withStroke

                    dark = 0.2 < v < 0.85
                    ax.text(i, j, percent(v, lang, 0), ha="center", va="center", fontsize=8, zorder=5,
                            color="black" if dark else "white",
                            path_effects=[withStroke(linewidth=2.2, foreground="#ffffffcc" if dark else "#00000055")])
    ax.set_xticks(np.arange(nx), _axis_values(x_values, lang), rotation=0 if nx <= 8 else 45)
    ax.set_yticks(np.arange(ny), _axis_values(y_values, lang))
    ax.grid(False)
    ax.set_xlabel(f"{input_label(x_path, lang)}\n{x_path}", fontsize=9)
    ax.set_ylabel(f"{input_label(y_path, lang)}\n{y_path}", fontsize=9)
    bar = fig.colorbar(im, ax=ax, shrink=0.85)
    bar.ax.yaxis.set_major_formatter(percent_formatter(lang))
    bar.set_label(t["p_break_even"])
    ax.set_title(t["heatmap_title"].format(year=year, payer=payer_name(payer, lang)), loc="left")
    return fig


def sweep_line_figure(values, probs, path: str, lang: str = "da", *, year: int, payer: str = "municipality"):
    """P(break-even) against one swept input (a sweep over a single input has no heatmap)."""
    plt = _pyplot()
    t = TEXT[lang]
    fig, ax = plt.subplots(figsize=WIDE, layout="constrained")
    ax.plot(values, probs, color=BLUE, lw=2, marker="o")
    ax.axhline(0.5, color=GREY, lw=0.9, ls=":")
    ax.set_ylim(0, 1.05)
    ax.yaxis.set_major_formatter(percent_formatter(lang))
    ax.set_ylabel(t["p_break_even"])
    ax.set_xlabel(f"{input_label(path, lang)} ({path})")
    ax.set_title(t["heatmap_title"].format(year=year, payer=payer_name(payer, lang)), loc="left")
    return fig


# --- comparison ---------------------------------------------------------------------------------------
def compare_fan_figure(summaries: list[dict], names: list[str], lang: str = "da"):
    """Overlaid fan charts: each run's P5–P95 band and median (or point estimate), break-even line."""
    plt = _pyplot()
    t = TEXT[lang]
    fig, ax = plt.subplots(figsize=TALL, layout="constrained")
    shown = [0.0]
    max_year = 1
    for i, (s, name) in enumerate(zip(summaries, names)):
        colour = SERIES[i % len(SERIES)]
        years = _years(s)
        max_year = max(max_year, int(years.max()))
        q5 = np.array([y["cumulative_net"]["p5"] for y in s["years"]], float)
        q50 = np.array([y["cumulative_net"]["p50"] for y in s["years"]], float)
        q95 = np.array([y["cumulative_net"]["p95"] for y in s["years"]], float)
        if s.get("mode", "mc") == "mc" and s.get("trials", 1) > 1:
            ax.fill_between(years, q5, q95, color=colour, alpha=0.16, lw=0)
            ax.plot(years, q5, color=colour, lw=0.7, alpha=0.7)
            ax.plot(years, q95, color=colour, lw=0.7, alpha=0.7)
            ax.plot(years, q50, color=colour, lw=2.2, label=name, zorder=3)
        else:
            ax.plot(years, q50, color=colour, lw=2.0, ls="--", marker="D", ms=4, label=name, zorder=3)
        shown += [*q5, *q95]
    ax.axhline(0, color=RED, lw=1.2, label=t["break_even"], zorder=2)
    years = np.arange(1, max_year + 1)
    _year_axis(ax, years, lang)
    _money_axis(ax, "y", shown, lang, t["cum_net"])
    payer = payer_name(summaries[0]["payer"], lang) if len({s["payer"] for s in summaries}) == 1 else "…"
    ax.set_title(t["compare_fan_title"].format(payer=payer), loc="left")
    fig.legend(loc="outside lower center", ncols=2)
    return fig


def compare_break_even_figure(summaries: list[dict], names: list[str], lang: str = "da"):
    plt = _pyplot()
    t = TEXT[lang]
    fig, ax = plt.subplots(figsize=WIDE, layout="constrained")
    max_year = 1
    for i, (s, name) in enumerate(zip(summaries, names)):
        years = _years(s)
        max_year = max(max_year, int(years.max()))
        ax.plot(years, [y["p_break_even"]["value"] for y in s["years"]], color=SERIES[i % len(SERIES)], lw=2,
                marker="o", ms=4, label=name)
    ax.axhline(0.5, color=GREY, lw=0.9, ls=":")
    ax.set_ylim(0, 1.05)
    ax.yaxis.set_major_formatter(percent_formatter(lang))
    ax.set_ylabel(t["p_break_even"])
    _year_axis(ax, np.arange(1, max_year + 1), lang)
    ax.set_title(t["compare_be_title"], loc="left")
    fig.legend(loc="outside lower center", ncols=2)
    return fig


# --- output -------------------------------------------------------------------------------------------
def save(fig, directory: Path, name: str) -> dict[str, Path]:
    """Write ``fig`` as ``name.png`` and ``name.svg`` into ``directory``; close it. Returns the paths."""
    import matplotlib.pyplot as plt

    directory.mkdir(parents=True, exist_ok=True)
    paths = {"png": directory / f"{name}.png", "svg": directory / f"{name}.svg"}
    fig.savefig(paths["png"], dpi=PNG_DPI, facecolor="white")
    fig.savefig(paths["svg"], facecolor="white", metadata={"Date": None})
    plt.close(fig)
    return paths
