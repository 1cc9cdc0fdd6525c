"""Which version was the champion at the end of a given session: the registry's history.

The live ``champion`` alias says who is champion *now*. Predictions for a past session D (a
backfill, or a re-run) need the champion *as of the end of D's previous session*, and an alias
has no history. So every version carries, as tags written when it was trained and judged:

- ``finsig.trained_through``: its partition, the last session of its training window;
- ``finsig.promoted``: ``true`` when it met the champion rules (:mod:`finsig_assets.ml.promotion`).

The champion as of the end of session P is the promoted version with the latest
``trained_through <= P`` (ties -- a partition retrained -- go to the higher version number).
That is exactly where the live alias pointed after partitions up to P were trained in order,
and it can only name a model whose whole training window ended by P: out of sample for every
later session by construction.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # mlflow loads in the steps that use the registry, not with the definitions
    from mlflow import MlflowClient
    from mlflow.entities.model_registry import ModelVersion

TAG_TRAINED_THROUGH = "finsig.trained_through"
TAG_PROMOTED = "finsig.promoted"
TAG_DECISION = "finsig.decision"
TAG_REASONS = "finsig.decision_reasons"
TAG_ALIAS_MOVED = "finsig.champion_alias_moved"
TAG_SENTIMENT_MODEL = "finsig.sentiment_model"
TAG_RTH_ONLY = "finsig.rth_only"
TAG_DAGSTER_RUN = "dagster.run_id"
TAG_TRAIN_UP_RATE = "finsig.train_up_rate"  # the majority baseline's probability for this version
MARKET_ONLY_ARTIFACT = "baselines/market_only.ubj"  # the market-only baseline, in the version's run
CHAMPION = "champion"
CHALLENGER = "challenger"


@dataclass(frozen=True)
class RegisteredVersion:
    version: int
    run_id: str | None
    trained_through: dt.date | None
    promoted: bool
    tags: dict[str, str]

    @classmethod
    def of(cls, mv: ModelVersion) -> "RegisteredVersion":
        tags = dict(mv.tags or {})
        through = tags.get(TAG_TRAINED_THROUGH)
        return cls(
            version=int(mv.version),
            run_id=mv.run_id,
            trained_through=dt.date.fromisoformat(through) if through else None,
            promoted=tags.get(TAG_PROMOTED) == "true",
            tags=tags,
        )

    @property
    def sentiment_model(self) -> str | None:
        return self.tags.get(TAG_SENTIMENT_MODEL) or None

    @property
    def train_up_rate(self) -> float | None:
        """Up-rate of the training window (versions trained before it was recorded: None)."""
        text = self.tags.get(TAG_TRAIN_UP_RATE)
        return float(text) if text else None


def list_versions(client: MlflowClient, model_name: str) -> list[RegisteredVersion]:
    if "'" in model_name:
        raise ValueError(f"bad registered model name {model_name!r}")
    from mlflow.exceptions import MlflowException

    try:
        found = client.search_model_versions(f"name = '{model_name}'")
    except MlflowException:
        return []
    return sorted((RegisteredVersion.of(mv) for mv in found), key=lambda v: v.version)


def champion_as_of(versions: list[RegisteredVersion], session: dt.date) -> RegisteredVersion | None:
    """The champion at the end of ``session`` (see the module docstring), or None."""
    eligible = [v for v in versions if v.promoted and v.trained_through is not None and v.trained_through <= session]
    if not eligible:
        return None
    return max(eligible, key=lambda v: (v.trained_through, v.version))


def alias_holder(client: MlflowClient, model_name: str, alias: str) -> RegisteredVersion | None:
    from mlflow.exceptions import MlflowException

    try:
        return RegisteredVersion.of(client.get_model_version_by_alias(model_name, alias))
    except MlflowException:
        return None
