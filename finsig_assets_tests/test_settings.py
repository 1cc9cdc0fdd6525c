"""Settings of a home: every process that opens $FINSIG_HOME reads the same finsig.env."""

from __future__ import annotations

import json
import subprocess
import sys

from finsig_assets import settings


def test_the_environment_wins_over_the_home_file(tmp_path, monkeypatch):
    monkeypatch.setenv("FINSIG_HOME", str(tmp_path))
    settings.write_home_settings({"FINSIG_MODEL_WINDOW_SESSIONS": "20", "FINSIG_PARTITIONS_START": "2024-06-24"}, header="demo")
    assert settings.model_window_sessions() == 20 and settings.partitions_start() == "2024-06-24"
    monkeypatch.setenv("FINSIG_MODEL_WINDOW_SESSIONS", "30")
    assert settings.model_window_sessions() == 30
    settings.write_home_settings({"FINSIG_PARTITIONS_START": "2024-07-01"})
    text = (tmp_path / "finsig.env").read_text()
    assert text.startswith("# demo") and "FINSIG_MODEL_WINDOW_SESSIONS=20" in text and text.count("FINSIG_PARTITIONS_START") == 1
    assert settings.partitions_start() == "2024-07-01"


def test_a_bad_line_names_the_file_and_line(tmp_path, monkeypatch):
    monkeypatch.setenv("FINSIG_HOME", str(tmp_path))
    (tmp_path / "finsig.env").write_text("# ok\nFINSIG_MODEL_WINDOW_SESSIONS 20\n")
    try:
        settings.model_window_sessions()
    except ValueError as exc:
        assert "finsig.env:2" in str(exc)
    else:
        raise AssertionError("a line without '=' must be refused")


def test_every_process_of_a_home_builds_the_same_definitions(tmp_path):
    """What the UI, the daemon and a sensor's run load: the model's window (config default and
    lineage) and the first partition come from the home, not from the shell that built it."""
    (tmp_path / "finsig.env").write_text("FINSIG_MODEL_WINDOW_SESSIONS=20\nFINSIG_MODEL_MIN_SESSIONS=8\nFINSIG_PARTITIONS_START=2024-06-24\n")
    code = """
import json
import dagster as dg
from finsig_assets.definitions import defs
from finsig_assets.ml.direction_model import DirectionModelConfig
graph = defs.resolve_asset_graph()
model = graph.get(dg.AssetKey(["ml", "direction_model"]))
mapping = model.partition_mappings[dg.AssetKey(["gold", "training_examples"])]
config = DirectionModelConfig()
print(json.dumps({"window": config.window_sessions, "min": config.min_sessions, "start_offset": mapping.start_offset,
                  "end_offset": mapping.end_offset, "first": model.partitions_def.get_first_partition_key()}))
"""
    env = {"FINSIG_HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert json.loads(out.strip().splitlines()[-1]) == {"window": 20, "min": 8, "start_offset": -20, "end_offset": -1, "first": "2024-06-24"}
