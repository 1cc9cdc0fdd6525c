"""For the bench scripts: one demo data set carried through the graph as one single-run backfill.

The demo generator's own code writes the landing files (malformed lines included); the assets
run in-process on an ephemeral instance with the lexicon sentiment backend, a fresh DuckDB
warehouse and MLflow store under ``workdir``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

FIRST_SESSION = "2024-01-02"


def materialize_demo(workdir: Path, selection: Any, sessions: int, seed: int, news_effect: float, articles: int):
    """Write the data set, materialize ``selection`` over its sessions; return (warehouse, summary)."""
    import dagster as dg

    from finsig_assets.definitions import defs
    from finsig_assets.demo_data import write_demo_landing
    from finsig_assets.landing_zone import LandingZone
    from finsig_assets.ml import MlflowTracking
    from finsig_assets.sentiment.backend_selection import SentimentResource
    from finsig_assets.warehouse import DuckDBWarehouse

    summary = write_demo_landing(
        workdir / "landing", first_session=FIRST_SESSION, n_sessions=sessions, seed=seed,
        news_effect=news_effect, articles_per_session=articles,
    )
    warehouse = DuckDBWarehouse(database=str(workdir / "warehouse.duckdb"))
    resources = {
        "warehouse": warehouse,
        "landing": LandingZone(root=str(workdir / "landing")),
        "sentiment": SentimentResource(backend="lexicon"),
        # Every resource of the definitions must be given, used by the selection or not.
        "mlflow": MlflowTracking(tracking_uri=f"sqlite:///{workdir / 'mlflow' / 'mlflow.db'}", ui_url=None),
    }
    assets = [a for a in defs.assets if isinstance(a, dg.AssetsDefinition)]
    result = dg.materialize(
        assets,
        selection=selection,
        resources=resources,
        instance=dg.DagsterInstance.ephemeral(),
        tags={
            "dagster/asset_partition_range_start": summary.first_session,
            "dagster/asset_partition_range_end": summary.last_session,
        },
    )
    assert result.success
    return warehouse, summary
