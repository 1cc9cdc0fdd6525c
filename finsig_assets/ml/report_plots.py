"""The four pictures of ``ml/performance_report``, drawn from :mod:`finsig_assets.ml.performance_numbers`.

Each function returns a ``matplotlib.figure.Figure`` built without ``pyplot``: no global figure
registry to leak through a backfill of hundreds of partitions, and safe off the main thread.
The same figure goes to MLflow (``mlflow.log_figure``) and, as a small base64 PNG, into the
Dagster metadata (:func:`markdown_image`). Figures are drawn at 72 dpi so that four of them fit in
a partition's metadata at a few tens of KB each.
"""

from __future__ import annotations

import base64
import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates  # noqa: E402
import polars as pl  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from finsig_assets.ml.training_table import NEWS_PREFIX  # noqa: E402

DPI = 72
NEWS_COLOR = "#d62728"  # as in the training run's importance plot (finsig_assets.ml.plots)
MARKET_COLOR = "#1f77b4"
BASELINE_COLOR = "#7f7f7f"


def _figure(width: float, height: float) -> Figure:
    return Figure(figsize=(width, height), dpi=DPI, layout="constrained")


def _date_axis(ax, days: list) -> None:
    if len(set(days)) < 2:  # one session: AutoDateLocator has no interval to pick
        ax.set_xticks(days[:1], [str(d) for d in days[:1]])
        return
    span = (max(days) - min(days)).days
    # Short spans: one tick per day (AutoDateLocator would fall back to hours and warn).
    locator = mdates.DayLocator(interval=max(1, span // 7)) if span <= 21 else mdates.AutoDateLocator(maxticks=8)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))


def rolling_auc_figure(points: pl.DataFrame, title: str) -> Figure:
    """Champion's rolling AUC with its 95 % band against the market-only and majority baselines."""
    fig = _figure(7.5, 4.0)
    ax = fig.add_subplot()
    days = points["trade_date"].to_list()
    auc = points["auc"].cast(pl.Float64).fill_null(float("nan")).to_numpy()
    low = points["ci_low"].cast(pl.Float64).fill_null(float("nan")).to_numpy()
    high = points["ci_high"].cast(pl.Float64).fill_null(float("nan")).to_numpy()
    market = points["market_only_auc"].cast(pl.Float64).fill_null(float("nan")).to_numpy()
    ax.fill_between(days, low, high, color=NEWS_COLOR, alpha=0.18, linewidth=0, label="champion 95 % CI (session-clustered)")
    ax.plot(days, auc, color=NEWS_COLOR, marker="o", markersize=3, label="champion (p_up)")
    ax.plot(days, market, color=MARKET_COLOR, marker="s", markersize=3, label="market-only baseline")
    ax.axhline(0.5, color=BASELINE_COLOR, linestyle="--", linewidth=1, label="majority baseline (0.5)")
    ax.set_ylabel("out-of-sample AUC")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=2, frameon=False)
    if days:
        _date_axis(ax, days)
    return fig


def calibration_figure(bins: pl.DataFrame, title: str) -> Figure:
    """Reliability diagram: realised up-rate against mean ``p_up`` per bin, rows per bin below."""
    fig = _figure(5.0, 5.0)
    top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    mean_p = bins["mean_p_up"].to_numpy()
    rate = bins["up_rate"].to_numpy()
    if mean_p.size:
        lo = max(0.0, min(mean_p.min(), rate.min()) - 0.02)
        hi = min(1.0, max(mean_p.max(), rate.max()) + 0.02)
    else:
        lo, hi = 0.0, 1.0
    top.plot([lo, hi], [lo, hi], "k--", linewidth=1, label="perfect calibration")
    top.plot(mean_p, rate, color=NEWS_COLOR, marker="o", label="champion")
    top.set_ylabel("realised up-rate")
    top.set_title(title, fontsize=9)
    top.grid(alpha=0.3)
    top.legend(fontsize=7)
    width = (hi - lo) / max(4 * max(mean_p.size, 1), 1)
    bottom.bar(mean_p, bins["rows"].to_numpy(), width=width, color=BASELINE_COLOR)
    bottom.set_ylabel("rows", fontsize=8)
    bottom.set_xlabel("mean predicted P(up) (quantile bins)")
    return fig


def feature_importance_figure(importance: dict[str, float], title: str, news: set[str] | None = None, top: int = 20) -> Figure:
    """Total gain per feature of the champion's final model; news features in red."""
    items = sorted(importance.items(), key=lambda kv: kv[1], reverse=True)[:top][::-1]
    fig = _figure(7.0, max(2.5, 0.24 * len(items) + 1.0))
    ax = fig.add_subplot()
    names = [k for k, _ in items]
    is_news = [(n in news) if news is not None else n.startswith(NEWS_PREFIX) for n in names]
    ax.barh(names, [v for _, v in items], color=[NEWS_COLOR if x else MARKET_COLOR for x in is_news])
    ax.tick_params(axis="y", labelsize=7)
    ax.set_xlabel("total gain")
    ax.set_title(title + "\n(red: news features)", fontsize=9)
    return fig


def champion_history_figure(history: pl.DataFrame, marks: pl.DataFrame, title: str) -> Figure:
    """The version that served each session (step), and where versions first became eligible."""
    fig = _figure(7.5, 3.0)
    ax = fig.add_subplot()
    days = history["trade_date"].to_list()
    ax.step(days, history["model_version"].to_list(), where="post", color=NEWS_COLOR, label="served champion")
    promoted = marks.filter(pl.col("promoted"))
    rejected = marks.filter(~pl.col("promoted"))
    if promoted.height:
        ax.scatter(promoted["first_session"].to_list(), promoted["model_version"].to_list(), marker="^", s=40,
                   color="#2ca02c", zorder=3, label="promoted (first session it could serve)")
    if rejected.height:
        ax.scatter(rejected["first_session"].to_list(), rejected["model_version"].to_list(), marker="x", s=25,
                   color=BASELINE_COLOR, zorder=3, label="not promoted")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("model version")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left")
    if days:
        _date_axis(ax, days)
    return fig


def png_bytes(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def png_base64(fig: Figure) -> str:
    return base64.b64encode(png_bytes(fig)).decode("ascii")


def markdown_image(title: str, fig: Figure) -> str:
    """The figure as a markdown image with a data URI: Dagster metadata shows it inline."""
    return f"![{title}](data:image/png;base64,{png_base64(fig)})"
