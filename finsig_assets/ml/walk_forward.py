"""Validation folds by session inside a training window, with purging and an embargo.

A fold validates on a contiguous block of sessions. Its *time span* is
``[first validation ts, last validation ts + horizon]``: the validation rows' own labels reach
that far. Training rows for the fold are then cleaned in two ways:

- **purging**: a training row at t whose label horizon ``[t, t + horizon]`` overlaps the
  fold's span is dropped (its label was computed from prices inside the fold);
- **embargo**: a training row that starts within ``embargo`` after the fold's span ends is
  dropped (its features -- rolling windows of up to an hour -- still overlap the fold's prices).

Two schemes:

- ``walk_forward`` (default, what ``ml/direction_model`` uses): the last part of the window
  (``validation_fraction`` of its sessions) is cut into ``n_folds`` consecutive blocks; each
  fold trains on the sessions *before* its block only, like the model that will predict the
  next session. Purging removes the rows just before the block whose labels reach into it.
  No training row ever lies after the block, so the embargo has nothing to remove here -- it
  is applied anyway (the same code path) and its count is reported, always 0.
- ``purged_kfold`` (de Prado's purged K-fold): the window's sessions are cut into ``n_folds``
  blocks and each fold trains on every other block, before *and after* it; here the embargo
  after the fold matters and removes rows.

Labels of ``gold.training_examples`` never cross a session close, so with session-aligned
folds purging only removes rows when sessions touch (all-hours bars) -- the code does not rely
on that, it works on timestamps.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

SCHEMES = ("walk_forward", "purged_kfold")


@dataclass(frozen=True)
class Fold:
    index: int
    validation_sessions: tuple[dt.date, ...]
    span_start: np.datetime64  # first validation ts
    span_end: np.datetime64  # last validation ts + horizon
    train_idx: np.ndarray  # row positions (into the frame the fold was built on)
    val_idx: np.ndarray
    n_purged: int
    n_embargoed: int

    @property
    def n_train(self) -> int:
        return int(self.train_idx.size)

    @property
    def n_val(self) -> int:
        return int(self.val_idx.size)


def session_blocks(
    sessions: list[dt.date], n_folds: int, scheme: str = "walk_forward", validation_fraction: float = 0.5
) -> list[list[dt.date]]:
    """The validation blocks (lists of consecutive sessions), oldest first."""
    if scheme not in SCHEMES:
        raise ValueError(f"fold scheme {scheme!r} is not one of {SCHEMES}")
    if n_folds < 1:
        raise ValueError("n_folds must be at least 1")
    sessions = sorted(sessions)
    n = len(sessions)
    if scheme == "purged_kfold":
        if n < 2:
            raise ValueError(f"purged K-fold needs at least 2 sessions, got {n}")
        k = min(n_folds, n)
        return [list(b) for b in np.array_split(np.array(sessions, dtype=object), k) if len(b)]
    if n < 2:
        raise ValueError(f"walk-forward folds need at least 2 sessions (one to train on), got {n}")
    n_val = min(n - 1, max(n_folds, int(round(n * validation_fraction))))
    k = min(n_folds, n_val)
    tail = np.array(sessions[n - n_val :], dtype=object)
    return [list(b) for b in np.array_split(tail, k) if len(b)]


def session_folds(
    trade_date: np.ndarray,
    ts: np.ndarray,
    horizon: dt.timedelta,
    n_folds: int,
    scheme: str = "walk_forward",
    embargo: dt.timedelta = dt.timedelta(0),
    validation_fraction: float = 0.5,
) -> list[Fold]:
    """Folds over rows given by their session (``trade_date``) and timestamp (``ts``).

    ``trade_date`` is an array of ``datetime.date`` (or ``datetime64[D]``), ``ts`` an array of
    ``datetime64``. Folds whose training set ends up empty are left out.
    """
    days = np.asarray(trade_date).astype("datetime64[D]")
    ts = np.asarray(ts).astype("datetime64[us]")
    h = np.timedelta64(int(horizon.total_seconds() * 1e6), "us")
    emb = np.timedelta64(int(embargo.total_seconds() * 1e6), "us")
    sessions = sorted({d.item() for d in np.unique(days)})
    blocks = session_blocks(sessions, n_folds, scheme, validation_fraction)
    label_end = ts + h
    folds: list[Fold] = []
    for block in blocks:
        block_days = np.array(block, dtype="datetime64[D]")
        in_val = np.isin(days, block_days)
        val_idx = np.flatnonzero(in_val)
        span_start = ts[val_idx].min()
        span_end = label_end[val_idx].max()
        if scheme == "walk_forward":
            candidate = ~in_val & (days < block_days.min())
        else:
            candidate = ~in_val
        # Purge: the label interval [t, t + h] overlaps the span [span_start, span_end].
        purged = candidate & (ts <= span_end) & (label_end >= span_start)
        # Embargo: starts within `embargo` after the span ends.
        embargoed = candidate & ~purged & (ts > span_end) & (ts <= span_end + emb)
        train = candidate & ~purged & ~embargoed
        if not train.any():
            continue
        folds.append(
            Fold(
                index=len(folds),
                validation_sessions=tuple(block),
                span_start=span_start,
                span_end=span_end,
                train_idx=np.flatnonzero(train),
                val_idx=val_idx,
                n_purged=int(purged.sum()),
                n_embargoed=int(embargoed.sum()),
            )
        )
    return folds
