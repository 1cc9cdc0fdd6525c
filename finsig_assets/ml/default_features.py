"""The columns of ``gold.training_examples`` the model leaves out by default, and why.

Every numeric non-key column of the table is a feature unless the run configuration's
``exclude_features`` names it (:func:`finsig_assets.ml.training_table.without_features`). The
default below is what the measurement in ``bench/feature_value.py`` supports; its figures are
in ``docs/performance.md`` ("Which features earn their place").

PROVISIONAL: filled in from the measurement.
"""

from __future__ import annotations

DEFAULT_EXCLUDED_FEATURES: tuple[str, ...] = ()
