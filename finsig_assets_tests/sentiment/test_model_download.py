import json
import shutil
from types import SimpleNamespace

import huggingface_hub

from finsig_assets.sentiment import model_download
from finsig_assets.sentiment.model_files import MANIFEST


def fake_hub(monkeypatch, source, commit="0123abcd"):
    """A hub that serves the tiny model: model_info lists its files, snapshot_download copies them."""
    calls = []

    def model_info(self, repo_id, revision=None, **kw):
        return SimpleNamespace(sha=commit, siblings=[SimpleNamespace(rfilename=p.name) for p in source.iterdir()])

    def snapshot_download(repo_id, revision=None, local_dir=None, cache_dir=None, allow_patterns=None, **kw):
        calls.append({"revision": revision, "patterns": allow_patterns})
        target = local_dir or (cache_dir / f"models--{repo_id.replace('/', '--')}" / "snapshots" / commit)
        shutil.copytree(source, target, dirs_exist_ok=True)
        return str(target)

    monkeypatch.setattr(huggingface_hub.HfApi, "model_info", model_info)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    return calls


def test_download_to_a_directory_writes_a_manifest_and_verifies(tiny_model_dir, tmp_path, monkeypatch, capsys):
    calls = fake_hub(monkeypatch, tiny_model_dir)
    target = tmp_path / "finbert"
    assert model_download.main(["download", "--to", str(target)]) == 0
    assert json.loads((target / MANIFEST).read_text()) == {"model": "ProsusAI/finbert", "revision": "0123abcd"}
    assert "model.safetensors" in calls[0]["patterns"] and "pytorch_model.bin" not in calls[0]["patterns"]
    out = capsys.readouterr().out
    assert "ProsusAI/finbert@0123abcd loads" in out and f"FINSIG_FINBERT_MODEL={target}" in out
    # The copied directory works offline through the check command.
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("FINSIG_FINBERT_MODEL", str(target))
    assert model_download.main(["check"]) == 0


def test_check_without_weights_offline_prints_the_instructions(offline_hub, capsys):
    assert model_download.main(["check"]) == 1
    err = capsys.readouterr().err
    assert "finsig model download --model ProsusAI/finbert --to ./finbert" in err


def test_download_failure_explains_the_offline_route(offline_hub, monkeypatch, capsys):
    def no_network(self, *a, **kw):
        raise ConnectionError("Name or service not known")

    monkeypatch.setattr(huggingface_hub.HfApi, "model_info", no_network)
    assert model_download.main(["download"]) == 1
    assert "FINSIG_FINBERT_MODEL=/path/to/DIR" in capsys.readouterr().err
