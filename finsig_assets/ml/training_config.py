"""The configuration of a model partition's training and promotion, shared by ``ml/model_fits``
and ``ml/direction_model``.

One class for both assets because the fits are looked up by the hash of this configuration
(:func:`finsig_assets.ml.version_reuse.config_sha256`): a run that configures one asset
differently from the other still gives right models -- ``ml/direction_model`` then fits the
window itself -- but the fits step's work is wasted. Configure both the same way (the run
config's ``ml__model_fits`` and ``ml__direction_model``).
"""

# No `from __future__ import annotations`: Dagster reads the config's type hints.

import dagster as dg
from pydantic import Field

from finsig_assets import settings
from finsig_assets.ml.default_features import DEFAULT_EXCLUDED_FEATURES
from finsig_assets.ml.direction_training import TrainingSettings
from finsig_assets.ml.promotion import PromotionRules
from finsig_assets.ml.training_table import FeatureSet, without_features
from finsig_assets.ml.walk_forward import SCHEMES


class DirectionModelConfig(dg.Config):
    window_sessions: int = Field(
        default_factory=settings.model_window_sessions,
        description="Sessions in the training window (ending at the partition). Default: FINSIG_MODEL_WINDOW_SESSIONS (60), "
        "which also sizes the lineage look-back.",
    )
    min_sessions: int = Field(
        default_factory=settings.model_min_sessions,
        description="Fewer sessions with labelled rows -> 'insufficient history'. Default: FINSIG_MODEL_MIN_SESSIONS (10).",
    )
    min_labelled_rows: int = Field(default=200, description="Fewer labelled rows in the window -> 'insufficient history'.")
    rth_only: bool = Field(default=True, description="Train on regular-hours rows only.")
    # A plain default, not a factory: Dagster shows a default value in the launchpad, and says
    # nothing about one a factory makes.
    exclude_features: list[str] = Field(
        default=list(DEFAULT_EXCLUDED_FEATURES),
        description="Columns of gold.training_examples the model leaves out; every other numeric non-key column is a "
        "feature. The default is what out-of-sample measurement supports (finsig_assets/ml/default_features.py); "
        "[] trains on every column. A name that is not a feature of the table stops the run.",
    )
    n_folds: int = Field(default=4, description="Validation folds (blocks of sessions).")
    fold_scheme: str = Field(default="walk_forward", description="'walk_forward' (train before each fold) or 'purged_kfold'.")
    validation_fraction: float = Field(default=0.5, description="Walk-forward: share of the window's sessions used as validation folds.")
    embargo_minutes: float = Field(default=60.0, description="Training rows starting this long after a validation fold's span are dropped.")
    max_trees: int = Field(default=300, description="Upper bound on trees; early stopping on the folds picks the number.")
    early_stopping_rounds: int = Field(default=25)
    learning_rate: float = Field(default=0.1)
    max_depth: int = Field(default=4)
    min_child_weight: float = Field(default=20.0)
    subsample: float = Field(default=0.8)
    colsample_bytree: float = Field(default=0.8)
    max_bin: int = Field(default=128)
    nthread: int = Field(default=2, description="XGBoost threads.")
    seed: int = Field(default=0)
    promotion_level: float = Field(
        default=0.05,
        description="One-sided level of the paired test (session-clustered DeLong) that the model's AUC beats the "
        "market-only model's on the validation rows; champion only when p <= this.",
    )
    min_test_sessions: int = Field(
        default=8,
        description="The paired test needs at least this many validation sessions (its clusters) to count as evidence; "
        "with validation_fraction 0.5 that is a window of 15 sessions or more.",
    )
    require_log_loss_beats_majority: bool = Field(default=True)
    champion_level: float = Field(
        default=0.05,
        description="A challenger is refused when the current champion's recent out-of-sample AUC is better at this "
        "one-sided level (0: the record never blocks).",
    )
    champion_record_sessions: int = Field(default=20, description="Recent predicted sessions of the champion compared against.")
    min_champion_record_rows: int = Field(default=100, description="A champion record with fewer labelled rows does not block promotion.")

    def training_settings(self) -> TrainingSettings:
        return TrainingSettings(
            n_folds=self.n_folds,
            fold_scheme=self.fold_scheme,
            validation_fraction=self.validation_fraction,
            embargo_minutes=self.embargo_minutes,
            max_trees=self.max_trees,
            early_stopping_rounds=self.early_stopping_rounds,
            learning_rate=self.learning_rate,
            max_depth=self.max_depth,
            min_child_weight=self.min_child_weight,
            subsample=self.subsample,
            colsample_bytree=self.colsample_bytree,
            max_bin=self.max_bin,
            nthread=self.nthread,
            seed=self.seed,
        )

    def promotion_rules(self) -> PromotionRules:
        return PromotionRules(
            level=self.promotion_level,
            min_test_sessions=self.min_test_sessions,
            require_log_loss_beats_majority=self.require_log_loss_beats_majority,
            champion_level=self.champion_level,
            champion_record_sessions=self.champion_record_sessions,
            min_record_rows=self.min_champion_record_rows,
        )


def model_features(config: DirectionModelConfig, discovered: FeatureSet) -> FeatureSet:
    """The table's features less the configured exclusions; a misspelt exclusion stops the run."""
    try:
        return without_features(discovered, config.exclude_features)
    except ValueError as exc:
        raise dg.Failure(f"exclude_features: {exc}") from None


def check_config(config: DirectionModelConfig) -> None:
    """Refuse settings no window can be trained with, before any work."""
    if config.min_sessions < 2 or config.window_sessions < config.min_sessions:
        raise dg.Failure(f"need 2 <= min_sessions ({config.min_sessions}) <= window_sessions ({config.window_sessions})")
    if config.n_folds < 2 or config.fold_scheme not in SCHEMES:
        # Two folds at least: each fold is scored with the tree count picked on the *other* folds.
        raise dg.Failure(f"need n_folds >= 2 (got {config.n_folds}) and fold_scheme in {SCHEMES} (got {config.fold_scheme!r})")
