"""What a run of a partitioned asset covers: one trading day, or a range (single-run backfill).

Assets use ``BackfillPolicy.single_run()`` by default, so a backfill of five years is one run
that reads each landing file once and writes each table in one transaction per asset, instead of
1,250 runs; ``silver/news_sentiment`` and ``ml/model_fits`` can be split into runs of N sessions
for several workers (``FINSIG_SENTIMENT_PARTITIONS_PER_RUN``, ``FINSIG_MODEL_FITS_PARTITIONS_PER_RUN``).
Assets therefore work on a range of sessions and its ownership window.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import dagster as dg

from finsig_assets.trading_calendar import OwnershipWindow, ownership_window, sessions_between


@dataclass(frozen=True)
class PartitionScope:
    first: dt.date
    last: dt.date
    window: OwnershipWindow

    @property
    def sessions(self) -> list[dt.date]:
        return sessions_between(self.first, self.last)

    @property
    def label(self) -> str:
        return self.first.isoformat() if self.first == self.last else f"{self.first}..{self.last}"

    @classmethod
    def of(cls, first: dt.date | str, last: dt.date | str | None = None) -> "PartitionScope":
        window = ownership_window(first, last)
        return cls(window.first_session, window.last_session, window)


def scope_of(context: dg.AssetExecutionContext) -> PartitionScope:
    keys = context.partition_key_range
    return PartitionScope.of(keys.start, keys.end)
