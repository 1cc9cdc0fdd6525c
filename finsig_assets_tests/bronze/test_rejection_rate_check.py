"""The rejection_rate asset check: passes under the limit, fails (ERROR) above it, configurable."""

from __future__ import annotations

import datetime as dt
import json

import dagster as dg
import pytest

from finsig_assets.bronze import market_candles, news_articles
from finsig_assets.bronze.rejection_rate_check import resolve_max_rejection_rate
from finsig_assets_tests.bronze.helpers import article, materialize, ny, v20, write_lines
from finsig_assets_tests.bronze.synthetic import session_minutes, v20_line
from finsig_assets_tests.check_results import table_checks


def land(landing, good: int, bad: int) -> None:
    lines = [v20(ny(f"2024-06-25 10:{m:02d}")) for m in range(good)]
    lines += [v20(ny(f"2024-06-25 11:{m:02d}"), h=1.0, low=2.0) for m in range(bad)]
    write_lines(landing.market_dir / "m.ndjson", lines)


def evaluation(result, name="market_candles") -> dg.AssetCheckEvaluation:
    (ev,) = [e for e in table_checks(result) if e.asset_key.path[-1] == name]
    assert ev.check_name == "rejection_rate"
    return ev


def test_passes_below_the_limit(warehouse, landing):
    land(landing, good=50, bad=1)
    ev = evaluation(materialize([market_candles], warehouse, landing, partition="2024-06-25"))
    assert ev.passed
    assert ev.metadata["rejected"].value == 1 and ev.metadata["accepted"].value == 50
    assert ev.metadata["rejection_rate"].value == pytest.approx(1 / 51)
    assert ev.metadata["max_rejection_rate"].value == 0.02


def test_fails_with_error_severity_above_the_limit(warehouse, landing):
    land(landing, good=20, bad=5)
    result = materialize([market_candles], warehouse, landing, partition="2024-06-25")
    assert result.success  # the check fails; the partition is still written (rejects are quarantined)
    ev = evaluation(result)
    assert not ev.passed and ev.severity == dg.AssetCheckSeverity.ERROR
    assert ev.metadata["rejection_rate"].value == pytest.approx(0.2)
    assert ev.metadata["rejected_by_reason"].value == {"high_below_low": 5}
    table = ev.metadata["top_reasons"].value
    assert "| reason | count | share | example |" in table and "| high_below_low | 5 | 100.0% | high 1.0 < low 2.0 |" in table
    assert "ABOVE the limit of 2.00%" in ev.description


def test_threshold_from_run_config(warehouse, landing):
    land(landing, good=20, bad=5)
    config = {"ops": {"bronze__market_candles": {"config": {"max_rejection_rate": 0.25}}}}
    ev = evaluation(materialize([market_candles], warehouse, landing, partition="2024-06-25", run_config=config))
    assert ev.passed and ev.metadata["max_rejection_rate"].value == 0.25


def test_threshold_from_environment(warehouse, landing, monkeypatch):
    land(landing, good=20, bad=5)
    monkeypatch.setenv("FINSIG_MAX_REJECTION_RATE", "0.5")
    ev = evaluation(materialize([market_candles], warehouse, landing, partition="2024-06-25"))
    assert ev.passed and ev.metadata["max_rejection_rate"].value == 0.5


def test_news_check_fails_on_mostly_broken_articles(warehouse, landing):
    for i in range(3):
        (landing.news_dir / f"{i}.json").write_text(json.dumps(article(i, headline="")))
    (landing.news_dir / "ok.json").write_text(json.dumps(article(9)))
    ev = evaluation(materialize([news_articles], warehouse, landing, partition="2024-06-25"), "news_articles")
    assert not ev.passed and ev.metadata["rejected_by_reason"].value == {"empty_headline": 3}


def test_a_junk_file_with_no_timestamps_fails_the_check(warehouse, landing):
    """The defect: 260 junk lines have no timestamp, so no partition owns them, and the check
    (0.18 % over a long range) passed with the junk visible only as a WARNING."""
    day = dt.date(2024, 6, 25)
    write_lines(landing.market_dir / "day.ndjson", [v20_line(ts, 5000.0, 5001.0, 4999.0, 5000.5, 3) for ts in session_minutes(day)])
    write_lines(landing.market_dir / "junk.ndjson", [f"junk line {i}: <html>not a candle</html>" for i in range(260)])
    result = materialize([market_candles], warehouse, landing, first="2024-06-25", last="2024-06-25")
    ev = evaluation(result)
    assert not ev.passed and ev.severity == dg.AssetCheckSeverity.ERROR
    assert ev.metadata["accepted"].value == 1380
    assert ev.metadata["rejected"].value == ev.metadata["unplaceable_in_indexed_files"].value == 260
    assert ev.metadata["rejection_rate"].value == pytest.approx(260 / 1640)
    assert ev.metadata["rejected_by_reason"].value == {"invalid_json": 260}
    assert "| invalid_json | 260 | 100.0% |" in ev.metadata["top_reasons"].value
    assert "260 with no usable timestamp in files indexed by this run" in ev.description

    # Counted once, by the run that indexes the file: the next run of the session passes.
    assert evaluation(materialize([market_candles], warehouse, landing, partition="2024-06-25")).passed


def test_empty_range_passes(warehouse, landing):
    ev = evaluation(materialize([market_candles], warehouse, landing, partition="2024-06-25"))
    assert ev.passed and ev.metadata["rejection_rate"].value == 0.0


def test_resolve_threshold(monkeypatch):
    monkeypatch.delenv("FINSIG_MAX_REJECTION_RATE", raising=False)
    assert resolve_max_rejection_rate(None) == 0.02
    assert resolve_max_rejection_rate(0.1) == 0.1
    monkeypatch.setenv("FINSIG_MAX_REJECTION_RATE", "0.07")
    assert resolve_max_rejection_rate(None) == 0.07
    assert resolve_max_rejection_rate(0.3) == 0.3  # run config wins
    monkeypatch.setenv("FINSIG_MAX_REJECTION_RATE", "lots")
    with pytest.raises(ValueError, match="FINSIG_MAX_REJECTION_RATE"):
        resolve_max_rejection_rate(None)
    with pytest.raises(ValueError):
        resolve_max_rejection_rate(1.5)
