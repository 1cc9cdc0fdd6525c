"""Session folds: walk-forward order, purging of label horizons, embargo after the fold."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from finsig_assets.ml.walk_forward import session_blocks, session_folds

A, B, C, D = (dt.date(2024, 1, d) for d in (1, 2, 3, 4))
# (session, wall-clock) of every row, in time order. B's 23:30 row belongs to B (think of an
# all-hours session window); its 60-minute label ends at C 00:30, inside C's span.
ROWS = [
    (A, "2024-01-01T10:00"),
    (A, "2024-01-01T12:00"),
    (B, "2024-01-02T10:00"),
    (B, "2024-01-02T12:00"),
    (B, "2024-01-02T23:30"),
    (C, "2024-01-03T00:10"),
    (C, "2024-01-03T01:30"),
    (C, "2024-01-03T10:00"),
    (C, "2024-01-03T12:00"),
    (D, "2024-01-04T10:00"),
]
DAYS = np.array([r[0] for r in ROWS], dtype="datetime64[D]")
TS = np.array([r[1] for r in ROWS], dtype="datetime64[us]")
HORIZON = dt.timedelta(minutes=60)
EMBARGO = dt.timedelta(minutes=90)


def times(idx) -> list[str]:
    return [str(TS[i])[:16] for i in idx]


def test_walk_forward_trains_only_before_the_fold_and_purges_overlapping_labels():
    folds = session_folds(DAYS, TS, HORIZON, n_folds=2, scheme="walk_forward", embargo=EMBARGO)
    assert [f.validation_sessions for f in folds] == [(C,), (D,)]

    c = folds[0]
    assert c.span_start == np.datetime64("2024-01-03T00:10")
    assert c.span_end == np.datetime64("2024-01-03T13:00")  # last validation row + horizon
    # B 23:30's label [23:30, 00:30] overlaps C's span -> purged; nothing after C is a candidate.
    assert times(c.train_idx) == ["2024-01-01T10:00", "2024-01-01T12:00", "2024-01-02T10:00", "2024-01-02T12:00"]
    assert (c.n_purged, c.n_embargoed) == (1, 0)
    assert times(c.val_idx) == ["2024-01-03T00:10", "2024-01-03T01:30", "2024-01-03T10:00", "2024-01-03T12:00"]

    d = folds[1]
    assert d.n_purged == 0 and d.n_embargoed == 0
    assert len(d.train_idx) == 9  # everything before D: C 12:00's label ends 13:00, long before D
    for fold in folds:
        assert TS[fold.train_idx].max() < fold.span_start  # never a training row from the fold's future
        assert (TS[fold.train_idx] + np.timedelta64(60, "m")).max() < fold.span_start


def test_purged_kfold_purges_before_and_embargoes_after_the_fold():
    folds = session_folds(DAYS, TS, HORIZON, n_folds=4, scheme="purged_kfold", embargo=EMBARGO)
    assert [f.validation_sessions for f in folds] == [(A,), (B,), (C,), (D,)]
    b = folds[1]
    assert b.span_end == np.datetime64("2024-01-03T00:30")
    # C 00:10 starts inside B's span -> purged; C 01:30 starts within 90 min after it -> embargoed.
    assert times(b.train_idx) == [
        "2024-01-01T10:00",
        "2024-01-01T12:00",
        "2024-01-03T10:00",
        "2024-01-03T12:00",
        "2024-01-04T10:00",
    ]
    assert (b.n_purged, b.n_embargoed) == (1, 1)
    c = folds[2]
    # B 23:30 (label into C) is purged; nothing of D is within 90 min after C's span (13:00).
    assert "2024-01-02T23:30" not in times(c.train_idx)
    assert (c.n_purged, c.n_embargoed) == (1, 0)


def test_embargo_zero_keeps_rows_right_after_the_fold():
    folds = session_folds(DAYS, TS, HORIZON, n_folds=4, scheme="purged_kfold", embargo=dt.timedelta(0))
    assert "2024-01-03T01:30" in times(folds[1].train_idx)


def test_session_blocks_cover_the_tail_for_walk_forward_and_everything_for_kfold():
    days = [dt.date(2024, 2, d) for d in range(1, 21)]
    wf = session_blocks(days, 4, "walk_forward", validation_fraction=0.5)
    assert sum(wf, []) == days[10:]
    assert [len(b) for b in wf] == [3, 3, 2, 2]
    assert sum(session_blocks(days, 4, "purged_kfold"), []) == days
    assert session_blocks(days[:3], 4, "walk_forward") == [[days[1]], [days[2]]]
    with pytest.raises(ValueError):
        session_blocks(days, 2, "random")
    with pytest.raises(ValueError):
        session_blocks(days[:1], 2, "walk_forward")
