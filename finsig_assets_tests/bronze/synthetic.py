"""Synthetic OANDA M1 candles for tests and the bronze benchmark (no dependency on demo data).

A session D gets one bar a minute from 18:00 New York on the evening before D to 16:59 on D
(23 hours, 1,380 bars, as the CFD trades), so 1,250 sessions are ~1.7 million lines.
"""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

from finsig_assets.demo_data.candle_lines import candle_record, dumps_line
from finsig_assets.trading_calendar import NEW_YORK, UTC, sessions_between

BARS_PER_SESSION = 23 * 60


def _epoch_minute(ts: dt.datetime) -> int:
    return int(ts.astimezone(UTC).timestamp()) // 60


def _ticks(price: float) -> int:
    return round(price * 10)


def v20_line(ts: dt.datetime, o: float, h: float, low: float, c: float, volume: int, complete: bool = True) -> str:
    record = candle_record("v20", _epoch_minute(ts), *map(_ticks, (o, h, low, c)), volume, complete=complete)
    return dumps_line(record)


def flat_line(
    ts: dt.datetime,
    o: float,
    h: float,
    low: float,
    c: float,
    volume: int,
    instrument: str = "SPX500_USD",
    collected_at: dt.datetime | None = None,
) -> str:
    collected = (collected_at or ts + dt.timedelta(minutes=1)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    record = candle_record(
        "flat", _epoch_minute(ts), *map(_ticks, (o, h, low, c)), volume, collected_at=collected, instrument=instrument
    )
    return dumps_line(record)


def session_minutes(day: dt.date) -> list[dt.datetime]:
    """Bar open times (UTC) of one session: 18:00 NY the evening before to 16:59 NY on ``day``."""
    start = dt.datetime.combine(day - dt.timedelta(days=1), dt.time(18, 0), tzinfo=NEW_YORK).astimezone(UTC)
    return [start + dt.timedelta(minutes=i) for i in range(BARS_PER_SESSION)]


def synthetic_lines(sessions: list[dt.date], shape: str = "v20", seed: int = 7):
    """Yield (session, line) for every bar of ``sessions``; shape 'v20', 'flat' or 'mixed'."""
    rng = random.Random(seed)
    price = 3200.0
    for day in sessions:
        for i, ts in enumerate(session_minutes(day)):
            o = price
            c = max(1.0, o + rng.uniform(-2, 2))
            h = max(o, c) + rng.uniform(0, 1)
            low = max(0.5, min(o, c) - rng.uniform(0, 1))
            price = c
            vol = rng.randint(1, 400)
            use_flat = shape == "flat" or (shape == "mixed" and i % 2)
            yield day, (flat_line(ts, o, h, low, c, vol) if use_flat else v20_line(ts, o, h, low, c, vol))


def write_market(
    market_dir: Path,
    first: str = "2020-01-02",
    n_sessions: int = 1250,
    layout: str = "single",
    shape: str = "v20",
) -> int:
    """Write synthetic candles under ``market_dir``: one file ('single') or one per session ('daily')."""
    sessions = [d for d in sessions_between(first, "2030-12-31")][:n_sessions]
    market_dir.mkdir(parents=True, exist_ok=True)
    n = 0
    if layout == "single":
        with open(market_dir / "SPX500_USD_M1.ndjson", "w") as out:
            for _, line in synthetic_lines(sessions, shape):
                out.write(line + "\n")
                n += 1
        return n
    current, out = None, None
    for day, line in synthetic_lines(sessions, shape):
        if day != current:
            if out:
                out.close()
            folder = market_dir / f"{day:%Y}" / f"{day:%m}"
            folder.mkdir(parents=True, exist_ok=True)
            out = open(folder / f"SPX500_USD_{day:%Y%m%d}.ndjson", "w")
            current = day
        out.write(line + "\n")
        n += 1
    if out:
        out.close()
    return n
