"""Declarative automation: a bronze update brings exactly its dependants along, nothing else.

Evaluated with Dagster's own evaluator over the real definitions (nothing is executed): which
partitions of which assets would the automation sensor request?
"""

from __future__ import annotations

import dagster as dg
import pytest

from finsig_assets.definitions import defs
from finsig_assets.trading_calendar import sessions_between

SESSIONS = [d.isoformat() for d in sessions_between("2024-06-03", "2024-08-30")]
ALL_KEYS = [n.key for n in defs.resolve_asset_graph().asset_nodes if n.is_materializable]


def materialize_all(instance: dg.DagsterInstance, sessions: list[str]) -> None:
    for key in ALL_KEYS:
        for day in sessions:
            instance.report_runless_asset_event(dg.AssetMaterialization(key, partition=day))


def evaluate(instance, cursor=None):
    return dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=cursor)


def requested(result) -> dict[str, list[str]]:
    out = {}
    for key in ALL_KEYS:
        keys = sorted(result.get_requested_partitions(key))
        if keys:
            out[key.to_user_string()] = keys
    return out


@pytest.fixture
def settled():
    """An instance where every asset is materialized for the sessions, and the automation has
    had its first look (which must start nothing)."""
    instance = dg.DagsterInstance.ephemeral()
    materialize_all(instance, SESSIONS)
    first = evaluate(instance)
    assert first.total_requested == 0
    return instance, first.cursor


def test_first_evaluation_over_a_materialized_instance_starts_nothing(settled):
    instance, cursor = settled
    assert evaluate(instance, cursor).total_requested == 0


def test_a_market_session_update_brings_exactly_its_dependants(settled):
    instance, cursor = settled
    day = SESSIONS[30]
    instance.report_runless_asset_event(dg.AssetMaterialization(dg.AssetKey(["bronze", "market_candles"]), partition=day))
    got = requested(evaluate(instance, cursor))
    i = SESSIONS.index(day)
    # silver bars D and D+1 (its first gap_minutes reads D's last bar)
    assert got["silver/market_bars"] == SESSIONS[i : i + 2]
    # gold: the sessions whose warm-up or windows read those bars
    assert got["gold/market_features"][0] == day and len(got["gold/market_features"]) >= 2
    assert got["gold/news_signals"][0] == day
    assert got["gold/training_examples"][0] == day
    # the models whose training window holds D: the sessions after it (a window of N sessions)
    models = got["ml/direction_model"]
    assert models[0] == SESSIONS[i + 1] and day not in models
    assert got["ml/predictions"][0] == day
    # the news side did not change: nothing there runs, and bronze never runs by automation
    for key in ("silver/news_articles", "silver/news_sentiment", "bronze/market_candles", "bronze/news_articles"):
        assert key not in got, key


def test_a_news_session_update_leaves_the_market_side_alone(settled):
    instance, cursor = settled
    day = SESSIONS[40]
    instance.report_runless_asset_event(dg.AssetMaterialization(dg.AssetKey(["bronze", "news_articles"]), partition=day))
    got = requested(evaluate(instance, cursor))
    assert got["silver/news_articles"][0] == day
    assert got["silver/news_sentiment"][0] == day
    assert "silver/market_bars" not in got and "gold/market_features" not in got


def test_a_failed_blocking_check_upstream_holds_the_layer_below(settled):
    instance, cursor = settled
    day = SESSIONS[20]
    bars = dg.AssetKey(["silver", "market_bars"])
    checks = [spec for spec in defs.resolve_asset_graph().get(bars).check_keys]
    blocking = [k for k in checks if defs.resolve_asset_graph().get(k).blocking]
    if not blocking:
        pytest.skip("silver/market_bars has no blocking check")
    instance.report_runless_asset_event(dg.AssetMaterialization(bars, partition=day))
    instance.report_runless_asset_event(
        dg.AssetCheckEvaluation(asset_key=bars, check_name=blocking[0].name, passed=False, severity=dg.AssetCheckSeverity.ERROR)
    )
    got = requested(evaluate(instance, cursor))
    assert "gold/market_features" not in got and "gold/news_signals" not in got


MARKET_CANDLES = dg.AssetKey(["bronze", "market_candles"])
MARKET_BARS = dg.AssetKey(["silver", "market_bars"])


def test_an_upstream_update_after_the_partition_ran_still_reaches_it(settled):
    """Between two ticks silver D is materialized (by a run that read bronze D before its new rows
    landed: a backfill of D - 1 carries silver D) and then bronze D: silver D must run again.
    Dagster's since_last_handled let the reset win here and the new rows never reached silver."""
    instance, cursor = settled
    day = SESSIONS[30]
    instance.report_runless_asset_event(dg.AssetMaterialization(MARKET_BARS, partition=day))
    instance.report_runless_asset_event(dg.AssetMaterialization(MARKET_CANDLES, partition=day))
    got = requested(evaluate(instance, cursor))
    assert day in got["silver/market_bars"]
    assert got["gold/market_features"][0] == day  # and the layers below it, in the same request


def test_a_partition_that_ran_after_its_upstream_is_left_alone(settled):
    """The other order on one tick -- bronze D, then every partition below it again (a backfill's
    later stages) -- leaves nothing to do: no second run of a backfill's range."""
    instance, cursor = settled
    day = SESSIONS[30]
    instance.report_runless_asset_event(dg.AssetMaterialization(MARKET_CANDLES, partition=day))
    graph = defs.resolve_asset_graph()
    below = [k for k in graph.toposorted_asset_keys if k in ALL_KEYS and k.path[0] != "bronze"]
    for key in below:  # in dependency order, as the backfill's stages run
        for partition in SESSIONS:
            instance.report_runless_asset_event(dg.AssetMaterialization(key, partition=partition))
    got = requested(evaluate(instance, cursor))
    # Only partitions after the history, never materialized, whose look-back reads the last
    # sessions (the update reaches them as it would without the backfill); nothing inside it.
    assert {key: [p for p in partitions if p in SESSIONS] for key, partitions in got.items()} == {key: [] for key in got}


def test_a_request_that_never_materializes_is_not_repeated_every_tick(settled):
    """A failed run is not retried by the automation on every tick; the next upstream change is."""
    instance, cursor = settled
    day = SESSIONS[30]
    instance.report_runless_asset_event(dg.AssetMaterialization(MARKET_CANDLES, partition=day))
    first = evaluate(instance, cursor)
    assert day in requested(first)["silver/market_bars"]
    second = evaluate(instance, first.cursor)  # the requested run failed: nothing was materialized
    assert "silver/market_bars" not in requested(second)
