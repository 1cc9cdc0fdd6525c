"""Figures for a training run: feature importance and calibration (reliability diagram).

Both are drawn with matplotlib's Agg backend (no display needed) from numbers the run already
has: the final model's total gain per feature, and the out-of-sample fold predictions (all folds together)
of the model and the market-only baseline against the realised up-rate per probability bin. The
caller logs them with ``mlflow.log_figure`` and closes them.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from finsig_assets.ml.training_table import NEWS_PREFIX  # noqa: E402


def feature_importance_figure(importance: dict[str, float], title: str, top: int = 25):
    items = sorted(importance.items(), key=lambda kv: kv[1], reverse=True)[:top][::-1]
    fig, ax = plt.subplots(figsize=(7, max(2.5, 0.28 * len(items) + 1)))
    names = [k for k, _ in items]
    colors = ["#d62728" if n.startswith(NEWS_PREFIX) else "#1f77b4" for n in names]
    ax.barh(names, [v for _, v in items], color=colors)
    ax.set_xlabel("total gain (final model)")
    ax.set_title(title + "  (red: news features)", fontsize=9)
    fig.tight_layout()
    return fig


def calibration_bins(y: np.ndarray, p: np.ndarray, bins: int = 10) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean predicted probability, realised up-rate and count per quantile bin of ``p``."""
    y = np.asarray(y, dtype=float)
    p = np.asarray(p, dtype=float)
    edges = np.unique(np.quantile(p, np.linspace(0, 1, bins + 1)))
    if edges.size < 2:
        return np.array([p.mean()]), np.array([y.mean()]), np.array([p.size])
    idx = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, edges.size - 2)
    mean_p, rate, count = [], [], []
    for b in range(edges.size - 1):
        m = idx == b
        if m.any():
            mean_p.append(p[m].mean())
            rate.append(y[m].mean())
            count.append(int(m.sum()))
    return np.array(mean_p), np.array(rate), np.array(count)


def calibration_figure(y: np.ndarray, probabilities: dict[str, np.ndarray], title: str):
    fig, ax = plt.subplots(figsize=(5.5, 5))
    lo, hi = 1.0, 0.0
    for name, p in probabilities.items():
        mp, rate, _ = calibration_bins(y, p)
        ax.plot(mp, rate, marker="o", label=name)
        lo, hi = min(lo, mp.min(), rate.min()), max(hi, mp.max(), rate.max())
    lo, hi = max(0.0, lo - 0.02), min(1.0, hi + 0.02)
    ax.plot([lo, hi], [lo, hi], "k--", linewidth=1, label="perfect calibration")
    ax.set_xlabel("mean predicted P(up) (decile bins)")
    ax.set_ylabel("realised up-rate")
    ax.set_title(title + "\n(walk-forward validation rows, out of sample)", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
