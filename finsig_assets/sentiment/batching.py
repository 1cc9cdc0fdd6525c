"""Token-budget batches over length-sorted texts.

The reference system fed FinBERT unsorted batches of 64 padded to 512 tokens, so most of the
work was multiplying padding. Here texts are sorted by token length (longest first) and cut
into batches whose padded size ``n_items x longest`` stays within a token budget and an item
cap; each batch is padded only to its own longest text. Longest-first puts the biggest padded
batch at the start, so a budget that does not fit on the device fails (and backs off) at once.

The planner works on lengths only, so it is unit-testable without a model; the scorer calls
:func:`next_batch_end` batch by batch so that it can shrink the budget after a CUDA
out-of-memory error and re-plan the rest.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def sort_longest_first(lengths: Sequence[int] | np.ndarray) -> np.ndarray:
    """Indices of ``lengths`` from longest to shortest (stable: equal lengths keep input order)."""
    arr = np.asarray(lengths, dtype=np.int64)
    return np.argsort(-arr, kind="stable")


def next_batch_end(sorted_lengths: np.ndarray, start: int, max_tokens: int, max_items: int) -> int:
    """End (exclusive) of the batch that starts at ``start`` in longest-first ``sorted_lengths``.

    The first text of the batch is its longest, so the padded size is ``n * sorted_lengths[start]``.
    A text longer than the whole budget still gets a batch of its own (the caller decides whether
    that is an error).
    """
    if max_tokens < 1 or max_items < 1:
        raise ValueError(f"batch limits must be positive: max_tokens={max_tokens}, max_items={max_items}")
    n_left = len(sorted_lengths) - start
    if n_left <= 0:
        return start
    longest = max(int(sorted_lengths[start]), 1)
    n = max(1, min(max_items, max_tokens // longest, n_left))
    return start + n


def plan_batches(lengths: Sequence[int], max_tokens: int, max_items: int) -> list[np.ndarray]:
    """Batches of input indices: longest first, each within the token budget and the item cap."""
    order = sort_longest_first(lengths)
    sorted_lengths = np.asarray(lengths, dtype=np.int64)[order]
    batches, start = [], 0
    while start < len(order):
        end = next_batch_end(sorted_lengths, start, max_tokens, max_items)
        batches.append(order[start:end])
        start = end
    return batches


def pad_batch(token_ids: Sequence[Sequence[int]], pad_id: int) -> tuple[np.ndarray, np.ndarray]:
    """``input_ids`` and ``attention_mask`` (int64) padded on the right to the longest row."""
    lengths = np.fromiter((len(ids) for ids in token_ids), dtype=np.int64, count=len(token_ids))
    width = int(lengths.max()) if len(lengths) else 0
    input_ids = np.full((len(token_ids), width), pad_id, dtype=np.int64)
    for row, ids in enumerate(token_ids):
        input_ids[row, : len(ids)] = ids
    attention_mask = (np.arange(width)[None, :] < lengths[:, None]).astype(np.int64)
    return input_ids, attention_mask
