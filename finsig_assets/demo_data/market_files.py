"""How the simulated candles are laid out in NDJSON files under ``market/``, and writing them.

Layout (all decided by the layout random stream, so it is the same for a seed):

* **Original files** ``market/YYYY/MM/spx500_m1_<first UTC day>_<shape>.ndjson`` each hold
  the bars of one to three consecutive UTC calendar days that have bars (the downloader ran
  per UTC day, sometimes catching up several days at once), in time order. About 60% are in
  the raw ``v20`` shape, the rest ``flat``; one file has one shape. File boundaries are UTC
  midnights, so they do not line up with the 17:00 New York partition cut.
* **Refetch files** (``overlapping_files``): ``<original name without .ndjson>.refetch.ndjson``
  beside an original, in the same shape, repeating the last 2–8 hours of that file and the
  first 1–4 hours of the next one — identical copies — except for **two conflicting
  candles** (one each in the first two refetch files; one if there is only one) whose close
  (and, to stay consistent, high/low) differ by a few ticks from the original. The refetch
  file sorts right after its original by path and, in the flat shape, has a later
  ``collected_at``: it is the later version.
* **Incomplete candles** (``"complete": false``, v20 files only — the flat collector kept only
  complete candles): some v20 files end with the in-progress version of the next file's first
  bar (partial close, high, low and volume), and if the last file is v20 its very last bar is
  written only as an in-progress candle (so it is not counted as a complete candle).
* **Malformed lines** (``malformed``): see :mod:`.malformed`; they sit in time order among
  the good lines of the original file covering their minute.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from finsig_assets.demo_data.candle_lines import candle_record, dumps_line, format_lines
from finsig_assets.demo_data.candles import Bars
from finsig_assets.demo_data.malformed import MALFORMED_KINDS, malformed_line

V20_SHARE = 0.6
DAYS_PER_FILE = (1, 1, 1, 1, 2, 3)
INCOMPLETE_SHARE = 0.15
N_CONFLICTS = 2
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


@dataclass
class MarketFile:
    path: str  # relative to the landing root
    shape: str
    bars: np.ndarray  # indices into Bars of the complete candles, ascending by time
    collected_at: str
    first_day: int = 0  # UTC epoch day of the first day the file covers
    conflicts: dict[int, tuple[int, int, int, int]] = field(default_factory=dict)  # bar -> (o, h, l, c)
    extras: list[tuple[int, str]] = field(default_factory=list)  # (minute, line): incomplete/malformed


@dataclass(frozen=True)
class MarketPlan:
    files: list[MarketFile]  # originals first, then refetches
    n_candles: int  # distinct complete, well-formed candles (distinct minutes)
    n_malformed: int


def _collected_at(minute: int, rng: np.random.Generator, *, min_delay: int, max_delay: int) -> str:
    us = (minute + int(rng.integers(min_delay, max_delay))) * 60_000_000 + int(rng.integers(0, 60_000_000))
    return (_EPOCH + dt.timedelta(microseconds=us)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def plan_market_files(
    bars: Bars, n_sessions: int, rng: np.random.Generator, *, malformed: bool, overlapping_files: bool
) -> MarketPlan:
    """The files to write, with the counts the summary reports."""
    emitted = np.flatnonzero(bars.emitted)
    if emitted.shape[0] == 0:
        return MarketPlan([], 0, 0)
    minutes = bars.minute[emitted]
    days = minutes // 1440
    unique_days = np.unique(days)

    originals: list[MarketFile] = []
    k = 0
    while k < unique_days.shape[0]:
        span = int(DAYS_PER_FILE[int(rng.integers(0, len(DAYS_PER_FILE)))])
        first_day, last_day = int(unique_days[k]), int(unique_days[min(k + span, unique_days.shape[0]) - 1])
        lo = int(np.searchsorted(days, first_day, side="left"))
        hi = int(np.searchsorted(days, last_day, side="right"))
        shape = "v20" if rng.random() < V20_SHARE else "flat"
        day = (_EPOCH + dt.timedelta(days=first_day)).date()
        path = f"market/{day:%Y}/{day:%m}/spx500_m1_{day.isoformat()}_{shape}.ndjson"
        collected = _collected_at(int(minutes[hi - 1]) + 1, rng, min_delay=3, max_delay=40)
        originals.append(MarketFile(path, shape, emitted[lo:hi], collected, first_day))
        k += span
    n_candles = int(emitted.shape[0])

    # In-progress candles at the end of some v20 files.
    for j, f in enumerate(originals):
        last_file = j == len(originals) - 1
        u = rng.random()
        if f.shape != "v20":
            continue
        if last_file:
            i = int(f.bars[-1])
            f.bars = f.bars[:-1]
            n_candles -= 1
            f.extras.append((int(bars.minute[i]), _incomplete_line(bars, i, rng)))
        elif u < INCOMPLETE_SHARE and originals[j + 1].bars.shape[0]:
            i = int(originals[j + 1].bars[0])
            f.extras.append((int(bars.minute[i]), _incomplete_line(bars, i, rng)))

    refetches: list[MarketFile] = []
    if overlapping_files and len(originals) >= 2:
        n_refetch = min(len(originals) - 1, max(2, len(originals) // 15))
        chosen = np.sort(rng.choice(len(originals) - 1, size=n_refetch, replace=False))
        n_conflicts = 0
        for j in chosen.tolist():
            a, b = originals[j], originals[j + 1]
            if a.bars.shape[0] == 0 or b.bars.shape[0] == 0:
                continue
            tail_start = int(bars.minute[a.bars[-1]]) - int(rng.integers(2, 9)) * 60
            head_end = int(bars.minute[b.bars[0]]) + int(rng.integers(1, 5)) * 60
            tail = a.bars[bars.minute[a.bars] > tail_start]
            head = b.bars[bars.minute[b.bars] < head_end]
            later = int(bars.minute[b.bars[-1]])
            refetch = MarketFile(
                a.path.removesuffix(".ndjson") + ".refetch.ndjson",
                a.shape,
                np.concatenate([tail, head]),
                _collected_at(later, rng, min_delay=24 * 60, max_delay=3 * 24 * 60),
            )
            if n_conflicts < N_CONFLICTS and tail.shape[0]:
                n_conflicts += 1
                i = int(tail[int(rng.integers(0, tail.shape[0]))])
                delta = int(rng.integers(2, 7)) * (1 if rng.random() < 0.5 else -1)
                o, h, l, c = (int(x[i]) for x in (bars.open, bars.high, bars.low, bars.close))
                c2 = c + delta
                refetch.conflicts[i] = (o, max(h, c2), min(l, c2), c2)
            refetches.append(refetch)

    n_malformed = _plant_malformed(bars, originals, n_sessions, rng) if malformed else 0
    return MarketPlan(originals + refetches, n_candles, n_malformed)


def _incomplete_line(bars: Bars, i: int, rng: np.random.Generator) -> str:
    o, c = int(bars.open[i]), int(bars.close[i])
    partial_close = o + int(round((c - o) * rng.random())) + int(rng.integers(-2, 3))
    high = max(o, partial_close) + int(rng.integers(0, 2))
    low = min(o, partial_close) - int(rng.integers(0, 2))
    volume = max(1, int(bars.volume[i] * rng.uniform(0.1, 0.7)))
    record = candle_record("v20", int(bars.minute[i]), o, high, low, partial_close, volume, complete=False)
    return dumps_line(record)


def _plant_malformed(bars: Bars, originals: list[MarketFile], n_sessions: int, rng: np.random.Generator) -> int:
    count = len(MALFORMED_KINDS) + n_sessions // 40
    missing = np.flatnonzero(~bars.emitted)
    pool = missing if missing.shape[0] >= count else np.arange(len(bars))
    picks = np.sort(rng.choice(pool, size=min(count, pool.shape[0]), replace=False))
    starts = np.array([f.first_day for f in originals])
    for k, i in enumerate(picks.tolist()):
        minute = int(bars.minute[i])
        f = originals[max(0, int(np.searchsorted(starts, minute // 1440, side="right")) - 1)]
        kind = MALFORMED_KINDS[k % len(MALFORMED_KINDS)]
        line = malformed_line(
            kind,
            f.shape,
            minute,
            int(bars.open[i]),
            int(bars.high[i]),
            int(bars.low[i]),
            int(bars.close[i]),
            int(bars.volume[i]),
            variant=k // len(MALFORMED_KINDS) + int(rng.integers(0, 2)),
            collected_at=f.collected_at,
        )
        f.extras.append((minute, line))
    return int(picks.shape[0])


def write_market_files(root: Path, bars: Bars, files: list[MarketFile]) -> int:
    """Write the files; returns the number of lines written."""
    n_lines = 0
    for f in files:
        idx = f.bars
        lines = format_lines(
            f.shape, bars.minute[idx], bars.open[idx], bars.high[idx], bars.low[idx], bars.close[idx], bars.volume[idx], f.collected_at
        )
        if f.conflicts:
            position = {int(b): p for p, b in enumerate(idx.tolist())}
            for i, (o, h, l, c) in f.conflicts.items():
                record = candle_record(f.shape, int(bars.minute[i]), o, h, l, c, int(bars.volume[i]), collected_at=f.collected_at)
                lines[position[i]] = dumps_line(record)
        if f.extras:
            file_minutes = bars.minute[idx]
            for minute, line in sorted(f.extras, key=lambda e: e[0], reverse=True):
                lines.insert(int(np.searchsorted(file_minutes, minute, side="right")), line)
        path = root / f.path
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w", encoding="utf-8", newline="\n") as out:
            out.write("\n".join(lines))
            out.write("\n")
        n_lines += len(lines)
    return n_lines
