import json

import numpy as np
import pytest
import torch

from finsig_assets.sentiment import FinBERTResource, FinBERTUnavailable, SentimentScoringError
from finsig_assets.sentiment.finbert_scorer import label_columns, resolve_device
from finsig_assets.sentiment.model_files import MANIFEST
from finsig_assets_tests.sentiment.conftest import SAMPLE_TEXTS


def fp32_resource(path, **kwargs) -> FinBERTResource:
    return FinBERTResource(model_name_or_path=str(path), device="cpu", dtype="float32", **kwargs)


def test_loads_through_the_resource_path_and_returns_named_probabilities(tiny_model_dir):
    resource = fp32_resource(tiny_model_dir)
    scores = resource.score(SAMPLE_TEXTS)
    assert len(scores) == len(SAMPLE_TEXTS)
    for row in scores:
        assert set(row) == {"positive", "negative", "neutral"}
        assert sum(row.values()) == pytest.approx(1.0, abs=1e-6)
    scorer = resource.load_scorer()
    assert scorer.attn_implementation == "sdpa"
    assert not scorer.model.training
    # An anonymous directory is identified by path and a hash of its weights.
    assert scorer.model_id == str(tiny_model_dir) and scorer.revision.startswith("sha256:")
    frame = resource.score_frame(SAMPLE_TEXTS[:3])
    assert frame.columns == ["p_positive", "p_negative", "p_neutral"] and frame.height == 3


def test_sorted_token_budget_batches_match_one_text_at_a_time(tiny_model_dir):
    batched = fp32_resource(tiny_model_dir, max_tokens_per_batch=64, max_items_per_batch=4).load_scorer()
    single = batched.replace(max_items_per_batch=1)
    together = batched.score_texts(SAMPLE_TEXTS)
    one_by_one = np.vstack([single.score_texts([t]) for t in SAMPLE_TEXTS])
    assert batched.batches_run > 1
    assert np.abs(together - one_by_one).max() < 1e-5
    # Results come back in input order whatever the sort did.
    reversed_scores = batched.score_texts(SAMPLE_TEXTS[::-1])
    assert np.abs(reversed_scores[::-1] - together).max() < 1e-5


def test_permuted_id2label_gives_the_same_named_probabilities(tiny_model_dir, permuted_model_dir):
    original = fp32_resource(tiny_model_dir).score(SAMPLE_TEXTS)
    permuted_resource = fp32_resource(permuted_model_dir)
    permuted = permuted_resource.score(SAMPLE_TEXTS)
    assert permuted_resource.load_scorer().columns == [1, 2, 0]
    for a, b in zip(original, permuted):
        for label in ("positive", "negative", "neutral"):
            assert a[label] == pytest.approx(b[label], abs=1e-6)


def test_labels_must_be_the_three_sentiment_classes():
    assert label_columns({0: "neutral", 1: "Positive", 2: "NEGATIVE"}) == [1, 2, 0]
    with pytest.raises(FinBERTUnavailable, match="not the three sentiment classes"):
        label_columns({0: "LABEL_0", 1: "LABEL_1", 2: "LABEL_2"})


class OOMAbove(torch.nn.Module):
    """Raises CUDA out-of-memory for batches bigger than ``max_tokens`` padded tokens."""

    def __init__(self, model, max_tokens):
        super().__init__()
        self.inner, self.max_tokens, self.config, self.shapes = model, max_tokens, model.config, []

    def forward(self, input_ids, attention_mask=None):
        self.shapes.append(tuple(input_ids.shape))
        if input_ids.numel() > self.max_tokens:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")
        return self.inner(input_ids=input_ids, attention_mask=attention_mask)


def test_out_of_memory_halves_the_budget_and_completes_correctly(tiny_model_dir):
    scorer = fp32_resource(tiny_model_dir, max_tokens_per_batch=100_000, max_items_per_batch=64).load_scorer()
    expected = scorer.score_texts(SAMPLE_TEXTS)
    longest = max(len(ids) for ids in scorer.encode(SAMPLE_TEXTS))
    wrapper = OOMAbove(scorer.model, max_tokens=4 * longest)
    flaky = scorer.replace(model=wrapper)
    got = flaky.score_texts(SAMPLE_TEXTS)
    assert np.abs(got - expected).max() < 1e-5  # complete and correct
    # 12 texts fail, then 6 (half), then 3 fit; the halved budget holds for the rest of the run.
    assert [e["failed_items"] for e in flaky.oom_events] == [12, 6]
    assert [e["new_budget"] for e in flaky.oom_events] == [6 * longest, 3 * longest]
    assert wrapper.shapes[:3] == [(12, longest), (6, longest), (3, longest)]
    assert all(n * width <= 3 * longest for n, width in wrapper.shapes[3:])


def test_out_of_memory_on_a_single_text_fails_without_inventing_scores(tiny_model_dir):
    scorer = fp32_resource(tiny_model_dir).load_scorer()
    flaky = scorer.replace(model=OOMAbove(scorer.model, max_tokens=0))
    with pytest.raises(SentimentScoringError, match="single text") as err:
        flaky.score_texts(SAMPLE_TEXTS[:4])
    assert "No scores were written" in str(err.value)


def test_any_other_model_error_fails_the_batch(tiny_model_dir):
    scorer = fp32_resource(tiny_model_dir).load_scorer()

    class Broken(torch.nn.Module):
        config = scorer.model.config

        def forward(self, input_ids, attention_mask=None):
            raise RuntimeError("kernel exploded")

    with pytest.raises(SentimentScoringError, match="kernel exploded"):
        scorer.replace(model=Broken()).score_texts(SAMPLE_TEXTS)


def test_articles_are_chunked_to_64_tokens_and_weighted(tiny_model_dir):
    resource = fp32_resource(tiny_model_dir)
    scorer = resource.load_scorer()
    long_sentence = " ".join(["stocks rose after strong earnings and higher guidance"] * 12) + "."
    body = f"{SAMPLE_TEXTS[0]} {long_sentence} {SAMPLE_TEXTS[3]} {SAMPLE_TEXTS[7]}"
    full = resource.score_articles(["Markets rally", "", "Oil fell"], [body, "", ""], "full")
    assert full["n_chunks"].to_list()[1:] == [0, 1]
    assert full["n_chunks"][0] >= 5  # headline, 2+ pieces of the long sentence, two more sentences
    for piece in scorer.split(long_sentence, 62):
        assert scorer.count([piece])[0] <= 62
    lead = resource.score_articles(["Markets rally"], [body], "headline_lead")
    head = resource.score_articles(["Markets rally"], [body], "headline")
    assert head["n_chunks"].to_list() == [1]
    assert 1 < lead["n_chunks"][0] <= full["n_chunks"][0]
    expected_head = scorer.score(["Markets rally"])[0]
    assert head["p_positive"][0] == pytest.approx(expected_head["positive"], abs=1e-6)
    sums = full.select(total=__import__("polars").sum_horizontal("p_positive", "p_negative", "p_neutral"))
    assert sums["total"][0] == pytest.approx(1.0)


def test_manifest_names_the_hub_model_and_revision(tiny_model_dir, tmp_path):
    import shutil

    copy = tmp_path / "finbert"
    shutil.copytree(tiny_model_dir, copy)
    (copy / MANIFEST).write_text(json.dumps({"model": "ProsusAI/finbert", "revision": "abc123"}))
    assert fp32_resource(copy).sentiment_model == "ProsusAI/finbert@abc123"


def test_auto_device_and_dtype_on_this_machine(tiny_model_dir):
    assert resolve_device("auto") in {"cuda", "mps", "cpu"}
    scorer = FinBERTResource(model_name_or_path=str(tiny_model_dir), device="cpu").load_scorer()
    assert scorer.dtype in {"float32", "bfloat16"} and scorer.dtype_note.startswith("auto")
    assert len(scorer.score(["Stocks rose"])) == 1
    with pytest.raises(ValueError):
        FinBERTResource(model_name_or_path=str(tiny_model_dir), dtype="int3").load_scorer()


def test_missing_local_directory_is_actionable(tmp_path):
    with pytest.raises(FinBERTUnavailable, match="FINSIG_FINBERT_MODEL=/path/to/dir"):
        fp32_resource(tmp_path / "nowhere").load_scorer()
    (tmp_path / "empty").mkdir()
    with pytest.raises(FinBERTUnavailable, match="lacks config.json"):
        fp32_resource(tmp_path / "empty").load_scorer()


def test_int8_is_opt_in_cpu_only_and_recorded_in_the_revision(tiny_model_dir):
    fp32 = fp32_resource(tiny_model_dir).load_scorer()
    int8 = FinBERTResource(model_name_or_path=str(tiny_model_dir), device="cpu", dtype="int8").load_scorer()
    assert int8.dtype == "int8" and int8.revision == fp32.revision + "+int8"
    assert np.abs(int8.score_texts(SAMPLE_TEXTS) - fp32.score_texts(SAMPLE_TEXTS)).max() < 0.15  # tiny random model
