import numpy as np
import pytest

from finsig_assets.sentiment.text_chunks import (
    LEAD_SENTENCES,
    aggregate_chunks,
    article_pieces,
    chunk_articles,
    split_sentences,
    word_windows,
)


class WordSplitter:
    """Words as tokens: enough to test chunking without a tokenizer."""

    def count(self, texts):
        return [len(t.split()) for t in texts]

    def split(self, text, limit):
        words = text.split()
        return [" ".join(words[a:b]) for a, b in word_windows(words, [1] * len(words), limit)]


def test_sentences_split_on_punctuation_and_lines_but_not_abbreviations():
    body = 'Mr. Powell said U.S. stocks rose 2.5% on Monday. "Rates will stay high," he added!\nNew line here? Yes. J. P. Morgan Chase agreed.'
    assert split_sentences(body) == [
        "Mr. Powell said U.S. stocks rose 2.5% on Monday.",
        '"Rates will stay high," he added!',
        "New line here?",
        "Yes.",
        "J. P. Morgan Chase agreed.",
    ]
    assert split_sentences("  \n -- \n") == []


def test_modes_pick_headline_lead_or_everything():
    body = " ".join(f"Sentence number {i} is here." for i in range(6))
    assert article_pieces("Head", body, "headline") == ["Head"]
    assert len(article_pieces("Head", body, "headline_lead")) == 1 + LEAD_SENTENCES
    assert len(article_pieces("Head", body, "full")) == 7
    assert article_pieces("", "", "full") == []
    with pytest.raises(ValueError):
        chunk_articles(["h"], ["b"], "everything", WordSplitter(), 10)


def test_long_sentences_are_cut_into_near_equal_pieces_within_the_limit():
    long = " ".join(f"w{i}" for i in range(70))
    chunks = chunk_articles(["short head", "x"], [long, ""], "full", WordSplitter(), limit=62)
    assert chunks.article_index.tolist() == [0, 0, 0, 1]
    assert chunks.weights.tolist() == [2, 35, 35, 1]
    assert " ".join(chunks.texts[1:3]) == long


def test_token_weighted_aggregation_and_articles_without_chunks():
    chunks = chunk_articles(["a b c", "", "x"], ["d", "", ""], "full", WordSplitter(), limit=10)
    probs = np.array([[0.9, 0.05, 0.05], [0.1, 0.8, 0.1], [0.2, 0.2, 0.6]])
    frame = aggregate_chunks(chunks, probs)
    assert frame["n_chunks"].to_list() == [2, 0, 1]
    expected = (3 * probs[0] + 1 * probs[1]) / 4
    assert np.allclose(frame.row(0)[:3], expected)
    assert frame.row(1)[:3] == (None, None, None)
    assert np.allclose(frame.row(2)[:3], probs[2])
