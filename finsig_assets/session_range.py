"""``python -m finsig_assets.session_range``: partition ranges for the Makefile.

    python -m finsig_assets.session_range FIRST N   # FIRST...(the Nth session from FIRST)
    python -m finsig_assets.session_range demo      # the demo's sessions and the latest partition after them
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
    if sys.argv[1:] == ["demo"]:
        from finsig_assets.demo_data.command import materialize_range

        try:
            first, last = materialize_range()
        except ValueError as exc:
            raise SystemExit(str(exc)) from None
        print(f"{first}...{last}")
    elif len(sys.argv) == 3:
        print(f"{sys.argv[1]}...{last_of(sys.argv[1], int(sys.argv[2]))}")
    else:
        raise SystemExit("usage: python -m finsig_assets.session_range FIRST_SESSION N | demo")
