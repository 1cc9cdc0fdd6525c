"""Check results of a test run, without ``latest_session_fresh``.

Every asset also reports whether it holds the latest closed session (a WARN that fails for the
historical sessions tests write); tests about an asset's own checks look past it.
"""

from __future__ import annotations

import dagster as dg

from finsig_assets.checks.session_freshness import CHECK_NAME as FRESHNESS


def table_checks(result: dg.ExecuteInProcessResult) -> list[dg.AssetCheckEvaluation]:
    return [e for e in result.get_asset_check_evaluations() if e.check_name != FRESHNESS]


def own_check_names(asset: dg.AssetsDefinition) -> list[str]:
    return [s.name for s in asset.check_specs if s.name != FRESHNESS]
