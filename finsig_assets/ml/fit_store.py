"""Fitted models kept in ``ml.model_fits`` between the step that fits them and the one that registers them.

``ml/model_fits`` fits each partition's direction and return models where a worker is free;
``ml/direction_model`` then registers them one session after another. The fits travel through
the warehouse -- the one store every worker of a profile already shares (a DuckDB file, or a
DuckLake whose data path is object storage) -- as pickles (XGBoost boosters pickle as their own
binary model format), zlib-compressed. A fit is found again only by its partition, the hash of
the window's rows and the hash of the configuration, so a fit of other data or settings is
never registered in its place. The table is written by finsig alone; unpickling reads nothing
that a user or another system could have put there.
"""

from __future__ import annotations

import datetime as dt
import pickle
import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from finsig_assets.warehouse import Warehouse, fetch_frame

if TYPE_CHECKING:  # xgboost loads in the steps that train
    from finsig_assets.ml.direction_training import TrainingOutcome
    from finsig_assets.ml.return_training import ReturnOutcome

TABLE = "ml.model_fits"
STATUS_FITTED = "fitted"


def pack(outcome: Any) -> bytes:
    return zlib.compress(pickle.dumps(outcome, protocol=pickle.HIGHEST_PROTOCOL), 1)


def unpack(blob: bytes) -> Any:
    return pickle.loads(zlib.decompress(blob))


@dataclass(frozen=True)
class StoredFit:
    direction: TrainingOutcome
    returns: ReturnOutcome
    dagster_run_id: str | None
    fitted_at: dt.datetime


def fitted_keys(warehouse: Warehouse, first: dt.date, last: dt.date) -> dict[dt.date, tuple[str, str]]:
    """``trade_date -> (training_data_sha256, config_sha256)`` of the fits stored for ``first..last``."""
    with warehouse.connection() as conn:
        frame = fetch_frame(
            conn,
            f"SELECT trade_date, training_data_sha256, config_sha256 FROM {TABLE} "
            "WHERE trade_date BETWEEN ? AND ? AND status = ?",
            [first, last, STATUS_FITTED],
        )
    return {r[0]: (r[1], r[2]) for r in frame.iter_rows()}


def stored_fit(warehouse: Warehouse, day: dt.date, data_hash: str, config_hash: str) -> StoredFit | None:
    """Partition ``day``'s fit of exactly this data and configuration, if ``ml/model_fits`` made one."""
    with warehouse.connection() as conn:
        row = conn.execute(
            f"SELECT direction_fit, return_fit, dagster_run_id, fitted_at FROM {TABLE} "
            "WHERE trade_date = ? AND status = ? AND training_data_sha256 = ? AND config_sha256 = ?",
            [day, STATUS_FITTED, data_hash, config_hash],
        ).fetchone()
    if row is None:
        return None
    return StoredFit(unpack(row[0]), unpack(row[1]), row[2], row[3])
