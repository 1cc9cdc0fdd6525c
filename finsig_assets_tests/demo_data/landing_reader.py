"""A small, strict reader of the demo landing zone for the tests (independent of the generator).

It validates each market line the way a bronze loader should: parseable JSON; a ``time``
that is an RFC 3339 UTC instant; prices that are numbers (flat) or numeric strings (v20),
all > 0; ``low <= min(open, close)`` and ``high >= max(open, close)``.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from pathlib import Path

import polars as pl

_TIME = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(\.\d{1,9})?Z$")
_PRICE_TEXT = re.compile(r"^-?\d+\.\d$")
NEWS_FIELDS = (
    "article_id",
    "headline",
    "body",
    "url",
    "source",
    "published_at",
    "collected_at",
    "sp500_relevant",
    "collection_method",
    "language",
    "content_fetched",
)


@dataclass
class MarketRead:
    candles: pl.DataFrame  # every well-formed line: file, line, shape, ts, open, high, low, close, volume, complete
    rejected: list[tuple[str, int, str]]  # (file, line number, reason)
    n_lines: int
    n_files: int


def _time(value) -> dt.datetime:
    if not isinstance(value, str):
        raise ValueError("time is not a string")
    m = _TIME.match(value)
    if not m:
        raise ValueError(f"bad time {value!r}")
    return dt.datetime.fromisoformat(m.group(1)).replace(tzinfo=dt.timezone.utc)


def parse_candle(line: str) -> dict:
    """The candle in a line, or ValueError with the reason it is malformed."""
    try:
        raw = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ValueError(f"invalid JSON: {exc}") from None
    if "mid" in raw or "complete" in raw:
        shape = "v20"
        mid = raw.get("mid")
        if not isinstance(mid, dict):
            raise ValueError("missing mid")
        prices = []
        for key in ("o", "h", "l", "c"):
            text = mid.get(key)
            if not isinstance(text, str) or not _PRICE_TEXT.match(text):
                raise ValueError(f"bad price {key}={text!r}")
            prices.append(float(text))
        complete = raw.get("complete")
        if not isinstance(complete, bool):
            raise ValueError("complete missing")
    else:
        shape = "flat"
        prices = []
        for key in ("open", "high", "low", "close"):
            if key not in raw:
                raise ValueError(f"missing {key}")
            value = raw[key]
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                raise ValueError(f"bad price {key}={value!r}")
            prices.append(float(value))
        if raw.get("instrument") != "SPX500_USD" or raw.get("granularity") != "M1":
            raise ValueError("wrong instrument or granularity")
        complete = True
    if "time" not in raw:
        raise ValueError("missing time")
    ts = _time(raw["time"])
    volume = raw.get("volume")
    if not isinstance(volume, int) or volume < 0:
        raise ValueError("bad volume")
    o, h, l, c = prices
    if min(prices) <= 0:
        raise ValueError("non-positive price")
    if h < l:
        raise ValueError("high < low")
    if h < max(o, c) or l > min(o, c):
        raise ValueError("OHLC inconsistent")
    return {"shape": shape, "ts": ts, "open": o, "high": h, "low": l, "close": c, "volume": volume, "complete": complete}


def read_market(root: Path) -> MarketRead:
    rows, rejected, n_lines = [], [], 0
    files = sorted((root / "market").rglob("*.ndjson"))
    for path in files:
        rel = str(path.relative_to(root))
        with open(path, encoding="utf-8") as fh:
            for number, line in enumerate(fh, start=1):
                n_lines += 1
                try:
                    rec = parse_candle(line)
                except ValueError as exc:
                    rejected.append((rel, number, str(exc)))
                    continue
                rows.append({"file": rel, "line": number, **rec})
    schema = {
        "file": pl.String,
        "line": pl.Int64,
        "shape": pl.String,
        "ts": pl.Datetime("us", "UTC"),
        "open": pl.Float64,
        "high": pl.Float64,
        "low": pl.Float64,
        "close": pl.Float64,
        "volume": pl.Int64,
        "complete": pl.Boolean,
    }
    frame = pl.DataFrame(rows, schema=schema) if rows else pl.DataFrame(schema=schema)
    return MarketRead(frame, rejected, n_lines, len(files))


def bars(read: MarketRead) -> pl.DataFrame:
    """Complete candles, one per minute (first file in path order wins), with New York time."""
    return (
        read.candles.filter(pl.col("complete"))
        .sort("file", "line")
        .unique("ts", keep="first", maintain_order=True)
        .sort("ts")
        .with_columns(pl.col("ts").dt.convert_time_zone("America/New_York").alias("ny"))
    )


@dataclass
class NewsRead:
    articles: pl.DataFrame  # one row per article file or batch line: path, + the fields
    bad: list[tuple[str, str]]  # (path, reason)
    seen_files: dict[str, dict]  # folder -> seen_articles.json
    raw_bytes: dict[str, bytes]  # path -> bytes of each article file
    n_files: int


def read_news(root: Path) -> NewsRead:
    rows, bad, seen, raw = [], [], {}, {}
    paths = sorted(p for p in (root / "news").rglob("*") if p.is_file())
    for path in paths:
        rel = str(path.relative_to(root))
        if path.name == "seen_articles.json":
            seen[path.parent.name] = json.loads(path.read_text(encoding="utf-8"))
            continue
        if path.suffix == ".ndjson":
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
                rows.append({"path": f"{rel}:{number}", **json.loads(line)})
            continue
        data = path.read_bytes()
        try:
            rec = json.loads(data)
        except json.JSONDecodeError:
            bad.append((rel, "invalid JSON"))
            continue
        try:
            dt.datetime.fromisoformat(rec["published_at"])
        except KeyError:
            bad.append((rel, "missing published_at"))
            continue
        except ValueError:
            bad.append((rel, "unparsable published_at"))
            continue
        raw[rel] = data
        rows.append({"path": rel, **rec})
    frame = pl.DataFrame(rows, infer_schema_length=None)
    return NewsRead(frame, bad, seen, raw, len(paths))
