"""How finsig prints a p-value, in one place for the model metadata and ``finsig summary``.

Its own module outside ``finsig_assets.ml`` so that the summary CLI can use it without
importing the ml package (mlflow, xgboost).
"""

from __future__ import annotations

import math


def format_p(p: float | None) -> str:
    """0.0123 as it is, 3.2e-05 when tiny (never 'p = 0.0000'), n/a when undefined."""
    if p is None or not math.isfinite(p):
        return "n/a"
    return f"{p:.4f}" if p >= 0.001 else f"{p:.1e}"
