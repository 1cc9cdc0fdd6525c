"""Asset jobs users launch by hand (everything else runs by sensor and automation).

``finsig_pipeline`` is the whole graph for chosen sessions (the session-close schedule runs it
too); ``ml_training`` (:mod:`finsig_assets.ml.ml_job`) retrains and re-predicts with the
MLflow run-end hook. The bronze-and-downstream refresh jobs are gone: the landing sensor
materializes bronze and declarative automation carries every layer below it.
"""

from __future__ import annotations

import dagster as dg

finsig_pipeline = dg.define_asset_job(
    "finsig_pipeline",
    selection=dg.AssetSelection.all(),
    description="Every asset, landing files to the latest layer, for the selected sessions.",
)
