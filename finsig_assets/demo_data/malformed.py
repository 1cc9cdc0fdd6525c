"""Malformed market lines of several kinds, as a validating reader must reject them.

Each is made from a real simulated candle (for a minute whose bar is otherwise missing, so a
malformed line never shadows a good candle) and then broken in one way:

==================== ===================================================================
``invalid_json``     the line is cut off part-way (not parseable JSON)
``missing_field``    ``mid``/``close`` or ``time`` is absent
``high_below_low``   high < low
``non_positive_price`` low is 0.0, or close is negative
``unparsable_time``  ``time`` is not an RFC 3339 instant (hour 25, or free text)
``non_numeric_price`` a price is the string ``"n/a"`` or ``null``
``close_above_high`` close > high (an OHLC inconsistency other than high < low)
==================== ===================================================================
"""

from __future__ import annotations

from finsig_assets.demo_data.candle_lines import candle_record, dumps_line, time_text

MALFORMED_KINDS = (
    "invalid_json",
    "missing_field",
    "high_below_low",
    "non_positive_price",
    "unparsable_time",
    "non_numeric_price",
    "close_above_high",
)


def malformed_line(
    kind: str, shape: str, minute: int, o: int, h: int, l: int, c: int, v: int, *, variant: int, collected_at: str = ""
) -> str:
    """One broken line of ``kind`` in ``shape``; ``variant`` picks between sub-kinds."""
    flat = shape == "flat"
    if kind == "high_below_low":
        h, l = (l - 2, h) if h == l else (l, h)
    elif kind == "close_above_high":
        c = h + 3
    record = candle_record(shape, minute, o, h, l, c, v, collected_at=collected_at)
    prices = record if flat else record["mid"]
    close_key, low_key = ("close", "low") if flat else ("c", "l")

    if kind == "invalid_json":
        text = dumps_line(record)
        return text[: max(10, int(len(text) * 0.6))]
    if kind == "missing_field":
        if variant % 2:
            del record["time"]
        elif flat:
            del record["close"]
        else:
            del record["mid"]
    elif kind == "non_positive_price":
        if variant % 2:
            prices[close_key] = -prices[close_key] if flat else "-" + prices[close_key]
        else:
            prices[low_key] = 0.0 if flat else "0.0"
    elif kind == "unparsable_time":
        stamp = time_text(minute, shape)
        record["time"] = f"{stamp[:10]}T25:61:00{stamp[19:]}" if variant % 2 == 0 else f"yesterday {stamp[11:16]}"
    elif kind == "non_numeric_price":
        prices[close_key] = None if (flat and variant % 2) else "n/a"
    elif kind not in ("high_below_low", "close_above_high"):
        raise ValueError(f"unknown malformed kind {kind!r}")
    return dumps_line(record)
