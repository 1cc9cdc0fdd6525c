"""``python -m finsig_assets.session_range FIRST N``: the last of N sessions from FIRST.

The Makefile uses it to turn "20 demo sessions from 2024-06-24" into a partition range.
"""

from __future__ import annotations

import sys

from finsig_assets.trading_calendar import sessions_between


def last_of(first: str, n: int) -> str:
    days = sessions_between(first, "2100-01-01")
    if len(days) < n:
        raise SystemExit(f"the calendar has only {len(days)} sessions from {first}")
    return days[n - 1].isoformat()


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit("usage: python -m finsig_assets.session_range FIRST_SESSION N")
    print(last_of(sys.argv[1], int(sys.argv[2])))
