import polars as pl

from finsig_assets.sentiment.score_cache import add_entries, cache_entries, lookup, text_keys, text_sha256


def test_keys_hash_what_the_mode_reads():
    assert text_sha256("H", "body one", "headline") == text_sha256("H", "body two", "headline")
    assert text_sha256("H", "body one", "full") != text_sha256("H", "body two", "full")
    assert text_sha256("H", "b", "full") != text_sha256("H", "b", "headline")


def test_entries_round_trip_and_duplicates_are_ignored(warehouse):
    keys = text_keys(["a", "b"], ["", ""], "headline")
    scores = pl.DataFrame(
        {"p_positive": [0.7, 0.1], "p_negative": [0.1, 0.8], "p_neutral": [0.2, 0.1], "n_chunks": [1, 1]},
        schema={"p_positive": pl.Float64, "p_negative": pl.Float64, "p_neutral": pl.Float64, "n_chunks": pl.Int32},
    )
    entries = cache_entries(keys, scores, model="m", revision="r", text_mode="headline", device="cpu", dtype="float32")
    with warehouse.transaction() as tx:
        add_entries(tx, entries)
    with warehouse.transaction() as tx:  # a second run that scored the same texts
        add_entries(tx, entries)
    found = lookup(warehouse, "m", "r", "headline", keys + ["missing"]).sort("p_positive")
    assert found.height == 2 and found["p_positive"].to_list() == [0.1, 0.7]
    assert lookup(warehouse, "m", "other-revision", "headline", keys).height == 0
    assert lookup(warehouse, "m", "r", "full", keys).height == 0
