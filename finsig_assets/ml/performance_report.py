"""``ml/performance_report``: how the served champion has done out of sample, as pictures, per session.

``ml.predictions`` holds every served prediction with its label once known, but a table of
probabilities answers no question a reader has. The report for session D answers four, from
the predicted sessions up to D only (a re-run or a backfill shows what was known at D):

1. *Is the champion still better than chance and than the market-only model?* Rolling AUC of
   ``p_up`` over the last ``window_sessions`` labelled sessions, one point per session, with the
   session-clustered 95 % band, against the market-only and majority baselines on the same rows.
2. *Can its probabilities be taken at face value?* Reliability diagram of the last window's rows.
3. *What does it read?* Gain importance of the version that served D (its training run's
   ``features.json``), news features in red.
4. *Who served when?* The version behind each session, and where promoted versions took over.

The numbers come from :mod:`finsig_assets.ml.performance_numbers`, the pictures from
:mod:`finsig_assets.ml.report_plots`. Each partition gets its own MLflow run in
``MlflowTracking.report_experiment_name`` (figures, the tables behind them, a few metrics) and
its own Dagster metadata (numbers, tables, the PNGs inline, a link to the run). With no labelled
prediction up to D there is nothing to judge: the partition materializes and says why.

The dependency on ``ml/predictions`` looks back :data:`LOOKBACK_SESSIONS` sessions (the default
window plus history), so a corrected old session re-draws the reports that show it. The report
only reads DuckDB (one short connection per run), so it takes no ``duckdb_writer`` slot.
"""

# No `from __future__ import annotations`: Dagster reads the asset function's type hints.

import datetime as dt
import json
import tempfile
import time
from typing import TYPE_CHECKING

import dagster as dg
import polars as pl
from pydantic import Field

from finsig_assets.materialization_metadata import add_partition_metadata, materialize_result, partition_metadata
from finsig_assets.ml import performance_numbers as numbers
from finsig_assets.ml.champion_history import RegisteredVersion, champion_as_of, list_versions
from finsig_assets.ml.evaluation_metrics import finite_or_none, fmt
from finsig_assets.ml.mlflow_tracking import MlflowTracking
from finsig_assets.ml.oos_record import PREDICTIONS_TABLE
from finsig_assets.ml.predictions import ASSET_KEY as PREDICTIONS_KEY
from finsig_assets.partition_scope import scope_of
from finsig_assets.partitions import lookback_mapping
from finsig_assets.trading_calendar import previous_session
from finsig_assets.trading_day_asset import trading_day_asset
from finsig_assets.warehouse import Warehouse, fetch_frame

if TYPE_CHECKING:  # loaded by the steps that use them, not with the definitions
    pass


ASSET_KEY = dg.AssetKey(["ml", "performance_report"])
DEFAULT_WINDOW_SESSIONS = 20
DEFAULT_HISTORY_SESSIONS = 60
LOOKBACK_SESSIONS = DEFAULT_WINDOW_SESSIONS + DEFAULT_HISTORY_SESSIONS
FIGURES = {  # metadata title -> MLflow artifact
    "Rolling out-of-sample AUC": "plots/rolling_auc.png",
    "Calibration": "plots/calibration.png",
    "Feature importance": "plots/feature_importance.png",
    "Champion history": "plots/champion_history.png",
}
OUTCOME_REPORTED = "reported"
OUTCOME_NOTHING = "nothing to report"

_DAYS_SQL = f"""
SELECT trade_date, bool_or(label_up IS NOT NULL) AS labelled
FROM {PREDICTIONS_TABLE} WHERE model_name = $name AND trade_date <= $through
GROUP BY trade_date
"""
_ROWS_SQL = f"""
SELECT {", ".join(numbers.COLUMNS)}
FROM {PREDICTIONS_TABLE}
WHERE model_name = $name AND trade_date BETWEEN $first AND $last
ORDER BY trade_date, ts, instrument
"""


class PerformanceReportConfig(dg.Config):
    window_sessions: int = Field(
        default=DEFAULT_WINDOW_SESSIONS, ge=2, description="Labelled sessions pooled into each rolling AUC point (and the calibration)."
    )
    history_sessions: int = Field(default=DEFAULT_HISTORY_SESSIONS, ge=1, description="How many sessions back the charts go.")
    calibration_bins: int = Field(default=10, ge=2, description="Quantile bins of the reliability diagram.")
    embed_images_partitions: int = Field(
        default=30,
        ge=0,
        description="Only the last this many partitions of a run embed their PNGs in the Dagster metadata (a five-year "
        "backfill would otherwise put ~100 KB per partition into the event log); all link to their MLflow run, "
        "which has the figures. 0: never embed.",
    )


@trading_day_asset(
    key=ASSET_KEY,
    pool=None,  # reads only
    kinds={"mlflow", "duckdb", "matplotlib"},
    deps=[dg.AssetDep(PREDICTIONS_KEY, partition_mapping=lookback_mapping(LOOKBACK_SESSIONS))],
    description="Pictures of the served champion's out-of-sample performance up to session D: rolling AUC with a "
    "session-clustered 95% band vs the market-only and majority baselines, calibration, feature importance, and "
    "which version served when. One MLflow run per partition (experiment finsig-performance), images inline.",
)
def performance_report(
    context: dg.AssetExecutionContext,
    config: PerformanceReportConfig,
    warehouse: Warehouse,
    mlflow: MlflowTracking,
) -> dg.MaterializeResult:
    scope = scope_of(context)
    started = time.perf_counter()
    client = mlflow.client()
    name = mlflow.registered_model_name
    versions = list_versions(client, name)
    preds = read_predictions(warehouse, name, scope.first, scope.last, config.window_sessions, config.history_sessions)
    series = numbers.rolling_auc(preds, config.window_sessions, at=_points_needed(preds, scope.first, config.history_sessions))
    embed_from = len(scope.sessions) - config.embed_images_partitions
    importance_cache: dict[int, tuple[dict[str, float], set[str]] | None] = {}
    own, extras, frames = {}, {}, []
    for i, day in enumerate(scope.sessions):
        upto = preds.filter(pl.col("trade_date") <= day)
        if not numbers.labelled_sessions(upto, day):
            why = _nothing_reason(day, upto, versions, name)
            own[day] = {"outcome": f"{OUTCOME_NOTHING}: {why}", "labelled_rows": 0}
            context.log.info(f"{day}: nothing to report: {why}")
            continue
        champ = _champion_for(day, upto, versions)
        importance = _importance(client, champ, importance_cache)
        report = _report(day, upto, series, champ, importance, versions, config)
        run_id, experiment_id = _log_run(mlflow, context, day, report)
        own[day] = report["own"] | {"mlflow_run": dg.MetadataValue.url(mlflow.run_link(experiment_id, run_id))}
        extras[day] = _extras(report, embed=i >= embed_from)
        frames.append(report["points"].with_columns(pl.lit(day).alias("report_date")))
        last = report["last"]
        context.log.info(
            f"{day}: rolling AUC {fmt(last['auc'])} [{fmt(last['ci_low'])}, {fmt(last['ci_high'])}] over "
            f"{last['window_sessions']} labelled sessions ({last['labelled_rows']:,} rows) to {last['trade_date']}, "
            f"market-only {fmt(last['market_only_auc'])}; champion {report['own']['champion_version']}; MLflow run {run_id}"
        )

    frame = pl.concat(frames) if frames else pl.DataFrame(schema=numbers.ROLLING_SCHEMA | {"report_date": pl.Date})
    frame = frame.sort("report_date", "trade_date", descending=True)
    reported = sum(o["outcome"] == OUTCOME_REPORTED for o in own.values())
    seconds = time.perf_counter() - started
    run_summary = {
        "reports": reported,
        "nothing_to_report": len(own) - reported,
        "window_sessions": config.window_sessions,
        "history_sessions": config.history_sessions,
        "seconds": round(seconds, 2),
    }
    meta = partition_metadata(context, frame, scope.sessions, scope.label, run_summary, own, date_column="report_date")
    if len(scope.sessions) == 1:
        day = scope.sessions[0]
        head = {k: v for k, v in meta.items() if not k.startswith("run_")}
        meta = head | extras.get(day, {}) | {k: v for k, v in meta.items() if k.startswith("run_")}
    else:
        for day, extra in extras.items():
            add_partition_metadata(context, day.isoformat(), extra)
    context.log.info(f"ml/performance_report: {reported} of {len(scope.sessions)} partition(s) reported in {seconds:.1f}s")
    return materialize_result(context, scope.sessions, meta)


def read_predictions(
    warehouse: Warehouse, name: str, first: dt.date, last: dt.date, window_sessions: int, history_sessions: int
) -> pl.DataFrame:
    """The predictions a run's reports need: from far enough before ``first`` through ``last``."""
    with warehouse.connection() as conn:
        days = fetch_frame(conn, _DAYS_SQL, {"name": name, "through": first})
        start = numbers.earliest_needed(days, window_sessions, history_sessions) or first
        return fetch_frame(conn, _ROWS_SQL, {"name": name, "first": start, "last": last})


def _points_needed(preds: pl.DataFrame, first: dt.date, history_sessions: int) -> list[dt.date]:
    """Rolling points shown by some report of the run: each point is computed once per run."""
    days = numbers.labelled_sessions(preds)
    before = [d for d in days if d <= first][-history_sessions:]
    start = before[0] if before else first
    return [d for d in days if d >= start]


def _champion_for(day: dt.date, upto: pl.DataFrame, versions: list[RegisteredVersion]) -> RegisteredVersion | None:
    """The version ml/predictions used for ``day``; not predicted: the one it would use, else the last served."""
    served = upto.filter(pl.col("trade_date") == day)["model_version"].unique().to_list()
    if not served:
        chosen = champion_as_of(versions, previous_session(day))
        if chosen is not None:
            return chosen
        served = upto.sort("trade_date")["model_version"].tail(1).to_list()
    by_number = {v.version: v for v in versions}
    return by_number.get(int(max(served))) if served else None


def _importance(client, champ: RegisteredVersion | None, cache: dict) -> tuple[dict[str, float], set[str]] | None:
    """Gain importance and news features from the version's ``features.json`` (None: not available)."""
    from mlflow.exceptions import MlflowException

    if champ is None or not champ.run_id:
        return None
    if champ.version not in cache:
        try:
            with tempfile.TemporaryDirectory() as tmp:
                with open(client.download_artifacts(champ.run_id, "features.json", tmp)) as f:
                    doc = json.load(f)
            cache[champ.version] = (dict(doc.get("importance_gain") or {}), set(doc.get("news_features") or []))
        except (MlflowException, OSError, ValueError):
            cache[champ.version] = None
    return cache[champ.version]


def _nothing_reason(day: dt.date, upto: pl.DataFrame, versions: list[RegisteredVersion], name: str) -> str:
    if upto.is_empty():
        as_of = previous_session(day)
        if champion_as_of(versions, as_of) is None:
            return (
                f"no labelled predictions up to {day}: ml.predictions has no session of {name} up to it, because no "
                f"version was promoted with trained_through <= {as_of} (no champion has served yet)"
            )
        return f"no labelled predictions up to {day}: ml.predictions has no session of {name} up to it (materialize ml/predictions first)"
    days = numbers.predicted_sessions(upto)
    return (
        f"no labelled predictions up to {day}: the {len(days)} predicted session(s) {days[0]}..{days[-1]} have no labels yet "
        "(a label needs the 30 minutes after its bar; ml/predictions copies them when it runs again)"
    )


def _report(day, upto, series, champ, importance, versions, config) -> dict:
    """Numbers, figures and tables of one partition."""
    from finsig_assets.ml import report_plots as plots

    points = series.filter(pl.col("trade_date") <= day).tail(config.history_sessions)
    last = points.row(-1, named=True)
    calibration = numbers.calibration_table(numbers.window_rows(upto, day, config.window_sessions), config.calibration_bins)
    shown = numbers.predicted_sessions(upto)[-config.history_sessions :]
    history = numbers.served_history(upto.filter(pl.col("trade_date").is_in(shown)))
    marks = numbers.version_marks(versions, shown[0], shown[-1])
    label = f"v{champ.version} (trained through {champ.trained_through})" if champ else "unknown"
    window = f"{last['window_sessions']} labelled sessions {last['window_first']}..{last['trade_date']}"
    figures = {
        "Rolling out-of-sample AUC": plots.rolling_auc_figure(
            points, f"Report {day}: served champion, rolling AUC (each point: up to {config.window_sessions} labelled sessions)"
        ),
        "Calibration": plots.calibration_figure(calibration, f"Report {day}: calibration of the champion\nover {window}"),
        "Champion history": plots.champion_history_figure(history, marks, f"Report {day}: version serving each session"),
    }
    if importance is not None and importance[0]:
        figures["Feature importance"] = plots.feature_importance_figure(
            importance[0], f"Report {day}: gain of champion {label}", news=importance[1]
        )
    importance_table = pl.DataFrame(
        {"feature": list(importance[0]), "gain": list(importance[0].values())} if importance else {"feature": [], "gain": []},
        schema={"feature": pl.String, "gain": pl.Float64},
    ).sort("gain", descending=True)
    defined = last["ci_low"] is not None and last["ci_high"] is not None
    ci = f"{fmt(last['ci_low'])} .. {fmt(last['ci_high'])}" if defined else "n/a (needs two labelled sessions)"
    own = {
        "outcome": OUTCOME_REPORTED,
        "as_of_session": last["trade_date"].isoformat(),
        "champion_version": label,
        "rolling_auc": _number(last["auc"]),
        "rolling_auc_95ci": ci,
        "market_only_auc": _number(last["market_only_auc"]),
        "p_value_vs_market_only": _number(last["p_value_vs_market_only"]),
        "labelled_rows": last["labelled_rows"],
        "labelled_sessions": last["window_sessions"],
        "sessions_charted": points.height,
    }
    return {
        "own": own,
        "last": last,
        "points": points,
        "figures": figures,
        "tables": {"rolling_auc": points, "calibration": calibration, "champion_history": history, "feature_importance": importance_table},
        "window": window,
        "champion": champ,
    }


def _number(value):
    v = finite_or_none(value)
    return "n/a" if v is None else v


def _log_run(tracking: MlflowTracking, context, day: dt.date, report: dict) -> tuple[str, str]:
    """One MLflow run per report partition: figures, the tables behind them, the latest numbers."""
    import mlflow

    tags = {
        "dagster.run_id": context.run.run_id,
        "dagster.asset_key": ASSET_KEY.to_user_string(),
        "dagster.partition": day.isoformat(),
    }
    champ = report["champion"]
    if champ is not None:
        tags["finsig.model_version"] = str(champ.version)
    last = report["last"]
    with tracking.start_run(run_name=f"performance-{day}", tags=tags, experiment=tracking.report_experiment_name) as run:
        mlflow.log_params({"window": report["window"], "as_of_session": last["trade_date"].isoformat()})
        metrics = {
            "rolling_auc": last["auc"],
            "rolling_auc_se": last["auc_se"],
            "rolling_auc_ci_low": last["ci_low"],
            "rolling_auc_ci_high": last["ci_high"],
            "market_only_auc": last["market_only_auc"],
            "auc_minus_market_only": last["auc_minus_market_only"],
            "p_value_vs_market_only": last["p_value_vs_market_only"],
            "labelled_rows": last["labelled_rows"],
            "labelled_sessions": last["window_sessions"],
        }
        mlflow.log_metrics({k: float(v) for k, v in metrics.items() if finite_or_none(v) is not None})
        for title, fig in report["figures"].items():
            mlflow.log_figure(fig, FIGURES[title])
        for name, table in report["tables"].items():
            mlflow.log_table(table.to_pandas(), f"numbers/{name}.json")
        return run.info.run_id, run.info.experiment_id


def _extras(report: dict, embed: bool) -> dict:
    """The partition's pictures (inline or not) and the tables behind them, as markdown."""
    from finsig_assets.ml import report_plots as plots

    sections = []
    for title in FIGURES:
        if title not in report["figures"]:
            sections.append(f"### {title}\n\nnot available: no gain importance in the champion's training run (features.json)")
        elif embed:
            sections.append(f"### {title}\n\n{plots.markdown_image(title, report['figures'][title])}")
    if not embed:
        sections.append("Images are embedded only for the latest partitions of a long run; the MLflow run (`mlflow_run`) has them.")
    tables = report["tables"]
    return {
        "report": dg.MetadataValue.md("\n\n".join(sections)),
        "rolling_auc_table": dg.MetadataValue.md(_markdown(tables["rolling_auc"].sort("trade_date", descending=True).select(
            "trade_date", "window_first", "window_sessions", "labelled_rows", "auc", "ci_low", "ci_high",
            "market_only_auc", "p_value_vs_market_only", "served_version",
        ))),
        "calibration_table": dg.MetadataValue.md(_markdown(tables["calibration"])),
        "champion_history_table": dg.MetadataValue.md(_markdown(_served_spans(tables["champion_history"]))),
    }


def _served_spans(history: pl.DataFrame) -> pl.DataFrame:
    """Consecutive sessions served by the same version, one row each."""
    return (
        history.with_columns((pl.col("model_version") != pl.col("model_version").shift(1)).fill_null(True).cum_sum().alias("span"))
        .group_by("span", maintain_order=True)
        .agg(
            pl.col("model_version").first(),
            pl.col("trained_through").first(),
            pl.col("trade_date").min().alias("first_session"),
            pl.col("trade_date").max().alias("last_session"),
            pl.len().alias("sessions"),
            pl.col("labelled_rows").sum(),
        )
        .drop("span")
    )


def _markdown(frame: pl.DataFrame) -> str:
    """A compact markdown table (no padding: it is stored with every partition), n/a for undefined numbers."""
    if frame.is_empty():
        return "(no rows)"
    lines = ["| " + " | ".join(frame.columns) + " |", "|" + "---|" * frame.width]
    for row in frame.iter_rows():
        lines.append("| " + " | ".join(fmt(v) if isinstance(v, float) or v is None else str(v) for v in row) + " |")
    return "\n".join(lines)
