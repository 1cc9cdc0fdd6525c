"""The ``rejection_rate`` asset check carried by each bronze asset, and the config that sets it.

rate = rejected / (accepted + rejected), where

* accepted counts every valid record whose trade date is in the materialized range (every
  copy, duplicates included);
* rejected counts what the run rejected: invalid records placed in the range, records with no
  usable timestamp (so no partition owns them) found in files the run (re)indexed, and every
  landing entry the run could not read — a symlink out of the root, a loop, an unreadable,
  vanished or still-changing file — each counted as one record. Superseded duplicates
  (conflicting candles, conflicting article copies) are not rejections.

Without the unplaceable records and unread files a junk file would never move the rate: its
lines have no timestamp, so they belong to no range. Each is counted once, by the run that
indexes the file (or, for unread files, by every run that cannot read it).

The check fails with severity ERROR when the rate exceeds ``max_rejection_rate`` — from run
config, else the environment variable ``FINSIG_MAX_REJECTION_RATE``, else 0.02. It is not
blocking: the partitions are written either way (quarantine keeps the rejects); the failed
check is what alerts. One result per run, describing the whole range.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import dagster as dg
import polars as pl
from pydantic import Field

from finsig_assets.bronze.quarantine import counts_by_kind, reasons_markdown

CHECK_NAME = "rejection_rate"
ENV_MAX_REJECTION_RATE = "FINSIG_MAX_REJECTION_RATE"
DEFAULT_MAX_REJECTION_RATE = 0.02


class BronzeConfig(dg.Config):
    """Run config shared by the bronze assets."""

    max_rejection_rate: float | None = Field(
        default=None,
        description=(
            "Fail the rejection_rate check above this share of rejected records in the range. "
            f"Unset: ${ENV_MAX_REJECTION_RATE}, else {DEFAULT_MAX_REJECTION_RATE}."
        ),
    )
    log_every_files: int = Field(default=500, description="Log progress every this many files.")


def resolve_max_rejection_rate(configured: float | None) -> float:
    if configured is not None:
        value = float(configured)
    else:
        text = os.environ.get(ENV_MAX_REJECTION_RATE, "").strip()
        try:
            value = float(text) if text else DEFAULT_MAX_REJECTION_RATE
        except ValueError:
            raise ValueError(f"{ENV_MAX_REJECTION_RATE}={text!r} is not a number") from None
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"max_rejection_rate must be within [0, 1], got {value}")
    return value


def check_spec(asset_key: list[str]) -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(
        CHECK_NAME,
        asset=dg.AssetKey(asset_key),
        description=(
            "Share of rejected records (quarantined with a reason) among the records of the "
            "materialized range, counting records with no usable timestamp and unreadable landing files; "
            f"fails above max_rejection_rate (${ENV_MAX_REJECTION_RATE}, default "
            f"{DEFAULT_MAX_REJECTION_RATE})."
        ),
    )


def rejection_rate_result(
    asset_key: Sequence[str],
    accepted: int,
    summary: pl.DataFrame,
    threshold: float,
    scope_label: str,
    *,
    placed_rejected: int | None = None,
    unplaceable: int = 0,
    files_not_read: int = 0,
) -> dg.AssetCheckResult:
    """The check's result from the accepted count and the summary (kind, count, example) of
    everything rejected — placed rejections, unplaceable records of files indexed by this run,
    and files not read; the last three arguments say how the total splits."""
    rejected = int(summary["count"].sum()) if summary.height else 0
    total = accepted + rejected
    rate = rejected / total if total else 0.0
    passed = rate <= threshold
    verdict = "within" if passed else "ABOVE"
    placed = rejected - unplaceable - files_not_read if placed_rejected is None else placed_rejected
    parts = [f"{placed:,} invalid in the range"]
    if unplaceable:
        parts.append(f"{unplaceable:,} with no usable timestamp in files indexed by this run")
    if files_not_read:
        parts.append(f"{files_not_read:,} landing file(s) not read")
    description = (
        f"{rejected:,} of {total:,} records rejected in {scope_label} ({rate:.2%}; " + ", ".join(parts) + f"), "
        f"{verdict} the limit of {threshold:.2%}"
    )
    return dg.AssetCheckResult(
        check_name=CHECK_NAME,
        asset_key=dg.AssetKey(asset_key),
        passed=passed,
        severity=dg.AssetCheckSeverity.ERROR,
        description=description,
        metadata={
            "accepted": dg.MetadataValue.int(accepted),
            "rejected": dg.MetadataValue.int(rejected),
            "rejected_in_range": dg.MetadataValue.int(placed),
            "unplaceable_in_indexed_files": dg.MetadataValue.int(unplaceable),
            "files_not_read": dg.MetadataValue.int(files_not_read),
            "rejection_rate": dg.MetadataValue.float(rate),
            "max_rejection_rate": dg.MetadataValue.float(threshold),
            "partition_range": dg.MetadataValue.text(scope_label),
            "rejected_by_reason": dg.MetadataValue.json(counts_by_kind(summary)),
            "top_reasons": dg.MetadataValue.md(reasons_markdown(summary, total=rejected or None)),
        },
    )
