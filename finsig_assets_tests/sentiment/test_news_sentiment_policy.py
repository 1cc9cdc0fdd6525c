"""``silver/news_sentiment``'s backfill policy: one run by default, runs of N sessions on request."""

from __future__ import annotations

import os
import subprocess
import sys

import dagster as dg
import pytest

from finsig_assets.sentiment import news_sentiment


def policy(monkeypatch, value: str | None) -> dg.BackfillPolicy:
    if value is None:
        monkeypatch.delenv("FINSIG_SENTIMENT_PARTITIONS_PER_RUN", raising=False)
    else:
        monkeypatch.setenv("FINSIG_SENTIMENT_PARTITIONS_PER_RUN", value)
    return news_sentiment.sentiment_backfill_policy()


def test_a_backfill_is_one_run_unless_a_deployment_splits_it_for_its_gpu_workers(monkeypatch, tmp_path):
    monkeypatch.setenv("FINSIG_HOME", str(tmp_path))
    assert policy(monkeypatch, None) == dg.BackfillPolicy.single_run()
    assert policy(monkeypatch, "60") == dg.BackfillPolicy.multi_run(max_partitions_per_run=60)
    for bad in ("0", "-3", "many"):
        with pytest.raises(ValueError, match="FINSIG_SENTIMENT_PARTITIONS_PER_RUN"):
            policy(monkeypatch, bad)


def test_the_asset_takes_the_configured_policy_when_the_definitions_load(tmp_path):
    # In a fresh interpreter: the policy is read once, when the definitions load.
    probe = (
        "from finsig_assets.definitions import defs; import dagster as dg; "
        "print(defs.resolve_assets_def(dg.AssetKey(['silver', 'news_sentiment'])).backfill_policy)"
    )
    env = {**os.environ, "FINSIG_HOME": str(tmp_path), "FINSIG_SENTIMENT_PARTITIONS_PER_RUN": "20"}
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True).stdout
    assert out.strip() == "BackfillPolicy.multi_run(max_partitions_per_run=20)", out
