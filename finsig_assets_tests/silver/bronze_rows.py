"""Write bronze rows straight into the warehouse and materialize silver assets (test helpers)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence

import dagster as dg
import polars as pl

from finsig_assets.trading_calendar import NEW_YORK, UTC, trade_date_of
from finsig_assets.warehouse import DuckDBWarehouse

INGESTED = dt.datetime(2025, 1, 1, tzinfo=UTC)


def ny(day: str, hhmm: str) -> dt.datetime:
    """A New York wall-clock time as a UTC instant."""
    h, m = map(int, hhmm.split(":"))
    return dt.datetime.combine(dt.date.fromisoformat(day), dt.time(h, m), tzinfo=NEW_YORK).astimezone(UTC)


def candle_rows(times: Iterable[dt.datetime], instrument: str = "SPX500_USD", **overrides) -> list[dict]:
    rows = []
    for i, ts in enumerate(times):
        price = 5000.0 + i
        rows.append(
            {
                "instrument": instrument,
                "ts": ts,
                "trade_date": trade_date_of(ts),
                "open": price,
                "high": price + 1,
                "low": price - 1,
                "close": price + 0.5,
                "volume": 10 + i,
                "collected_at": None,
                "source_file": "market/test.ndjson",
                "source_line": i + 1,
                "ingested_at": INGESTED,
            }
            | overrides
        )
    return rows


CANDLE_SCHEMA = {
    "instrument": pl.String,
    "ts": pl.Datetime("us", "UTC"),
    "trade_date": pl.Date,
    "open": pl.Float64,
    "high": pl.Float64,
    "low": pl.Float64,
    "close": pl.Float64,
    "volume": pl.Int64,
    "collected_at": pl.Datetime("us", "UTC"),
    "source_file": pl.String,
    "source_line": pl.Int64,
    "ingested_at": pl.Datetime("us", "UTC"),
}

NEWS_SCHEMA = {
    "article_id": pl.String,
    "trade_date": pl.Date,
    "headline": pl.String,
    "body": pl.String,
    "url": pl.String,
    "source": pl.String,
    "published_at": pl.Datetime("us", "UTC"),
    "collected_at": pl.Datetime("us", "UTC"),
    "sp500_relevant": pl.Boolean,
    "collection_method": pl.String,
    "language": pl.String,
    "content_fetched": pl.Boolean,
    "source_file": pl.String,
    "source_line": pl.Int64,
    "ingested_at": pl.Datetime("us", "UTC"),
}


def news_row(article_id: str, published_at: dt.datetime, **fields) -> dict:
    row = {
        "article_id": article_id,
        "trade_date": trade_date_of(published_at),
        "headline": f"Headline of {article_id}",
        "body": f"Body of {article_id}.",
        "url": f"https://example.com/{article_id}",
        "source": "gdelt_example.com",
        "published_at": published_at,
        "collected_at": published_at + dt.timedelta(hours=1),
        "sp500_relevant": True,
        "collection_method": "gdelt",
        "language": "English",
        "content_fetched": True,
        "source_file": f"news/{published_at:%Y-%m-%d}/{article_id}.json",
        "source_line": 1,
        "ingested_at": INGESTED,
    }
    return row | fields


def insert(warehouse: DuckDBWarehouse, table: str, rows: Sequence[dict], schema: dict) -> None:
    frame = pl.DataFrame(list(rows), schema=schema)
    with warehouse.transaction() as tx:
        tx.insert(table, frame)


def insert_candles(warehouse: DuckDBWarehouse, rows: Sequence[dict]) -> None:
    insert(warehouse, "bronze.market_candles", rows, CANDLE_SCHEMA)


def insert_news(warehouse: DuckDBWarehouse, rows: Sequence[dict]) -> None:
    insert(warehouse, "bronze.news_articles", rows, NEWS_SCHEMA)


def materialize(
    asset: dg.AssetsDefinition,
    warehouse: DuckDBWarehouse,
    first: str,
    last: str | None = None,
    run_config: dict | None = None,
) -> dg.ExecuteInProcessResult:
    kwargs: dict = {"resources": {"warehouse": warehouse}, "instance": dg.DagsterInstance.ephemeral()}
    if run_config:
        kwargs["run_config"] = run_config
    if last is None or last == first:
        kwargs["partition_key"] = first
    else:
        kwargs["tags"] = {"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last}
    result = dg.materialize([asset], **kwargs)
    assert result.success
    return result


def metadata_by_partition(result: dg.ExecuteInProcessResult, asset: str | None = None) -> dict[str, dict]:
    """Each partition's materialization metadata, by partition key (optionally of one asset key)."""
    out = {}
    for event in result.get_asset_materialization_events():
        materialization = event.materialization
        if asset is None or materialization.asset_key.to_user_string() == asset:
            out[materialization.partition] = {k: getattr(v, "value", v) for k, v in materialization.metadata.items()}
    return out


def metadata_of(result: dg.ExecuteInProcessResult) -> dict:
    """The metadata of a run's materialization (a range run reports it once per partition)."""
    events = result.get_asset_materialization_events()
    assert events
    return {k: getattr(v, "value", v) for k, v in events[0].materialization.metadata.items()}
