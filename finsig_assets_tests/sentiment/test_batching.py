import numpy as np
import pytest

from finsig_assets.sentiment.batching import next_batch_end, pad_batch, plan_batches, sort_longest_first


def test_plan_batches_covers_every_text_once_within_budget_and_cap():
    rng = np.random.default_rng(3)
    lengths = rng.integers(3, 66, size=500).tolist()
    batches = plan_batches(lengths, max_tokens=512, max_items=32)
    seen = np.concatenate(batches)
    assert sorted(seen.tolist()) == list(range(500))
    for batch in batches:
        padded = len(batch) * max(lengths[i] for i in batch)
        assert padded <= 512 and len(batch) <= 32
    # Longest first: a batch's shortest is never shorter than the next batch's longest.
    for a, b in zip(batches, batches[1:]):
        assert min(lengths[i] for i in a) >= max(lengths[i] for i in b)


def test_padding_waste_is_small_compared_with_unsorted_batches():
    rng = np.random.default_rng(4)
    lengths = rng.integers(10, 66, size=2000)
    batches = plan_batches(lengths.tolist(), max_tokens=4096, max_items=128)
    padded = sum(len(b) * lengths[b].max() for b in batches)
    unsorted = sum(64 * lengths[i : i + 64].max() for i in range(0, 2000, 64))
    assert padded < 1.05 * lengths.sum() < unsorted / 1.5


def test_a_text_longer_than_the_budget_gets_its_own_batch():
    assert [b.tolist() for b in plan_batches([10, 900, 10], max_tokens=100, max_items=8)] == [[1], [0, 2]]
    assert next_batch_end(np.array([900, 10]), 0, 100, 8) == 1
    with pytest.raises(ValueError):
        next_batch_end(np.array([5]), 0, 0, 8)


def test_sort_is_stable_and_pad_batch_masks_padding():
    assert sort_longest_first([2, 5, 2, 5]).tolist() == [1, 3, 0, 2]
    ids, mask = pad_batch([[2, 7, 3], [2, 3]], pad_id=0)
    assert ids.tolist() == [[2, 7, 3], [2, 3, 0]]
    assert mask.tolist() == [[1, 1, 1], [1, 1, 0]]
