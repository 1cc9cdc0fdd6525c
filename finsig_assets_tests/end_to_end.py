"""Run the whole finsig graph on a generated landing zone, and the statistics to judge it.

Used by ``test_end_to_end_learning.py``.

* :func:`run_pipeline` writes a demo landing zone with ``write_demo_landing`` and materializes
  every asset of ``finsig_assets.definitions.defs`` over the generated sessions as ONE
  single-run backfill -- what ``make materialize`` does (``dagster/asset_partition_range_*``
  tags) -- with the resources on throwaway paths: a DuckDB warehouse, the landing zone, the
  lexicon sentiment backend (no model weights) and a SQLite MLflow store. Only
  ``ml/direction_model``'s window and tree budget are shrunk (:data:`E2E_TRAINING`).
* :func:`market_only_shadow` scores the sessions ``ml/predictions`` scored with the market-only
  model the same procedure gives on the same window: the out-of-sample baseline on the same rows.
* :func:`planted_drift` recomputes, from the generator's own articles, the part of each label's
  expected return that the planted effect puts there, split into articles available at ``t``
  and articles published after ``t``.
* :func:`auc_null_se`, :func:`auc_difference_se` and :func:`rank_corr_null_se` are the standard
  errors the tolerances are built from; :data:`OVERLAP_DESIGN_EFFECT` explains the inflation
  for overlapping 30-minute labels.
"""

from __future__ import annotations

import datetime as dt
import math
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import numpy as np
import polars as pl
import xgboost as xgb
from mlflow import MlflowClient
from scipy.stats import rankdata, spearmanr

from finsig_assets.definitions import defs
from finsig_assets.demo_data.calendar_grid import build_grid
from finsig_assets.demo_data.landing_writer import STREAM_NEWS, _stream, write_demo_landing
from finsig_assets.demo_data.news import generate_articles
from finsig_assets.demo_data.news_effect import EFFECT_WINDOW_MINUTES
from finsig_assets.landing_zone import LandingZone
from finsig_assets.ml.direction_model import DirectionModelConfig, direction_model
from finsig_assets.ml.training_config import model_features
from finsig_assets.ml.model_fits import model_fits
from finsig_assets.ml.direction_training import train_direction_model
from finsig_assets.ml.evaluation_metrics import auc_standard_error
from finsig_assets.ml.mlflow_tracking import MlflowTracking
from finsig_assets.ml.predictions import predictions
from finsig_assets.ml.training_table import (
    FeatureSet,
    discover_features,
    read_labelled_examples,
    read_session_rows,
    window_sessions,
)
from finsig_assets.sentiment.backend_selection import SentimentResource
from finsig_assets.warehouse import DuckDBWarehouse

MODEL_NAME = "finsig-direction"
HORIZON_BARS = 30  # gold.training_examples' horizon, in 1-minute bars

# ml/direction_model sized for ~28 generated sessions on two shared cores: a 12-session window
# (~4,300 labelled regular-hours rows), 3 walk-forward folds over its last 6 sessions, at most
# 60 trees, one XGBoost thread. Promotion rules and everything else keep their defaults.
E2E_TRAINING = {
    "window_sessions": 12,
    "min_sessions": 12,
    "n_folds": 3,
    "max_trees": 60,
    "early_stopping_rounds": 10,
    "nthread": 1,
    # The 12-session window validates on 6 sessions: allow the promotion test on them.
    "min_test_sessions": 6,
}

# Promote every trained version, so that every session after the first trained partition is
# predicted out of sample by the model trained through the session before it.
PROMOTE_EVERY_VERSION = {
    "promotion_level": 1.0,
    "require_log_loss_beats_majority": False,
    "champion_level": 0.0,
}


@dataclass
class PipelineRun:
    result: dg.ExecuteInProcessResult
    warehouse: DuckDBWarehouse
    tracking: MlflowTracking
    training: dict
    sessions: list[dt.date]
    seconds: dict[str, float]

    def query(self, sql: str, params: dict | None = None) -> pl.DataFrame:
        return self.warehouse.query(sql, params or {})

    def client(self) -> MlflowClient:
        return MlflowClient(tracking_uri=self.tracking.tracking_uri, registry_uri=self.tracking.tracking_uri)

    def model_runs(self) -> pl.DataFrame:
        return self.query("SELECT * FROM ml.model_runs ORDER BY trade_date")

    def oos_predictions(self) -> pl.DataFrame:
        """The labelled rows of ``ml.predictions`` (every one scored by a model trained before its session)."""
        return self.query(
            "SELECT instrument, ts, trade_date, model_version, trained_through, p_up, label_up, fwd_return_30m "
            "FROM ml.predictions WHERE label_up IS NOT NULL ORDER BY ts, instrument"
        )


def all_assets() -> list[dg.AssetsDefinition]:
    """Every asset of the code location, as ``make materialize --select '*'`` runs them."""
    assets = [a for a in defs.assets if isinstance(a, dg.AssetsDefinition)]
    assert len(assets) == len(list(defs.assets)), "every entry of defs.assets should be an AssetsDefinition"
    return assets


def empty_mlflow_store(path: Path) -> Path:
    """A migrated, empty MLflow SQLite store at ``path`` (creating one takes a few seconds)."""
    uri = f"sqlite:///{path}"
    MlflowClient(tracking_uri=uri, registry_uri=uri).search_registered_models()
    MlflowClient(tracking_uri=uri).search_experiments()
    return path


def run_pipeline(
    root: Path,
    *,
    news_effect: float,
    first_session: str,
    n_sessions: int,
    seed: int,
    articles_per_session: int,
    mlflow_template: Path | None = None,
    training: dict | None = None,
    leave_out: tuple[str, ...] = (),
) -> PipelineRun:
    """Generate the landing zone under ``root`` and materialize the whole graph over its sessions
    (less the assets named in ``leave_out``, e.g. ``"ml/performance_report"``: leaves of the graph only)."""
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    summary = write_demo_landing(
        root / "landing",
        first_session=first_session,
        n_sessions=n_sessions,
        seed=seed,
        news_effect=news_effect,
        articles_per_session=articles_per_session,
    )
    seconds["demo_data"] = time.perf_counter() - t0

    db = root / "mlflow" / "mlflow.db"
    db.parent.mkdir(parents=True)
    if mlflow_template is not None:
        shutil.copy(mlflow_template, db)
    tracking = MlflowTracking(tracking_uri=f"sqlite:///{db}", ui_url=None)
    warehouse = DuckDBWarehouse(database=str(root / "warehouse.duckdb"), lock_timeout_seconds=120)
    resources = {
        "warehouse": warehouse,
        "landing": LandingZone(root=str(root / "landing")),
        "sentiment": SentimentResource(backend="lexicon"),
        "mlflow": tracking,
    }
    training = E2E_TRAINING | (training or {})
    run_config = dg.RunConfig(
        ops={
            # The fits get the model's configuration, so that ml/direction_model registers them.
            model_fits.node_def.name: {"config": training},
            direction_model.node_def.name: {"config": training},
            predictions.node_def.name: {"config": {}},
        }
    )
    t0 = time.perf_counter()
    result = dg.materialize(
        [a for a in all_assets() if a.key.to_user_string() not in leave_out],
        resources=resources,
        instance=dg.DagsterInstance.ephemeral(),
        run_config=run_config,
        tags={
            "dagster/asset_partition_range_start": summary.first_session,
            "dagster/asset_partition_range_end": summary.last_session,
        },
    )
    seconds["materialize"] = time.perf_counter() - t0
    sessions = [dt.date.fromisoformat(s) for s in summary.sessions]
    return PipelineRun(result, warehouse, tracking, training, sessions, seconds)


def step_seconds(result: dg.ExecuteInProcessResult) -> dict[str, float]:
    """Seconds per step of a run (for the failure messages and the timing report)."""
    out = {}
    for event in result.all_events:
        if event.event_type_value == "STEP_SUCCESS":
            out[event.step_key] = round(event.event_specific_data.duration_ms / 1000, 2)
    return out


# --- the out-of-sample market-only baseline -------------------------------------------------


def market_only_shadow(run: PipelineRun, preds: pl.DataFrame) -> np.ndarray:
    """P(up) of the market-only model for every row of ``preds`` (aligned with it).

    For each model version that predicted a session, the market-only model is trained with the
    pipeline's own procedure (:func:`train_direction_model`, same settings) on the same
    window -- the ``window_sessions`` sessions ending at that version's ``trained_through`` --
    with every ``news_`` column left out, and scores the same rows. So the two AUCs differ in
    one thing only: the news columns.
    """
    config = DirectionModelConfig(**run.training)
    settings = config.training_settings()
    features = model_features(config, discover_features(run.warehouse))  # the model's market columns
    market = FeatureSet(features.market, ())
    scored = []
    for through in sorted(preds["trained_through"].unique().to_list()):
        window = window_sessions(through, config.window_sessions)
        rows = read_labelled_examples(run.warehouse, window[0], through, market, config.rth_only)
        booster = train_direction_model(rows, market, settings).booster
        for day in sorted(preds.filter(pl.col("trained_through") == through)["trade_date"].unique().to_list()):
            session = read_session_rows(run.warehouse, day, list(market.market), config.rth_only)
            x = session.select(pl.col(list(market.market)).cast(pl.Float64).fill_nan(None)).to_numpy().astype(np.float32)
            p = booster.predict(xgb.DMatrix(x, feature_names=list(market.market))).astype(np.float64)
            scored.append(session.select("instrument", "ts").with_columns(pl.Series("p_market_only", p)))
    joined = (
        preds.select("instrument", "ts")
        .with_row_index("_row")
        .join(pl.concat(scored), on=["instrument", "ts"], how="left")
        .sort("_row")
    )
    out = joined["p_market_only"].to_numpy()
    assert joined.height == preds.height
    assert np.isfinite(out).all(), "every predicted row should have a market-only score"
    return out


# --- the planted effect, recomputed from the generator's articles ----------------------------


def planted_drift(
    ts: pl.Series, *, first_session: str, n_sessions: int, seed: int, articles_per_session: int
) -> tuple[np.ndarray, np.ndarray]:
    """Planted drift (in units of ``news_effect * TYPICAL_MINUTE_STD``) inside each row's label.

    The label of the bar at ``t`` is the log return over the bars opening in
    ``[t + 1 min, t + 30 min]``; :mod:`finsig_assets.demo_data.news_effect` adds
    ``tone / 30`` (times the effect) to every grid bar in ``[t_a, t_a + 30 min)`` of an English,
    non-neutral article published at a trading minute ``t_a``. Returns ``(past, future)``:

    * ``past``: from articles with ``t_a <= t`` -- published, hence available
      (``available_at = published_at`` with the default zero latency) at ``t``;
    * ``future``: from articles published after ``t``, syndicated copies left out (a copy
      repeats an earlier original's tone, so it is partly known at ``t``). Tones and
      publication times are drawn independently of everything else, so this part of the
      label is independent of anything observable at ``t``: an honest model cannot predict it.
    """
    grid = build_grid(first_session, n_sessions)
    articles = generate_articles(grid, articles_per_session, _stream(seed, STREAM_NEWS))
    minutes = grid.minute
    on_grid = set(minutes.tolist())
    chosen = [a for a in articles if a.language == "English" and a.tone != 0 and a.published_min in on_grid]
    t_a = np.array([a.published_min for a in chosen], dtype=np.int64)
    tone = np.array([a.tone for a in chosen], dtype=np.float64)
    copy = np.array([a.syndicated_copy for a in chosen], dtype=bool)

    m = (ts.dt.epoch("s").to_numpy() // 60).astype(np.int64)
    label_lo = np.searchsorted(minutes, m + 1)
    label_hi = np.searchsorted(minutes, m + HORIZON_BARS + 1)
    effect_lo = np.searchsorted(minutes, t_a)
    effect_hi = np.searchsorted(minutes, t_a + EFFECT_WINDOW_MINUTES)
    past = np.zeros(m.shape[0])
    future = np.zeros(m.shape[0])
    for j in range(t_a.shape[0]):
        overlap = np.clip(np.minimum(label_hi, effect_hi[j]) - np.maximum(label_lo, effect_lo[j]), 0, None)
        touched = np.flatnonzero(overlap)
        if touched.size == 0:
            continue
        share = overlap[touched] * tone[j] / EFFECT_WINDOW_MINUTES
        known = t_a[j] <= m[touched]
        past[touched[known]] += share[known]
        if not copy[j]:
            future[touched[~known]] += share[~known]
    return past, future


# --- standard errors --------------------------------------------------------------------------


def _label_autocorrelation(horizon: int = HORIZON_BARS) -> np.ndarray:
    """Correlation of ``label_up`` at lags 1..horizon-1 bars for a driftless random walk.

    Two 30-bar forward returns ``k`` bars apart share ``30 - k`` bars: correlation ``1 - k/30``
    (equal bar variances); for their signs (bivariate normal) that is ``(2/pi) arcsin(1 - k/30)``.
    From lag 30 on they share nothing: 0.
    """
    k = np.arange(1, horizon)
    return (2 / np.pi) * np.arcsin(1 - k / horizon)


# Rows of one session are bars one minute apart and their 30-minute labels overlap, so they are
# far from independent. For a statistic sum_i (y_i - ybar) g_i (an AUC, with g the centred rank
# of the score) the variance is the independent-rows variance times
#     1 + 2 * sum_k rho_y(k) rho_g(k)                                      (Bartlett)
# and rho_g(k) <= 1, so 1 + 2 * sum_k rho_y(k) bounds it whatever the model's predictions look
# like: about 21.9 for a 30-bar horizon (the effective sample is n / 21.9, roughly one row per
# 22 minutes). (For the predictions of these runs the measured value is ~15.)
OVERLAP_DESIGN_EFFECT = float(1 + 2 * _label_autocorrelation().sum())


def auc_null_se(n_pos: int, n_neg: int, design_effect: float = OVERLAP_DESIGN_EFFECT) -> float:
    """Standard error of an AUC when there is nothing to learn (AUC = 0.5).

    Hanley & McNeil (1982) at A = 0.5 -- ``Q1 = Q2 = 1/3``, so
    ``SE^2 = (1/4 + (n_pos + n_neg - 2)/12) / (n_pos n_neg)``, about ``1 / (3 n)`` for balanced
    classes -- times ``sqrt(design_effect)`` for the overlapping labels.
    """
    return auc_standard_error(0.5, n_pos, n_neg) * math.sqrt(design_effect)


def delong_components(y: np.ndarray, *scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """DeLong (1988) placement values ``V10`` (per positive) and ``V01`` (per negative) per score."""
    y = np.asarray(y, dtype=bool)
    n1, n0 = int(y.sum()), int((~y).sum())
    v10, v01 = [], []
    for s in scores:
        s = np.asarray(s, dtype=float)
        all_ranks = rankdata(s)
        pos_ranks = rankdata(s[y])
        neg_ranks = rankdata(s[~y])
        v10.append((all_ranks[y] - pos_ranks) / n0)
        v01.append(1.0 - (all_ranks[~y] - neg_ranks) / n1)
    return np.array(v10), np.array(v01)


def auc_difference_se(y: np.ndarray, a: np.ndarray, b: np.ndarray, design_effect: float = OVERLAP_DESIGN_EFFECT) -> float:
    """Standard error of ``AUC(a) - AUC(b)`` on the same rows (DeLong), times ``sqrt(design_effect)``.

    DeLong's covariance uses the actual rows and takes the two models' correlation into account
    (they share every market feature, so their AUCs move together).
    """
    v10, v01 = delong_components(y, a, b)
    n1, n0 = v10.shape[1], v01.shape[1]
    s10, s01 = np.cov(v10), np.cov(v01)
    cov = s10 / n1 + s01 / n0
    var = cov[0, 0] + cov[1, 1] - 2 * cov[0, 1]
    return math.sqrt(max(var, 0.0) * design_effect)


def within_session_autocorrelation(x: np.ndarray, session: np.ndarray, max_lag: int) -> np.ndarray:
    """Autocorrelation of ``x`` at lags 1..max_lag, pairs taken inside one session only."""
    x = np.asarray(x, dtype=float) - np.mean(x)
    den = float((x * x).sum())
    out = np.zeros(max_lag)
    for k in range(1, max_lag + 1):
        same = session[k:] == session[:-k]
        out[k - 1] = float((x[k:][same] * x[:-k][same]).sum()) / den
    return out


def rank_corr_null_se(a: np.ndarray, b: np.ndarray, session: np.ndarray, max_lag: int = 240) -> float:
    """Standard error of the Spearman correlation of two series that are independent.

    Bartlett: ``Var(r) = (1 + 2 sum_k rho_a(k) rho_b(k)) / n`` with both series' within-session
    autocorrelations (of their ranks) measured on the rows -- predictions and the planted drift
    are both smooth over tens of minutes, so this is several times the naive ``1 / n``.
    """
    ra, rb = rankdata(a), rankdata(b)
    ca = within_session_autocorrelation(ra, session, max_lag)
    cb = within_session_autocorrelation(rb, session, max_lag)
    return math.sqrt(max(1.0, 1 + 2 * float((ca * cb).sum())) / len(a))


def corr_with_return_null_se(x: np.ndarray, session: np.ndarray, horizon: int = HORIZON_BARS) -> float:
    """Standard error of Spearman(x, fwd_return_30m) when x is known at t and returns are noise.

    Bartlett as in :func:`rank_corr_null_se`, with the forward return's autocorrelation taken
    from the null itself: two 30-bar forward returns k bars apart share ``30 - k`` bars
    (``rho(k) = 1 - k/30``, 0 from lag 30 on). The formula holds although x at a later bar
    may depend on an earlier row's label: the shared part of two labels lies after both bars.
    """
    k = np.arange(1, horizon)
    cx = within_session_autocorrelation(rankdata(x), session, horizon - 1)
    return math.sqrt(max(1.0, 1 + 2 * float(((1 - k / horizon) * cx).sum())) / len(x))


def feature_return_correlations(run: PipelineRun) -> pl.DataFrame:
    """Spearman(feature, fwd_return_30m) and its null SE for every feature of gold.training_examples.

    Labelled regular-hours rows (the rows the model trains on); rows where the feature is NULL
    (a window not yet full, no news yet) are left out for that feature.
    """
    features = discover_features(run.warehouse).all
    columns = ", ".join(f'"{c}"' for c in features)
    rows = run.query(
        f"SELECT trade_date, fwd_return_30m, {columns} FROM gold.training_examples "
        "WHERE is_rth AND fwd_return_30m IS NOT NULL ORDER BY ts, instrument"
    )
    out = []
    for name in features:
        values = rows[name].cast(pl.Float64)
        keep = (values.is_not_null() & values.is_finite()).to_numpy()
        x, r = values.to_numpy()[keep], rows["fwd_return_30m"].to_numpy()[keep]
        if x.size < 100 or np.ptp(x) == 0:
            continue
        se = corr_with_return_null_se(x, rows["trade_date"].to_numpy()[keep])
        out.append({"feature": name, "rows": int(x.size), "corr": float(spearmanr(x, r).statistic), "se": se})
    return pl.DataFrame(out).with_columns((pl.col("corr") / pl.col("se")).alias("z"))
